#!/usr/bin/env bash
# Installs DVC 3.67 into a venv outside the repo for the differential tests (tests/dvc.rs),
# idempotently and quietly, and prints the path of the venv's python. The tests find it through
# $CAIRN_DVC_PYTHON, which scripts/test.sh sets from this script's output.
set -euo pipefail
VENV="${CAIRN_TEST_DIR:-$HOME/.cache/cairn-test}/dvc-venv"
if ! "$VENV/bin/python" -c 'import dvc, sys; sys.exit(not dvc.__version__.startswith("3.67."))' 2>/dev/null; then
    mkdir -p "$(dirname "$VENV")"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check 'dvc==3.67.*' >&2
fi
echo "$VENV/bin/python"
