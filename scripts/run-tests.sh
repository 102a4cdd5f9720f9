#!/usr/bin/env bash
# Start the sound server the device tests use, run pytest, always stop it again.
#
# With no arguments, the suite runs in two parts: the tests that touch no sound device or
# terminal side by side (most of their time is spent waiting on audio paced in real time), then
# the device and terminal tests one at a time, alone, because they share the null sinks and
# measure what a busy machine would blur. RT_TEST_WORKERS sets the first part's workers.
# Arguments go to one plain pytest run instead.
# pytest's exit 5 ("no tests ran") is a failure here, as it is for CI.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/sound-server.sh up || echo "warning: sound server did not start; device tests will say why they skip" >&2
trap 'bash scripts/sound-server.sh down' EXIT

SERIAL=(tests/audio tests/tui)

run() {
    .venv/bin/python -m pytest "$@"
    local rc=$?
    if [ $rc -eq 5 ]; then echo "no tests ran" >&2; return 1; fi
    return $rc
}

if [ $# -gt 0 ]; then
    run "$@"
    exit $?
fi

ignore=()
for dir in "${SERIAL[@]}"; do ignore+=("--ignore=$dir"); done
run -n "${RT_TEST_WORKERS:-3}" --dist worksteal "${ignore[@]}"
side_by_side=$?
run "${SERIAL[@]}"
alone=$?
[ $side_by_side -eq 0 ] && [ $alone -eq 0 ]
