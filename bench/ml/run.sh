#!/usr/bin/env bash
# cairn's built-in ML stages vs the usual scikit-learn scripts on the reference Iris pipeline
# (params.yaml): accuracy per variant on the same split, and the wall time of
# preprocess + train + evaluate for all variants (median of R runs, ratio). Not a test.
# Usage: bench/ml/run.sh [--runs R]      (CARGO_TARGET_DIR is honoured)
set -euo pipefail
cd "$(dirname "$0")/../.."
VENV="${CAIRN_BENCH_DIR:-$HOME/.cache/cairn-bench}/venv"
"$VENV/bin/python" -c 'import sklearn, yaml, joblib' 2>/dev/null ||
    { python3 -m venv "$VENV" && "$VENV/bin/pip" install -q scikit-learn pyyaml; }
cargo build --release --quiet
"$VENV/bin/python" -c 'import sklearn, sys; print(f"scikit-learn {sklearn.__version__}, Python {sys.version.split()[0]}")'
"$VENV/bin/python" bench/ml/compare.py "${CARGO_TARGET_DIR:-target}/release/cairn" "$@"
