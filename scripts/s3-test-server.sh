#!/usr/bin/env bash
# Installs moto 5.2.5 (an S3-compatible server written in Python) into a venv for the S3 tests,
# idempotently, and prints the path of its moto_server. The tests find it through
# $CAIRN_MOTO_SERVER, else at the default venv below. 5.2.1 breaks CompleteMultipartUpload: pin.
set -euo pipefail
VENV="${CAIRN_MOTO_VENV:-$HOME/.cache/cairn/moto-venv-5.2.5}"
if [ ! -x "$VENV/bin/moto_server" ]; then
    mkdir -p "$(dirname "$VENV")"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check 'moto[server]==5.2.5'
fi
echo "$VENV/bin/moto_server"
