"""Sends each case of a table to MLflow's real scoring server and to `cairn serve`, and prints
what each answered (status, error_code, content type) as JSON for the Rust test
(tests/clients.rs) to compare.

MLflow's server is mlflow.pyfunc.scoring_server.init() on uvicorn, serving a pyfunc model
with the same column signature as cairn's model (four doubles): the server code and the
schema enforcement are MLflow's own, only the model's predict is a stand-in.

Usage: python mlflow_errors.py CAIRN_URL FEATURES_JSON CASES_JSON
CASES_JSON: [[name, content_type or null, body], ...]
"""

import json
import socket
import sys
import tempfile
import threading
import time

import mlflow.pyfunc
import requests
import uvicorn
from mlflow.models import ModelSignature
from mlflow.pyfunc import scoring_server
from mlflow.types import ColSpec, Schema

cairn, features, cases = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])


class Model(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input, params=None):
        return ["setosa"] * len(model_input)


path = tempfile.mkdtemp() + "/model"
signature = ModelSignature(inputs=Schema([ColSpec("double", f) for f in features]))
mlflow.pyfunc.save_model(path, python_model=Model(), signature=signature, pip_requirements=[])
app = scoring_server.init(mlflow.pyfunc.load_model(path))
sock = socket.socket()
sock.bind(("127.0.0.1", 0))
port = sock.getsockname()[1]
sock.close()
server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="critical"))
threading.Thread(target=server.run, daemon=True).start()
deadline = time.time() + 30
while not server.started:
    if time.time() > deadline:
        sys.exit("MLflow's scoring server did not start")
    time.sleep(0.05)


def ask(base, content_type, body):
    headers = {} if content_type is None else {"Content-Type": content_type}
    reply = requests.post(base + "/invocations", data=body.encode(), headers=headers, timeout=30)
    try:
        code = reply.json().get("error_code")
    except (ValueError, AttributeError):
        code = None
    kind = reply.headers.get("content-type", "").split(";")[0]
    return {"status": reply.status_code, "error_code": code, "content_type": kind}


results = []
for name, content_type, body in cases:
    results.append(
        {
            "name": name,
            "mlflow": ask(f"http://127.0.0.1:{port}", content_type, body),
            "cairn": ask(cairn, content_type, body),
        }
    )
server.should_exit = True
print(json.dumps(results))
