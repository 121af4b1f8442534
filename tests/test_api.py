"""The Python API (irisonnx.__init__, irisonnx/api.py) and its page, docs/api.md.

Every python block of docs/api.md runs, in order, in a fresh folder (the page's examples are
one session: Iris -> train -> verify -> export -> compare -> predict -> edge -> bench ->
report), with the process state checked unchanged around each block."""

from __future__ import annotations

import os
import random
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "api.md"


def _blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)


def _state() -> dict:
    import torch

    np_state = np.random.get_state()
    return {
        "random": random.getstate(),
        "numpy": (np_state[0], np_state[1].tobytes(), np_state[2], np_state[3], np_state[4]),
        "torch_rng": bytes(torch.get_rng_state().numpy()),
        "torch_threads": torch.get_num_threads(),
    }


@pytest.fixture(scope="module")
def doc_session(tmp_path_factory: pytest.TempPathFactory):
    """Run docs/api.md's blocks in order in an empty folder; return (namespace, per-block states, ort logger calls)."""
    import onnxruntime as ort

    from irisonnx import ortlog

    folder = tmp_path_factory.mktemp("api-doc")
    calls: list[int] = []
    real = ort.set_default_logger_severity
    was_quiet = ortlog._quiet
    old_cwd, old_env = os.getcwd(), os.environ.get("IRISONNX_DATASTORE")
    ortlog._quiet = False  # as in a user's process (an in-process CLI test may have set it)
    real(ortlog.ORT_DEFAULT_SEVERITY)
    ort.set_default_logger_severity = lambda level: (calls.append(level), real(level))[1]
    os.environ.pop("IRISONNX_DATASTORE", None)
    os.chdir(folder)
    random.seed(1234)
    np.random.seed(4321)
    import torch

    torch.manual_seed(99)
    ns: dict = {}
    states = []
    try:
        for i, code in enumerate(_blocks()):
            before = _state()
            exec(compile(code, f"{DOC}:block{i}", "exec"), ns)
            states.append((i, before, _state()))
    finally:
        os.chdir(old_cwd)
        ort.set_default_logger_severity = real
        ortlog._quiet = was_quiet
        if old_env is not None:
            os.environ["IRISONNX_DATASTORE"] = old_env
    return folder, ns, states, calls


def test_import_is_cheap() -> None:
    code = "import sys, irisonnx; irisonnx.__all__; print(sorted(m for m in ('torch', 'onnx', 'onnxruntime', 'numpy', 'matplotlib') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"


def test_all_names_resolve_and_are_documented() -> None:
    import inspect

    import irisonnx

    wanted = {"prepare_data", "train", "verify", "export", "check", "compare", "predict", "Predictor", "build_edge", "bench", "report", "pipeline", "runtimes", "Runtime", "create_runtime", "load_model", "signature"}
    assert wanted <= set(irisonnx.__all__)
    page = DOC.read_text(encoding="utf-8")
    for name in irisonnx.__all__:
        obj = getattr(irisonnx, name)
        if name == "__version__":
            continue
        assert callable(obj), name
        fn = obj._api() if isinstance(obj, type(irisonnx)) else obj
        assert inspect.getdoc(fn), f"{name} has no docstring"
        if name in wanted:
            assert f"{name}(" in page or f"`{name}`" in page, f"{name} missing from docs/api.md"


def test_stage_names_stay_packages() -> None:
    """irisonnx.export/compare/report/pipeline/bench/runtimes are the API functions and still
    the stage packages; train, verify, signature and export_module are plain API functions."""
    import irisonnx
    import irisonnx.api as api
    import irisonnx.training.train as train_mod
    from irisonnx.export.export import export_run
    from irisonnx.export.export_module import export_module

    assert irisonnx.train is api.train and irisonnx.verify is api.verify and irisonnx.signature is api.signature
    assert irisonnx.export_module is export_module and train_mod.TrainResult
    assert callable(irisonnx.export) and export_run is irisonnx.export.export.export_run
    assert callable(irisonnx.report) and callable(irisonnx.compare) and callable(irisonnx.pipeline) and callable(irisonnx.bench)
    assert irisonnx.runtimes() == list(irisonnx.runtimes.REGISTRY)


def test_docs_examples_run_end_to_end(doc_session) -> None:
    folder, ns, states, _ = doc_session
    assert len(states) == len(_blocks()) >= 7
    run = folder / "runs" / "iris"
    for name in ("model.safetensors", "model.onnx", "compare.json", "bench.json", "report.html", "edge/manifest.json"):
        assert (run / name).is_file(), name
    assert ns["edge"].passed is True and ns["edge"].written is True
    assert ns["res"].passed is True and ns["res"].n_rows == 2
    # The same logits as onnxruntime gives on the file directly (not through irisonnx).
    import onnxruntime as ort

    x = ns["x"]
    direct = ort.InferenceSession(str(run / "model.onnx"), providers=["CPUExecutionProvider"]).run(["probabilities"], {"features": x})[0]
    labels, probs = ns["labels"], ns["probs"]
    np.testing.assert_allclose(probs, direct, rtol=1e-6, atol=1e-7)
    assert labels.tolist() == direct.argmax(axis=1).tolist()
    report = (run / "report.html").read_text(encoding="utf-8")
    assert "ort-cpu" in report and "bench" in report.lower()


def test_no_global_state_changed(doc_session) -> None:
    _, _, states, calls = doc_session
    blocks = _blocks()
    for i, before, after in states:
        if "torch.nn." in blocks[i]:  # the example's own torch layers draw their init from torch's RNG
            before, after = {k: v for k, v in before.items() if k != "torch_rng"}, {k: v for k, v in after.items() if k != "torch_rng"}
        assert before == after, f"docs/api.md block {i} changed process state: {[k for k in before if before[k] != after[k]]}"
    from irisonnx import ortlog

    # onnxruntime's default logger: never touched, or set back to where it was.
    assert not calls or calls[-1] == ortlog.ORT_DEFAULT_SEVERITY, calls


def test_results_carry_passed(doc_session) -> None:
    _, ns, _, _ = doc_session
    import irisonnx

    run = "runs/iris"
    os.chdir(doc_session[0])
    try:
        assert irisonnx.verify(run).passed is True
        exp = ns["exp"]
        assert exp.passed is True and exp.passed == exp.validated
        # A comparison that fails is a result, not an exception: a golden set of other numbers.
        res = irisonnx.compare(run, runtimes=["ort-cpu", "reference"], exact=True, inputs="all")
        assert isinstance(res.passed, bool)
        with pytest.raises(irisonnx.IrisOnnxError) as err:
            irisonnx.compare(run, runtimes=["no-such-runtime"])
        assert err.value.exit_code == 2
    finally:
        os.chdir(ROOT)


def test_compare_accepts_a_runtime_object_of_ones_own(doc_session) -> None:
    """A Runtime subclass that perturbs one output is compared like any runtime: it fails."""
    import irisonnx

    folder = doc_session[0]
    model = folder / "runs" / "iris" / "model.onnx"
    ort_rt = irisonnx.create_runtime("ort-cpu", model)

    class Shifted(irisonnx.Runtime):
        kind = "shifted"

        def _run(self, feeds, start):
            out = ort_rt.run(feeds, start)
            return {k: v + np.float32(1e-3) if v.dtype == np.float32 else v for k, v in out.items()}

    x = np.array([[5.1, 3.5, 1.4, 0.2]] * 3, np.float32)
    res = irisonnx.compare(model, inputs={"features": x}, runtimes=[irisonnx.create_runtime("reference", model), Shifted(ort_rt.ctx)])
    assert res.passed is False
    (pair,) = res.pairs
    assert pair.runtime == "shifted" and pair.outputs["logits"].max_abs == pytest.approx(1e-3, rel=1e-2)


def test_module_export_and_check_leave_state_alone(tmp_path: Path) -> None:
    import torch

    import irisonnx

    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    x = np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32)
    before = _state()
    assert irisonnx.export(net, tmp_path / "n.onnx", inputs=x).passed is True
    assert irisonnx.check(net, x, runtimes=["torch", "ort-cpu"]).passed is True
    assert _state() == before


def test_readme_python_examples_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The README's python blocks (the API's first appearance) run as written, examples/ importable."""
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(encoding="utf-8"), flags=re.S)
    assert blocks
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(ROOT / "examples"))
    for i, code in enumerate(blocks):
        exec(compile(code, f"README.md:python{i}", "exec"), {})
