"""The commands on a corpus no one here wrote (tests/corpus.py): skl2onnx models, a torch CNN
and a TransformerEncoder, helper-built oddities and ONNX backend node cases generated from the
onnx wheel's own test-case code. Expected values come from onnx's test cases, scikit-learn,
torch eager or plain onnxruntime, never from irisonnx."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from corpus import BACKEND_ATOL, BACKEND_CORE, BACKEND_RTOL, get_corpus
from onnx_helpers import cli, one_error_line


def _compare(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, dict, str]:
    rc, out, err = cli(capsys, "compare", *argv, "--json", "-q")
    return rc, (json.loads(out) if out.strip() else {}), err


def _plain_outputs(model: Path, feeds: dict) -> list[np.ndarray]:
    s = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    return [np.asarray(v) for v in s.run(None, feeds)]


def _bitwise(a: np.ndarray, b: np.ndarray) -> bool:
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if a.dtype.kind == "f":
        return a.tobytes() == b.tobytes()
    return bool(np.array_equal(a, b))


@pytest.fixture(scope="module")
def backend(tmp_path_factory: pytest.TempPathFactory):
    return get_corpus(tmp_path_factory, "backend")


def test_backend_cases_match_their_expected_outputs_within_onnx_tolerance(backend, capsys: pytest.CaptureFixture) -> None:
    """Each case's model through ort-cpu and the reference evaluator against the expected
    outputs its test-data set ships (--load-io reads the ONNX layout), with onnx's own backend
    tolerance (rtol 1e-3, atol 1e-7); --exact fails exactly where plain onnxruntime's outputs
    are not bitwise the expected ones."""
    assert len(BACKEND_CORE) >= 30
    not_bitwise_expected, not_bitwise_flagged = set(), set()
    for name in BACKEND_CORE:
        case = backend[name]
        rc, doc, err = _compare(capsys, str(case.onnx), "--runtimes", "ort-cpu,reference", "--load-io", str(case.test_data), "--atol", str(BACKEND_ATOL), "--rtol", str(BACKEND_RTOL))
        assert rc == 0 and doc["passed"], (name, err, [p for p in doc.get("pairs", []) if not p["passed"]])
        assert doc["baseline"] == "golden" and {p["runtime"] for p in doc["pairs"]} == {"ort-cpu", "reference"}, name
        got = _plain_outputs(case.onnx, case.inputs)
        if not all(_bitwise(g, np.asarray(case.expected[k])) for g, k in zip(got, case.expected)):
            not_bitwise_expected.add(name)
        rc, doc, err = _compare(capsys, str(case.onnx), "--runtimes", "ort-cpu", "--load-io", str(case.test_data), "--exact")
        assert rc in (0, 1), (name, err)
        if rc == 1:
            not_bitwise_flagged.add(name)
    assert not_bitwise_flagged == not_bitwise_expected
    assert not_bitwise_expected, "some float cases differ in the last bits from onnx's numpy expectations"


def test_backend_case_outputs_recorded_in_onnx_layout_read_back(backend, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """--save-io-format onnx writes the baseline's outputs as test data that --load-io reads."""
    from irisonnx.data.io_formats import read_onnx_test_data

    case = backend["test_top_k"]  # two outputs, one int64
    out = tmp_path / "td"
    rc, doc, err = _compare(capsys, str(case.onnx), "--runtimes", "ort-cpu", "--load-io", str(case.test_data), "--save-io", str(out), "--save-io-format", "onnx")
    assert rc == 0, err
    (s,) = read_onnx_test_data(out)
    plain = _plain_outputs(case.onnx, case.inputs)
    assert [n for n, _ in s.outputs] == ["values", "indices"] and all(_bitwise(a, b) for (_, a), b in zip(s.outputs, plain))
    rc, doc, err = _compare(capsys, str(case.onnx), "--runtimes", "ort-cpu", "--load-io", str(out), "--exact")
    assert rc == 0 and doc["passed"], err


@pytest.fixture(scope="module")
def foreign(tmp_path_factory: pytest.TempPathFactory):
    return get_corpus(tmp_path_factory, "sklearn", "torch", "onnx")


def _npz(tmp_path: Path, name: str, arrays: dict) -> Path:
    p = tmp_path / f"{name}.npz"
    np.savez(p, **arrays)
    return p


@pytest.mark.parametrize("name", ["sk_logreg", "sk_forest", "cnn", "encoder", "two_inputs", "fixed_batch", "transpose", "gemm_transA"])
def test_foreign_models_compare_and_inspect(foreign, name: str, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    m = foreign[name]
    rc, out, err = cli(capsys, "inspect", str(m.onnx), "--json")
    assert rc == 0, err
    doc = json.loads(out)
    assert [i["name"] for i in doc["inputs"]] == list(m.inputs)
    rc, doc, err = _compare(capsys, str(m.onnx), "--runtimes", "ort-cpu,reference", "--inputs", str(_npz(tmp_path, name, m.inputs)), "--atol", "1e-4", "--rtol", "1e-4")
    assert rc == 0 and doc["passed"], (name, err)
    g = tmp_path / "g"
    rc, doc, err = _compare(capsys, str(m.onnx), "--runtimes", "ort-cpu", "--inputs", str(_npz(tmp_path, name, m.inputs)), "--save-io", str(g))
    assert rc == 0, err
    idx = json.loads((g / "index.json").read_text())
    for out_name, want in m.expected.items():  # the oracle: sklearn, torch eager or numpy
        entries = idx["runtimes"]["ort-cpu"]["outputs"][out_name]
        got = np.concatenate([np.load(g / e["file"]) for e in entries]) if len(entries) > 1 else np.load(g / entries[0]["file"])
        assert got.shape == np.asarray(want).shape, (name, out_name)
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5, err_msg=f"{name} {out_name}")


@pytest.mark.parametrize("name", ["cnn", "encoder"])
def test_torch_modules_compare_against_their_onnx(foreign, name: str, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """--module makes the user's own nn.Module the torch runtime."""
    m = foreign[name]
    rc, doc, err = _compare(capsys, str(m.onnx), "--module", m.module, "--runtimes", "torch,ort-cpu,reference", "--inputs", str(_npz(tmp_path, name, m.inputs)), "--atol", "1e-4", "--rtol", "1e-4")
    assert rc == 0 and doc["passed"], (name, err)
    assert doc["baseline"] == "torch" and {p["runtime"] for p in doc["pairs"]} == {"ort-cpu", "reference"}


def test_zipmap_models_compare_and_the_reference_gap_is_reported(foreign, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    m = foreign["sk_forest_zipmap"]
    f = _npz(tmp_path, "x", m.inputs)
    rc, doc, err = _compare(capsys, str(m.onnx), "--runtimes", "ort-cpu:O0,ort-cpu", "--inputs", str(f), "--exact")
    assert rc == 0 and doc["passed"], err
    rc, _, err = cli(capsys, "compare", str(m.onnx), "--runtimes", "ort-cpu,reference", "--inputs", str(f), "-q")
    assert rc == 4 and "ZipMap" in one_error_line(err)  # asked for by name: unavailable, exit 4


@pytest.mark.parametrize("weight,node", [("fc.weight", "/fc/Gemm"), ("conv.weight", "/conv/Conv")])
def test_locate_names_the_sabotaged_node_torch_module_vs_onnx(foreign, weight: str, node: str, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """--locate between the user's module (torch, hooks on leaf modules) and its ONNX file with
    one weight moved by 0.5: the first diverging node is the one that holds the weight."""
    import onnx
    from onnx import numpy_helper

    m = foreign["cnn"]
    proto = onnx.load(str(m.onnx))
    (init,) = [t for t in proto.graph.initializer if t.name == weight]
    w = numpy_helper.to_array(init).copy()
    w.flat[w.size // 3] += 0.5
    init.CopyFrom(numpy_helper.from_array(w, weight))
    bad = tmp_path / "bad.onnx"
    onnx.save(proto, str(bad))
    rc, doc, err = _compare(capsys, str(bad), "--module", m.module, "--runtimes", "torch,ort-cpu", "--inputs", str(_npz(tmp_path, "x", m.inputs)), "--locate")
    assert rc == 1, err
    (loc,) = doc["locate"]
    fd = loc["first_divergence"]
    assert fd["node"] == node and weight in fd["inputs"] and fd["torch_module"].startswith(weight.split(".")[0])


@pytest.mark.parametrize("name", ["sk_logreg", "sk_forest", "sk_logreg_zipmap", "cnn", "encoder", "two_inputs", "fixed_batch", "transpose", "gemm_transA"])
def test_foreign_models_predict_the_expected_outputs(foreign, name: str, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """predict --input .npz --output .npz: every output by name, equal to the corpus's oracle
    (sklearn, torch eager or numpy) within float noise, and bitwise to plain onnxruntime."""
    m = foreign[name]
    out = tmp_path / "out.npz"
    rc, _, err = cli(capsys, "predict", str(m.onnx), "--input", str(_npz(tmp_path, "x", m.inputs)), "--output", str(out))
    assert rc == 0, (name, err)
    with np.load(out, allow_pickle=False) as z:
        got = {k: z[k] for k in z.files}
    plain = dict(zip([o.name for o in ort.InferenceSession(str(m.onnx), providers=["CPUExecutionProvider"]).get_outputs()], _plain_outputs(m.onnx, m.inputs) if "zipmap" not in name else [None] * 9))
    for k, want in m.expected.items():
        np.testing.assert_allclose(got[k], want, rtol=1e-4, atol=1e-5, err_msg=f"{name} {k}")
        if plain.get(k) is not None:
            assert got[k].tobytes() == np.asarray(plain[k]).tobytes(), (name, k)


@pytest.mark.parametrize("name", ["sk_logreg", "sk_forest", "sk_logreg_zipmap", "cnn", "encoder", "two_inputs", "fixed_batch", "transpose", "gemm_transA"])
def test_foreign_models_edge_builds_or_refuses_cleanly(foreign, name: str, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """edge on every foreign model: a gated bundle (exit 0), a gate that fails with the output
    named (exit 1), or a clean refusal (exit 2); never an internal error. Whatever it writes,
    the manifest lists exactly the files on disk."""
    m = foreign[name]
    out = tmp_path / "edge"
    extra = ["--dim", "T=7"] if name == "encoder" else []
    rc, stdout, err = cli(capsys, "edge", str(m.onnx), "--out", str(out), *extra)
    assert rc in (0, 1, 2), (name, rc, err)
    if name in ("sk_logreg", "sk_forest", "fixed_batch", "transpose"):
        assert rc == 0, (name, err)  # skl2onnx's duplicate default domain once crashed the quantiser (exit 70)
    if rc:
        line = one_error_line(err)
        assert ("gate failed" in line and "output" in line) if rc == 1 else ("self-contained" in line or "external data" in line), (name, line)
        assert not (out / "manifest.json").exists()
        return
    manifest = json.loads((out / "manifest.json").read_text())
    listed = {f for f in manifest["files"]}
    on_disk = {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file() and p.name != "manifest.json"}
    assert listed == on_disk, (name, listed ^ on_disk)
