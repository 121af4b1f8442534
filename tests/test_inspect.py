"""`irisonnx inspect MODEL_OR_RUN`: signature, opsets, operators, parameters, checksum and
metadata, loaded as carefully as predict loads (irisonnx/modelfile/describe.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from irisonnx.modelfile.describe import describe
from irisonnx.modelfile.onnx_io import resolve_model
from irisonnx.storage import sha256_file
from onnx_helpers import cli, exported_run, one_error_line

# 4 -> 16 -> 3 MLP: weights and biases, plus the mean and std buffers of the input scaling.
N_PARAMS = 4 * 16 + 16 + 16 * 3 + 3 + 4 + 4


@pytest.fixture(scope="module")
def full(tmp_path_factory: pytest.TempPathFactory, tiny_run: Path) -> Path:
    return exported_run(tmp_path_factory, tiny_run, "dynamo", True, True)[0]


def test_inspect_json(full: Path, capsys) -> None:
    code, out, err = cli(capsys, "inspect", str(full), "--json")
    assert code == 0 and err == ""
    d = json.loads(out)
    model = full / "model.onnx"
    assert d["path"] == str(model) and d["size"] == model.stat().st_size and d["sha256"] == sha256_file(model)
    assert d["inputs"] == [{"name": "features", "dtype": "float32", "shape": ["batch", 4]}]
    assert [o["name"] for o in d["outputs"]] == ["logits", "probabilities", "label"]
    assert d["outputs"][2] == {"name": "label", "dtype": "int64", "shape": ["batch"]}
    assert d["opset_imports"]["ai.onnx"] == 18
    assert d["operators"]["Gemm"] == 2 and d["operators"]["Softmax"] == 1 and d["operators"]["ArgMax"] == 1
    assert d["n_nodes"] == sum(d["operators"].values()) and d["n_parameters"] == N_PARAMS
    assert d["class_names"] == ["setosa", "versicolor", "virginica"] and d["feature_units"]["petal_width"] == "cm"
    assert d["metadata"]["exporter"] == "dynamo" and d["metadata"]["training_config"]["model"]["hidden"] == [16]
    assert d["manifest"]["validated"] is True and d["validation"]["validated"] is True
    assert d["irisonnx_metadata"] is True and "iris" in d["doc_string"]


def test_inspect_text(full: Path, capsys) -> None:
    code, out, _ = cli(capsys, "inspect", str(full / "model.onnx"))
    assert code == 0
    assert "input     features  float32 [batch, 4]" in out
    assert "output    label  int64 [batch]" in out
    assert "opsets ai.onnx 18" in out and "Gemm x2" in out and f"params    {N_PARAMS:,} in 6 initializers" in out
    assert "sha256 matches the run's manifest; validated" in out
    assert "features  sepal_length (cm), sepal_width (cm), petal_length (cm), petal_width (cm)" in out
    assert "classes   setosa, versicolor, virginica" in out


def test_inspect_a_model_without_irisonnx_metadata(tmp_path: Path, capsys) -> None:
    """A foreign but well-formed classifier: inspected (and runnable), names are placeholders."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.ones((3, 2), np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 2])],
        [w],
    )
    path = tmp_path / "foreign.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    code, out, _ = cli(capsys, "inspect", str(path))
    assert code == 0 and "metadata  none from irisonnx" in out and "features  x0, x1, x2" in out and "classes   0, 1" in out
    d = describe(resolve_model(path))
    assert d["n_parameters"] == 6 and d["operators"] == {"MatMul": 1} and "manifest" not in d


def test_inspect_refuses_what_predict_refuses(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x08\x07garbage")
    code, out, err = cli(capsys, "inspect", str(bad))
    assert code == 3 and out == "" and "not an ONNX model" in one_error_line(err)
    code, _, err = cli(capsys, "inspect", str(tmp_path / "missing.onnx"))
    assert code == 2 and "model not found" in one_error_line(err)
    code, _, err = cli(capsys, "inspect", str(tmp_path))
    assert code == 2 and "not a run folder" in one_error_line(err)


def test_declared_but_unused_domains_are_accepted(full: Path, tmp_path: Path) -> None:
    """Optimisers declare opset imports for domains the graph never calls; only a node in an
    unknown domain needs a custom-op library and is refused."""
    import onnx

    from irisonnx.errors import ArtifactError
    from irisonnx.modelfile.onnx_io import load_model_safely

    m = onnx.load(str(full / "model.onnx"))
    m.opset_import.append(onnx.helper.make_opsetid("ai.onnx.training", 1))
    onnx.save(m, str(tmp_path / "declared.onnx"))
    assert load_model_safely(tmp_path / "declared.onnx").n_classes == 3
    m.graph.node[-1].domain = "ai.onnx.training"
    onnx.save(m, str(tmp_path / "used.onnx"))
    with pytest.raises(ArtifactError, match="ai.onnx.training|No Op registered"):
        load_model_safely(tmp_path / "used.onnx")
