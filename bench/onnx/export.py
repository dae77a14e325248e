"""Trains one scikit-learn model (Iris, StandardScaler + multinomial LogisticRegression) and
writes it three ways into OUT, so every server answers with the same model:
  model.json              a cairn model file with the fitted scaler and coefficients
  model.onnx (+ .json)    the pipeline converted by skl2onnx, ZipMap off; the sidecar names
                          the features
  mlflow/                 the pipeline saved by mlflow.sklearn, for MLflow's scoring server
"""

import json
import os
import sys

import mlflow.sklearn
import numpy as np
import pandas as pd
from skl2onnx import to_onnx
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from common import cairn_logistic_model  # noqa: E402

FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
out = sys.argv[1]
iris = load_iris()
X = pd.DataFrame(iris.data, columns=FEATURES)
y = iris.target_names[iris.target]
pipeline = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(X, y)
scaler, logistic = pipeline[0], pipeline[1]

model = cairn_logistic_model(
    scaler, logistic, FEATURES, logistic.classes_, "0" * 64, float(pipeline.score(X, y))
)
with open(f"{out}/model.json", "w") as f:
    json.dump(model, f)

onx = to_onnx(pipeline, X.to_numpy(np.float32)[:1], options={id(logistic): {"zipmap": False}})
with open(f"{out}/model.onnx", "wb") as f:
    f.write(onx.SerializeToString())
with open(f"{out}/model.onnx.json", "w") as f:
    json.dump({"features": FEATURES}, f)

# Pickled as MLflow did before skops (which would be one more package to install).
mlflow.sklearn.save_model(
    pipeline, f"{out}/mlflow", input_example=X.head(1), serialization_format="cloudpickle"
)
