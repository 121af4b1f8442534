"""compare for models no one here wrote: any signature, any outputs, golden sets recorded with
one runtime, sabotage caught and located. Oracles are plain onnxruntime sessions and numpy,
never irisonnx's own runtimes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto as T
from onnx import helper, numpy_helper

from onnx_helpers import cli, one_error_line

OPSET = [helper.make_opsetid("", 17)]


def _save(graph: onnx.GraphProto, path: Path, opsets: list | None = None) -> Path:
    m = helper.make_model(graph, opset_imports=opsets or OPSET)
    onnx.checker.check_model(m, full_check=True)
    onnx.save(m, str(path))
    return path


def _plain(path: Path, feeds: dict) -> dict:
    s = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return dict(zip([o.name for o in s.get_outputs()], s.run(None, feeds)))


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("foreign")
    rng = np.random.default_rng(0)
    vi = helper.make_tensor_value_info
    out: dict[str, Path] = {}
    # two inputs, concatenated, into a named MatMul
    W = rng.normal(size=(7, 2)).astype(np.float32)
    g = helper.make_graph(
        [helper.make_node("Concat", ["a", "b"], ["c"], axis=1, name="concat"), helper.make_node("MatMul", ["c", "W"], ["y"], name="mm")],
        "two", [vi("a", T.FLOAT, ["N", 4]), vi("b", T.FLOAT, ["N", 3])], [vi("y", T.FLOAT, ["N", 2])], [numpy_helper.from_array(W, "W")],
    )  # fmt: skip
    out["two"] = _save(g, d / "two.onnx")
    # int64 token ids and a bool mask -> a 3-D float output and an int64 argmax
    E = rng.normal(size=(10, 3)).astype(np.float32)
    g = helper.make_graph(
        [
            helper.make_node("Gather", ["E", "ids"], ["e"], axis=0, name="embed"),
            helper.make_node("Unsqueeze", ["mask", "ax"], ["m"], name="unsq"),
            helper.make_node("Where", ["m", "e", "zero"], ["y"], name="where"),
            helper.make_node("ArgMax", ["y"], ["am"], axis=2, keepdims=0, name="argmax"),
        ],
        "emb", [vi("ids", T.INT64, ["N", "T"]), vi("mask", T.BOOL, ["N", "T"])], [vi("y", T.FLOAT, ["N", "T", 3]), vi("am", T.INT64, ["N", "T"])],
        [numpy_helper.from_array(E, "E"), numpy_helper.from_array(np.array([2], np.int64), "ax"), numpy_helper.from_array(np.zeros(1, np.float32), "zero")],
    )  # fmt: skip
    out["emb"] = _save(g, d / "emb.onnx")
    # rows that do not follow the input's: Transpose, and Gemm with transA
    g = helper.make_graph([helper.make_node("Transpose", ["x"], ["t"], perm=[1, 0])], "tr", [vi("x", T.FLOAT, ["N", 4])], [vi("t", T.FLOAT, [4, "N"])])
    out["transpose"] = _save(g, d / "transpose.onnx")
    B = rng.normal(size=(5, 3)).astype(np.float32)
    g = helper.make_graph([helper.make_node("Gemm", ["x", "B"], ["y"], transA=1)], "gemm", [vi("x", T.FLOAT, [5, "N"])], [vi("y", T.FLOAT, ["N", 3])], [numpy_helper.from_array(B, "B")])
    out["gemm_ta"] = _save(g, d / "gemm_ta.onnx")
    # a fixed batch of one
    g = helper.make_graph([helper.make_node("MatMul", ["x", "W"], ["y"])], "fixed", [vi("x", T.FLOAT, [1, 7])], [vi("y", T.FLOAT, [1, 2])], [numpy_helper.from_array(W, "W")])
    out["fixed"] = _save(g, d / "fixed.onnx")
    # strings in, strings out
    g = helper.make_graph([helper.make_node("Identity", ["s"], ["o"])], "str", [vi("s", T.STRING, ["N"])], [vi("o", T.STRING, ["N"])])
    out["strings"] = _save(g, d / "strings.onnx")
    # the same output name, rows the other way round: a golden set of one fails the other
    g = helper.make_graph([helper.make_node("Identity", ["x"], ["t"])], "same", [vi("x", T.FLOAT, ["N", 4])], [vi("t", T.FLOAT, ["N", 4])])
    out["identity"] = _save(g, d / "identity.onnx")
    return out


@pytest.fixture(scope="module")
def sklearn_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    skl2onnx = pytest.importorskip("skl2onnx")
    from sklearn.datasets import load_iris
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression

    d = tmp_path_factory.mktemp("sklearn")
    X, y = load_iris(return_X_y=True)
    X = X.astype(np.float32)
    out = {}
    for name, est in (("lr", LogisticRegression(max_iter=500)), ("rf", RandomForestClassifier(n_estimators=5, random_state=0))):
        est.fit(X, y)
        for zip_on in (False, True):
            m = skl2onnx.to_onnx(est, X[:1], options={"zipmap": zip_on})
            p = d / f"{name}{'_zip' if zip_on else ''}.onnx"
            onnx.save(m, str(p))
            out[p.stem] = p
    np.savez(d / "iris.npz", X=X)
    out["iris.npz"] = d / "iris.npz"
    return out


def _json(capsys: pytest.CaptureFixture, *argv: str, code: int = 0) -> dict:
    rc, out, err = cli(capsys, *argv, "--json")
    assert rc == code, (argv, rc, err)
    return json.loads(out)


def _stats(doc: dict, runtime: str, output: str) -> dict:
    pair = next(p for p in doc["pairs"] if p["runtime"] == runtime)
    return next(o for o in pair["outputs"] if o["output"] == output)


def test_skl2onnx_models_compare_under_their_own_names(sklearn_models: dict, capsys: pytest.CaptureFixture) -> None:
    """skl2onnx's input is X (not 'features'): the reference runtime once fed 'features' to
    every model and crashed compare with exit 70. Integer labels are compared exactly."""
    for name in ("lr", "rf"):
        doc = _json(capsys, "compare", str(sklearn_models[name]), "--runtimes", "ort-cpu,reference", "--inputs", str(sklearn_models["iris.npz"]))
        assert doc["passed"] and doc["n_rows"] == 150
        label = _stats(doc, "reference", "label")
        assert label["dtype"] == "int64" and label["n_elements"] == 150 and label["requirement"] == "equal (integer output)"
        assert _stats(doc, "reference", "probabilities")["n_elements"] == 450
        assert [i["name"] for i in doc["signature"]["inputs"]] == ["X"]


def test_zipmap_output_is_compared_key_by_key(sklearn_models: dict, capsys: pytest.CaptureFixture) -> None:
    """A sequence of maps (ZipMap) becomes a (rows, classes) array in key order. The reference
    evaluator cannot run ZipMap: as a default runtime it is reported unavailable, not a crash."""
    rc, out, err = cli(capsys, "compare", str(sklearn_models["lr_zip"]), "--inputs", str(sklearn_models["iris.npz"]), "-q")
    assert rc == 2 and "nothing to compare" in one_error_line(err)  # ort-cpu alone: no pair
    doc = _json(capsys, "compare", str(sklearn_models["lr_zip"]), "--runtimes", "ort-cpu:O0,ort-cpu", "--inputs", str(sklearn_models["iris.npz"]), "--save-io", str(sklearn_models["lr"].parent / "zipgold"))
    st = _stats(doc, "ort-cpu", "output_probability")
    assert doc["passed"] and st["n_elements"] == 450 and st["exact"]
    saved = np.load(sklearn_models["lr"].parent / "zipgold" / "ort-cpu.output_probability.npy")
    X = np.load(sklearn_models["iris.npz"])["X"]
    expected = _plain(sklearn_models["lr"], {"X": X})["probabilities"]  # the zipmap-off twin, plain onnxruntime
    assert saved.shape == (150, 3) and np.array_equal(saved, expected)


def test_two_inputs_by_name_and_bad_arrays_named(models: dict, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    a, b = np.ones((5, 4), np.float32), np.arange(15, dtype=np.float32).reshape(5, 3)
    good = tmp_path / "good.npz"
    np.savez(good, a=a, b=b)
    doc = _json(capsys, "compare", str(models["two"]), "--runtimes", "ort-cpu,reference", "--inputs", str(good), "--exact")
    assert doc["passed"] and doc["n_rows"] == 5
    cases = {
        "missing": ({"a": a}, "no array for input(s) 'b'"),
        "extra": ({"a": a, "b": b, "c": b}, "array(s) 'c' match no model input"),
        "int for float": ({"a": a, "b": b.astype(bool)}, "array 'b' is bool"),
        "rank": ({"a": a, "b": b.reshape(5, 3, 1)}, "array 'b' has shape [5, 3, 1]"),
        "fixed dim": ({"a": a, "b": np.ones((5, 2), np.float32)}, "needs 3 along axis 1"),
        "rows disagree": ({"a": a, "b": np.ones((4, 3), np.float32)}, "dimension 'N' is 4 in 'b' but 5 in 'a'"),
    }
    for name, (arrays, msg) in cases.items():
        f = tmp_path / f"{name.replace(' ', '_')}.npz"
        np.savez(f, **arrays)
        rc, _, err = cli(capsys, "compare", str(models["two"]), "--runtimes", "ort-cpu,reference", "--inputs", str(f), "-q")
        assert rc == 2 and msg in one_error_line(err), (name, err)


def test_ids_and_mask_random_inputs_respect_types_dims_and_ranges(models: dict, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    rc, _, err = cli(capsys, "compare", str(models["emb"]), "--inputs", "random:50", "-q")
    line = one_error_line(err)
    assert rc == 2 and "'T'" in line and "--dim T=SIZE" in line
    g = tmp_path / "g"
    doc = _json(capsys, "compare", str(models["emb"]), "--runtimes", "ort-cpu,reference", "--inputs", "random:50", "--dim", "T=6", "--input-range", "ids=3,5", "--exact", "--save-io", str(g))
    assert doc["passed"] and _stats(doc, "reference", "am")["requirement"] == "equal (integer output)"
    ids, mask = np.load(g / "input.ids.npy"), np.load(g / "input.mask.npy")
    assert ids.shape == (50, 6) and ids.dtype == np.int64 and ids.min() == 3 and ids.max() == 5
    assert mask.dtype == bool and mask.shape == (50, 6) and not mask[0].any() and mask[1].all()
    plain = _plain(models["emb"], {"ids": ids, "mask": mask})
    assert np.array_equal(np.load(g / "ort-cpu.y.npy"), plain["y"]) and np.array_equal(np.load(g / "reference.am.npy"), plain["am"])
    # default integer range 0..9
    doc = _json(capsys, "compare", str(models["emb"]), "--runtimes", "ort-cpu", "--inputs", "random:200", "--dim", "T=3", "--save-io", str(tmp_path / "g2"))
    ids = np.load(tmp_path / "g2" / "input.ids.npy")
    assert ids.min() == 0 and ids.max() == 9
    rc, _, err = cli(capsys, "compare", str(models["emb"]), "--inputs", "random:5", "--dim", "T=2", "--input-range", "nope=0,1", "-q")
    assert rc == 2 and "'nope'" in one_error_line(err)


@pytest.mark.parametrize("name", ["transpose", "gemm_ta"])
def test_outputs_that_do_not_follow_the_rows(models: dict, name: str, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """Outputs were pre-bound as [input rows, C]; a Transpose failed on ort-cpu. More rows
    than one chunk: the model runs whole, as plain onnxruntime does."""
    g = tmp_path / "g"
    args = ["--inputs", "random:70000", "--batch-size", "32768"] if name == "transpose" else ["--inputs", "random:3", "--dim", "x:1=40000", "--batch-size", "2"]
    doc = _json(capsys, "compare", str(models[name]), "--runtimes", "ort-cpu,reference", *args, "--exact", "--save-io", str(g))
    assert doc["passed"]
    idx = json.loads((g / "index.json").read_text())
    ((in_entry,),) = idx["inputs"]["tensors"].values()
    ((out_name, (out_entry,)),) = idx["runtimes"]["ort-cpu"]["outputs"].items()
    x, y = np.load(g / in_entry["file"]), np.load(g / out_entry["file"])
    assert np.array_equal(y, _plain(models[name], {"x": x})[out_name])
    if name == "transpose":
        assert doc["batched"] is False and y.shape == (4, 70000)  # run whole: its output is declared [4, N]
    else:
        assert x.shape == (5, 40000) and y.shape == (40000, 3)


def test_fixed_batch_is_fed_row_by_row(models: dict, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    g = tmp_path / "g"
    doc = _json(capsys, "compare", str(models["fixed"]), "--runtimes", "ort-cpu,reference", "--inputs", "random:10", "--save-io", str(g))
    assert doc["passed"] and doc["n_rows"] == 10 and "fed 1 at a time" in doc["inputs"]
    x, y = np.load(g / "input.x.npy"), np.load(g / "ort-cpu.y.npy")
    assert x.shape == (10, 7) and y.shape == (10, 2)
    expected = np.concatenate([_plain(models["fixed"], {"x": x[i : i + 1]})["y"] for i in range(10)])
    assert np.array_equal(y, expected)
    npz = tmp_path / "rows.npz"
    np.savez(npz, x=np.ones((3, 7), np.float32))
    assert _json(capsys, "compare", str(models["fixed"]), "--runtimes", "ort-cpu,reference", "--inputs", str(npz))["passed"]


def test_string_outputs_are_exact(models: dict, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    f = tmp_path / "s.npz"
    np.savez(f, s=np.array(["a", "<b>", "ünï", ""]))
    doc = _json(capsys, "compare", str(models["strings"]), "--runtimes", "ort-cpu,reference", "--inputs", str(f), "--save-io", str(tmp_path / "g"))
    st = _stats(doc, "reference", "o")
    assert doc["passed"] and st["requirement"] == "equal (string output)" and st["n_elements"] == 4
    assert np.load(tmp_path / "g" / "ort-cpu.o.npy").tolist() == ["a", "<b>", "ünï", ""]


def test_golden_set_recorded_with_one_runtime_catches_sabotage_and_locates_it(models: dict, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """As compare --help shows it: record on the reference machine with one runtime, then a
    copy with one weight moved by 0.5 fails against it, and --locate names the node."""
    g = tmp_path / "golden"
    rc, out, err = cli(capsys, "compare", str(models["two"]), "--runtimes", "ort-cpu", "--save-io", str(g), "-q")
    assert rc == 0 and "RECORDED" in out, err
    assert _json(capsys, "compare", str(models["two"]), "--load-io", str(g), "--exact")["passed"]
    m = onnx.load(str(models["two"]))
    W = numpy_helper.to_array(m.graph.initializer[0]).copy()
    W[3, 1] += 0.5
    m.graph.initializer[0].CopyFrom(numpy_helper.from_array(W, "W"))
    bad = tmp_path / "bad.onnx"
    onnx.save(m, str(bad))
    doc = _json(capsys, "compare", str(bad), "--load-io", str(g), "--locate", code=1)
    assert not doc["passed"]
    (loc,) = doc["locate"]
    assert loc["first_divergence"]["node"] == "mm" and loc["first_divergence"]["op_type"] == "MatMul"
    st = _stats(doc, "ort-cpu", "y")
    assert len(st["worst"]["index"]) == 2 and st["worst"]["index"][1] == 1  # column 1 took the +0.5 weight


def test_worst_element_has_its_full_index(models: dict, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    g = tmp_path / "g"
    cli(capsys, "compare", str(models["emb"]), "--runtimes", "ort-cpu", "--inputs", "random:20", "--dim", "T=4", "--save-io", str(g), "-q")
    m = onnx.load(str(models["emb"]))
    E = numpy_helper.to_array(m.graph.initializer[0]).copy()
    E[7, 2] += 0.5
    m.graph.initializer[0].CopyFrom(numpy_helper.from_array(E, "E"))
    bad = tmp_path / "bad.onnx"
    onnx.save(m, str(bad))
    doc = _json(capsys, "compare", str(bad), "--load-io", str(g), code=1)
    w = _stats(doc, "ort-cpu", "y")["worst"]
    ids, mask = np.load(g / "input.ids.npy"), np.load(g / "input.mask.npy")
    r, t, k = w["index"]
    assert k == 2 and ids[r, t] == 7 and mask[r, t]  # the one embedding row that moved, where the mask lets it through
    assert abs(w["abs_error"] - 0.5) < 1e-6


def test_outputs_of_another_shape_fail_the_pair(models: dict, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    g = tmp_path / "g"
    f = tmp_path / "x.npz"
    np.savez(f, x=np.ones((4, 4), np.float32))
    cli(capsys, "compare", str(models["transpose"]), "--runtimes", "ort-cpu", "--inputs", str(f), "--save-io", str(g), "-q")
    rc, out, err = cli(capsys, "compare", str(models["identity"]), "--load-io", str(g), "-q")
    assert rc == 0, err  # a 4x4 transposed ones is ones: same shape, same values
    np.savez(f, x=np.arange(12, dtype=np.float32).reshape(3, 4))
    rc, out, err = cli(capsys, "compare", str(models["transpose"]), "--runtimes", "ort-cpu", "--inputs", str(f), "--save-io", str(tmp_path / "g3"), "-q")
    assert rc == 0, err
    rc, out, err = cli(capsys, "compare", str(models["identity"]), "--load-io", str(tmp_path / "g3"), "-q")
    assert rc == 1 and "shapes differ: float32 [3, 4] vs baseline float32 [4, 3]" in out, out


def test_argmax_needs_a_2d_float_output(models: dict, capsys: pytest.CaptureFixture) -> None:
    rc, _, err = cli(capsys, "compare", str(models["strings"]), "--runtimes", "ort-cpu,reference", "--argmax", "-q")
    assert rc == 2 and "--argmax needs a 2-D float output" in one_error_line(err)


def test_uniform_inputs_stay_inside_the_range(models: dict, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """random:N probes far beyond the range (1e6); uniform:N stays inside it (images in [0, 1])."""
    for spec, inside in (("uniform:500", True), ("random:500", False)):
        g = tmp_path / spec.replace(":", "_")
        doc = _json(capsys, "compare", str(models["two"]), "--runtimes", "ort-cpu", "--inputs", spec, "--input-range", "a=0,1", "--input-range", "b=-2,-1", "--save-io", str(g))
        a, b = np.load(g / "input.a.npy"), np.load(g / "input.b.npy")
        assert a.shape == (500, 4) and b.shape == (500, 3)
        assert bool(a.min() >= 0 and a.max() <= 1 and b.min() >= -2 and b.max() <= -1) is inside, (spec, a.min(), a.max())
        assert ("uniform rows within the input ranges" in doc["inputs"]) is inside


@pytest.mark.parametrize("flag,value", [("--dim", "T=1_000"), ("--dim", "T=１２"), ("--input-range", "ids=0,1_0"), ("--input-range", "ids=０,9"), ("--inputs", "random:1_0")])
def test_new_flags_take_strict_numbers(models: dict, flag: str, value: str, capsys: pytest.CaptureFixture) -> None:
    """Issue 15's strict number syntax holds for the any-model flags too (float() and int()
    accept '1_000' and full-width digits)."""
    args = ["--dim", "T=3"] if flag != "--dim" else []
    rc, _, err = cli(capsys, "compare", str(models["emb"]), "--runtimes", "ort-cpu,reference", *args, flag, value, "-q")
    assert rc == 2, err
    assert "bad " + flag in one_error_line(err) or "not" in one_error_line(err)
