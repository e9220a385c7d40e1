"""`python -m kronos.smoke.checks <context.json> [<checks file>]`: the checks' child process."""

from __future__ import annotations

import sys

from . import main

sys.exit(main(sys.argv[1:]))
