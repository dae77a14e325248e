"""MLflow's scoring server, as `mlflow models serve` runs it (scoring_server.init on uvicorn,
one worker), for the model directory DIR on 127.0.0.1:PORT.

    mlflow_server.py PORT DIR
"""

import sys

import mlflow.pyfunc
import uvicorn
from mlflow.pyfunc import scoring_server

port, path = int(sys.argv[1]), sys.argv[2]
app = scoring_server.init(mlflow.pyfunc.load_model(path))
uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
