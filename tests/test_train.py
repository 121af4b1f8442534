"""Training: convergence, exact resume (stopped, crashed and SIGKILLed), refusing a changed
config, the checkpoint layout and pruning (irisonnx/training/train.py, checkpoint.py, cli/train_cmd.py)."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from conftest import run_cli
from irisonnx.data import datastore as data
from irisonnx.training.checkpoint import CHECKPOINT_FORMAT, list_checkpoints, load_checkpoint
from irisonnx.config import ModelConfig, TrainConfig
from irisonnx.errors import UsageError
from irisonnx.storage import TEMP_MARK, Manifest, sha256_file
from irisonnx.training.train import train
from irisonnx.training.verify import verify_run

MODEL = ModelConfig(n_features=4, n_classes=3, hidden=(16,))


def _tc(epochs: int, **kw: Any) -> TrainConfig:
    return TrainConfig(epochs=epochs, checkpoint_every=kw.pop("checkpoint_every", 5), **kw)


def _snapshot(run: Path) -> dict[str, bytes]:
    """Every file of a run, by relative path."""
    return {p.relative_to(run).as_posix(): p.read_bytes() for p in sorted(run.rglob("*")) if p.is_file()}


def _temp_files(run: Path) -> list[Path]:
    return list(run.rglob(f"{TEMP_MARK}*"))


def _assert_manifest_consistent(run: Path, exact: bool) -> None:
    """Every manifest entry names an existing file with that sha256 and size; with ``exact``
    the manifest lists every file of the run (but itself) and nothing else."""
    m = Manifest.load(run)
    for rel, entry in m.files.items():
        p = run / rel
        assert p.is_file(), f"manifest lists missing {rel}"
        assert sha256_file(p) == entry["sha256"] and p.stat().st_size == entry["size"], rel
    if exact:
        on_disk = {k for k in _snapshot(run) if k != "manifest.json"}
        assert on_disk == set(m.files)


def _same_result(run: Path, ref: Path) -> None:
    assert (run / "model.safetensors").read_bytes() == (ref / "model.safetensors").read_bytes()
    assert (run / "metrics.json").read_bytes() == (ref / "metrics.json").read_bytes()


@pytest.fixture(scope="module")
def ref20(tmp_path_factory: pytest.TempPathFactory, iris) -> Path:
    """20 epochs in one go, checkpoints every 5: the oracle for the resume tests."""
    run = tmp_path_factory.mktemp("ref") / "run"
    train(iris, MODEL, _tc(20), run)
    return run


# --- convergence and layout ---------------------------------------------------------------


def test_defaults_reach_093_test_accuracy(tmp_path: Path, iris) -> None:
    res = train(iris, ModelConfig(n_features=4, n_classes=3), TrainConfig(), tmp_path / "run")
    assert res.epochs == 100 and len(res.metrics) == 100
    assert res.final["test_acc"] >= 0.93, res.final


def test_run_layout_and_checkpoint_contents(tiny_run: Path) -> None:
    names = set(_snapshot(tiny_run))
    assert {"config.json", "model.safetensors", "metrics.json", "manifest.json"} <= names
    # 30 epochs, a checkpoint every 5, the newest 3 kept.
    assert [e for e, _ in list_checkpoints(tiny_run / "checkpoints")] == [20, 25, 30]
    _assert_manifest_consistent(tiny_run, exact=True)

    from safetensors import safe_open

    with safe_open(str(tiny_run / "checkpoints" / "epoch-0030.safetensors"), framework="np") as fh:
        keys, meta = set(fh.keys()), fh.metadata()
    params = {"mean", "std", "net.0.weight", "net.0.bias", "net.2.weight", "net.2.bias"}
    assert {f"model.{p}" for p in params} <= keys
    # Adam keeps step, exp_avg and exp_avg_sq for each of the 4 trainable tensors.
    assert {f"optimizer.state.{i}.{k}" for i in range(4) for k in ("step", "exp_avg", "exp_avg_sq")} <= keys
    assert meta["format"] == CHECKPOINT_FORMAT and meta["epoch"] == "30"
    assert set(json.loads(meta["rng"])) == {"torch", "shuffle", "numpy", "python"}
    assert json.loads(meta["config"])["train"]["epochs"] == 30
    assert len(json.loads(meta["metrics"])) == 30

    with safe_open(str(tiny_run / "model.safetensors"), framework="np") as fh:
        assert set(fh.keys()) == {f"model.{p}" for p in params}

    config = json.loads((tiny_run / "config.json").read_text())
    assert set(config) >= {"data", "model", "train", "versions"}
    assert config["data"]["sha256"] == data.sha256_file(Path(config["data"]["dir"]) / "meta.json")
    assert {"torch", "numpy", "safetensors", "irisonnx", "python"} <= set(config["versions"])
    metrics = json.loads((tiny_run / "metrics.json").read_text())
    assert [r["epoch"] for r in metrics["epochs"]] == list(range(1, 31))
    assert set(metrics["final"]) == {"epoch", "loss", "train_acc", "test_loss", "test_acc"}


@pytest.mark.parametrize("keep", [1, 2])
def test_pruning_keeps_the_newest(tmp_path: Path, iris, keep: int) -> None:
    run = tmp_path / "run"
    train(iris, MODEL, _tc(12, checkpoint_every=3, keep_checkpoints=keep), run)
    # Checkpoints at 3, 6, 9, 12: only the newest `keep` remain, and the manifest agrees.
    assert [e for e, _ in list_checkpoints(run / "checkpoints")] == [3, 6, 9, 12][-keep:]
    _assert_manifest_consistent(run, exact=True)


def test_final_epoch_is_always_checkpointed(tmp_path: Path, iris) -> None:
    run = tmp_path / "run"
    train(iris, MODEL, _tc(7, checkpoint_every=5), run)
    assert [e for e, _ in list_checkpoints(run / "checkpoints")] == [5, 7]
    assert load_checkpoint(run / "checkpoints" / "epoch-0007.safetensors").epoch == 7


# --- exact resume ---------------------------------------------------------------------------


@pytest.mark.parametrize("k", [1, 5, 7, 10, 15, 19])
def test_resume_after_k_epochs_is_bit_identical(tmp_path: Path, iris, ref20: Path, k: int) -> None:
    run = tmp_path / "run"
    train(iris, MODEL, _tc(k), run)
    res = train(iris, MODEL, _tc(20), run)
    assert res.resumed_from == k
    _same_result(run, ref20)
    assert [m["epoch"] for m in res.metrics] == list(range(1, 21))


def test_resume_in_several_hops_is_bit_identical(tmp_path: Path, iris, ref20: Path) -> None:
    run = tmp_path / "run"
    for e in (3, 10, 12, 20):
        train(iris, MODEL, _tc(e), run)
    _same_result(run, ref20)


@pytest.mark.parametrize("k", [4, 10])
def test_resume_is_exact_for_sgd_and_a_deeper_model(tmp_path: Path, iris, k: int) -> None:
    model = ModelConfig(n_features=4, n_classes=3, hidden=(8, 8), activation="tanh")
    cfg = dict(optimizer="sgd", momentum=0.9, lr=0.05, batch_size=32, seed=3, checkpoint_every=4)
    ref, run = tmp_path / "ref", tmp_path / "run"
    train(iris, model, _tc(12, **cfg), ref)
    train(iris, model, _tc(k, **cfg), run)
    train(iris, model, _tc(12, **cfg), run)
    _same_result(run, ref)


def test_rerun_of_a_finished_run_changes_nothing(tmp_path: Path, iris, ref20: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(ref20, run)
    before = _snapshot(run)
    res = train(iris, MODEL, _tc(20), run)
    assert res.already_complete and res.resumed_from == 20
    assert _snapshot(run) == before


class Crash(BaseException):
    """Stands in for a kill at a chosen point (an exception that nothing catches)."""


def _crash_on_call(monkeypatch: pytest.MonkeyPatch, module: Any, name: str, n: int) -> None:
    """Make the n-th call of module.name raise Crash before it does anything."""
    real = getattr(module, name)
    calls = {"n": 0}

    def wrapper(*a: Any, **kw: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == n:
            raise Crash(f"{name} call {n}")
        return real(*a, **kw)

    monkeypatch.setattr(module, name, wrapper)


def _crash_prune(monkeypatch: pytest.MonkeyPatch) -> None:
    """Crash after the last checkpoint (epoch 20) is recorded and the manifest has forgotten
    the stale ones, before they are deleted: no later checkpoint save will prune them."""
    real = Path.unlink

    def unlink(self: Path, missing_ok: bool = False) -> None:
        if self.name.startswith("epoch-") and (self.parent / "epoch-0020.safetensors").exists():
            raise Crash("before pruning")
        real(self, missing_ok=missing_ok)

    monkeypatch.setattr(Path, "unlink", unlink)


@pytest.mark.parametrize(
    "where",
    [
        "checkpoint",  # inside the 3rd checkpoint save (epoch 15)
        "prune",  # after the last checkpoint is recorded, before old ones are deleted
        "weights",  # after the last checkpoint, before model.safetensors
        "metrics",  # after model.safetensors, before metrics.json
        "final-manifest",  # after model.safetensors and metrics.json, before they are recorded
    ],
)
def test_crash_then_resume_is_exact_and_consistent(tmp_path: Path, iris, ref20: Path, monkeypatch: pytest.MonkeyPatch, where: str) -> None:
    import irisonnx.training.train as train_mod
    from irisonnx import storage

    run = tmp_path / "run"
    if where == "checkpoint":
        _crash_on_call(monkeypatch, train_mod, "save_checkpoint", 3)
    elif where == "prune":
        _crash_prune(monkeypatch)
    elif where == "weights":
        _crash_on_call(monkeypatch, train_mod, "save_weights", 1)
    elif where == "metrics":
        real = train_mod.atomic_write_json
        monkeypatch.setattr(train_mod, "atomic_write_json", lambda p, o: (_ for _ in ()).throw(Crash()) if Path(p).name == "metrics.json" else real(p, o))
    else:
        # Manifest saves: config.json, then one per checkpoint (5, 10, 15, 20), then the final one.
        _crash_on_call(monkeypatch, storage.Manifest, "save", 6)
    with pytest.raises(Crash):
        train(iris, MODEL, _tc(20, keep_checkpoints=2), run)
    monkeypatch.undo()
    _assert_manifest_consistent(run, exact=False)
    newest = list_checkpoints(run / "checkpoints")[-1][1]
    load_checkpoint(newest)  # the newest checkpoint is always complete

    train(iris, MODEL, _tc(20, keep_checkpoints=2), run)
    _assert_manifest_consistent(run, exact=True)
    assert [e for e, _ in list_checkpoints(run / "checkpoints")] == [15, 20]
    assert (run / "model.safetensors").read_bytes() != b""
    ref = tmp_path / "ref"
    train(iris, MODEL, _tc(20, keep_checkpoints=2), ref)
    _same_result(run, ref)
    assert verify_run(run).passed


def test_crash_while_extending_a_finished_run_does_not_keep_stale_weights(tmp_path: Path, iris, ref20: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Train 10, then extend to 20 and die after the epoch-20 checkpoint but before the new
    model.safetensors: the rerun must write the epoch-20 weights, not call the run complete
    with the epoch-10 weights still in place."""
    import irisonnx.training.train as train_mod

    run = tmp_path / "run"
    train(iris, MODEL, _tc(10), run)
    _crash_on_call(monkeypatch, train_mod, "save_weights", 1)
    with pytest.raises(Crash):
        train(iris, MODEL, _tc(20), run)
    monkeypatch.undo()
    res = train(iris, MODEL, _tc(20), run)
    assert not res.already_complete
    _same_result(run, ref20)
    assert verify_run(run).passed


# --- SIGKILL, for real ------------------------------------------------------------------------


def _train_argv(iris, run: Path, epochs: int, every: int, keep: int) -> list[str]:
    return [sys.executable, "-m", "irisonnx", "train", "--data", str(iris.dir), "--run", str(run), "--epochs", str(epochs), "--checkpoint-every", str(every), "--keep-checkpoints", str(keep), "--quiet"]


def _wait(cond: Any, proc: subprocess.Popen, timeout: float = 60.0) -> bool:
    """Poll ``cond()`` every 2 ms until it holds (True) or the process ends (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.002)
    raise AssertionError("training subprocess made no progress")


def test_sigkill_inside_a_checkpoint_save_then_resume(tmp_path: Path, iris) -> None:
    """Deterministic: the save window is held open (IRISONNX_TEST_SAVE_DELAY) and the kill
    lands while the epoch-10 checkpoint exists only as a temp file."""
    run, ref = tmp_path / "run", tmp_path / "ref"
    env = {**os.environ, "IRISONNX_TEST_SAVE_DELAY": "0.5"}
    proc = subprocess.Popen(_train_argv(iris, run, 15, 5, 3), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        hit = _wait(lambda: any(p.name.endswith("epoch-0010.safetensors") for p in _temp_files(run)), proc)
        assert hit, proc.stderr.read() if proc.stderr else ""
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert _temp_files(run), "the kill should have left the temp file of the interrupted save"
    assert [e for e, _ in list_checkpoints(run / "checkpoints")] == [5]
    assert load_checkpoint(run / "checkpoints" / "epoch-0005.safetensors").epoch == 5
    _assert_manifest_consistent(run, exact=False)

    r = run_cli("train", "--data", str(iris.dir), "--run", str(run), "--epochs", "15", "--checkpoint-every", "5", "--keep-checkpoints", "3", "--quiet")
    assert r.returncode == 0, r.stderr
    assert "removed 1 temp file(s) left by an interrupted save" in r.stdout
    assert "resumed from epoch 5" in r.stdout
    assert _temp_files(run) == []
    _assert_manifest_consistent(run, exact=True)
    train(iris, MODEL, _tc(15), ref)
    _same_result(run, ref)


def test_sigkill_at_random_instants_then_resume_is_bit_identical(tmp_path: Path, iris) -> None:
    """Kill a real ``irisonnx train`` at seeded random instants after it has started saving,
    resume each time, and end bit-identical to training in one go."""
    epochs, every, keep = 16, 1, 2
    run, ref = tmp_path / "run", tmp_path / "ref"
    env = {**os.environ, "IRISONNX_TEST_SAVE_DELAY": "0.02"}
    rng = random.Random(20240607)
    kills = 0
    for _ in range(3):
        start_ckpts = {p.name for _, p in list_checkpoints(run / "checkpoints")}
        proc = subprocess.Popen(_train_argv(iris, run, epochs, every, keep), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            # Wait until it is past start-up (a new checkpoint or a save in flight), then a random instant.
            started = _wait(lambda: bool(_temp_files(run)) or {p.name for _, p in list_checkpoints(run / "checkpoints")} - start_ckpts, proc)
            if started:
                time.sleep(rng.uniform(0.0, 0.3))
            proc.send_signal(signal.SIGKILL)
        finally:
            proc.kill()
            proc.wait()
        if proc.returncode != -signal.SIGKILL:
            break  # finished before the kill
        kills += 1
        # After any kill: the newest checkpoint loads and the manifest never lies.
        found = list_checkpoints(run / "checkpoints")
        if found:
            assert load_checkpoint(found[-1][1]).epoch == found[-1][0]
        _assert_manifest_consistent(run, exact=False)
    assert kills >= 1

    r = run_cli(*_train_argv(iris, run, epochs, every, keep)[3:])
    assert r.returncode == 0, r.stderr
    assert _temp_files(run) == []
    _assert_manifest_consistent(run, exact=True)
    train(iris, MODEL, _tc(epochs, checkpoint_every=every, keep_checkpoints=keep), ref)
    _same_result(run, ref)


# --- refusing a different config ---------------------------------------------------------------


@pytest.fixture(scope="module")
def other_split(tmp_path_factory: pytest.TempPathFactory, datastore: Path):
    """Iris with another split seed: same rows, different dataset checksum."""
    out = tmp_path_factory.mktemp("other") / "iris"
    text = (datastore / "raw" / "iris.csv").read_text()
    data.convert(text, name="iris", target="species", source_name="iris.csv", seed=7, out_dir=out)
    return data.load_dataset(out)


@pytest.mark.parametrize(
    "change,pattern",
    [
        ({"model": ModelConfig(n_features=4, n_classes=3, hidden=(32,))}, r"hidden: \[16\] -> \[32\]"),
        ({"model": ModelConfig(n_features=4, n_classes=3, hidden=(16,), activation="tanh")}, r"activation: 'relu' -> 'tanh'"),
        ({"seed": 1}, r"seed: 0 -> 1"),
        ({"batch_size": 8}, r"batch_size: 16 -> 8"),
        ({"optimizer": "sgd"}, r"optimizer: 'adam' -> 'sgd'"),
        ({"lr": 0.1}, r"lr: 0.01 -> 0.1"),
        ({"data": "other"}, r"data sha256: [0-9a-f]{12}… -> [0-9a-f]{12}…"),
    ],
    ids=["hidden", "activation", "seed", "batch-size", "optimizer", "lr", "data"],
)
def test_resume_with_a_different_config_is_refused_and_changes_nothing(tmp_path: Path, iris, other_split, tiny_run: Path, change: dict, pattern: str) -> None:
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    before = _snapshot(run)
    model = change.pop("model", MODEL)
    ds = other_split if change.pop("data", None) else iris
    with pytest.raises(UsageError, match=f"cannot resume .* with a different config: .*{pattern}") as info:
        train(ds, model, _tc(40, **change), run)
    assert info.value.exit_code == 2
    assert _snapshot(run) == before


def test_cli_resume_with_several_differences_lists_them_all(tmp_path: Path, iris, tiny_run: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    before = _snapshot(run)
    r = run_cli("train", "--data", str(iris.dir), "--run", str(run), "--epochs", "40", "--hidden", "8", "--seed", "5", "--batch-size", "4", "--optimizer", "sgd", "-q")
    assert r.returncode == 2
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"irisonnx: error: cannot resume {run} with a different config: ")
    for part in ("hidden: [16] -> [8]", "seed: 0 -> 5", "batch_size: 16 -> 4", "optimizer: 'adam' -> 'sgd'"):
        assert part in lines[0]
    assert _snapshot(run) == before


def test_epochs_and_checkpoint_cadence_may_change_on_resume(tmp_path: Path, iris, tiny_run: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    res = train(iris, MODEL, _tc(32, checkpoint_every=1, keep_checkpoints=2), run)
    assert res.resumed_from == 30 and res.checkpoints_written == [31, 32]


def test_cli_no_resume_on_an_existing_run_exits_2(tmp_path: Path, iris, tiny_run: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    before = _snapshot(run)
    r = run_cli("train", "--data", str(iris.dir), "--run", str(run), "--epochs", "30", "--no-resume", "-q")
    assert r.returncode == 2
    assert r.stderr.strip() == f"irisonnx: error: run folder {run} already holds a run: --no-resume would overwrite it; pass a new --run folder, or delete this one"
    assert _snapshot(run) == before


def test_fewer_epochs_than_trained_is_refused(tmp_path: Path, iris, tiny_run: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    before = _snapshot(run)
    with pytest.raises(UsageError, match=r"already trained to epoch 30: --epochs 20 is fewer") as info:
        train(iris, MODEL, _tc(20), run)
    assert info.value.exit_code == 2
    assert _snapshot(run) == before


def test_checkpoints_without_config_are_refused(tmp_path: Path, iris, tiny_run: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    (run / "config.json").unlink()
    from irisonnx.errors import ArtifactError

    with pytest.raises(ArtifactError, match="has checkpoints but no config.json"):
        train(iris, MODEL, _tc(30), run)


def test_tampered_newest_checkpoint_is_refused_on_resume(tmp_path: Path, iris, tiny_run: Path) -> None:
    from irisonnx.errors import ArtifactError

    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    ck = run / "checkpoints" / "epoch-0030.safetensors"
    blob = bytearray(ck.read_bytes())
    blob[-3] ^= 0xFF
    ck.write_bytes(bytes(blob))
    with pytest.raises(ArtifactError, match="checkpoint is corrupt or was modified"):
        train(iris, MODEL, _tc(35), run)


def test_saving_the_same_checkpoint_twice_gives_the_same_bytes(tmp_path: Path, tiny_run: Path) -> None:
    # safetensors writes its metadata map in hash order, different on every call; with six
    # metadata keys the two files differed almost always before the header was canonicalised.
    from irisonnx.training.checkpoint import save_checkpoint, save_weights

    ck = load_checkpoint(tiny_run / "checkpoints" / "epoch-0030.safetensors")
    for i in range(3):
        save_checkpoint(tmp_path / f"c{i}.safetensors", ck)
        save_weights(tmp_path / f"w{i}.safetensors", ck.model_state, ck.config)
    assert len({(tmp_path / f"c{i}.safetensors").read_bytes() for i in range(3)}) == 1
    assert len({(tmp_path / f"w{i}.safetensors").read_bytes() for i in range(3)}) == 1
    # ... and it reloads to the same content.
    again = load_checkpoint(tmp_path / "c0.safetensors")
    assert again.epoch == 30 and again.rng == ck.rng and again.metrics == ck.metrics
    assert all(again.model_state[k].equal(v) for k, v in ck.model_state.items())


def test_our_safetensors_layout_is_byte_identical_to_safetensors_own(tmp_path: Path, tiny_run: Path) -> None:
    """Checkpoints are laid out by irisonnx (faster on the training path); the bytes must be
    exactly safetensors' serialiser's plus the sorted header, for what training saves and for
    awkward metadata, and safetensors must read them back."""
    from safetensors import safe_open
    from safetensors.torch import save

    from irisonnx.training.checkpoint import _canonical, _flatten_optimizer, _safetensors_bytes

    ck = load_checkpoint(tiny_run / "checkpoints" / "epoch-0030.safetensors")
    tensors = {f"model.{k}": v for k, v in ck.model_state.items()}
    tensors.update(_flatten_optimizer(ck.optimizer_state)[0])
    metas: list = [{"format": "x", "metrics": json.dumps(ck.metrics)}, {"k": 'é "quoted" \\ \u2028 \x01 /'}, {}, None]
    for meta in metas:
        ours = _safetensors_bytes(tensors, meta)
        assert ours == _canonical(save({k: v.clone() for k, v in tensors.items()}, metadata=meta)), meta
        (tmp_path / "t.safetensors").write_bytes(ours)
        with safe_open(tmp_path / "t.safetensors", framework="pt") as fh:
            assert sorted(fh.keys()) == sorted(tensors)
            assert all(fh.get_tensor(k).equal(v) for k, v in tensors.items())
            assert fh.metadata() == (meta or None) or (meta == {} and not fh.metadata())
    import torch

    # mixed dtypes take safetensors' own serialiser (its dtype ordering), still canonical
    mixed = {"a": torch.zeros(3, dtype=torch.float64), "b": torch.ones(2, dtype=torch.int64)}
    assert _safetensors_bytes(mixed, {"m": "1"}) == _canonical(save(mixed, metadata={"m": "1"}))


def test_cli_rerun_of_a_finished_run_prints_no_progress_bar(tmp_path: Path, iris, tiny_run: Path) -> None:
    from click.testing import CliRunner

    from irisonnx.cli import cli

    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    res = CliRunner().invoke(cli, ["train", "--data", str(iris.dir), "--run", str(run), "--epochs", "30"])
    assert res.exit_code == 0, res.output
    assert f"run {run} is already trained to epoch 30; nothing to do" in res.stdout
    assert res.stderr == ""  # no stray 0% bar
    res = CliRunner().invoke(cli, ["train", "--data", str(iris.dir), "--run", str(run), "--epochs", "32"])
    assert res.exit_code == 0, res.output
    assert "resumed from epoch 30" in res.stdout
    assert "32/32" in res.stderr and "| 0/32" not in res.stderr  # the bar starts where it resumed


def test_equal_runs_in_different_folders_give_byte_identical_files(iris, tmp_path) -> None:
    """No absolute path and no unseeded RNG state leaks into the safetensors files."""
    from irisonnx.config import ModelConfig, TrainConfig
    from irisonnx.training.train import train

    for name in ("a", "b"):
        train(iris, ModelConfig(n_features=4, n_classes=3), TrainConfig(epochs=5, checkpoint_every=5), tmp_path / name)
    for rel in ("model.safetensors", "checkpoints/epoch-0005.safetensors"):
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel
