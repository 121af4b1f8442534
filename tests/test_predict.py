"""`irisonnx predict` and the Predictor: parity with torch on every row, inputs and outputs,
every bad input (exit 2) and bad model (exit 3), and providers that never fall back (exit 4)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from conftest import IRIS_CSV, run_cli
from irisonnx.errors import ArtifactError, DataError, RuntimeUnavailable, UsageError
from irisonnx.modelfile.onnx_io import load_model_safely, resolve_model
from irisonnx.runtimes.ort_engine import Predictor, cuda_available, softmax
from irisonnx.storage import TEMP_MARK
from onnx_helpers import cli, copy_run, exported_run, external_data_model, one_error_line, torch_logits, within

HAS_CUDA = cuda_available()[0]


@pytest.fixture(scope="module")
def full(tmp_path_factory: pytest.TempPathFactory, tiny_run: Path) -> Path:
    """dynamo export with probabilities and label outputs (shared, read-only)."""
    return exported_run(tmp_path_factory, tiny_run, "dynamo", True, True)[0]


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory, tiny_run: Path) -> Path:
    """torchscript export with logits only: probabilities come from numpy's softmax."""
    return exported_run(tmp_path_factory, tiny_run, "torchscript")[0]


# --- parity with torch -------------------------------------------------------------------


@pytest.mark.parametrize("which", ["full", "plain"])
def test_predict_matches_torch_on_every_row(request: pytest.FixtureRequest, which: str, iris, capsys) -> None:
    run = request.getfixturevalue(which)
    ref = torch_logits(run, iris.features)  # (150, 3)
    ref_p = softmax(ref)
    pred = Predictor(run)
    assert within(pred.predict_logits(iris.features), ref).all()
    labels, probs = pred.predict(iris.features)
    assert within(probs, ref_p).all() and (labels == ref.argmax(1)).all()
    # The CLI on the raw CSV (header with an extra 'species' column) gives the same, row by row.
    code, out, _ = cli(capsys, "predict", str(run), "--input", str(IRIS_CSV), "--json")
    assert code == 0
    doc = json.loads(out)
    assert doc["n_rows"] == 150 and doc["ignored_columns"] == ["species"] and doc["provider"] == "CPUExecutionProvider"
    got = np.array([[p["probabilities"][c] for c in doc["class_names"]] for p in doc["predictions"]])
    assert np.abs(got - ref_p).max() <= 1e-5
    assert [p["class"] for p in doc["predictions"]] == [iris.class_names[i] for i in ref.argmax(1)]


def test_batch_one_and_chunked_paths_agree(full: Path) -> None:
    rng = np.random.default_rng(1)
    x = rng.uniform(0, 8, size=(40_000, 4)).astype(np.float32)
    whole = Predictor(full).predict_logits(x)
    chunked = Predictor(full, chunk_rows=999).predict_logits(x)  # 41 chunks, last one short
    pred = Predictor(full)
    ones = np.concatenate([pred.predict_logits(x[i : i + 1]) for i in range(300)])
    assert within(chunked, whole).all() and within(ones, whole[:300]).all()
    again = pred.predict_logits(x[:1])  # the cached binding must not hand out a shared buffer
    first = pred.predict_logits(x[1:2])
    assert not np.shares_memory(again, first) and within(again, whole[:1]).all()


def test_softmax_is_stable_for_huge_logits() -> None:
    p = softmax(np.array([[1e30, 0.0, -1e30], [3.0, 3.0, 3.0]], dtype=np.float32))
    assert p.dtype == np.float32 and np.isfinite(p).all()
    np.testing.assert_allclose(p, [[1, 0, 0], [1 / 3, 1 / 3, 1 / 3]], atol=1e-7)


# --- inputs and outputs ------------------------------------------------------------------


def test_values_prints_a_table(full: Path, capsys) -> None:
    code, out, err = cli(capsys, "predict", str(full), "--values", "5.1,3.5,1.4,0.2")
    assert code == 0 and err == ""
    header, row = out.splitlines()
    assert header.split() == ["row", "class", "setosa", "versicolor", "virginica"]
    cells = row.split()
    assert cells[:2] == ["1", "setosa"] and abs(sum(float(c) for c in cells[2:]) - 1) < 2e-4


def test_csv_without_header_and_with_reordered_header(full: Path, tmp_path: Path, iris) -> None:
    pred = Predictor(full)
    rows = iris.features[:5]
    bare = tmp_path / "bare.csv"
    bare.write_text("\n".join(",".join(f"{v:.1f}" for v in r) for r in rows) + "\n\n")
    names = iris.feature_names[::-1]
    shuffled = tmp_path / "shuffled.csv"
    shuffled.write_text(",".join(names) + "\n" + "\n".join(",".join(f"{v:.1f}" for v in r[::-1]) for r in rows) + "\n")
    from irisonnx.data.predict_io import read_input

    a, b = read_input(bare, pred.feature_names), read_input(shuffled, pred.feature_names)
    assert a.header is None and b.header == names
    np.testing.assert_array_equal(a.x, rows)
    np.testing.assert_array_equal(b.x, rows)


@pytest.mark.parametrize("suffix", [".csv", ".json", ".npy"])
def test_output_files(full: Path, tmp_path: Path, iris, suffix: str, capsys) -> None:
    npy = tmp_path / "rows.npy"
    np.save(npy, iris.features[:7])
    out = tmp_path / f"preds{suffix}"
    code, stdout, _ = cli(capsys, "predict", str(full), "--input", str(npy), "--output", str(out))
    assert code == 0 and f"wrote 7 predictions to {out}" in stdout
    labels, probs = Predictor(full).predict(iris.features[:7])
    if suffix == ".npy":
        got = np.load(out)
        assert got.dtype == np.float32 and np.array_equal(got, probs)
    elif suffix == ".json":
        doc = json.loads(out.read_text())
        assert [p["label"] for p in doc["predictions"]] == labels.tolist() and doc["model"] == str(full / "model.onnx")
    else:
        lines = out.read_text().splitlines()
        assert lines[0] == "row,label,class,prob_setosa,prob_versicolor,prob_virginica,reason" and len(lines) == 8
        assert np.array_equal(np.array(lines[1].split(",")[3:6], dtype=np.float64).astype(np.float32), probs[0])  # 9 digits round-trip float32
    assert not list(tmp_path.glob(f"{TEMP_MARK}*"))


# --- rows whose outputs are not finite have no class ----------------------------------------------

HUGE = "3e38,3e38,3e38,3e38"  # each value a finite float32; the logits overflow


@pytest.mark.parametrize("which", ["full", "plain"])
def test_non_finite_outputs_have_no_class_and_exit_1(request: pytest.FixtureRequest, which: str, iris, tmp_path: Path, capsys) -> None:
    """Before: NaN probabilities, the row called 'setosa', exit 0, and bare NaN in --json."""
    run = request.getfixturevalue(which)
    assert not np.isfinite(torch_logits(run, np.full((1, 4), 3e38, np.float32))).all()  # the oracle: torch overflows too
    code, out, err = cli(capsys, "predict", str(run), "--values", HUGE)
    assert code == 1 and "1 of 1 row(s) have no class" in one_error_line(err)
    row = out.splitlines()[1]
    assert "(none)" in row and "no class: outputs not finite" in row and "nan" not in row.lower() and "setosa" not in row

    code, out, err = cli(capsys, "predict", str(run), "--values", HUGE, "--json")
    assert code == 1 and one_error_line(err)
    doc = json.loads(out, parse_constant=lambda c: pytest.fail(f"not RFC 8259 JSON: {c}"))
    (p,) = doc["predictions"]
    assert p["label"] is None and p["class"] is None and set(p["probabilities"].values()) == {None} and "not finite" in p["reason"]
    assert doc["n_unclassified"] == 1

    src, dst = tmp_path / "rows.csv", tmp_path / "preds.csv"
    src.write_text(f"{HUGE}\n" + ",".join(f"{v:.9g}" for v in iris.features[0]) + "\n")
    code, out, err = cli(capsys, "predict", str(run), "--input", str(src), "--output", str(dst))
    assert code == 1 and "1 of 2 row(s) have no class" in one_error_line(err) and "for row(s) 1;" in err
    lines = dst.read_text().splitlines()
    assert lines[1].startswith("1,,,,,,") and lines[1].endswith("not finite (NaN or infinity)")
    assert lines[2].startswith(f"2,{iris.labels[0]},{iris.class_names[iris.labels[0]]},") and lines[2].endswith(",")


def test_compare_reference_on_overflowing_rows_prints_no_warnings(full: Path, tmp_path: Path) -> None:
    """The reference runtime on rows that overflow: numpy RuntimeWarnings reached stderr."""
    src = tmp_path / "rows.csv"
    src.write_text(f"{HUGE}\n1,2,3,4\n")
    r = run_cli("compare", str(full / "model.onnx"), "--runtimes", "ort-cpu,reference", "--inputs", str(src), "-q")
    assert r.returncode in (0, 1) and r.stderr.strip() in ("", next(iter(r.stderr.splitlines()), "")), r.stderr
    assert "Warning" not in r.stderr, r.stderr


# --- bad inputs: exit 2, one line ----------------------------------------------------------

BAD_CSV = {
    "wrong-columns": ("5.1,3.5,1.4\n", "line 1 has 3 values: the model takes 4"),
    "ragged": ("5.1,3.5,1.4,0.2\n4.9,3.0,1.4\n", "line 2 has 3 values"),
    "non-numeric": ("5.1,3.5,1.4,0.2\n4.9,abc,1.4,0.2\n", "line 2, column 'sepal_width' is not a number: 'abc'"),
    "empty-cell": ("5.1,,1.4,0.2\n", "line 1, column 'sepal_width' is empty"),
    "nan": ("sepal_length,sepal_width,petal_length,petal_width\n5.1,3.5,nan,0.2\n", "line 2, column 'petal_length' is not finite: 'nan'"),
    "inf": ("5.1,3.5,1.4,-inf\n", "line 1, column 'petal_width' is not finite"),
    "overflow": ("5.1,3.5,1.4,1e39\n", "line 1, column 'petal_width' is too large for float32: '1e39'"),
    "empty": ("", "is empty: no rows to predict"),
    "blank-lines": ("\n\n", "is empty"),
    "header-only": ("sepal_length,sepal_width,petal_length,petal_width\n", "has a header but no data rows"),
    "wrong-header": ("a,b,c,d\n1,2,3,4\n", "header lacks column(s) sepal_length, sepal_width, petal_length, petal_width"),
}


@pytest.mark.parametrize("case", sorted(BAD_CSV))
def test_bad_csv_exits_2(full: Path, tmp_path: Path, case: str, capsys) -> None:
    text, msg = BAD_CSV[case]
    path = tmp_path / "in.csv"
    path.write_text(text)
    code, out, err = cli(capsys, "predict", str(full), "--input", str(path))
    assert code == 2 and out == ""
    assert msg in one_error_line(err)


BAD_NPY = {
    "complex": (np.ones((2, 4), np.complex64), "wrong dtype: complex64"),
    "bool": (np.ones((2, 4), bool), "wrong dtype: bool"),
    "strings": (np.array([["1", "2", "3", "4"]]), "wrong dtype: <U1"),
    "rank-1": (np.ones(4, np.float32), r"wrong rank: shape (4,), expected (rows, 4)"),
    "rank-3": (np.ones((2, 4, 1), np.float32), "wrong rank"),
    "columns": (np.ones((2, 5), np.float32), "input has 5 columns: the model takes 4 (sepal_length, sepal_width, petal_length, petal_width)"),
    "empty": (np.ones((0, 4), np.float32), "input is empty"),
    "nan": (np.array([[5.1, 3.5, 1.4, 0.2], [5.1, np.nan, 1.4, 0.2]], np.float32), "row index 1, column 'sepal_width' is not finite"),
    "inf-in-many-rows": (np.vstack([np.ones((999, 4)), [[1, 1, 1, np.inf]]]), "row index 999, column 'petal_width' is not finite"),
}


@pytest.mark.parametrize("case", sorted(BAD_NPY))
def test_bad_npy_exits_2(full: Path, tmp_path: Path, case: str, capsys) -> None:
    arr, msg = BAD_NPY[case]
    path = tmp_path / "in.npy"
    np.save(path, arr)
    code, _, err = cli(capsys, "predict", str(full), "--input", str(path))
    assert code == 2 and msg in one_error_line(err)


def test_bad_npy_files_and_arguments_exit_2(full: Path, tmp_path: Path, capsys) -> None:
    obj = tmp_path / "obj.npy"
    np.save(obj, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    junk = tmp_path / "junk.npy"
    junk.write_bytes(b"\x93NUMPY not really")
    txt = tmp_path / "rows.txt"
    txt.write_text("5.1,3.5,1.4,0.2\n")
    cases = [
        (["--input", str(obj)], "is not a numeric .npy array"),  # never unpickled
        (["--input", str(junk)], "is not a numeric .npy array"),
        (["--input", str(txt)], "unknown input format: 'rows.txt'; give a .npz (arrays by input name), .npy or .csv file"),
        (["--input", str(tmp_path / "missing.csv")], "input file not found"),
        (["--values", "5.1,3.5,1.4"], "--values has 3 values: the model takes 4"),
        (["--values", "5.1,3.5,x,0.2"], "column 'petal_length' is not a number"),
        (["--values", "5.1,3.5,1.4,nan"], "is not finite"),
        (["--values", ""], "--values is empty"),
        ([], "give exactly one of --values and --input"),
        (["--values", "1,2,3,4", "--input", str(txt)], "give exactly one of --values and --input"),
        (["--values", "1,2,3,4", "--output", str(tmp_path / "p.xlsx")], "unknown output format"),
        (["--values", "1,2,3,4", "--threads", "0"], "bad thread count"),
        (["--values", "1,2,3,4", "--allow-tf32"], "allow_tf32 applies only to the cuda provider"),
    ]
    for args, msg in cases:
        code, _, err = cli(capsys, "predict", str(full), *args)
        assert code == 2, (args, err)
        assert msg in one_error_line(err), args


def test_predictor_input_checks_raise_data_error(full: Path) -> None:
    pred = Predictor(full)
    with pytest.raises(DataError, match=r"input has 3 columns: the model takes 4"):
        pred.predict(np.ones((1, 3), np.float32))
    with pytest.raises(DataError, match=r"row index 0, column 'sepal_length' is not finite: nan; NaN and infinite values"):
        pred.predict_logits(np.array([[np.nan, 1, 1, 1]], np.float32))
    with pytest.raises(DataError, match="input is empty"):
        pred.run(np.empty((0, 4), np.float32))
    with pytest.raises(DataError, match="wrong dtype: object"):
        pred.run(np.array([[1, "a", None, 2]], dtype=object))
    with pytest.raises(UsageError, match="unknown model output: 'nope'; the model has logits, probabilities, label"):
        pred.run(np.ones((1, 4), np.float32), ["nope"])
    # float64, ints and Fortran order are converted, not refused
    x = np.asfortranarray(np.array([[5, 3, 1, 0], [6, 3, 5, 2]], dtype=np.int64))
    assert within(pred.predict_logits(x), pred.predict_logits(x.astype(np.float32))).all()


# --- bad models: exit 3 --------------------------------------------------------------------


@pytest.fixture
def model_bytes(full: Path) -> bytes:
    return (full / "model.onnx").read_bytes()


def _bad_model_cases(tmp_path: Path, data: bytes) -> dict[str, tuple[Path, str]]:
    import onnx

    def write(name: str, blob: bytes) -> Path:
        p = tmp_path / name
        p.write_bytes(blob)
        return p

    def edited(name: str, **meta: str) -> Path:
        m = onnx.load_model_from_string(data)
        props = {p.key: p.value for p in m.metadata_props}
        props.update(meta)
        del m.metadata_props[:]
        for k, v in props.items():
            e = m.metadata_props.add()
            e.key, e.value = k, v
        return write(name, m.SerializeToString())

    return {
        "csv-as-onnx": (write("text.onnx", IRIS_CSV.read_bytes()), "not an ONNX model, or a truncated one"),
        "empty": (write("empty.onnx", b""), "not an ONNX model"),
        "truncated-half": (write("half.onnx", data[: len(data) // 2]), "not an ONNX model, or a truncated one"),
        "truncated-last-byte": (write("last.onnx", data[:-1]), "not an ONNX model, or a truncated one"),
        "truncated-100": (write("100.onnx", data[:100]), "not an ONNX model, or a truncated one"),
        "n-features-lie": (edited("nf.onnx", n_features="5"), "metadata says n_features=5, input 'features' takes 4"),
        "n-classes-lie": (edited("nc.onnx", n_classes="2"), "metadata says n_classes=2"),
        "three-feature-names": (edited("fn.onnx", feature_names='["a", "b", "c"]'), "metadata names 3 features, input 'features' takes 4"),
        "bad-json": (edited("bj.onnx", class_names="[setosa"), "class_names is not JSON"),
    }


def test_bad_models_raise_artifact_error(tmp_path: Path, model_bytes: bytes) -> None:
    for case, (path, msg) in _bad_model_cases(tmp_path, model_bytes).items():
        with pytest.raises(ArtifactError, match=msg.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")) as exc:
            load_model_safely(path)
        assert exc.value.exit_code == 3, case


@pytest.mark.parametrize("case", ["csv-as-onnx", "truncated-half", "n-features-lie"])
def test_bad_models_exit_3_in_a_subprocess(tmp_path: Path, model_bytes: bytes, case: str) -> None:
    path, msg = _bad_model_cases(tmp_path, model_bytes)[case]
    for cmd in (["predict", str(path), "--values", "5.1,3.5,1.4,0.2"], ["inspect", str(path)]):
        r = run_cli(*cmd)
        assert r.returncode == 3 and r.stdout == ""
        assert msg in one_error_line(r.stderr)


def test_tampered_or_unlisted_run_model_exits_3(full: Path, tmp_path: Path, capsys) -> None:
    run = copy_run(full, tmp_path / "run")
    model = run / "model.onnx"
    data = bytearray(model.read_bytes())
    data[-5] ^= 0x01  # a flipped bit inside the metadata: still parses, no longer the exported model
    model.write_bytes(bytes(data))
    for target in (run, model):  # by run folder or by file inside it: same refusal
        code, _, err = cli(capsys, "predict", str(target), "--values", "5.1,3.5,1.4,0.2")
        assert code == 3 and "model is corrupt or was modified" in one_error_line(err)
    manifest = json.loads((run / "manifest.json").read_text())
    del manifest["files"]["model.onnx"]
    (run / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ArtifactError, match="model.onnx is not in the run's manifest"):
        resolve_model(run)
    (run / "model.onnx").unlink()
    with pytest.raises(UsageError, match="run has no model.onnx"):
        resolve_model(run)


def test_external_data_outside_the_model_folder_is_refused(full: Path, tmp_path: Path, capsys) -> None:
    src = full / "model.onnx"
    outside = tmp_path / "outside" / "weights.bin"
    safe = external_data_model(src, tmp_path / "safe", "weights.bin")
    # Control: external data that stays in the folder loads and predicts like the original.
    info = load_model_safely(safe)
    assert info.has_external_data
    x = np.array([[5.1, 3.5, 1.4, 0.2]], np.float32)
    assert within(Predictor(info).predict_logits(x), Predictor(full).predict_logits(x)).all()

    dotdot = external_data_model(src, tmp_path / "dotdot", "../outside/weights.bin", payload_path=outside)
    absolute = external_data_model(src, tmp_path / "absolute", str(outside))
    link_dir = tmp_path / "link"
    link_dir.mkdir()
    os.symlink(outside, link_dir / "weights.bin")
    symlink = external_data_model(src, link_dir, "weights.bin")
    cases = {
        dotdot: "points to external data outside its folder ('../outside/weights.bin')",
        absolute: "points to external data at an absolute path",
        symlink: f"resolves to {outside}, outside {link_dir.resolve()} (a symlink?)",
    }
    for path, msg in cases.items():
        with pytest.raises(ArtifactError, match="unsafe ONNX model") as exc:
            load_model_safely(path)
        assert msg in str(exc.value)
        code, _, err = cli(capsys, "predict", str(path), "--values", "5.1,3.5,1.4,0.2")
        assert code == 3 and msg in one_error_line(err)


def test_size_limit(full: Path) -> None:
    with pytest.raises(ArtifactError, match="model file too large: .* the limit is 1,000"):
        load_model_safely(full / "model.onnx", max_bytes=1000)


# --- providers: exit 4, never a fallback -----------------------------------------------------


@pytest.mark.skipif(HAS_CUDA, reason="this onnxruntime has CUDA; the unavailable path is not reachable")
def test_cuda_unavailable_exits_4_with_a_reason(full: Path, capsys) -> None:
    with pytest.raises(RuntimeUnavailable, match="CUDA provider unavailable: this onnxruntime build .* install onnxruntime-gpu") as exc:
        Predictor(full, provider="cuda")
    assert exc.value.exit_code == 4
    code, out, err = cli(capsys, "predict", str(full), "--values", "5.1,3.5,1.4,0.2", "--provider", "cuda")
    assert code == 4 and out == "" and "install onnxruntime-gpu" in one_error_line(err)


@pytest.mark.skipif(HAS_CUDA, reason="simulates a CUDA provider that is listed but cannot run")
@pytest.mark.filterwarnings("ignore:Specified provider 'CUDAExecutionProvider' is not in available provider names")
def test_a_listed_cuda_provider_that_does_not_run_is_an_error(full: Path, monkeypatch: pytest.MonkeyPatch, capfd) -> None:
    """onnxruntime alone would run this session on the CPU; we refuse (exit 4), with no
    "EP Error ... Falling back" banner on stdout and no onnxruntime log lines on stderr."""
    import onnxruntime as ort

    real = ort.get_available_providers
    monkeypatch.setattr(ort, "get_available_providers", lambda: ["CUDAExecutionProvider", *real()])
    with pytest.raises(RuntimeUnavailable, match="cannot create a CUDA session: some nodes would run on the CPU, and CPU fallback is off") as exc:
        Predictor(full, provider="cuda")
    assert exc.value.exit_code == 4
    out, err = capfd.readouterr()
    assert out == "" and "onnxruntime" not in err


def test_a_session_that_lands_on_another_provider_is_an_error(full: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The last line of defence: whatever onnxruntime did, get_providers()[0] must be ours."""
    import onnxruntime as ort

    real_session, real_avail = ort.InferenceSession, ort.get_available_providers

    def quietly_on_cpu(model, so, providers=None, **kw):  # what a silent fallback looks like
        return real_session(model, ort.SessionOptions(), providers=["CPUExecutionProvider"])

    monkeypatch.setattr(ort, "get_available_providers", lambda: ["CUDAExecutionProvider", *real_avail()])
    monkeypatch.setattr(ort, "InferenceSession", quietly_on_cpu)
    with pytest.raises(RuntimeUnavailable, match=r"CUDAExecutionProvider was asked for but the session runs on CPUExecutionProvider.*never falls back silently"):
        Predictor(full, provider="cuda")


def test_session_settings(full: Path) -> None:
    pred = Predictor(full, threads=1, graph_optimization="disable")
    assert pred.providers == ["CPUExecutionProvider"]
    assert pred.class_names == ["setosa", "versicolor", "virginica"]
    with pytest.raises(UsageError, match="unknown provider: 'tpu'; choose one of cpu, cuda"):
        Predictor(full, provider="tpu")
    with pytest.raises(UsageError, match="unknown graph optimization level: 'max'; choose one of all, extended, basic, disable"):
        Predictor(full, graph_optimization="max")


@pytest.mark.gpu
@pytest.mark.skipif(not HAS_CUDA, reason="needs onnxruntime-gpu and a CUDA device")
def test_cuda_matches_cpu_with_tf32_off_and_on(full: Path, iris) -> None:
    rng = np.random.default_rng(0)
    x = np.vstack([iris.features, rng.uniform([4.3, 2.0, 1.0, 0.1], [7.9, 4.4, 6.9, 2.5], size=(100_000, 4))]).astype(np.float32)
    cpu = Predictor(full).predict_logits(x)
    strict = Predictor(full, provider="cuda")
    assert strict.providers[0] == "CUDAExecutionProvider"
    assert strict.provider_options["CUDAExecutionProvider"]["use_tf32"] == "0"
    off = strict.predict_logits(x)
    tf32 = Predictor(full, provider="cuda", allow_tf32=True)
    assert tf32.provider_options["CUDAExecutionProvider"]["use_tf32"] == "1"
    on = tf32.predict_logits(x)
    err_off, err_on = float(np.abs(off - cpu).max()), float(np.abs(on - cpu).max())
    print(f"CUDA vs CPU max abs err: TF32 off {err_off:.3g}, TF32 on {err_on:.3g}")
    assert within(off, cpu).all()  # fp32 on both: a few ulps
    assert err_on < 5e-2  # TF32 keeps 10 mantissa bits: ~1e-3 relative on logits of ~10
    assert (on.argmax(1) == cpu.argmax(1)).mean() > 0.99


def test_a_model_that_loads_but_cannot_run_is_exit_3(tmp_path: Path) -> None:
    """Found by fuzzing: a Gemm bias of the wrong shape passes the checker and session creation
    and fails only when run. That is a broken artifact (exit 3), not an internal error."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from irisonnx.errors import ArtifactError
    from irisonnx.runtimes.ort_engine import Predictor

    w = numpy_helper.from_array(np.ones((4, 3), np.float32), "w")
    b = numpy_helper.from_array(np.ones((2,), np.float32), "b")  # 2 cannot broadcast to 3
    g = helper.make_graph(
        [helper.make_node("Gemm", ["features", "w", "b"], ["logits"])],
        "bad_bias",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 3])],
        [w, b],
    )
    path = tmp_path / "bad_bias.onnx"
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 18)]), str(path))
    p = Predictor(path)
    for rows in (1, 100_000):  # the bound fast path and the chunked path
        with pytest.raises(ArtifactError, match="cannot run the model"):
            p.run(np.ones((rows, 4), np.float32))
    r = run_cli("predict", str(path), "--values", "1,2,3,4", "--classify", "logits")  # a foreign model: classes only when asked
    assert r.returncode == 3 and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
