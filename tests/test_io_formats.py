"""Foreign golden formats (irisonnx/data/io_formats.py): ONNX test data and Polygraphy's saved JSON.

The ONNX files are written here with onnx's own numpy_helper (as the backend tests and the model
zoo write them); the Polygraphy files are written by the real ``polygraphy run`` CLI on a model
built in the test, and the expected outputs come from onnxruntime run directly on the decoded
inputs. Hostile files: a pickled object array inside the base64 .npy (a live canary proves
nothing was unpickled), bad base64, truncated JSON, a header declaring a huge shape, an unknown
class, external data, sequences where tensors belong.
"""

from __future__ import annotations

import base64
import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from irisonnx.errors import ArtifactError, DataError, StorageError, UsageError
from irisonnx.data import io_formats
from irisonnx.data.io_formats import IOSet, read_onnx_test_data, read_polygraphy_inputs, read_polygraphy_outputs, write_onnx_test_data
from irisonnx.storage import TEMP_MARK
from reliability_helpers import Canary

ROOT = Path(__file__).resolve().parent.parent


def _pb(path: Path, arr: np.ndarray, name: str = "") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(numpy_helper.from_array(arr, name).SerializeToString())


def _varied() -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    rng = np.random.default_rng(0)
    inputs = {
        "image": rng.standard_normal((2, 1, 3, 3)).astype(np.float32),
        "ids": rng.integers(0, 100, (2, 5)).astype(np.int64),
        "mask": np.array([[True, False, True, True, False]] * 2),
        "half": rng.standard_normal(4).astype(np.float16),
        "bytes": np.arange(6, dtype=np.uint8).reshape(2, 3),
        "words": np.array([["héllo", ""], ["a", "zz"]], dtype=object),
        "scalar": np.array(3.5, dtype=np.float64),
        "empty": np.zeros((0, 4), np.float32),
    }
    outputs = {"logits": rng.standard_normal((2, 10)).astype(np.float32), "label": np.array([3, 7], np.int64), "i8": np.array([-128, 127], np.int8)}
    return inputs, outputs


def _same(a: np.ndarray, b: np.ndarray) -> None:
    assert a.dtype == b.dtype and a.shape == b.shape, (a.dtype, b.dtype, a.shape, b.shape)
    if a.dtype == object:
        assert a.tolist() == b.tolist()
    else:
        np.testing.assert_array_equal(a, b)


# --- ONNX test data: reading what onnx writes ------------------------------------------------


def test_reads_sets_in_numeric_order_with_unnamed_tensors(tmp_path: Path) -> None:
    # 12 sets: lexical order would be 0, 1, 10, 11, 2, ...; the value in each says which it is.
    for i in range(12):
        _pb(tmp_path / f"test_data_set_{i}" / "input_0.pb", np.full((1, 4), i, np.float32))
        _pb(tmp_path / f"test_data_set_{i}" / "input_1.pb", np.full((1,), i, np.int64))
        _pb(tmp_path / f"test_data_set_{i}" / "output_0.pb", np.full((1, 3), -i, np.float32))
    (tmp_path / "test_data_set_3" / "notes.txt").write_text("ignored")
    sets = read_onnx_test_data(tmp_path)
    assert [int(s.inputs[0][1][0, 0]) for s in sets] == list(range(12))
    assert [Path(s.source).name for s in sets] == [f"test_data_set_{i}" for i in range(12)]
    s = sets[11]
    assert isinstance(s, IOSet)
    assert [n for n, _ in s.inputs] == [None, None] and [n for n, _ in s.outputs] == [None]
    _same(s.inputs[1][1], np.full((1,), 11, np.int64))
    _same(s.outputs[0][1], np.full((1, 3), -11, np.float32))


def test_one_set_folder_a_case_folder_and_its_model_path(tmp_path: Path) -> None:
    case = tmp_path / "test_add"
    model = helper.make_model(helper.make_graph([helper.make_node("Add", ["x", "y"], ["z"])], "g", [helper.make_tensor_value_info(n, TensorProto.FLOAT, [2]) for n in "xy"], [helper.make_tensor_value_info("z", TensorProto.FLOAT, [2])]))
    case.mkdir()
    onnx.save(model, case / "model.onnx")
    for i in range(2):
        _pb(case / f"test_data_set_{i}" / "input_0.pb", np.array([i, 1], np.float32), "x")
        _pb(case / f"test_data_set_{i}" / "input_1.pb", np.array([2, i], np.float32), "y")
        _pb(case / f"test_data_set_{i}" / "output_0.pb", np.array([i + 2, 1 + i], np.float32), "z")
    whole = read_onnx_test_data(case)
    assert len(whole) == 2 and [n for n, _ in whole[1].inputs] == ["x", "y"] and whole[1].outputs[0][0] == "z"
    via_model = read_onnx_test_data(case / "model.onnx")
    assert [s.source for s in via_model] == [s.source for s in whole]
    one = read_onnx_test_data(case / "test_data_set_1")
    assert len(one) == 1 and one[0].source == str(case / "test_data_set_1")
    _same(one[0].outputs[0][1], np.array([3, 2], np.float32))


def test_write_then_read_round_trips_every_dtype_and_names(tmp_path: Path) -> None:
    a, b = _varied()
    sets = [(a, b), ({k: v[:1] if v.ndim else v for k, v in a.items()}, {"logits": b["logits"][:1]})]
    write_onnx_test_data(tmp_path / "golden", sets)
    got = read_onnx_test_data(tmp_path / "golden")
    assert len(got) == 2
    for (ins, outs), s in zip(sets, got):
        assert [n for n, _ in s.inputs] == list(ins) and [n for n, _ in s.outputs] == list(outs)
        for (_, want), (_, have) in zip(list(ins.items()) + list(outs.items()), s.inputs + s.outputs):
            _same(have, want)
    words = got[0].inputs[5][1]
    assert words.dtype == object and all(type(w) is str for w in words.ravel())
    # What onnx itself reads back from our files is the same (no private encoding).
    t = onnx.TensorProto.FromString((tmp_path / "golden" / "test_data_set_0" / "input_1.pb").read_bytes())
    assert t.name == "ids"
    _same(numpy_helper.to_array(t), a["ids"])
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(TEMP_MARK)]


def test_write_replaces_an_earlier_save_but_never_other_files(tmp_path: Path) -> None:
    target = tmp_path / "golden"
    x = {"x": np.ones((1, 2), np.float32)}
    write_onnx_test_data(target, [(x, {})] * 3)
    write_onnx_test_data(target, [({"x": np.zeros((1, 2), np.float32)}, {})])
    assert sorted(p.name for p in target.iterdir()) == ["test_data_set_0"]
    _same(read_onnx_test_data(target)[0].inputs[0][1], np.zeros((1, 2), np.float32))
    (target / "mine.txt").write_text("keep")
    with pytest.raises(UsageError, match="other files"):
        write_onnx_test_data(target, [(x, {})])
    assert (target / "mine.txt").read_text() == "keep" and (target / "test_data_set_0").is_dir()
    empty = tmp_path / "empty"
    empty.mkdir()
    write_onnx_test_data(empty, [(x, {})])
    assert (empty / "test_data_set_0" / "input_0.pb").is_file()


def test_write_is_atomic_on_bad_data_and_on_a_failed_write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "golden"
    write_onnx_test_data(target, [({"x": np.ones(2, np.float32)}, {"y": np.ones(2, np.float32)})])
    before = {p.relative_to(target): p.read_bytes() for p in target.rglob("*.pb")}
    with pytest.raises(DataError, match="object array"):
        write_onnx_test_data(target, [({"x": np.zeros(2, np.float32)}, {})] * 2 + [({"x": np.array([1, "a"], dtype=object)}, {})])
    calls = []

    def failing(path: Path, data: bytes) -> None:
        calls.append(path)
        if len(calls) == 3:
            raise OSError(28, "No space left on device")
        Path(path).write_bytes(data)

    monkeypatch.setattr(io_formats, "_write_synced", failing)
    with pytest.raises(StorageError, match="No space left"):
        write_onnx_test_data(target, [({"x": np.zeros(2, np.float32)}, {"y": np.zeros(2, np.float32)})] * 4)
    assert len(calls) == 3
    assert {p.relative_to(target): p.read_bytes() for p in target.rglob("*.pb")} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["golden"]  # no temp folder left


# --- ONNX test data: what is refused ---------------------------------------------------------


def test_missing_paths_and_folders_without_test_data_are_usage_errors(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="does not exist") as e:
        read_onnx_test_data(tmp_path / "nope")
    assert e.value.exit_code == 2 and "\n" not in str(e.value)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "x.npy").write_bytes(b"")
    with pytest.raises(UsageError, match="no ONNX test data"):
        read_onnx_test_data(tmp_path / "other")
    assert not io_formats.is_onnx_test_data(tmp_path / "other")
    with pytest.raises(UsageError, match="is a file"):
        read_onnx_test_data(tmp_path / "other" / "x.npy")


def test_gaps_and_empty_sets_are_data_errors(tmp_path: Path) -> None:
    _pb(tmp_path / "test_data_set_0" / "input_0.pb", np.ones(2, np.float32))
    _pb(tmp_path / "test_data_set_0" / "input_2.pb", np.ones(2, np.float32))
    with pytest.raises(DataError, match=r"input_1\.pb is missing"):
        read_onnx_test_data(tmp_path)
    (tmp_path / "test_data_set_0" / "input_2.pb").unlink()
    (tmp_path / "test_data_set_1").mkdir()
    with pytest.raises(DataError, match="no input_K.pb"):
        read_onnx_test_data(tmp_path)


def test_sequences_and_optionals_are_refused_by_file_name(tmp_path: Path) -> None:
    seq = numpy_helper.from_list([np.arange(3, dtype=np.float32), np.ones((2, 2), np.float32)], "seq")
    opt = numpy_helper.from_optional(np.arange(3, dtype=np.float32), "opt")
    # Without a model beside them (the file alone says what it is) ...
    for proto, word in ((seq, "sequence"), (opt, "optional")):
        d = tmp_path / word / "test_data_set_0"
        d.mkdir(parents=True)
        (d / "input_0.pb").write_bytes(proto.SerializeToString())
        # (a one-element sequence and an optional are the same bytes: both are named then)
        with pytest.raises(DataError, match=rf"input_0.pb holds an ONNX (sequence \(SequenceProto\) or )?{word}") as e:
            read_onnx_test_data(d.parent)
        assert e.value.exit_code == 2
    # ... and in a backend-test case folder, whose model.onnx says the input is a sequence.
    case = tmp_path / "case"
    seq_type = helper.make_sequence_type_proto(helper.make_tensor_type_proto(TensorProto.FLOAT, None))
    graph = helper.make_graph([helper.make_node("SequenceLength", ["s"], ["n"])], "g", [helper.make_value_info("s", seq_type)], [helper.make_tensor_value_info("n", TensorProto.INT64, [])])
    case.mkdir()
    onnx.save(helper.make_model(graph), case / "model.onnx")
    (case / "test_data_set_0").mkdir()
    (case / "test_data_set_0" / "input_0.pb").write_bytes(numpy_helper.from_list([np.ones(1, np.float32)], "s").SerializeToString())
    _pb(case / "test_data_set_0" / "output_0.pb", np.array(1, np.int64), "n")
    with pytest.raises(DataError, match="sequence"):
        read_onnx_test_data(case)


def test_external_data_truncation_garbage_and_lying_shapes_are_artifact_errors(tmp_path: Path) -> None:
    d = tmp_path / "test_data_set_0"
    d.mkdir()
    ext = numpy_helper.from_array(np.ones(4, np.float32), "x")
    ext.ClearField("raw_data")
    ext.data_location = TensorProto.EXTERNAL
    ext.external_data.add(key="location", value="/etc/passwd")
    (d / "input_0.pb").write_bytes(ext.SerializeToString())
    with pytest.raises(ArtifactError, match="external file") as e:
        read_onnx_test_data(tmp_path)
    assert e.value.exit_code == 3
    good = numpy_helper.from_array(np.arange(1000, dtype=np.float32), "x").SerializeToString()
    for bad, why in ((good[: len(good) // 2], "does not decode|not a serialized"), (np.random.default_rng(1).bytes(64), None), (b"\xff" * 40, None)):
        (d / "input_0.pb").write_bytes(bad)
        with pytest.raises(ArtifactError, match=why):
            read_onnx_test_data(tmp_path)
    liar = TensorProto(name="x", data_type=TensorProto.FLOAT, dims=[10**6, 10**6])
    liar.raw_data = b"\0" * 16
    (d / "input_0.pb").write_bytes(liar.SerializeToString())
    t0 = time.perf_counter()
    with pytest.raises(ArtifactError, match="declares shape"):
        read_onnx_test_data(tmp_path)
    assert time.perf_counter() - t0 < 1
    (d / "input_0.pb").write_bytes(good)
    with pytest.raises(ArtifactError, match="too large"):
        read_onnx_test_data(tmp_path, max_file_bytes=1000)
    assert read_onnx_test_data(tmp_path, max_file_bytes=len(good))[0].inputs[0][1].shape == (1000,)


# --- Polygraphy JSON: real files from the CLI -------------------------------------------------


def _polygraphy() -> Path:
    exe = Path(sys.executable).parent / "polygraphy"
    if not exe.exists():
        pytest.skip("the polygraphy CLI is not installed next to this Python (it writes the files under test)")
    return exe


def _pg_model(path: Path) -> Path:
    w = numpy_helper.from_array((np.arange(12, dtype=np.float32).reshape(4, 3) - 5) / 7, "W")
    one = numpy_helper.from_array(np.array([1], np.int64), "one")
    nodes = [helper.make_node("MatMul", ["x", "W"], ["y"]), helper.make_node("ArgMax", ["y"], ["idx"], axis=1), helper.make_node("Add", ["ids", "one"], ["ids1"]), helper.make_node("Not", ["mask"], ["nmask"])]
    graph = helper.make_graph(
        nodes, "pg",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4]), helper.make_tensor_value_info("ids", TensorProto.INT64, ["N", 3]), helper.make_tensor_value_info("mask", TensorProto.BOOL, ["N", 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3]), helper.make_tensor_value_info("idx", TensorProto.INT64, ["N", 1]), helper.make_tensor_value_info("ids1", TensorProto.INT64, ["N", 3]), helper.make_tensor_value_info("nmask", TensorProto.BOOL, ["N", 3])],
        [w, one],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


@pytest.fixture(scope="module")
def pg_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    exe = _polygraphy()
    d = tmp_path_factory.mktemp("polygraphy")
    model = _pg_model(d / "m.onnx")
    # Two runners into single files; one runner into per-iteration folders (extensionless paths).
    for args in (["--onnxrt", "--save-inputs", "in.json", "--save-outputs", "out.json"], ["--save-inputs", "in_dir", "--save-outputs", "out_dir"]):
        proc = subprocess.run([str(exe), "run", str(model), "--onnxrt", "--iterations", "3", "--input-shapes", "x:[2,4]", "ids:[2,3]", "mask:[2,3]", *args], cwd=d, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return {"model": model, "in": d / "in.json", "out": d / "out.json", "in_dir": d / "in_dir", "out_dir": d / "out_dir"}


def test_polygraphy_files_decode_to_what_onnxruntime_computes(pg_files: dict[str, Path]) -> None:
    import onnxruntime as ort

    feeds = read_polygraphy_inputs(pg_files["in"])
    runs = read_polygraphy_outputs(pg_files["out"])
    assert len(feeds) == 3
    for feed in feeds:
        assert list(feed) == ["x", "ids", "mask"]
        assert (feed["x"].dtype, feed["x"].shape) == (np.float32, (2, 4))
        assert (feed["ids"].dtype, feed["mask"].dtype) == (np.int64, np.bool_)
    assert len(runs) == 2
    assert [r.split("-")[:3] for r in runs] == [["onnxrt", "runner", "N0"], ["onnxrt", "runner", "N1"]]
    sess = ort.InferenceSession(str(pg_files["model"]), providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    for iters in runs.values():
        assert len(iters) == 3
        for feed, outs in zip(feeds, iters):
            assert list(outs) == ["y", "idx", "ids1", "nmask"]
            for name, want in zip(names, sess.run(None, feed)):
                _same(outs[name], want)
    iters = next(iter(runs.values()))
    # The per-iteration folder form holds the same arrays.
    assert [list(f) for f in read_polygraphy_inputs(pg_files["in_dir"])] == [list(f) for f in feeds]
    for a, b in zip(read_polygraphy_inputs(pg_files["in_dir"]), feeds):
        for k in a:
            _same(a[k], b[k])
    runs_dir = read_polygraphy_outputs(pg_files["out_dir"])
    (runner_d, iters_d), = runs_dir.items()
    assert runner_d.startswith("onnxrt-runner") and len(iters_d) == 3
    for a, b in zip(iters_d, iters):
        for k in b:
            _same(a[k], b[k])
    assert io_formats.polygraphy_json_kind(pg_files["in"]) == "inputs" == io_formats.polygraphy_json_kind(pg_files["in_dir"])
    assert io_formats.polygraphy_json_kind(pg_files["out"]) == "outputs" == io_formats.polygraphy_json_kind(pg_files["out_dir"])


def test_reading_imports_neither_polygraphy_nor_torch(pg_files: dict[str, Path]) -> None:
    code = (
        "import sys; from irisonnx.data.io_formats import read_polygraphy_inputs, read_polygraphy_outputs;"
        f"read_polygraphy_inputs({str(pg_files['in'])!r}); read_polygraphy_outputs({str(pg_files['out'])!r});"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('polygraphy', 'torch', 'pickle', '_pickle'));"
        "print(bad)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr
    # numpy itself imports pickle at start-up; what matters is that polygraphy and torch stay out.
    assert not [m for m in json.loads(proc.stdout.strip().replace("'", '"')) if m.split(".")[0] in ("polygraphy", "torch")]


def test_wrong_kind_of_polygraphy_file_is_a_data_error(pg_files: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(DataError, match="RunResults"):
        read_polygraphy_inputs(pg_files["out"])
    with pytest.raises(DataError, match="no Polygraphy RunResults"):
        read_polygraphy_outputs(pg_files["in"])
    (tmp_path / "empty.json").write_text("[]")
    with pytest.raises(DataError, match="no iterations"):
        read_polygraphy_inputs(tmp_path / "empty.json")
    with pytest.raises(UsageError, match="does not exist"):
        read_polygraphy_outputs(tmp_path / "missing.json")


# --- Polygraphy JSON: hostile files -----------------------------------------------------------


def _with_array(src: Path, dst: Path, payload: str | None = None, cls: str | None = None) -> Path:
    """A copy of polygraphy's in.json whose first array is replaced (its base64 or its class)."""
    doc = json.loads(src.read_text())
    entry = doc[0]["x"]
    if payload is not None:
        entry["array"] = payload
    if cls is not None:
        entry["polygraphy_class"] = cls
    dst.write_text(json.dumps(doc))
    return dst


def test_big_endian_and_str_arrays_come_back_native_and_as_object_arrays(pg_files: dict[str, Path], tmp_path: Path) -> None:
    def b64(arr: np.ndarray) -> str:
        buf = io.BytesIO()
        np.save(buf, arr, allow_pickle=False)
        return base64.b64encode(buf.getvalue()).decode()

    big = np.arange(8, dtype=">f4").reshape(2, 4)
    got = read_polygraphy_inputs(_with_array(pg_files["in"], tmp_path / "be.json", b64(big)))[0]["x"]
    assert got.dtype == np.dtype("float32") and got.dtype.isnative
    np.testing.assert_array_equal(got, np.arange(8, dtype=np.float32).reshape(2, 4))
    got = read_polygraphy_inputs(_with_array(pg_files["in"], tmp_path / "str.json", b64(np.array(["ab", "ç"]))))[0]["x"]
    assert got.dtype == object and got.tolist() == ["ab", "ç"]


def test_pickled_object_array_is_refused_and_nothing_is_unpickled(pg_files: dict[str, Path], tmp_path: Path) -> None:
    def payload(canary: Path) -> str:
        arr = np.empty((2, 4), dtype=object)
        arr[0, 0] = Canary(canary)
        buf = io.BytesIO()
        np.save(buf, arr, allow_pickle=True)
        return base64.b64encode(buf.getvalue()).decode()

    # The payload is live: loading it the unsafe way creates its canary.
    control = tmp_path / "control-canary"
    np.load(io.BytesIO(base64.b64decode(payload(control))), allow_pickle=True)
    assert control.exists()
    canary = tmp_path / "canary"
    hostile = _with_array(pg_files["in"], tmp_path / "in.json", payload(canary))
    with pytest.raises(ArtifactError, match="Python objects") as e:
        read_polygraphy_inputs(hostile)
    assert e.value.exit_code == 3 and not canary.exists()
    # Inside a RunResults (outputs) too.
    doc = pg_files["out"].read_text()
    first = json.loads(doc)["lst"][0][1][0]["outputs"]["y"]["values"]["array"]
    (tmp_path / "out.json").write_text(doc.replace(first, payload(canary), 1))
    with pytest.raises(ArtifactError, match="Python objects"):
        read_polygraphy_outputs(tmp_path / "out.json")
    assert not canary.exists()


def test_bad_base64_truncated_json_huge_shapes_and_unknown_classes(pg_files: dict[str, Path], tmp_path: Path) -> None:
    cases = {
        "bad base64": (_with_array(pg_files["in"], tmp_path / "b64.json", "!!not base64!!"), "not valid base64"),
        "unknown class": (_with_array(pg_files["in"], tmp_path / "cls.json", cls="EvilThing"), "EvilThing"),
        "torch tensor": (_with_array(pg_files["in"], tmp_path / "t.json", cls="Tensor"), "torch"),
        "not npy": (_with_array(pg_files["in"], tmp_path / "npz.json", base64.b64encode(b"PK\x03\x04rest").decode()), "NPZ"),
    }
    text = pg_files["in"].read_text()
    (tmp_path / "trunc.json").write_text(text[: len(text) // 2])
    cases["truncated"] = (tmp_path / "trunc.json", "not valid JSON")
    (tmp_path / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    cases["deep"] = (tmp_path / "deep.json", "nests too deeply|not valid JSON")
    # A header declaring 10**12 float32 elements over 16 bytes of data.
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (1000000, 1000000), }"
    header += " " * (63 - (10 + len(header)) % 64) + "\n"
    raw = b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode() + b"\0" * 16
    cases["huge shape"] = (_with_array(pg_files["in"], tmp_path / "huge.json", base64.b64encode(raw).decode()), "declares shape")
    for name, (path, why) in cases.items():
        t0 = time.perf_counter()
        with pytest.raises(ArtifactError, match=why) as e:
            read_polygraphy_inputs(path)
        assert e.value.exit_code == 3 and "\n" not in str(e.value), name
        assert time.perf_counter() - t0 < 2, name
    with pytest.raises(ArtifactError, match="too large"):
        read_polygraphy_inputs(pg_files["in"], max_file_bytes=100)
    dup = tmp_path / "dup.json"
    dup.write_text('[{"x": 1, "x": 2}]')
    with pytest.raises(ArtifactError, match="twice"):
        read_polygraphy_inputs(dup)
