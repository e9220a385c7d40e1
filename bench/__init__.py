"""Benchmarks of kronos against the Debian tools, measured in the same run (see bench/README.md).

Run from the repository root with the venv's python:

    .venv/bin/python -m bench.publish --help          # kronos publish vs reprepro vs aptly
    .venv/bin/python -m bench.build_overhead --help   # kronos build vs sbuild --chroot-mode=unshare

Modules: `common` (shared helpers); `publish` and its `publish_*` parts; `build_overhead` and its
`build_*` parts. Stdlib only (the publish profile imports kronos itself).
"""
