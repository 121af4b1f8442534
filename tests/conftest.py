"""Shared fixtures: one tiny trained run for the whole session, and CLI helpers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import settings

# Property tests: `make test` (and CI) run the "ci" profile, derandomized: the same examples
# on every run, so a test cannot fail by luck. `make fuzz-tests` runs the "wide" profile
# (HYPOTHESIS_PROFILE=wide): fresh random examples each run, 20x as many where a test sets
# no count of its own. Whatever it finds becomes an explicit @example in the test.
settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
settings.register_profile("wide", derandomize=False, database=None, print_blob=True, max_examples=2000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

ROOT = Path(__file__).resolve().parent.parent
IRIS_CSV = ROOT / "datastore" / "raw" / "iris.csv"


def run_cli(*args: str, cwd: str | os.PathLike | None = None, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run ``python -m irisonnx ARGS`` in a subprocess (real exit codes, real stdout/stderr)."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "irisonnx", *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="session")
def datastore(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private datastore with the bundled Iris CSV, converted once."""
    from irisonnx.data import datastore as data

    root = tmp_path_factory.mktemp("datastore")
    (root / "raw").mkdir()
    (root / "raw" / "iris.csv").write_bytes(IRIS_CSV.read_bytes())
    data.convert_iris(root)
    return root


@pytest.fixture(scope="session")
def iris(datastore: Path):
    from irisonnx.data import datastore as data

    return data.load_dataset(datastore / "processed" / "iris")


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory, iris) -> Path:
    """A small, fully trained run (30 epochs, checkpoints every 5) shared by the session.

    Tests must not modify it; copy it (``shutil.copytree``) to tamper with it.
    """
    from irisonnx.config import ModelConfig, TrainConfig
    from irisonnx.training.train import train

    run = tmp_path_factory.mktemp("runs") / "iris"
    train(iris, ModelConfig(n_features=4, n_classes=3, hidden=(16,)), TrainConfig(epochs=30, checkpoint_every=5), run)
    return run


@pytest.fixture(scope="session")
def fresh_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A plain virtualenv (no system site-packages) with only onnxruntime and numpy, for the
    edge bundles' standalone predict.py (tests/test_edge.py, tests/test_any_model_edge.py)."""
    import numpy as np
    import onnxruntime as ort

    venv = tmp_path_factory.mktemp("venv") / "v"
    # --without-pip and our own pip pointed at it (pip >= 22.3): ensurepip would add ~10 s
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, capture_output=True, timeout=300)
    py = venv / "bin" / "python"
    pins = [f"onnxruntime=={ort.__version__}", f"numpy=={np.__version__}"]
    r = subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "--disable-pip-version-check", "-q", *pins], capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        tail = (r.stderr or r.stdout).strip().splitlines()[-1:] or ["no output"]
        pytest.skip(f"pip could not install {' '.join(pins)} into a fresh venv: {tail[0]}")
    return py
