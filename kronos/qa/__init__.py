"""The QA gates: a verdict per build and gate, kept apart from out/<target>/<recipe>/ and keyed by the
build's content key plus the gate's own inputs (verdict.py); the policy from kronos.toml (policy.py);
the gates (lintian.py, piuparts.py) behind one interface (gate.py); `kronos qa` (command.py)."""
