"""Trains scikit-learn models on Iris, converts them with skl2onnx (the real converter), and
writes into OUT: the .onnx files, a sidecar, and expected.json with the Iris rows and what
scikit-learn itself predicts for them. Used by tests/onnx.rs."""

import json
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper
from skl2onnx import to_onnx
from sklearn.datasets import load_iris
from sklearn.ensemble import GradientBoostingRegressor, RandomForestClassifier, RandomForestRegressor
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
out = sys.argv[1]
iris = load_iris()
X = iris.data.astype(np.float32)
y = iris.target_names[iris.target]
NO_ZIPMAP = {"zipmap": False}


def save(model, name, metadata=None):
    for key, value in (metadata or {}).items():
        model.metadata_props.add(key=key, value=json.dumps(value))
    with open(f"{out}/{name}.onnx", "wb") as f:
        f.write(model.SerializeToString())


# StandardScaler + LogisticRegression, named classes; the feature names in a sidecar.
logistic = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(X, y)
save(to_onnx(logistic, X[:1], options={id(logistic): NO_ZIPMAP}), "logistic")
with open(f"{out}/logistic.onnx.json", "w") as f:
    json.dump({"features": FEATURES}, f)

# A random forest; the feature names in the model's metadata.
forest = RandomForestClassifier(n_estimators=25, max_depth=6, random_state=0).fit(X, y)
save(to_onnx(forest, X[:1], options={id(forest): NO_ZIPMAP}), "forest", {"features": FEATURES})

# A regression (petal width from the other three), with no names at all: x0, x1, x2.
linear = LinearRegression().fit(X[:, :3], X[:, 3])
save(to_onnx(linear, X[:1, :3]), "linear")

# A graph of standard operators with one input per feature, as a hand-built network would be.
weights = np.array([[0.5], [-0.25], [1.5], [2.0]], dtype=np.float32)
graph = helper.make_graph(
    [
        helper.make_node("Concat", FEATURES, ["x"], axis=1),
        helper.make_node("MatMul", ["x", "w"], ["xw"]),
        helper.make_node("Add", ["xw", "b"], ["score"]),
    ],
    "columns",
    [helper.make_tensor_value_info(n, TensorProto.FLOAT, [None, 1]) for n in FEATURES],
    [helper.make_tensor_value_info("score", TensorProto.FLOAT, [None, 1])],
    [
        helper.make_tensor("w", TensorProto.FLOAT, [4, 1], weights.ravel()),
        helper.make_tensor("b", TensorProto.FLOAT, [1], [0.125]),
    ],
)
columns = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
onnx.checker.check_model(columns)
save(columns, "columns")

# Tree regressors: an average of trees, and a sum of boosted trees on a base value.
regressor = RandomForestRegressor(n_estimators=10, random_state=0).fit(X[:, :3], X[:, 3])
save(to_onnx(regressor, X[:1, :3]), "forest_regressor")
boosted = GradientBoostingRegressor(n_estimators=20, random_state=0).fit(X[:, :3], X[:, 3])
save(to_onnx(boosted, X[:1, :3]), "boosted_regressor")

# What the runtime lacks: a classifier converted with its ZipMap.
zipped = LogisticRegression(max_iter=1000).fit(X, y)
save(to_onnx(zipped, X[:1]), "zipmap")

# A weight kept in another file, named by a path that leaves the model's folder.
outside = onnx.ModelProto()
outside.CopyFrom(columns)
weight = outside.graph.initializer[0]
weight.ClearField("float_data")
weight.data_location = TensorProto.EXTERNAL
for key, value in [("location", "../../../etc/hostname"), ("offset", "0"), ("length", "16")]:
    weight.external_data.add(key=key, value=value)
save(outside, "outside")

# An operator no runtime knows.
graph = helper.make_graph(
    [helper.make_node("Frobnicate", ["X"], ["Y"], domain="com.example")],
    "unknown",
    [helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, 4])],
    [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [None, 1])],
)
save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.example", 1)]), "unknown")

expected = {
    "rows": iris.data.tolist(),
    "classes": list(iris.target_names),
    "logistic": {"class": logistic.predict(X).tolist(), "probabilities": logistic.predict_proba(X).tolist()},
    "forest": {"class": forest.predict(X).tolist(), "probabilities": forest.predict_proba(X).tolist()},
    "linear": linear.predict(X[:, :3]).astype(float).tolist(),
    "forest_regressor": regressor.predict(X[:, :3]).astype(float).tolist(),
    "boosted_regressor": boosted.predict(X[:, :3]).astype(float).tolist(),
    "columns": (X.astype(np.float64) @ weights.astype(np.float64) + 0.125).ravel().tolist(),
}
with open(f"{out}/expected.json", "w") as f:
    json.dump(expected, f)
