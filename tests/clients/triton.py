"""Drives `cairn serve` with Triton's own HTTP client (tritonclient.http), as a Triton user
would: builds requests from the model metadata alone, infers with JSON and with binary
tensors, and prints what came back as JSON for the Rust test (tests/clients.rs) to check.

Usage: python triton.py HOST:PORT MODEL_NAME ROWS_JSON
"""

import json
import sys

import numpy as np
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

url, name, rows = sys.argv[1], sys.argv[2], np.array(json.loads(sys.argv[3]), dtype=np.float64)
client = httpclient.InferenceServerClient(url=url)
out = {
    "live": client.is_server_live(),
    "ready": client.is_server_ready(),
    "server": client.get_server_metadata(),
    "model_ready": client.is_model_ready(name),
    "other_ready": client.is_model_ready("no-such-model"),
}
meta = client.get_model_metadata(name)
out["metadata"] = meta
version = meta["versions"][0]
out["version_ready"] = client.is_model_ready(name, version)
out["wrong_version_ready"] = client.is_model_ready(name, "no-such-version")
out["version_metadata"] = client.get_model_metadata(name, version)


def inputs_from_metadata(binary, datatype=None):
    """One InferInput per input the metadata lists, shaped by it (-1 is the batch size)."""
    built = []
    for spec in meta["inputs"]:
        dtype = datatype or spec["datatype"]
        shape = [rows.shape[0] if d == -1 else d for d in spec["shape"]]
        tensor = httpclient.InferInput(spec["name"], shape, dtype)
        np_type = {"FP64": np.float64, "FP32": np.float32, "FP16": np.float16}[dtype]
        tensor.set_data_from_numpy(rows.astype(np_type).reshape(shape), binary_data=binary)
        built.append(tensor)
    return built


def result(reply):
    got = {}
    for spec in meta["outputs"]:
        array = reply.as_numpy(spec["name"])
        if array is None:
            got[spec["name"]] = None
        elif array.dtype == np.object_:
            got[spec["name"]] = [v.decode() if isinstance(v, bytes) else v for v in array.tolist()]
        else:
            got[spec["name"]] = array.tolist()
    return got


names = [o["name"] for o in meta["outputs"]]
json_out = [httpclient.InferRequestedOutput(n, binary_data=False) for n in names]
binary_out = [httpclient.InferRequestedOutput(n, binary_data=True) for n in names]
runs = {
    "json": dict(inputs=inputs_from_metadata(False), outputs=json_out),
    "binary": dict(inputs=inputs_from_metadata(True), outputs=binary_out),
    "binary_fp32": dict(inputs=inputs_from_metadata(True, "FP32"), outputs=binary_out),
    "binary_fp16_json_out": dict(inputs=inputs_from_metadata(True, "FP16"), outputs=json_out),
    # No outputs named: tritonclient asks for all of them in binary (binary_data_output).
    "default": dict(inputs=inputs_from_metadata(True)),
    "versioned": dict(inputs=inputs_from_metadata(False), outputs=json_out, model_version=version),
    "only_last": dict(inputs=inputs_from_metadata(True), outputs=binary_out[-1:]),
}
out["infer"] = {}
for label, kwargs in runs.items():
    reply = client.infer(name, request_id=label, **kwargs)
    out["infer"][label] = {"outputs": result(reply), "id": reply.get_response().get("id")}

errors = {}
for label, call in {
    "unknown_output": lambda: client.infer(
        name,
        inputs_from_metadata(False),
        outputs=[httpclient.InferRequestedOutput("no_such_output", binary_data=False)],
    ),
    "wrong_version": lambda: client.infer(
        name, inputs_from_metadata(False), model_version="no-such-version"
    ),
    "wrong_model": lambda: client.infer("no-such-model", inputs_from_metadata(False)),
}.items():
    try:
        call()
        errors[label] = None
    except InferenceServerException as e:
        errors[label] = {"status": e.status(), "message": e.message()}
out["errors"] = errors
print(json.dumps(out))
