"""Preparing a source tree: templates, changelog, versions, patches."""
