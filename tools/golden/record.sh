#!/usr/bin/env bash
# Re-record the golden fixtures (tests/fixtures/golden/) from the official Python clients.
#
#   tools/golden/record.sh [--only flash-1.21|runpod-2.0.0rc2]
#
# Creates the virtualenvs when missing, outside the repository:
#   $GOLDEN_VENVS/flash121  runpod-flash==1.21.*   (brings runpod 1.12)
#   $GOLDEN_VENVS/runpod20  runpod==2.0.0rc2 (--pre)
# ($GOLDEN_VENVS defaults to /work/venvs), then runs tools/golden/record.py, which starts
# tools/golden/recorder.py on 127.0.0.1 and points every Runpod URL of the clients at it.
# Needs python3 (3.10+) and PyPI through pip; nothing else leaves the machine.
# Then checks the recorded documents against crates/flash/graphql/runpod.graphql (graphql-core,
# installed into $GOLDEN_VENVS/golden-tools).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venvs="${GOLDEN_VENVS:-/work/venvs}"
mkdir -p "$venvs"
python3 "$here/record.py" --venvs "$venvs" "$@"
if [ ! -x "$venvs/golden-tools/bin/python" ]; then
    python3 -m venv "$venvs/golden-tools"
    "$venvs/golden-tools/bin/pip" install -q graphql-core
fi
"$venvs/golden-tools/bin/python" "$here/check_schema.py"
