#!/usr/bin/env bash
# `make test` after the host, the engine and the venv are ready: the machine's size and free disk (a
# place with less than TEST_MIN_FREE_GB stops the run at once), the archives (kronos targets --check),
# then lint (ruff, mypy) beside pytest, and the budget line of the whole command at the end.
# Environment (set by the Makefile): BIN, TEST_BUDGET, TEST_MIN_FREE_GB, PYTEST_ARGS, MAKE_STARTED.
set -uo pipefail
cd "$(dirname "$0")/.."
began=${MAKE_STARTED:-$(date +%s)}
minutes() { printf '%dm%02ds' $(($1 / 60)) $(($1 % 60)); }

echo "host: $(nproc) cores, $(free -g | awk '/^Mem:/{print $2}') GiB of memory"
for d in . /tmp "$(docker info -f '{{.DockerRootDir}}')"; do
    free=$(df -BG --output=avail "$d" | tail -1 | tr -dc 0-9)
    echo "free disk at $d: $free GiB"
    if [ "$free" -lt "$TEST_MIN_FREE_GB" ]; then
        echo "make test: only $free GiB free at $d; the tests need $TEST_MIN_FREE_GB (TEST_MIN_FREE_GB)." \
             "Old images go with '$BIN/kronos clean --images' or 'docker image prune'" >&2
        exit 1
    fi
done
"$BIN/kronos" targets --check || exit 1

lint_log=$(mktemp -t kronos-lint.XXXXXX)
trap 'rm -f "$lint_log"' EXIT
lint_began=$(date +%s)
( { "$BIN/ruff" check kronos tests tasks.py bench && "$BIN/mypy"; } >"$lint_log" 2>&1
  echo "$? $(($(date +%s) - lint_began))" >>"$lint_log.rc" ) &
lint=$!

tests_began=$(date +%s)
# shellcheck disable=SC2086
timeout -s INT -k 120 "$TEST_BUDGET" "$BIN/pytest" tests/unit tests/integration tests/vm -m "not live" $PYTEST_ARGS
tests=$?
tests_took=$(($(date +%s) - tests_began))
wait "$lint"
read -r lint_rc lint_took <"$lint_log.rc"
rm -f "$lint_log.rc"
echo "--- lint (ruff, mypy --strict), run beside the tests:"
cat "$lint_log"
ended=$(date +%s)
echo "make test budget: $(minutes $((ended - began))) in all: setup (host, engine, venv) $(minutes $((tests_began - began))),"\
     "lint $(minutes "$lint_took") beside pytest $(minutes "$tests_took") (exit $tests); budget 45m on a fresh machine"
[ "$lint_rc" -eq 0 ] || { echo "make test: lint failed (above)" >&2; exit 1; }
exit "$tests"
