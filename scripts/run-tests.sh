#!/usr/bin/env bash
# Start the sound server the device tests use, run pytest, always stop it again.
# pytest's exit 5 ("no tests ran") is a failure here, as it is for CI.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/sound-server.sh up || echo "warning: sound server did not start; device tests will say why they skip" >&2
trap 'bash scripts/sound-server.sh down' EXIT
.venv/bin/python -m pytest "$@"
rc=$?
if [ $rc -eq 5 ]; then echo "no tests ran" >&2; exit 1; fi
exit $rc
