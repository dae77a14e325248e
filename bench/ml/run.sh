#!/usr/bin/env bash
# cairn's built-in ML stages against the usual scikit-learn scripts on the reference Iris
# pipeline (params.yaml): accuracy per variant on the same split, and the wall time of
# preprocess + train + evaluate for all variants (median of RUNS, ratio).
#
#   bench/ml/run.sh [RUNS]        (default 5; CARGO_TARGET_DIR is honoured)
#
# scikit-learn goes into a venv under ~/.cache/cairn-bench (not the repository).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
RUNS=${1:-5}
CACHE=${CAIRN_BENCH_CACHE:-$HOME/.cache/cairn-bench}
VENV=$CACHE/venv
if ! "$VENV/bin/python" -c 'import sklearn, yaml, joblib' 2>/dev/null; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q scikit-learn pyyaml
fi
(cd "$ROOT" && cargo build --release --quiet)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
"$VENV/bin/python" -c 'import sklearn, sys; print(f"scikit-learn {sklearn.__version__}, Python {sys.version.split()[0]}")'
exec "$VENV/bin/python" "$ROOT/bench/ml/compare.py" --cairn "$TARGET/release/cairn" --root "$ROOT" --runs "$RUNS"
