#!/usr/bin/env bash
# Installs NumPy and SciPy into a venv outside the repo, for the drift tests (tests/drift.rs)
# that check cairn's PSI and KS figures against scipy.stats.ks_2samp and numpy.quantile,
# idempotently and quietly, and prints the path of the venv's python. The tests find it
# through $CAIRN_STATS_PYTHON, which scripts/test.sh sets from this script's output.
set -euo pipefail
VENV="${CAIRN_TEST_DIR:-$HOME/.cache/cairn-test}/stats-venv"
if ! "$VENV/bin/python" -c 'import numpy, scipy.stats' 2>/dev/null; then
    mkdir -p "$(dirname "$VENV")"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check 'numpy>=2,<3' 'scipy>=1.14,<2' >&2
fi
echo "$VENV/bin/python"
