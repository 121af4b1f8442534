"""Data integrity (issue 15, items 3-8): one writer per run, stale artifacts, outputs that must
not land on a run's or dataset's files, symlinks out of a run, dataset names from --csv."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import run_cli
from irisonnx.training.checkpoint import list_checkpoints
from irisonnx.runlock import LOCK_NAME


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def _train_proc(iris, run: Path, epochs: int, *extra: str, delay: str = "0.3") -> subprocess.Popen:
    """A real ``irisonnx train`` slowed down by the save-delay test hook (every checkpoint)."""
    env = {**os.environ, "IRISONNX_TEST_SAVE_DELAY": delay}
    argv = [sys.executable, "-m", "irisonnx", "train", "--data", str(iris.dir), "--run", str(run), "--epochs", str(epochs), "--checkpoint-every", "1", "--quiet", *extra]
    return subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_locked(run: Path, proc: subprocess.Popen, timeout: float = 60) -> None:
    """Until the lock file names ``proc`` (it holds the run)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            doc = json.loads((run / LOCK_NAME).read_text() or "null")
        except (OSError, ValueError):
            doc = None
        if isinstance(doc, dict) and doc.get("pid") == proc.pid:
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.01)
    raise AssertionError("the writer never took the lock")


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.communicate()


def _one_error_line(r: subprocess.CompletedProcess) -> str:
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("irisonnx: error: "), r.stderr
    return lines[0]


# --- item 3: one writer per run --------------------------------------------------------------


def test_a_second_train_on_the_same_run_exits_2_naming_the_first(tmp_path: Path, iris) -> None:
    run = tmp_path / "run"
    first = _train_proc(iris, run, 12)
    try:
        _wait_locked(run, first)
        t = time.monotonic()
        second = run_cli("train", "--data", str(iris.dir), "--run", str(run), "--epochs", "12", "--lr", "0.05", "--quiet")
        waited = time.monotonic() - t
        assert second.returncode == 2, second.stderr
        line = _one_error_line(second)
        assert f"pid {first.pid}" in line and "irisonnx train" in line and "--lr" not in line, line
        assert waited < 15  # refused at once, not after the first finished
        assert first.poll() is None  # it really was still running
        out, err = first.communicate(timeout=120)
        assert first.returncode == 0, err
    finally:
        _stop(first)
    # The first's result is whole: config says its lr, every listed file is on disk.
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["train"]["lr"] == 0.01
    manifest = json.loads((run / "manifest.json").read_text())
    assert all((run / rel).is_file() for rel in manifest["files"])
    # The lock is released after exit: no lock file left, and the next writer goes ahead.
    assert not (run / LOCK_NAME).exists()
    again = run_cli("train", "--data", str(iris.dir), "--run", str(run), "--epochs", "14", "--checkpoint-every", "1", "--quiet")
    assert again.returncode == 0, again.stderr


def test_export_while_train_runs_says_another_process_holds_the_run(tmp_path: Path, iris, tiny_run: Path) -> None:
    run = _copy(tiny_run, tmp_path / "run")
    proc = _train_proc(iris, run, 45)
    try:
        _wait_locked(run, proc)
        r = run_cli("export", str(run))
        assert r.returncode == 2, r.stderr
        line = _one_error_line(r)
        assert "another process holds the run" in line and f"pid {proc.pid}" in line, line
        assert "not written by irisonnx" not in line
        assert not (run / "model.onnx").exists()
    finally:
        _stop(proc)


def test_a_sigkilled_writer_does_not_block_the_next(tmp_path: Path, iris) -> None:
    run = tmp_path / "run"
    proc = _train_proc(iris, run, 12)
    try:
        _wait_locked(run, proc)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    finally:
        _stop(proc)
    assert (run / LOCK_NAME).exists()  # left behind, naming a dead pid: flock died with it
    r = run_cli("train", "--data", str(iris.dir), "--run", str(run), "--epochs", "12", "--checkpoint-every", "1", "--quiet")
    assert r.returncode == 0, r.stderr
    assert not (run / LOCK_NAME).exists()


def test_the_lock_is_reentrant_in_one_process_and_exclusive_across(tmp_path: Path) -> None:
    from irisonnx.errors import UsageError
    from irisonnx.runlock import holder, run_lock

    run = tmp_path / "run"
    with run_lock(run):
        with run_lock(run):  # the pipeline's stages take it again: no deadlock
            assert holder(run) is None  # we hold it; that is not "another process"
        code = f"from irisonnx.runlock import run_lock\nwith run_lock({str(run)!r}): pass"
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        assert r.returncode != 0 and "another process holds the run" in r.stderr and f"pid {os.getpid()}" in r.stderr
    with run_lock(run):
        pass
    with pytest.raises(UsageError):
        raise UsageError("sanity")


def test_resume_refuses_checkpoints_made_with_another_config(tmp_path: Path, iris, tiny_run: Path) -> None:
    """Checkpoints made with lr 0.01 under a config.json saying 0.05 (two writers once left
    exactly that): a resume exits 3 instead of continuing them under the wrong config."""
    run = _copy(tiny_run, tmp_path / "run")
    cfg = json.loads((run / "config.json").read_text())
    cfg["train"]["lr"] = 0.05
    (run / "config.json").write_text(json.dumps(cfg))
    before = {p.name: p.read_bytes() for p in (run / "checkpoints").iterdir()}
    r = run_cli("train", "--data", str(iris.dir), "--run", str(run), "--epochs", "40", "--lr", "0.05", "--quiet")
    assert r.returncode == 3, r.stderr
    line = _one_error_line(r)
    assert "checkpoint was made with another config" in line and "lr" in line and "epoch-0030" in line, line
    assert {p.name: p.read_bytes() for p in (run / "checkpoints").iterdir()} == before


# --- item 4: stale artifacts -----------------------------------------------------------------


def test_whenever_predict_run_succeeds_compare_passes(tmp_path: Path, iris, tiny_run: Path) -> None:
    """train 30, export, train to 40: the epoch-30 model is stale everywhere (exit 3, with the
    command that refreshes it); export again and predict and compare both work."""
    run = _copy(tiny_run, tmp_path / "run")
    values = "5.1,3.5,1.4,0.2"
    assert run_cli("export", str(run), "--exporter", "torchscript").returncode == 0
    assert run_cli("predict", str(run), "--values", values).returncode == 0
    assert run_cli("compare", str(run), "--runtimes", "torch,ort-cpu", "-q").returncode == 0

    r = run_cli("train", "--data", str(iris.dir), "--run", str(run), "--epochs", "40", "--quiet")
    assert r.returncode == 0, r.stderr
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["derived"]["model.onnx"]["stale"] is True and manifest["export"]["stale"] is True
    for args in (["predict", str(run), "--values", values], ["inspect", str(run)], ["compare", str(run), "--runtimes", "torch,ort-cpu", "-q"], ["report", str(run)], ["edge", str(run)], ["bench", str(run), "--quick"]):
        r = run_cli(*args)
        assert r.returncode == 3, (args, r.stdout, r.stderr)
        line = _one_error_line(r)
        assert "model.onnx is stale" in line and f"refresh it: irisonnx export {run}" in line, line
        assert "validated" not in r.stdout
    assert not (run / "report.html").exists() and not (run / "edge").exists()

    assert run_cli("export", str(run), "--exporter", "torchscript").returncode == 0
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["derived"]["model.onnx"]["stale"] is False
    assert manifest["derived"]["model.onnx"]["weights_sha256"] == manifest["files"]["model.safetensors"]["sha256"]
    p = run_cli("predict", str(run), "--values", values)
    assert p.returncode == 0, p.stderr
    c = run_cli("compare", str(run), "--runtimes", "torch,ort-cpu", "-q")
    assert c.returncode == 0, c.stdout + c.stderr
    i = run_cli("inspect", str(run))
    assert i.returncode == 0 and "validated" in i.stdout


def test_a_result_of_an_older_model_is_stale_in_the_report(tmp_path: Path, tiny_run: Path) -> None:
    from irisonnx.export.export import export_run
    from irisonnx.guard import note_derived

    run = _copy(tiny_run, tmp_path / "run")
    export_run(run, exporter="torchscript")
    (run / "compare.json").write_text(json.dumps({"model_sha256": "0" * 64, "pairs": []}))
    note_derived(run, "compare.json", record_file=True)
    r = run_cli("report", str(run))
    assert r.returncode == 3
    line = _one_error_line(r)
    assert "compare.json is stale" in line and "irisonnx pipeline --run" in line, line


# --- item 5: outputs never land on what is not theirs --------------------------------------


def test_outputs_never_overwrite_a_runs_files_or_a_processed_dataset(tmp_path: Path, tiny_run: Path, datastore: Path) -> None:
    run = _copy(tiny_run, tmp_path / "run")
    assert run_cli("export", str(run), "--exporter", "torchscript").returncode == 0
    other = _copy(run, tmp_path / "other")
    snap = {p: p.read_bytes() for p in list(run.rglob("*")) + list(other.rglob("*")) if p.is_file()}
    processed = datastore / "processed" / "iris"
    env = {"IRISONNX_DATASTORE": str(datastore)}
    cases = [
        ["predict", str(run), "--values", "5.1,3.5,1.4,0.2", "--output", str(run / "config.json")],
        ["predict", str(run), "--values", "5.1,3.5,1.4,0.2", "--output", str(run / "checkpoints" / "epoch-0030.safetensors")],
        ["predict", str(run), "--values", "5.1,3.5,1.4,0.2", "--output", str(processed / "preds.csv")],
        ["export", str(run), "--out", str(other / "model.onnx")],
        ["report", str(run), "--out", str(run / "metrics.json")],
        ["compare", str(run), "--runtimes", "ort-cpu", "--save-io", str(processed / "golden"), "-q"],
        ["compare", str(run), "--runtimes", "ort-cpu", "--report", str(processed / "compare.html"), "-q"],
        ["edge", str(run), "--out", str(processed / "edge")],
    ]
    for args in cases:
        r = run_cli(*args, env=env)
        assert r.returncode == 2, (args, r.stdout, r.stderr)
        assert "would" in _one_error_line(r)
    assert {p: p.read_bytes() for p in list(run.rglob("*")) + list(other.rglob("*")) if p.is_file()} == snap
    assert sorted(p.name for p in processed.iterdir()) == ["features.npy", "labels.npy", "meta.json"]


def test_pipeline_refuses_a_folder_that_is_not_a_run_before_writing(tmp_path: Path, datastore: Path) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    for name, text in (("metrics.json", '{"mine": 1}'), ("model.onnx", "not a model"), ("compare.json", "{}")):
        (mine / name).write_text(text)
    r = run_cli("pipeline", "--run", str(mine), "--epochs", "2", "--no-web", "--no-bench", env={"IRISONNX_DATASTORE": str(datastore)})
    assert r.returncode == 2, r.stderr
    assert "not an irisonnx run" in _one_error_line(r)
    assert sorted(p.name for p in mine.iterdir()) == ["compare.json", "metrics.json", "model.onnx"]
    assert (mine / "metrics.json").read_text() == '{"mine": 1}'


# --- item 6: symlinks out of a run -------------------------------------------------------------


def test_a_checkpoints_folder_linked_into_another_run_is_refused(tmp_path: Path, iris, tiny_run: Path) -> None:
    a, b = _copy(tiny_run, tmp_path / "a"), _copy(tiny_run, tmp_path / "b")
    shutil.rmtree(a / "checkpoints")
    (a / "checkpoints").symlink_to(b / "checkpoints")
    before = {p.name: p.read_bytes() for p in (b / "checkpoints").iterdir()}
    r = run_cli("train", "--data", str(iris.dir), "--run", str(a), "--epochs", "45", "--keep-checkpoints", "1", "--quiet")
    assert r.returncode == 3, r.stderr
    assert "symlink that leads outside" in _one_error_line(r)
    assert {p.name: p.read_bytes() for p in (b / "checkpoints").iterdir()} == before
    assert run_cli("verify", str(b)).returncode == 0


def test_run_files_linked_outside_are_refused_by_readers(tmp_path: Path, tiny_run: Path) -> None:
    run = _copy(tiny_run, tmp_path / "run")
    assert run_cli("export", str(run), "--exporter", "torchscript").returncode == 0
    outside = tmp_path / "elsewhere.onnx"
    (run / "model.onnx").rename(outside)
    (run / "model.onnx").symlink_to(outside)
    for args in (["predict", str(run), "--values", "5.1,3.5,1.4,0.2"], ["inspect", str(run)], ["verify", str(run)]):
        r = run_cli(*args)
        assert r.returncode == 3, (args, r.stderr)
        assert "symlink that leads outside" in _one_error_line(r)
    # A link that stays inside the run is fine.
    (run / "model.onnx").unlink()
    outside.rename(run / "real.onnx")
    (run / "model.onnx").symlink_to("real.onnx")
    from irisonnx.guard import check_run_links

    check_run_links(run)


# --- item 7: dataset names and sources ----------------------------------------------------------


def _wine_csv(path: Path) -> Path:
    rows = ["alcohol,ash,class"] + [f"{12 + i % 5 * 0.3:.1f},{2 + i % 3 * 0.1:.1f},{'ab'[i % 2]}" for i in range(20)]
    path.write_text("\n".join(rows) + "\n")
    return path


def test_pipeline_csv_without_name_uses_the_csv_stem(tmp_path: Path, datastore: Path) -> None:
    from irisonnx.pipeline.runner import PipelineConfig

    store = tmp_path / "store"
    shutil.copytree(datastore, store)
    iris_meta = (store / "processed" / "iris" / "meta.json").read_bytes()
    wine = _wine_csv(tmp_path / "wine.csv")
    assert PipelineConfig(csv=str(wine), target="class").dataset_name == "wine"
    assert PipelineConfig().dataset_name == "iris"
    # (Bad flags are refused before any stage now, so the whole pipeline runs, briefly.)
    r = run_cli("pipeline", "--csv", str(wine), "--target", "class", "--epochs", "2", "--run", str(tmp_path / "run"), "--no-web", "--no-bench", env={"IRISONNX_DATASTORE": str(store)})
    assert r.returncode == 0, r.stderr
    assert json.loads((store / "processed" / "wine" / "meta.json").read_text())["name"] == "wine"
    assert (store / "processed" / "iris" / "meta.json").read_bytes() == iris_meta


def test_a_dataset_from_another_source_is_replaced_only_with_force(tmp_path: Path, datastore: Path) -> None:
    store = tmp_path / "store"
    shutil.copytree(datastore, store)
    iris_meta = (store / "processed" / "iris" / "meta.json").read_bytes()
    wine = _wine_csv(tmp_path / "wine.csv")
    r = run_cli("data", "--csv", str(wine), "--target", "class", "--name", "iris", "--datastore", str(store))
    assert r.returncode == 2
    line = _one_error_line(r)
    assert "already exists from another source" in line and "--force" in line and "iris.csv" in line, line
    assert (store / "processed" / "iris" / "meta.json").read_bytes() == iris_meta
    p = run_cli("pipeline", "--csv", str(wine), "--target", "class", "--name", "iris", "--run", str(tmp_path / "run"), "--no-web", env={"IRISONNX_DATASTORE": str(store)})
    assert p.returncode == 2 and "--force" in p.stderr, p.stderr
    assert (store / "processed" / "iris" / "meta.json").read_bytes() == iris_meta
    assert run_cli("data", "--datastore", str(store)).returncode == 0  # the same source again: fine
    f = run_cli("data", "--csv", str(wine), "--target", "class", "--name", "iris", "--datastore", str(store), "--force")
    assert f.returncode == 0, f.stderr
    assert json.loads((store / "processed" / "iris" / "meta.json").read_text())["source"]["name"] == "wine.csv"
