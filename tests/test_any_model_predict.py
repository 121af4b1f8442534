"""`irisonnx inspect` and `irisonnx predict` on models irisonnx did not write (issue 14, items 5
and 6): skl2onnx classifiers (ZipMap off and on, string labels), a random forest, a two-input
model, int64 ids with a bool mask, a fixed batch of 1, and a Transpose whose output rows differ
from its input's. The oracle is plain onnxruntime.InferenceSession.run on the same arrays,
never irisonnx's own code; expected signatures and operator counts are written out by hand.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from onnx_helpers import cli, exported_run, one_error_line

# --- the corpus: built here, nothing downloaded ------------------------------------------------


def _save(model: Any, path: Path) -> Path:
    import onnx

    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, str(path))
    return path


def _helper_model(nodes: list, inputs: list, outputs: list, inits: list = (), opset: int = 17, **kw: Any) -> Any:
    from onnx import helper

    graph = helper.make_graph(nodes, "g", inputs, outputs, list(inits))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], **kw)


def _corpus(d: Path) -> dict[str, tuple[Path, dict[str, np.ndarray]]]:
    from onnx import TensorProto as T
    from onnx import helper, numpy_helper
    from skl2onnx import to_onnx
    from sklearn.datasets import load_iris
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression

    X, y = load_iris(return_X_y=True)
    x32 = X.astype(np.float32)
    rng = np.random.default_rng(0)
    out: dict[str, tuple[Path, dict[str, np.ndarray]]] = {}
    lr = LogisticRegression(max_iter=500).fit(X, y)
    out["lr"] = (_save(to_onnx(lr, x32[:1], options={"zipmap": False}), d / "lr.onnx"), {"X": x32})
    out["lr_zipmap"] = (_save(to_onnx(lr, x32[:1]), d / "lr_zipmap.onnx"), {"X": x32})
    names = np.array(["setosa", "versicolor", "virginica"])[y]
    lr_str = LogisticRegression(max_iter=500).fit(X, names)
    out["lr_strings"] = (_save(to_onnx(lr_str, x32[:1], options={"zipmap": False}), d / "lr_strings.onnx"), {"X": x32})
    rf = RandomForestClassifier(n_estimators=5, max_depth=3, random_state=0).fit(X, y)
    out["rf"] = (_save(to_onnx(rf, x32[:1], options={"zipmap": False}), d / "rf.onnx"), {"X": x32[::3]})

    vi = helper.make_tensor_value_info
    two = _helper_model(
        [helper.make_node("Add", ["a", "b"], ["sum"]), helper.make_node("Mul", ["a", "b"], ["prod"])],
        [vi("a", T.FLOAT, ["n", 3]), vi("b", T.FLOAT, ["n", 3])],
        [vi("sum", T.FLOAT, ["n", 3]), vi("prod", T.FLOAT, ["n", 3])],
    )
    out["two_inputs"] = (_save(two, d / "two_inputs.onnx"), {"a": rng.normal(size=(5, 3)).astype(np.float32), "b": rng.normal(size=(5, 3)).astype(np.float32)})

    emb = numpy_helper.from_array(rng.normal(size=(10, 4)).astype(np.float32), "emb")
    axes_last = numpy_helper.from_array(np.array([-1], np.int64), "axes_last")
    axes_t = numpy_helper.from_array(np.array([1], np.int64), "axes_t")
    zero = numpy_helper.from_array(np.zeros((), np.float32), "zero")
    ids_mask = _helper_model(
        [
            helper.make_node("Gather", ["emb", "ids"], ["g"]),
            helper.make_node("Unsqueeze", ["mask", "axes_last"], ["m3"]),
            helper.make_node("Where", ["m3", "g", "zero"], ["hidden"]),
            helper.make_node("ReduceSum", ["hidden", "axes_t"], ["pooled"], keepdims=0),
            helper.make_node("Cast", ["mask"], ["mask_i"], to=T.INT64),
            helper.make_node("ReduceSum", ["mask_i", "axes_t"], ["count"], keepdims=0),
        ],
        [vi("ids", T.INT64, ["batch", "seq"]), vi("mask", T.BOOL, ["batch", "seq"])],
        [vi("hidden", T.FLOAT, ["batch", "seq", 4]), vi("pooled", T.FLOAT, ["batch", 4]), vi("count", T.INT64, ["batch"])],
        [emb, axes_last, axes_t, zero],
    )
    mask = rng.integers(0, 2, size=(6, 5)).astype(bool)
    mask[0] = False
    out["ids_mask"] = (_save(ids_mask, d / "ids_mask.onnx"), {"ids": rng.integers(0, 10, size=(6, 5)).astype(np.int64), "mask": mask})

    w = numpy_helper.from_array(rng.normal(size=(4, 3)).astype(np.float32), "w")
    bias = numpy_helper.from_array(rng.normal(size=(3,)).astype(np.float32), "bias")
    fixed = _helper_model(
        [helper.make_node("MatMul", ["x", "w"], ["xw"]), helper.make_node("Add", ["xw", "bias"], ["y"])],
        [vi("x", T.FLOAT, [1, 4])],
        [vi("y", T.FLOAT, [1, 3])],
        [w, bias],
    )
    out["fixed_batch"] = (_save(fixed, d / "fixed_batch.onnx"), {"x": rng.normal(size=(6, 4)).astype(np.float32)})

    transposed = _helper_model(
        [helper.make_node("Transpose", ["x"], ["xt"], perm=[1, 0])],
        [vi("x", T.FLOAT, ["n", 4])],
        [vi("xt", T.FLOAT, [4, "n"])],
    )
    out["transpose"] = (_save(transposed, d / "transpose.onnx"), {"x": rng.normal(size=(7, 4)).astype(np.float32)})
    return out


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, dict[str, np.ndarray]]]:
    return _corpus(tmp_path_factory.mktemp("corpus"))


MODELS = ["lr", "lr_zipmap", "lr_strings", "rf", "two_inputs", "ids_mask", "fixed_batch", "transpose"]

# Written out by hand from how each model was built (skl2onnx names its batch dimension None).
SIGNATURES = {
    "lr": ([("X", "float32", [None, 4])], [("label", "int64", [None]), ("probabilities", "float32", [None, 3])]),
    "lr_zipmap": ([("X", "float32", [None, 4])], [("output_label", "int64", [None]), ("output_probability", "seq(map(int64,float32))", [])]),
    "lr_strings": ([("X", "float32", [None, 4])], [("label", "string", [None]), ("probabilities", "float32", [None, 3])]),
    "rf": ([("X", "float32", [None, 4])], [("label", "int64", [None]), ("probabilities", "float32", [None, 3])]),
    "two_inputs": ([("a", "float32", ["n", 3]), ("b", "float32", ["n", 3])], [("sum", "float32", ["n", 3]), ("prod", "float32", ["n", 3])]),
    "ids_mask": (
        [("ids", "int64", ["batch", "seq"]), ("mask", "bool", ["batch", "seq"])],
        [("hidden", "float32", ["batch", "seq", 4]), ("pooled", "float32", ["batch", 4]), ("count", "int64", ["batch"])],
    ),
    "fixed_batch": ([("x", "float32", [1, 4])], [("y", "float32", [1, 3])]),
    "transpose": ([("x", "float32", ["n", 4])], [("xt", "float32", [4, "n"])]),
}
OPERATORS = {
    "lr": {"ai.onnx.ml::LinearClassifier": 1, "ai.onnx.ml::Normalizer": 1},
    "lr_zipmap": {"ai.onnx.ml::LinearClassifier": 1, "ai.onnx.ml::Normalizer": 1, "ai.onnx.ml::ZipMap": 1, "Cast": 1},
    "rf": {"ai.onnx.ml::TreeEnsembleClassifier": 1},
    "two_inputs": {"Add": 1, "Mul": 1},
    "ids_mask": {"Gather": 1, "Unsqueeze": 1, "Where": 1, "ReduceSum": 2, "Cast": 1},
    "fixed_batch": {"MatMul": 1, "Add": 1},
    "transpose": {"Transpose": 1},
}


def _specs(items: list[tuple[str, str, list]]) -> list[dict[str, Any]]:
    return [{"name": n, "dtype": t, "shape": s} for n, t, s in items]


def _ort(path: Path, feeds: dict[str, np.ndarray]) -> dict[str, Any]:
    """The oracle: plain onnxruntime, default session, every output. A fixed batch of 1 is
    run row by row and the rows stacked (onnxruntime refuses more rows at once)."""
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    first = sess.get_inputs()[0].shape[0]
    if isinstance(first, int):
        n = next(iter(feeds.values())).shape[0]
        parts = [sess.run(names, {k: v[i : i + first] for k, v in feeds.items()}) for i in range(0, n, first)]
        return {name: np.concatenate([p[j] for p in parts]) for j, name in enumerate(names)}
    return dict(zip(names, sess.run(names, feeds)))


def _expected_array(value: Any) -> np.ndarray:
    """What --output .npz promises for an onnxruntime output: tensors as they are, string
    tensors as fixed-width unicode, a sequence of maps (ZipMap) as (rows, keys) float32 with
    the keys in sorted order."""
    if isinstance(value, list):
        keys = sorted(value[0])
        return np.array([[m[k] for k in keys] for m in value], dtype=np.float32)
    if value.dtype == object:
        return np.array(value.tolist(), dtype=str)
    return value


def _bitwise(got: np.ndarray, want: np.ndarray) -> bool:
    return got.dtype == want.dtype and got.shape == want.shape and got.tobytes() == want.tobytes()


# --- inspect ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", MODELS)
def test_inspect_any_model(corpus, name: str, capsys) -> None:
    import onnx
    from onnx import numpy_helper

    path, _ = corpus[name]
    code, out, err = cli(capsys, "inspect", str(path), "--json")
    assert code == 0 and err == "", err
    d = json.loads(out)
    ins, outs = SIGNATURES[name]
    assert d["inputs"] == _specs(ins) and d["outputs"] == _specs(outs)
    if name in OPERATORS:
        assert d["operators"] == OPERATORS[name]
    m = onnx.load(str(path))
    assert d["initializer_bytes"] == sum(numpy_helper.to_array(t).nbytes for t in m.graph.initializer)
    assert d["irisonnx_model"] is False and d["classifier"] is False and d["external_data"] is False
    assert d["class_names"] == [] and d["feature_names"] == []
    assert set(d["opset_imports"]) >= {"ai.onnx"}

    code, text, err = cli(capsys, "inspect", str(path))
    assert code == 0 and err == ""
    for n, t, s in ins:
        assert f"input     {n}  {t} [" + ", ".join("?" if v is None else str(v) for v in s) + "]" in text
    assert "not an irisonnx model" in text and "predict --input FILE.npz" in text
    assert "features  " not in text and "classes   " not in text  # no placeholder names for a non-classifier
    assert "bytes" in text.split("params", 1)[1].splitlines()[0]


def test_inspect_shows_non_tensor_outputs_by_type(corpus, capsys) -> None:
    code, text, _ = cli(capsys, "inspect", str(corpus["lr_zipmap"][0]))
    assert code == 0
    line = next(ln for ln in text.splitlines() if "output_probability" in ln)
    assert line.strip() == "output    output_probability  seq(map(int64,float32))"


def test_inspect_lists_each_opset_declaration(corpus, capsys) -> None:
    """skl2onnx declares the default domain twice; inspect shows what the file says."""
    import onnx

    path = corpus["lr"][0]
    declared = [(o.domain, o.version) for o in onnx.load(str(path)).opset_import]
    code, out, _ = cli(capsys, "inspect", str(path), "--json")
    d = json.loads(out)
    assert d["opset_declarations"] == [{"domain": dom or "ai.onnx", "version": v} for dom, v in declared]


def test_inspect_shortens_long_lists_in_text_only(tmp_path: Path, capsys) -> None:
    from onnx import TensorProto as T
    from onnx import helper

    n = 300
    vi = helper.make_tensor_value_info
    model = _helper_model(
        [helper.make_node("Sum", [f"in_{i}" for i in range(n)], ["total"])] + [helper.make_node("Identity", [f"in_{i}"], [f"out_{i}"]) for i in range(n)],
        [vi(f"in_{i}", T.FLOAT, ["n", 2]) for i in range(n)],
        [vi("total", T.FLOAT, ["n", 2])] + [vi(f"out_{i}", T.FLOAT, ["n", 2]) for i in range(n)],
    )
    helper.set_model_props(model, {f"key_{i}": f"value {i}" for i in range(n)})
    path = _save(model, tmp_path / "wide.onnx")
    code, text, _ = cli(capsys, "inspect", str(path))
    assert code == 0
    lines = text.splitlines()
    assert len(lines) < 100, len(lines)
    assert "in_0" in text and "in_299" not in text and "280 more inputs" in text
    assert "out_0" in text and "out_299" not in text and "more outputs" in text
    assert "key_0" in text and "key_299" not in text and "more metadata keys" in text
    code, out, _ = cli(capsys, "inspect", str(path), "--json")
    d = json.loads(out)
    assert len(d["inputs"]) == n and len(d["outputs"]) == n + 1 and len(d["metadata"]) == n
    assert d["operators"] == {"Identity": n, "Sum": 1}
    # twenty operator types in a chain: sixteen named, the rest counted
    ops = ["Relu", "Abs", "Neg", "Exp", "Log", "Sqrt", "Sigmoid", "Tanh", "Floor", "Ceil", "Sin", "Cos", "Tan", "Softsign", "Softplus", "Identity", "Erf", "Round", "Sign", "Reciprocal"]
    chain = _helper_model(
        [helper.make_node(op, [f"t{i - 1}" if i else "x"], [f"t{i}"]) for i, op in enumerate(ops)],
        [vi("x", T.FLOAT, ["n", 2])],
        [vi(f"t{len(ops) - 1}", T.FLOAT, ["n", 2])],
    )
    code, text, _ = cli(capsys, "inspect", str(_save(chain, tmp_path / "chain.onnx")))
    line = next(ln for ln in text.splitlines() if ln.startswith("  nodes"))
    assert code == 0 and line.endswith("… (4 more operator types)") and line.count(" x1") == 16


def test_inspect_reports_external_data(tmp_path: Path, capsys) -> None:
    import onnx
    from onnx import TensorProto as T
    from onnx import helper, numpy_helper

    w = numpy_helper.from_array(np.arange(12, dtype=np.float32).reshape(4, 3), "w")
    model = _helper_model([helper.make_node("MatMul", ["x", "w"], ["y"])], [helper.make_tensor_value_info("x", T.FLOAT, ["n", 4])], [helper.make_tensor_value_info("y", T.FLOAT, ["n", 3])], [w])
    path = tmp_path / "ext.onnx"
    onnx.save(model, str(path), save_as_external_data=True, all_tensors_to_one_file=True, location="weights.bin", size_threshold=0)
    code, out, _ = cli(capsys, "inspect", str(path), "--json")
    assert code == 0
    d = json.loads(out)
    assert d["external_data"] is True and d["external_data_files"] == {"weights.bin": 48} and d["initializer_bytes"] == 48
    code, text, _ = cli(capsys, "inspect", str(path))
    assert "external data weights.bin (48 bytes)" in text


# --- predict: every output, bitwise as plain onnxruntime gives it ------------------------------


@pytest.mark.parametrize("name", MODELS)
def test_predict_npz_gives_what_onnxruntime_gives(corpus, name: str, tmp_path: Path, capsys) -> None:
    path, feeds = corpus[name]
    np.savez(tmp_path / "in.npz", **feeds)
    want = {k: _expected_array(v) for k, v in _ort(path, feeds).items()}
    code, out, err = cli(capsys, "predict", str(path), "--input", str(tmp_path / "in.npz"), "--output", str(tmp_path / "out.npz"))
    assert code == 0, err
    assert str(tmp_path / "out.npz") in out
    with np.load(tmp_path / "out.npz", allow_pickle=False) as z:
        got = {k: z[k] for k in z.files}
    assert list(got) == [o[0] for o in SIGNATURES[name][1]]  # every output, in the model's order
    for k in want:
        assert _bitwise(got[k], want[k]), (k, got[k], want[k])
        assert got[k].dtype != object

    # --json: the same arrays as nested lists, with name, dtype and shape
    code, out, err = cli(capsys, "predict", str(path), "--input", str(tmp_path / "in.npz"), "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert [o["name"] for o in doc["outputs"]] == list(want)
    for o in doc["outputs"]:
        w = want[o["name"]]
        assert o["shape"] == list(w.shape) and o["dtype"] == ("string" if w.dtype.kind == "U" else str(w.dtype))
        assert _bitwise(np.array(o["values"], dtype=w.dtype).reshape(w.shape), w), o["name"]


def test_string_outputs_are_fixed_width_unicode(corpus, tmp_path: Path, capsys) -> None:
    path, feeds = corpus["lr_strings"]
    np.savez(tmp_path / "in.npz", **feeds)
    code, _, err = cli(capsys, "predict", str(path), "--input", str(tmp_path / "in.npz"), "--output", str(tmp_path / "out.npz"))
    assert code == 0, err
    with np.load(tmp_path / "out.npz", allow_pickle=False) as z:  # no pickle needed to read it back
        label = z["label"]
    assert label.dtype.kind == "U" and set(label.tolist()) == {"setosa", "versicolor", "virginica"}


def test_a_single_input_model_takes_a_npy(corpus, tmp_path: Path, capsys) -> None:
    path, feeds = corpus["rf"]
    np.save(tmp_path / "x.npy", feeds["X"])
    code, _, err = cli(capsys, "predict", str(path), "--input", str(tmp_path / "x.npy"), "--output", str(tmp_path / "out.npz"))
    assert code == 0, err
    want = _ort(path, feeds)
    with np.load(tmp_path / "out.npz") as z:
        assert _bitwise(z["probabilities"], want["probabilities"]) and _bitwise(z["label"], want["label"])
    path2, feeds2 = corpus["two_inputs"]
    np.save(tmp_path / "a.npy", feeds2["a"])
    code, _, err = cli(capsys, "predict", str(path2), "--input", str(tmp_path / "a.npy"), "--json")
    line = one_error_line(err)
    assert code == 2 and "2 inputs (a, b)" in line and ".npz" in line


def test_the_text_view_names_every_output(corpus, tmp_path: Path, capsys) -> None:
    path, feeds = corpus["ids_mask"]
    np.savez(tmp_path / "in.npz", **feeds)
    code, out, err = cli(capsys, "predict", str(path), "--input", str(tmp_path / "in.npz"))
    assert code == 0, err
    assert "hidden  float32 [6, 5, 4]" in out and "pooled  float32 [6, 4]" in out and "count  int64 [6]" in out
    counts = feeds["mask"].sum(axis=1)
    assert "[" + " ".join(str(int(c)) for c in counts) + "]" in out


# --- predict: bad inputs are exit 2 naming the array -------------------------------------------


@pytest.mark.parametrize(
    "case, change, named",
    [
        ("missing", lambda f: {"ids": f["ids"]}, "'mask'"),
        ("extra", lambda f: {**f, "tokens": f["ids"]}, "'tokens'"),
        ("wrong dtype", lambda f: {**f, "ids": f["ids"].astype(np.float32)}, "'ids'"),
        ("bool as int", lambda f: {**f, "mask": f["mask"].astype(np.int64)}, "'mask'"),
        ("wrong rank", lambda f: {**f, "mask": f["mask"][:, :, None]}, "'mask'"),
        ("rows disagree", lambda f: {**f, "mask": f["mask"][:3]}, "'mask'"),
    ],
)
def test_wrong_npz_is_exit_2_naming_the_array(corpus, tmp_path: Path, case: str, change: Any, named: str, capsys) -> None:
    path, feeds = corpus["ids_mask"]
    np.savez(tmp_path / "in.npz", **change(dict(feeds)))
    code, out, err = cli(capsys, "predict", str(path), "--input", str(tmp_path / "in.npz"), "--output", str(tmp_path / "out.npz"))
    assert code == 2 and out == ""
    assert named in one_error_line(err), (case, err)
    assert not (tmp_path / "out.npz").exists()


def test_wrong_shape_for_a_fixed_dimension(corpus, tmp_path: Path, capsys) -> None:
    path, feeds = corpus["lr"]
    np.savez(tmp_path / "in.npz", X=feeds["X"][:, :3])
    code, _, err = cli(capsys, "predict", str(path), "--input", str(tmp_path / "in.npz"))
    assert code == 2 and "'X'" in one_error_line(err) and "[150, 3]" in err


def test_fixed_batch_needs_a_multiple_of_its_batch(tmp_path: Path, capsys) -> None:
    from onnx import TensorProto as T
    from onnx import helper

    model = _helper_model([helper.make_node("Relu", ["x"], ["y"])], [helper.make_tensor_value_info("x", T.FLOAT, [2, 3])], [helper.make_tensor_value_info("y", T.FLOAT, [2, 3])])
    path = _save(model, tmp_path / "b2.onnx")
    x = np.arange(-9, 9, dtype=np.float32).reshape(6, 3)
    np.savez(tmp_path / "ok.npz", x=x)
    code, out, err = cli(capsys, "predict", str(path), "--input", str(tmp_path / "ok.npz"), "--json")
    assert code == 0, err
    got = json.loads(out)["outputs"][0]
    assert got["shape"] == [6, 3] and np.array_equal(np.array(got["values"], np.float32), np.maximum(x, 0))
    np.savez(tmp_path / "odd.npz", x=x[:5])
    code, _, err = cli(capsys, "predict", str(path), "--input", str(tmp_path / "odd.npz"))
    assert code == 2 and "'x'" in one_error_line(err)


def test_a_non_classifier_refuses_values_and_csv(corpus, tmp_path: Path, capsys) -> None:
    path, _ = corpus["two_inputs"]
    code, out, err = cli(capsys, "predict", str(path), "--values", "1,2,3")
    line = one_error_line(err)
    assert code == 2 and out == "" and "'a'" in line and "'b'" in line and "--input FILE.npz" in line
    csv = tmp_path / "rows.csv"
    csv.write_text("1,2,3\n")
    code, _, err = cli(capsys, "predict", str(path), "--input", str(csv))
    line = one_error_line(err)
    assert code == 2 and "'a'" in line and "--input FILE.npz" in line
    code, _, err = cli(capsys, "predict", str(corpus["lr"][0]), "--values", "5.1,3.5,1.4,0.2")  # a 2-D input, but not a classifier unless asked
    assert code == 2 and "--classify" in one_error_line(err) and "--input FILE.npz" in err


def test_json_is_refused_above_the_size_cap(corpus, tmp_path: Path, capsys) -> None:
    path, _ = corpus["transpose"]
    np.savez(tmp_path / "big.npz", x=np.zeros((30_000, 4), np.float32))  # 120k elements out
    code, out, err = cli(capsys, "predict", str(path), "--input", str(tmp_path / "big.npz"), "--json")
    line = one_error_line(err)
    assert code == 2 and out == "" and "120,000" in line and "--output FILE.npz" in line
    code, _, err = cli(capsys, "predict", str(path), "--input", str(tmp_path / "big.npz"), "--output", str(tmp_path / "big_out.npz"))
    assert code == 0, err
    with np.load(tmp_path / "big_out.npz") as z:
        assert z["xt"].shape == (4, 30_000)


def test_output_must_be_npz_for_a_non_classifier(corpus, tmp_path: Path, capsys) -> None:
    path, feeds = corpus["two_inputs"]
    np.savez(tmp_path / "in.npz", **feeds)
    code, _, err = cli(capsys, "predict", str(path), "--input", str(tmp_path / "in.npz"), "--output", str(tmp_path / "out.csv"))
    assert code == 2 and ".npz" in one_error_line(err)
    assert not (tmp_path / "out.csv").exists()


def test_an_output_name_numpy_savez_would_misread(tmp_path: Path, capsys) -> None:
    """np.savez(file, **arrays) takes 'file' and 'allow_pickle' as its own parameters."""
    from onnx import TensorProto as T
    from onnx import helper

    vi = helper.make_tensor_value_info
    model = _helper_model(
        [helper.make_node("Relu", ["x"], ["file"]), helper.make_node("Neg", ["x"], ["allow_pickle"])],
        [vi("x", T.FLOAT, ["n", 2])],
        [vi("file", T.FLOAT, ["n", 2]), vi("allow_pickle", T.FLOAT, ["n", 2])],
    )
    path = _save(model, tmp_path / "names.onnx")
    x = np.array([[-1, 2], [3, -4]], np.float32)
    np.savez(tmp_path / "in.npz", x=x)
    code, _, err = cli(capsys, "predict", str(path), "--input", str(tmp_path / "in.npz"), "--output", str(tmp_path / "out.npz"))
    assert code == 0, err
    with np.load(tmp_path / "out.npz") as z:
        assert z.files == ["file", "allow_pickle"]
        assert np.array_equal(z["file"], np.maximum(x, 0)) and np.array_equal(z["allow_pickle"], -x)


# --- the classifier view on request --------------------------------------------------------------


def test_classify_an_output_that_already_holds_probabilities(corpus, tmp_path: Path, capsys) -> None:
    path, feeds = corpus["lr"]
    probs = _ort(path, feeds)["probabilities"]
    np.savez(tmp_path / "in.npz", **feeds)
    code, out, err = cli(capsys, "predict", str(path), "--input", str(tmp_path / "in.npz"), "--classify", "probabilities", "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["class_names"] == ["0", "1", "2"] and doc["n_rows"] == 150 and doc["softmax"] is False
    got = np.array([[p["probabilities"][c] for c in doc["class_names"]] for p in doc["predictions"]], np.float32)
    assert _bitwise(got, probs)  # rows that sum to 1 are shown as the model gives them
    assert [p["label"] for p in doc["predictions"]] == probs.argmax(1).tolist()
    # --values and a CSV work when the model has one 2-D numeric input
    code, out, err = cli(capsys, "predict", str(path), "--values", "5.1,3.5,1.4,0.2", "--classify", "probabilities")
    assert code == 0, err
    assert out.splitlines()[0].split() == ["row", "class", "0", "1", "2"] and out.splitlines()[1].split()[1] == "0"
    (tmp_path / "rows.csv").write_text("\n".join(",".join(f"{v:.9g}" for v in r) for r in feeds["X"]) + "\n")
    code, _, err = cli(capsys, "predict", str(path), "--input", str(tmp_path / "rows.csv"), "--classify", "probabilities", "--output", str(tmp_path / "p.csv"))
    assert code == 0, err
    lines = (tmp_path / "p.csv").read_text().splitlines()
    assert lines[0] == "row,label,class,prob_0,prob_1,prob_2,reason" and len(lines) == 151
    assert [int(ln.split(",")[1]) for ln in lines[1:]] == probs.argmax(1).tolist()


def test_classify_applies_softmax_to_scores(corpus, tmp_path: Path, capsys) -> None:
    path, feeds = corpus["two_inputs"]
    np.savez(tmp_path / "in.npz", **feeds)
    scores = (feeds["a"] + feeds["b"]).astype(np.float64)
    e = np.exp(scores - scores.max(axis=1, keepdims=True))
    want = e / e.sum(axis=1, keepdims=True)
    code, out, err = cli(capsys, "predict", str(path), "--input", str(tmp_path / "in.npz"), "--classify", "sum", "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["softmax"] is True and doc["classified_output"] == "sum"
    got = np.array([[p["probabilities"][c] for c in doc["class_names"]] for p in doc["predictions"]])
    assert np.abs(got - want).max() < 1e-6
    assert [p["label"] for p in doc["predictions"]] == scores.argmax(1).tolist()


@pytest.mark.parametrize("output, why", [("label", "2-D float"), ("nope", "unknown"), ("hidden", "2-D float")])
def test_classify_refuses_what_is_not_class_scores(corpus, tmp_path: Path, output: str, why: str, capsys) -> None:
    name = "ids_mask" if output == "hidden" else "lr"
    path, feeds = corpus[name]
    np.savez(tmp_path / "in.npz", **feeds)
    code, out, err = cli(capsys, "predict", str(path), "--input", str(tmp_path / "in.npz"), "--classify", output)
    assert code == 2 and out == "" and why in one_error_line(err) and repr(output) in err


def test_zipmap_output_can_be_classified(corpus, tmp_path: Path, capsys) -> None:
    path, feeds = corpus["lr_zipmap"]
    want = _expected_array(_ort(path, feeds)["output_probability"])
    np.savez(tmp_path / "in.npz", **feeds)
    code, out, err = cli(capsys, "predict", str(path), "--input", str(tmp_path / "in.npz"), "--classify", "output_probability", "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["softmax"] is False and [p["label"] for p in doc["predictions"]] == want.argmax(1).tolist()


# --- irisonnx's own classifier --------------------------------------------------------------------


def test_irisonnx_classifier_takes_npz_and_writes_every_output(tmp_path_factory, tiny_run: Path, iris, tmp_path: Path, capsys) -> None:
    run = exported_run(tmp_path_factory, tiny_run, "dynamo", True, True)[0]
    x = np.ascontiguousarray(iris.features[:20], np.float32)
    want = _ort(run / "model.onnx", {"features": x})
    np.savez(tmp_path / "in.npz", features=x)
    code, _, err = cli(capsys, "predict", str(run), "--input", str(tmp_path / "in.npz"), "--output", str(tmp_path / "out.npz"))
    assert code == 0, err
    with np.load(tmp_path / "out.npz") as z:
        assert z.files == ["logits", "probabilities", "label"]
        for k in z.files:
            assert np.array_equal(z[k], want[k]) and z[k].dtype == want[k].dtype
    # the class table stays the default view for its own models, from a .npz too
    code, out, err = cli(capsys, "predict", str(run), "--input", str(tmp_path / "in.npz"), "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["class_names"] == ["setosa", "versicolor", "virginica"] and [p["label"] for p in doc["predictions"]] == want["label"].tolist()


def test_json_outputs_with_nan_and_inf_are_strict_json(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """RFC 8259 has no NaN: a model's NaN/inf outputs are null in --json, counted, and the
    document parses with a strict parser."""
    import onnx
    from onnx import TensorProto as T
    from onnx import helper

    g = helper.make_graph([helper.make_node("Log", ["x"], ["y"])], "log", [helper.make_tensor_value_info("x", T.FLOAT, ["N", 3])], [helper.make_tensor_value_info("y", T.FLOAT, ["N", 3])])
    model = tmp_path / "log.onnx"
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), str(model))
    np.savez(tmp_path / "x.npz", x=np.array([[1.0, 0.0, -1.0]], np.float32))
    rc, out, err = cli(capsys, "predict", str(model), "--input", str(tmp_path / "x.npz"), "--json")
    assert rc == 0, err

    def no_constants(c: str) -> None:
        raise ValueError(c)

    doc = json.loads(out, parse_constant=no_constants)
    (y,) = doc["outputs"]
    assert y["values"] == [[0.0, None, None]] and y["non_finite"] == {"count": 2, "nan": 1, "as": "null"}
