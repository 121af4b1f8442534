"""The wheel runs the main job outside the checkout (issue 16, item 1): it carries the Iris CSV,
the web page/driver assets, py.typed and the LICENSE; installed, it writes datastore/ and
artifacts/ in the current folder and names `irisonnx setup web` when the browser runtime's
npm packages are missing. Built here with the installed setuptools (no network), installed
with --no-deps into a folder of its own, and run from an empty folder with that folder alone
on PYTHONPATH (the dependencies come from this interpreter's environment)."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from conftest import IRIS_CSV, ROOT

WEB = ["driver.mjs", "runner.html", "package.json", "package-lock.json", "bundle/index.html", "bundle/app.mjs"]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation", "-q", "-w", str(out)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    (whl,) = out.glob("irisonnx-*.whl")
    return whl


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory, wheel: Path) -> Path:
    target = tmp_path_factory.mktemp("site")
    r = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    return target


def test_the_wheel_carries_its_data(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        assert z.read("irisonnx/_assets/iris.csv") == IRIS_CSV.read_bytes()
        for f in WEB:
            assert z.read(f"irisonnx/_assets/web/{f}") == (ROOT / "web" / f).read_bytes(), f
        meta = z.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    assert "irisonnx/py.typed" in names
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert not any("node_modules" in n for n in names)
    # the base install is the deploy path; torch and matplotlib only through extras
    assert "Requires-Dist: onnxruntime>=" in meta
    assert "Requires-Dist: torch<3,>=2.4; extra == \"train\"" in meta
    assert "Requires-Dist: matplotlib>=3.7; extra == \"report\"" in meta
    assert not [ln for ln in meta.splitlines() if ln.startswith("Requires-Dist:") and ("torch" in ln or "matplotlib" in ln) and "extra ==" not in ln]


def _irisonnx(site: Path, cwd: Path, cache: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IRISONNX_")}
    env.update(PYTHONPATH=str(site), XDG_CACHE_HOME=str(cache))
    return subprocess.run([sys.executable, "-m", "irisonnx", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def test_installed_wheel_runs_the_pipeline_from_an_empty_folder(installed: Path, tmp_path: Path) -> None:
    work, cache = tmp_path / "empty", tmp_path / "cache"
    work.mkdir()
    r = subprocess.run([sys.executable, "-c", "import irisonnx; print(irisonnx.__file__)"], cwd=work, env={**os.environ, "PYTHONPATH": str(installed)}, capture_output=True, text=True)
    assert Path(r.stdout.strip()).is_relative_to(installed), r.stdout  # the wheel's code, not the checkout's

    r = _irisonnx(installed, work, cache, "data")
    assert r.returncode == 0, r.stderr
    meta = (work / "datastore" / "processed" / "iris" / "meta.json").read_text()
    assert hashlib.sha256(IRIS_CSV.read_bytes()).hexdigest() in meta  # from the package's copy

    r = _irisonnx(installed, work, cache, "pipeline", "--no-web", "--epochs", "20")
    assert r.returncode == 0, r.stderr
    run = work / "artifacts" / "runs" / "iris"
    for f in ("model.onnx", "compare.json", "edge/manifest.json", "bench.json", "report.html"):
        assert (run / f).is_file(), f
    assert sorted(p.name for p in work.iterdir()) == ["artifacts", "datastore"]

    # the npm packages are missing from the (empty) per-user cache: named, with the command
    r = _irisonnx(installed, work, cache, "compare", "artifacts/runs/iris", "--runtimes", "web")
    assert r.returncode == 4
    assert r.stderr.strip().endswith(f"not installed in {cache / 'irisonnx' / 'web'} (run: irisonnx setup web)"), r.stderr
