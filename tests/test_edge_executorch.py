"""The ExecuTorch edge variants (issue 17 item 4): executorch-fp32 and executorch-int8 made from
the run's torch weights (or edge --module), gated against the fp32 ONNX model, bundled with a
sidecar, and run by the bundle's predict.py. Expected labels and probabilities come from a
plain onnxruntime session on the bundle's fp32 model and from torch eager, never from irisonnx.

The bundle's predict.py runs a .pte with executorch-numpy-runtime (numpy only, Python >= 3.12)
when it is installed, else with the executorch wheel (which needs torch): the test
environment has the latter; the torch-free path is the slow test at the end."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("executorch")

import onnxruntime as ort  # noqa: E402

from conftest import IRIS_CSV  # noqa: E402
from corpus import get_corpus  # noqa: E402
from onnx_helpers import cli, copy_run, exported_run  # noqa: E402

VARIANTS = "fp32,executorch-fp32,executorch-int8"


@pytest.fixture(scope="module")
def bundle(tiny_run: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path, Path]:
    """(edge --json, bundle folder, run) for a copy of the session's run exported with logits,
    probabilities and label."""
    run = copy_run(exported_run(tmp_path_factory, tiny_run, "dynamo", True, True)[0], tmp_path_factory.mktemp("etedge") / "iris")
    from irisonnx.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["edge", str(run), "--variants", VARIANTS, "--bench-rounds", "0", "--random-rows", "200", "--json"])
    assert exc.value.code == 0
    return {}, run / "edge", run


def _plain(model: Path, x: np.ndarray) -> dict[str, np.ndarray]:
    s = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    return dict(zip([o.name for o in s.get_outputs()], s.run(None, {s.get_inputs()[0].name: x})))


def _predict(bundle: Path, *args: str, python: str = sys.executable) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",)}
    return subprocess.run([python, str(bundle / "predict.py"), *args], capture_output=True, text=True, env=env, timeout=300)


def test_executorch_variants_pass_their_gates_and_are_bundled(bundle) -> None:
    _, out, _ = bundle
    manifest = json.loads((out / "manifest.json").read_text())
    recs = {v["variant"]: v for v in manifest["variants"]}
    assert list(recs) == VARIANTS.split(",")
    import importlib.metadata as md

    for name in ("executorch-fp32", "executorch-int8"):
        rec = recs[name]
        assert rec["family"] == "executorch" and rec["file"] == f"model.{name}.pte"
        assert rec["settings"]["executorch"] == md.version("executorch") and rec["settings"]["torch"] == md.version("torch")
        assert "needs torch" in rec["settings"]["predict"]
        assert manifest["files"][f"model.{name}.pte"]["sha256"] and manifest["files"][f"model.{name}.pte.json"]["sha256"]
        assert all(c["passed"] for c in rec["checks"]), rec["checks"]
    assert recs["executorch-fp32"]["gate"].startswith("every value within atol 1e-05 + rtol 1e-05")
    assert "elements outside atol 1e-05 + rtol 1e-05" in recs["executorch-fp32"]["checks"][0]["name"]
    assert "quantizer" in recs["executorch-int8"]["settings"] and recs["executorch-int8"]["settings"]["calibration"] == "training split"
    assert (out / "model.executorch-int8.pte").stat().st_size < (out / "model.executorch-fp32.pte").stat().st_size * 2


def test_bundle_predict_py_reproduces_the_fp32_labels_on_the_test_rows(bundle, iris, tmp_path: Path) -> None:
    _, out, _ = bundle
    x = iris.features[iris.test_idx].astype(np.float32)
    want = _plain(out / "model.fp32.onnx", x)  # onnxruntime on the bundle's fp32 model: the oracle
    np.save(tmp_path / "x.npy", x)
    for name, agree in (("executorch-fp32", 1.0), ("executorch-int8", 0.97)):
        r = _predict(out, "--input", str(tmp_path / "x.npy"), "--variant", name, "--output", str(tmp_path / f"{name}.npz"), "--json")
        assert r.returncode == 0, r.stderr
        assert r.stderr == ""  # ExecuTorch's CPU probing and torch's import chatter stay off stderr
        doc = json.loads(r.stdout)
        assert doc["runtime"].startswith(("executorch ", "executorch-numpy-runtime "))
        got = dict(np.load(tmp_path / f"{name}.npz"))
        labels = np.array([p["label"] for p in doc["predictions"]])
        assert set(got) == {"logits", "probabilities", "label"}
        assert (labels == got["label"]).all()
        assert (labels == want["label"]).mean() >= agree, name
        if name == "executorch-fp32":
            np.testing.assert_allclose(got["logits"], want["logits"], rtol=1e-5, atol=1e-5)
            np.testing.assert_allclose(got["probabilities"], want["probabilities"], rtol=1e-5, atol=1e-6)
    # the CSV route (the same rows through the classifier path) gives the same labels
    r = _predict(out, "--input", str(IRIS_CSV), "--variant", "executorch-fp32", "--json")
    assert r.returncode == 0, r.stderr
    iris_all = iris.features.astype(np.float32)
    assert [p["label"] for p in json.loads(r.stdout)["predictions"]] == _plain(out / "model.fp32.onnx", iris_all)["label"].tolist()


def test_a_modified_pte_or_sidecar_is_refused(bundle, tmp_path: Path) -> None:
    _, out, _ = bundle
    b = tmp_path / "b"
    shutil.copytree(out, b)
    side = b / "model.executorch-fp32.pte.json"
    side.write_text(side.read_text().replace('"logits"', '"logitz"'))
    r = _predict(b, "--values", "5.1,3.5,1.4,0.2", "--variant", "executorch-fp32")
    assert r.returncode == 3 and "model.executorch-fp32.pte.json" in r.stderr and "corrupt or was modified" in r.stderr


def test_bare_model_needs_the_module_and_takes_it_with_module(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    m = get_corpus(tmp_path_factory, "torch")["cnn"]
    onnx = tmp_path / "cnn.onnx"
    shutil.copy(m.onnx, onnx)
    rc, out, err = cli(capsys, "edge", str(onnx), "--variants", "fp32,executorch-fp32", "--bench-rounds", "0", "--random-rows", "40", "--json")
    assert rc == 0, err
    doc = json.loads(out)
    assert [s["variant"] for s in doc["skipped"]] == ["executorch-fp32"]
    assert doc["skipped"][0]["reason"].startswith("needs the torch module: a run folder or --module FILE.py:FACTORY")

    rc, out, err = cli(capsys, "edge", str(onnx), "--module", m.module, "--variants", "fp32,executorch-fp32", "--bench-rounds", "0", "--random-rows", "40", "--json")
    assert rc == 0, err
    doc = json.loads(out)
    assert doc["skipped"] == [] and [v["variant"] for v in doc["variants"]] == ["fp32", "executorch-fp32"]
    bundle = tmp_path / "edge"
    image = np.random.default_rng(4).standard_normal((70, 1, 28, 28)).astype(np.float32)  # more rows than one call takes
    np.savez(tmp_path / "in.npz", image=image)
    r = _predict(bundle, "--input", str(tmp_path / "in.npz"), "--variant", "executorch-fp32", "--output", str(tmp_path / "out.npz"))
    assert r.returncode == 0, r.stderr
    got = np.load(tmp_path / "out.npz")["logits"]
    s = ort.InferenceSession(str(onnx), providers=["CPUExecutionProvider"])
    (want,) = s.run(None, {"image": image})
    assert got.shape == (70, 10) and float(np.abs(got - want).max()) < 1e-4

    rc, _, err = cli(capsys, "edge", str(onnx), "--module", str(tmp_path / "missing.py") + ":f", "--variants", "fp32")
    assert rc == 2 and "--module file not found" in err


def _py312() -> str | None:
    for cand in (shutil.which("python3.12"), "/root/.pyenv/versions/3.12.1/bin/python"):
        if cand and Path(cand).exists():
            r = subprocess.run([cand, "-c", "import sys; print(sys.version_info[:2] >= (3, 12))"], capture_output=True, text=True, timeout=60)
            if r.stdout.strip() == "True":
                return cand
    return None


@pytest.mark.slow
def test_predict_py_runs_the_pte_without_torch(bundle, iris, tmp_path: Path) -> None:
    """executorch-numpy-runtime (numpy only) in a fresh Python 3.12 venv runs the bundle's
    ExecuTorch 1.5.1 programs, fp32 and int8, to the same labels as onnxruntime."""
    py = _py312()
    if py is None:
        pytest.skip("no Python >= 3.12 for executorch-numpy-runtime")
    venv = tmp_path / "v"
    subprocess.run([py, "-m", "venv", str(venv)], check=True, capture_output=True, timeout=300)
    vpy = venv / "bin" / "python"
    try:
        r = subprocess.run([str(vpy), "-m", "pip", "install", "--disable-pip-version-check", "-q", "executorch-numpy-runtime", "numpy"], capture_output=True, text=True, timeout=300)
    except subprocess.TimeoutExpired:
        pytest.skip("pip took over 300 s to install executorch-numpy-runtime")
    if r.returncode != 0:
        pytest.skip(f"pip could not install executorch-numpy-runtime: {(r.stderr or r.stdout).strip().splitlines()[-1:]}")
    probe = subprocess.run([str(vpy), "-c", "import importlib.util as u; print([m for m in ('torch', 'executorch', 'onnxruntime') if u.find_spec(m)])"], capture_output=True, text=True, timeout=60)
    assert probe.stdout.strip() == "[]"
    _, out, _ = bundle
    x = iris.features[iris.test_idx].astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    want = _plain(out / "model.fp32.onnx", x)
    for name in ("executorch-fp32", "executorch-int8"):
        r = _predict(out, "--input", str(tmp_path / "x.npy"), "--variant", name, "--output", str(tmp_path / f"{name}.npz"), "--json", python=str(vpy))
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["runtime"].startswith("executorch-numpy-runtime ")
        got = dict(np.load(tmp_path / f"{name}.npz"))
        assert (got["label"] == want["label"]).mean() >= (1.0 if name.endswith("fp32") else 0.97)
        if name == "executorch-fp32":
            np.testing.assert_allclose(got["logits"], want["logits"], rtol=1e-5, atol=1e-5)


def test_without_executorch_the_variants_are_skipped_with_the_install_command(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    import importlib.util

    m = get_corpus(tmp_path_factory, "torch")["cnn"]
    onnx = tmp_path / "cnn.onnx"
    shutil.copy(m.onnx, onnx)
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a, **k: None if name == "executorch" else real(name, *a, **k))
    rc, out, err = cli(capsys, "edge", str(onnx), "--module", m.module, "--variants", "fp32,executorch-fp32,executorch-int8", "--bench-rounds", "0", "--random-rows", "20", "--json")
    assert rc == 0, err
    skipped = {s["variant"]: s["reason"] for s in json.loads(out)["skipped"]}
    assert skipped == {v: "executorch is not installed: pip install 'irisonnx[executorch]'" for v in ("executorch-fp32", "executorch-int8")}
