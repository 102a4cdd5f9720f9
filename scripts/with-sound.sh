#!/usr/bin/env bash
# Run a command with the test sound server up, and stop the server afterwards.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/sound-server.sh up || echo "warning: no sound server; device figures will be missing" >&2
trap 'bash scripts/sound-server.sh down' EXIT
"$@"
