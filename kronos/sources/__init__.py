"""Fetching sources, one module per kind: debian, pypi, local."""
