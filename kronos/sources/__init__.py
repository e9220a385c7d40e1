"""Fetching sources, one module per kind: debian, pypi, local, tree, dsc, git, url."""
