#!/usr/bin/env bash
# The device and terminal tests (tests/audio, tests/tui) run N times in a row (default 10) while
# another process keeps one core busy, as a shared CI machine may: one line per run, and the
# failures of any run that failed, with where rt's echo recordings of that run are kept
# (`RT_ECHO_RECORD`: replay them with scripts/echo_replay.py). Exit 0 only when every run passed.
#
#   bash scripts/soak-devices.sh [N]     (make soak-devices)
set -uo pipefail
cd "$(dirname "$0")/.."
runs="${1:-10}"
logs="$(mktemp -d)"
python3 -c "while True: pass" &
busy=$!
trap 'kill $busy 2>/dev/null' EXIT
echo "a core kept busy by pid $busy; logs in $logs"
failed=0
for k in $(seq 1 "$runs"); do
    start=$(date -u +%H:%M:%S)
    mkdir -p "$logs/echo-$k"
    RT_ECHO_RECORD="$logs/echo-$k" bash scripts/run-tests.sh -q tests/audio tests/tui >"$logs/run-$k.log" 2>&1
    rc=$?
    echo "run $k of $runs ($start-$(date -u +%H:%M:%S) UTC, load $(cut -d' ' -f1-3 /proc/loadavg)):" \
        "exit $rc, $(grep -E '^(=+ )?[0-9]+ (passed|failed)' "$logs/run-$k.log" | tail -1 | tr -d '=')"
    if [ $rc -ne 0 ]; then
        failed=$((failed + 1))
        grep -E '^(FAILED|ERROR) ' "$logs/run-$k.log" | sed 's/^/    /'
        echo "    echo recordings of this run: $logs/echo-$k"
    else
        rm -rf "$logs/echo-$k"
    fi
done
echo "$((runs - failed)) of $runs runs passed"
[ $failed -eq 0 ]
