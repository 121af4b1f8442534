"""irisonnx pipeline: every stage runs, a re-run continues from what is valid, a failure names its stage."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from conftest import run_cli


@pytest.fixture(scope="module")
def piped(tmp_path_factory: pytest.TempPathFactory, datastore: Path) -> tuple[Path, dict, dict]:
    run = tmp_path_factory.mktemp("pipe") / "run"
    env = {"IRISONNX_DATASTORE": str(datastore)}
    args = ["pipeline", "--run", str(run), "--epochs", "20", "--exporter", "torchscript", "--no-web", "--json"]
    first = run_cli(*args, env=env, timeout=600)
    assert first.returncode == 0, first.stderr
    second = run_cli(*args, env=env, timeout=600)
    assert second.returncode == 0, second.stderr
    return run, json.loads(first.stdout), json.loads(second.stdout)


def test_every_stage_runs_and_the_report_is_complete(piped) -> None:
    run, first, _ = piped
    stages = {s["stage"]: s for s in first["stages"]}
    assert list(stages) == ["data", "train", "verify", "export", "compare", "edge", "bench", "report"]
    assert stages["train"]["status"] == "done" and stages["export"]["status"] == "done"
    for f in ("model.safetensors", "model.onnx", "compare.json", "bench.json", "edge/manifest.json", "report.html"):
        assert (run / f).exists(), f
    assert "no web bundle" not in stages["edge"]["summary"]  # --no-web: not asked, not mentioned
    html = (run / "report.html").read_text()
    assert "Cross-runtime comparison" in html and "Edge variants" in html and "Benchmarks" in html
    compare = json.loads((run / "compare.json").read_text())
    assert compare["passed"] and {p["runtime"] for p in compare["pairs"]} >= {"ort-cpu", "reference"}
    manifest = json.loads((run / "manifest.json").read_text())
    assert {"compare.json", "bench.json", "model.onnx"} <= set(manifest["files"])


def test_rerun_continues_from_what_is_valid(piped) -> None:
    _, first, second = piped
    status = {s["stage"]: s["status"] for s in second["stages"]}
    for stage in ("data", "train", "export", "compare", "edge", "bench"):
        assert status[stage] == "up to date", (stage, status)
    assert "resumed" not in {s["stage"]: s["summary"] for s in second["stages"]}["train"]


def test_failure_names_the_stage_and_keeps_the_exit_code(piped, tmp_path: Path, datastore: Path) -> None:
    run, _, _ = piped
    broken = tmp_path / "run"
    shutil.copytree(run, broken)
    newest = sorted((broken / "checkpoints").glob("epoch-*.safetensors"))[-1]
    blob = bytearray(newest.read_bytes())
    blob[-1] ^= 0x01  # a tampered checkpoint: resuming from it must be refused, not trusted
    newest.write_bytes(bytes(blob))
    r = run_cli("pipeline", "--run", str(broken), "--epochs", "20", "--exporter", "torchscript", "--no-web", env={"IRISONNX_DATASTORE": str(datastore)})
    assert r.returncode == 3, r.stderr
    assert r.stderr.startswith("irisonnx: error: pipeline stage 'train' failed:") and len(r.stderr.strip().splitlines()) == 1


def test_a_current_edge_bundle_without_its_web_page_gets_the_page_back(piped, tmp_path: Path, datastore: Path) -> None:
    """`irisonnx edge` without --web replaces the bundle and drops edge/web; a pipeline run
    that wants the web page adds it back instead of calling the edge stage up to date."""
    import os

    from irisonnx.storage import sha256_file
    from irisonnx.browser.session import browser_available

    ok, why = browser_available()
    if not ok and not os.environ.get("IRISONNX_REQUIRE_BROWSER"):
        pytest.skip(f"browser runtime unavailable: {why}")
    run, _, _ = piped
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    assert not (copy / "edge" / "web").exists()  # built with --no-web
    r = run_cli("pipeline", "--run", str(copy), "--epochs", "20", "--exporter", "torchscript", "--web", "--no-bench", "--json", env={"IRISONNX_DATASTORE": str(datastore)}, timeout=600)
    assert r.returncode == 0, r.stderr
    edge = {s["stage"]: s for s in json.loads(r.stdout)["stages"]}["edge"]
    assert edge["status"] == "done" and "web bundle with screenshot" in edge["summary"], edge
    assert (copy / "edge" / "web" / "screenshot.png").stat().st_size > 1000
    man = json.loads((copy / "edge" / "manifest.json").read_text())
    web = man.pop("web")
    assert man == json.loads((run / "edge" / "manifest.json").read_text())  # the bundle itself was kept
    assert web["variant"] == "fp32" and "web/screenshot.png" in web["files"] and "web/index.html" in web["files"]
    assert web["tried"]["label"] in ("setosa", "versicolor", "virginica")
    assert all(web["files"][f]["sha256"] == sha256_file(copy / "edge" / f) for f in web["files"])
    # A file of the page changed: the next run puts the page back, then it is up to date again.
    (copy / "edge" / "web" / "labels.json").write_text("{}")
    env = {"IRISONNX_DATASTORE": str(datastore)}
    args = ["pipeline", "--run", str(copy), "--epochs", "20", "--exporter", "torchscript", "--web", "--no-bench", "--json"]
    edge = {s["stage"]: s for s in json.loads(run_cli(*args, env=env, timeout=600).stdout)["stages"]}["edge"]
    assert edge["status"] == "done" and "web bundle with screenshot" in edge["summary"], edge
    edge = {s["stage"]: s for s in json.loads(run_cli(*args, env=env, timeout=600).stdout)["stages"]}["edge"]
    assert edge["status"] == "up to date", edge


def test_a_run_trained_further_is_continued_and_its_stale_artifacts_refreshed(piped, tmp_path: Path, datastore: Path) -> None:
    """docs/commands.md: `irisonnx train --epochs 150` after the demo's 100, then the demo again. The
    pipeline asks for fewer epochs than the run has: it keeps the run as it is, says so, and
    refreshes everything the extra training made stale (model.onnx, compare, edge, bench)."""
    run, first, _ = piped
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    env = {"IRISONNX_DATASTORE": str(datastore)}
    t = run_cli("train", "--run", str(copy), "--epochs", "25", "--quiet", env=env)
    assert t.returncode == 0, t.stderr
    stale = run_cli("predict", str(copy), "--values", "5.1,3.5,1.4,0.2")
    assert stale.returncode == 3 and "stale" in stale.stderr, stale.stderr
    r = run_cli("pipeline", "--run", str(copy), "--epochs", "20", "--exporter", "torchscript", "--no-web", "--json", env=env, timeout=600)
    assert r.returncode == 0, r.stderr
    stages = {s["stage"]: s for s in json.loads(r.stdout)["stages"]}
    assert "already at epoch 25, beyond the 20 asked for" in stages["train"]["summary"], stages["train"]
    for stage in ("export", "compare", "edge", "bench"):
        assert stages[stage]["status"] == "done", (stage, stages[stage])
    manifest = json.loads((copy / "manifest.json").read_text())
    weights = manifest["files"]["model.safetensors"]["sha256"]
    assert {k: (v["weights_sha256"], v["stale"]) for k, v in manifest["derived"].items()} == {k: (weights, False) for k in ("model.onnx", "compare.json", "edge", "bench.json", "report.html")}
    assert json.loads((copy / "metrics.json").read_text())["final"]["epoch"] == 25
    assert run_cli("predict", str(copy), "--values", "5.1,3.5,1.4,0.2").returncode == 0
