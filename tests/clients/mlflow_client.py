"""Drives `cairn serve` with MLflow's own scoring-server client (ScoringServerClient) and the
pandas encodings MLflow documents, and prints the predictions of each as JSON for the Rust
test (tests/clients.rs) to compare with cairn's native /predict.

Usage: python mlflow_client.py HOST PORT ROWS_JSON FEATURES_JSON
"""

import json
import sys

import pandas as pd
import requests
from mlflow.pyfunc.scoring_server.client import ScoringServerClient

host, port = sys.argv[1], int(sys.argv[2])
rows, features = json.loads(sys.argv[3]), json.loads(sys.argv[4])
frame = pd.DataFrame(rows, columns=features)
# An extra column, as a real feature table has: MLflow ignores it, so must cairn.
wider = frame.assign(note=["x"] * len(frame))[["note"] + features[::-1]]
client = ScoringServerClient(host, port)
client.wait_server_ready(timeout=10)
url = f"http://{host}:{port}/invocations"


def post(body, content_type):
    reply = requests.post(url, data=body, headers={"Content-Type": content_type}, timeout=10)
    return {"status": reply.status_code, "body": reply.json()}


out = {
    "version": client.get_version(),
    "client_frame": client.invoke(frame)["predictions"],
    "client_wider_frame": client.invoke(wider)["predictions"],
    # A NumPy array goes out as {"inputs": rows}, in the model's feature order.
    "client_array": client.invoke(frame.to_numpy())["predictions"],
    "split": post(
        json.dumps({"dataframe_split": json.loads(wider.to_json(orient="split"))}),
        "application/json",
    ),
    "records": post(
        json.dumps({"dataframe_records": json.loads(wider.to_json(orient="records"))}),
        "application/json",
    ),
    # DataFrame.to_csv() writes the index as a first, unnamed column.
    "csv_with_index": post(wider.to_csv(), "text/csv"),
    "csv_without_index": post(frame.to_csv(index=False), "text/csv; charset=utf-8"),
}
print(json.dumps(out))
