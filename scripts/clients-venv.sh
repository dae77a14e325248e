#!/usr/bin/env bash
# Installs the real clients of the protocols `cairn serve` speaks into a venv outside the repo:
# Triton's tritonclient (Open Inference v2, JSON and binary tensors), MLflow's scoring-server
# client with pandas (the MLflow scoring protocol and its encodings) and Schemathesis (checks
# the server against its /openapi.json); SciPy too, since MLflow's client looks for
# scipy.sparse; scikit-learn and skl2onnx, to train models and convert them to ONNX as users do
# (tests/onnx.rs). Idempotent and quiet; prints the path of the venv's python. The tests (tests/clients.rs) find it through $CAIRN_CLIENTS_PYTHON, which
# scripts/test.sh sets from this script's output.
set -euo pipefail
VENV="${CAIRN_CLIENTS_VENV:-$HOME/.cache/cairn/clients-venv}"
CHECK='import tritonclient.http, mlflow.pyfunc.scoring_server.client, pandas, scipy.sparse, schemathesis, sklearn, skl2onnx, onnx'
if ! "$VENV/bin/python" -c "$CHECK" 2>/dev/null; then
    mkdir -p "$(dirname "$VENV")"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check \
        'tritonclient[http]==2.73.0' 'mlflow-skinny==3.17.2' 'pandas==2.3.3' \
        'scipy==1.17.1' 'schemathesis==4.32.5' 'scikit-learn==1.9.1' 'skl2onnx==1.20.0' \
        'onnx==1.23.2' >&2
    "$VENV/bin/python" -c "$CHECK" >&2
fi
echo "$VENV/bin/python"
