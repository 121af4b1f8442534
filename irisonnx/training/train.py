"""The training loop, top to bottom. Returns metrics, prints nothing.

Exact resume: everything that influences the weights (model, optimizer, epoch, the torch,
numpy and python RNGs and the shuffling generator) is in every checkpoint, so training E
epochs in one go and training k, stopping (or being SIGKILLed) and resuming to E give
bit-identical weights and metrics.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from irisonnx.training.checkpoint import Checkpoint, capture_rng, checkpoint_name, list_checkpoints, load_checkpoint, restore_rng, save_checkpoint, save_weights
from irisonnx.config import ModelConfig, TrainConfig, diff, from_dict, to_dict
from irisonnx.errors import ArtifactError, IrisOnnxError, UsageError
from irisonnx.guard import refresh_stale
from irisonnx.training.run import RUN_FORMAT, library_versions
from irisonnx.storage import Manifest, atomic_write_json, read_json, remove_stale_temp_files, sha256_file

__all__ = ["TrainResult", "train", "default_run_dir"]

EpochCallback = Callable[[dict[str, Any]], None]


@dataclass
class TrainResult:
    run_dir: Path
    epochs: int
    resumed_from: int  # 0 when started fresh
    metrics: list[dict[str, Any]]
    already_complete: bool = False
    removed_temp_files: list[Path] = field(default_factory=list)
    checkpoints_written: list[int] = field(default_factory=list)

    @property
    def final(self) -> dict[str, Any]:
        return self.metrics[-1] if self.metrics else {}


def default_run_dir(data_name: str) -> Path:
    return Path("artifacts") / "runs" / data_name


def _run_config(dataset: Any, model_cfg: ModelConfig, train_cfg: TrainConfig) -> dict[str, Any]:
    return {
        "format": RUN_FORMAT,
        "data": {
            "name": dataset.name,
            "dir": str(dataset.dir.resolve()),
            "sha256": dataset.sha256,
            "test_fraction": dataset.meta["split"]["test_fraction"],
            "split_seed": dataset.meta["split"]["seed"],
            "feature_names": dataset.feature_names,
            "feature_units": dataset.meta.get("feature_units", {}),
            "class_names": dataset.class_names,
        },
        "model": to_dict(model_cfg),
        "train": to_dict(train_cfg),
        "versions": library_versions("torch", "numpy", "safetensors"),
    }


def _check_compatible(old: dict[str, Any], new: dict[str, Any], run_dir: Path) -> None:
    """Refuse to resume a run under different settings; list every difference."""
    problems = []
    if old.get("data", {}).get("sha256") != new["data"]["sha256"]:
        problems.append(f"data sha256: {str(old.get('data', {}).get('sha256'))[:12]}… -> {new['data']['sha256'][:12]}…")
    try:
        problems += diff(from_dict(ModelConfig, old["model"]), from_dict(ModelConfig, new["model"]))
        problems += diff(from_dict(TrainConfig, old["train"]), from_dict(TrainConfig, new["train"]), TrainConfig.RESUMABLE_CHANGES)
    except (KeyError, TypeError) as exc:
        raise ArtifactError("run config.json is incomplete", f"{run_dir}: {exc}") from exc
    if problems:
        raise UsageError(
            f"cannot resume {run_dir} with a different config",
            "; ".join(problems),
            "use the original settings, or a new --run folder",
        )


def _check_checkpoint_config(ckpt: Checkpoint, run_cfg: dict[str, Any], path: Path) -> None:
    """The checkpoint's own recorded config must be config.json's (exit 3 otherwise): two
    writers, or a config.json replaced by hand, left checkpoints made with lr 0.05 under a
    config saying 0.01, and a resume silently continued them."""
    mine = ckpt.config if isinstance(ckpt.config, dict) else {}
    problems = []
    if mine.get("data", {}).get("sha256") != run_cfg.get("data", {}).get("sha256"):
        problems.append("data sha256")
    try:
        problems += diff(from_dict(ModelConfig, run_cfg["model"]), from_dict(ModelConfig, mine["model"]))
        problems += diff(from_dict(TrainConfig, run_cfg["train"]), from_dict(TrainConfig, mine["train"]), TrainConfig.RESUMABLE_CHANGES)
    except (KeyError, TypeError, AttributeError, IrisOnnxError) as exc:
        raise ArtifactError("checkpoint records no usable config", f"{path}: {exc}", "it is corrupt; delete it to resume from the one before") from None
    if problems:
        raise ArtifactError(
            "checkpoint was made with another config than the run's config.json",
            f"{path}: " + "; ".join(f"config.json {p}" if "->" in p else p for p in problems),
            "another process wrote this run, or config.json was edited; start a new --run folder",
        )


def _newest_loadable_checkpoint(ckpt_dir: Path, manifest: Manifest) -> Checkpoint | None:
    """The newest checkpoint. Files are written atomically, so it is complete; one that the
    manifest lists with another sha256 was tampered with and is refused (exit 3)."""
    found = list_checkpoints(ckpt_dir)
    if not found:
        return None
    epoch, path = found[-1]
    listed = manifest.entry(path) is not None
    if listed:
        manifest.verify(path, "checkpoint")
    ckpt = load_checkpoint(path)
    if ckpt.epoch != epoch:  # a renamed file, or a flipped digit in its header
        raise ArtifactError("checkpoint does not match its name", f"{path} holds epoch {ckpt.epoch}", "restore it or delete it to resume from the one before")
    if not listed:
        # Complete (written atomically, and it parsed) but the process died before the manifest
        # save that lists it. List it now (saved with config.json below): a run resumed at its
        # last epoch saves no further checkpoint, and ended with one the manifest lacked (exit 3).
        manifest.record([path])
    return ckpt


def _evaluate(model: Any, x_all: Any, y_train: Any, y_test: Any) -> tuple[float, float, float]:
    """(train accuracy, test loss, test accuracy) from one forward pass over the train rows
    followed by the test rows (``x_all``): one model call per epoch instead of two."""
    import torch
    import torch.nn.functional as F

    n = y_train.shape[0]
    with torch.no_grad():
        logits = model(x_all)  # (n_train + n_test, n_classes)
        pred = logits.argmax(1)
        train_acc = float((pred[:n] == y_train).float().mean())
        test_loss = float(F.cross_entropy(logits[n:], y_test))
        test_acc = float((pred[n:] == y_test).float().mean())
    return train_acc, test_loss, test_acc


def train(
    dataset: Any,
    model_cfg: ModelConfig,
    train_cfg: TrainConfig,
    run_dir: str | os.PathLike,
    *,
    resume: bool = True,
    on_epoch: EpochCallback | None = None,
) -> TrainResult:
    """Train (or resume) a run in ``run_dir``; see the module docstring for the guarantees."""
    from irisonnx.extras import require

    require("torch")  # the [train] extra: exit 4 naming it, before any folder is made
    import torch

    # One intra-op thread while training: these tensors are far too small to split, and with
    # the cores busy, torch's worker threads made training 5-20x slower (measured on 2 cores:
    # 50 epochs 11-27 s with 2 threads, 1.2-6.6 s with 1). It also keeps the arithmetic the
    # same whatever the machine's core count, so a resume elsewhere follows the same path.
    from irisonnx.guard import check_not_foreign, check_run_links
    from irisonnx.runlock import run_lock

    run = Path(run_dir)
    # Before anything is created or read: a folder of someone else's files is not made a run,
    # and a run whose files link elsewhere is not read or pruned.
    if not (run / "config.json").exists() and not list_checkpoints(run / "checkpoints"):
        check_not_foreign(run)
    check_run_links(run)
    threads = torch.get_num_threads()
    # Training seeds (and a resume restores) the global torch, numpy and python generators,
    # which every checkpoint records; the caller's states come back when training ends.
    saved_rng = (torch.get_rng_state(), np.random.get_state(), random.getstate())
    torch.set_num_threads(1)
    try:
        with run_lock(run):
            check_run_links(run)  # again under the lock: nobody changes it from here on
            return _train(dataset, model_cfg, train_cfg, run, resume, on_epoch)
    finally:
        torch.set_num_threads(threads)
        torch.set_rng_state(saved_rng[0])
        np.random.set_state(saved_rng[1])
        random.setstate(saved_rng[2])


def _train(dataset: Any, model_cfg: ModelConfig, train_cfg: TrainConfig, run: Path, resume: bool, on_epoch: EpochCallback | None) -> TrainResult:
    import torch
    import torch.nn.functional as F

    from irisonnx.training.model import MLP

    ckpt_dir = run / "checkpoints"
    removed = remove_stale_temp_files(run) if run.is_dir() else []
    cfg = _run_config(dataset, model_cfg, train_cfg)
    manifest = Manifest.load(run)

    ckpt = None
    if (run / "config.json").exists():
        old = read_json(run / "config.json", "run config.json")
        if not resume:
            raise UsageError(f"run folder {run} already holds a run", "--no-resume would overwrite it", "pass a new --run folder, or delete this one")
        _check_compatible(old, cfg, run)
        ckpt = _newest_loadable_checkpoint(ckpt_dir, manifest)
        if ckpt is not None:
            _check_checkpoint_config(ckpt, old, ckpt_dir / checkpoint_name(ckpt.epoch))
        if ckpt is not None and ckpt.epoch > train_cfg.epochs:
            raise UsageError(f"{run} is already trained to epoch {ckpt.epoch}", f"--epochs {train_cfg.epochs} is fewer", "ask for at least as many epochs")
    elif run.exists() and any(run.iterdir()) and list_checkpoints(ckpt_dir):
        raise ArtifactError(f"{run} has checkpoints but no config.json", "it is not a complete irisonnx run")

    # --- model, optimiser, data --------------------------------------------------------
    torch.manual_seed(train_cfg.seed)
    # Training draws only from torch, but every checkpoint records the numpy and python RNGs
    # too; seeding them makes checkpoints of equal runs byte-identical, not just their weights.
    random.seed(train_cfg.seed)
    np.random.seed(train_cfg.seed)
    mean, std = dataset.meta["stats"]["mean"], dataset.meta["stats"]["std"]
    model = MLP(model_cfg, mean, std)
    if train_cfg.optimizer == "adam":
        # fused=True: one kernel per step for all parameters instead of ~10 ops per tensor,
        # 23% off a whole Iris epoch here (not bitwise equal to the default implementation,
        # so a checkpoint keeps its own: load_state_dict restores the saved "fused" setting).
        opt: torch.optim.Optimizer = torch.optim.Adam(model.parameters(), lr=train_cfg.lr, weight_decay=train_cfg.weight_decay, fused=True)
    else:
        opt = torch.optim.SGD(model.parameters(), lr=train_cfg.lr, momentum=train_cfg.momentum, weight_decay=train_cfg.weight_decay)
    shuffle = torch.Generator().manual_seed(train_cfg.seed)
    x = torch.from_numpy(dataset.features)  # (n_rows, n_features) float32
    y = torch.from_numpy(dataset.labels)  # (n_rows,) int64
    x_train, y_train = x[dataset.train_idx], y[dataset.train_idx]
    x_test, y_test = x[dataset.test_idx], y[dataset.test_idx]
    x_eval = torch.cat([x_train, x_test])  # (n_train + n_test, n_features), for _evaluate
    n_train, bs = x_train.shape[0], train_cfg.batch_size

    metrics: list[dict[str, Any]] = []
    start = 0
    if ckpt is not None:
        try:
            model.load_state_dict(ckpt.model_state, strict=True)
            opt.load_state_dict(ckpt.optimizer_state)
            restore_rng(ckpt.rng, shuffle)
        except (RuntimeError, ValueError, KeyError, TypeError, IndexError, OverflowError) as exc:
            # A checkpoint that parsed but does not fit (a renamed tensor, a damaged RNG state):
            # corrupt, and no bug of ours, so exit 3 rather than an internal error (70).
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ArtifactError("checkpoint does not fit this run", f"{ckpt_dir / checkpoint_name(ckpt.epoch)}: {first}", "it is corrupt; delete it to resume from the one before") from None
        metrics = list(ckpt.metrics)
        start = ckpt.epoch

    result = TrainResult(run, train_cfg.epochs, start, metrics, removed_temp_files=removed)
    if start == train_cfg.epochs and _final_artifacts_current(run, manifest, start):
        result.already_complete = True
        return result

    atomic_write_json(run / "config.json", cfg)
    # Copies of the config inside safetensors files leave out the dataset's absolute folder,
    # so the same training in two folders (or on two machines) gives byte-identical files.
    portable = {**cfg, "data": {k: v for k, v in cfg["data"].items() if k != "dir"}}
    manifest.record([run / "config.json"])
    # The final files of an earlier, shorter run are about to be replaced: unlist them first,
    # so that a kill between writing the new ones and recording them leaves files the manifest
    # does not list (resume rewrites them), never a manifest listing the old sha256 (exit 3).
    manifest.forget([run / "model.safetensors", run / "metrics.json"])
    refresh_stale(manifest)  # everything made from the old weights is stale from here on
    manifest.save()

    # --- the loop --------------------------------------------------------------------------
    writer = _CheckpointWriter()
    try:
        for epoch in range(start + 1, train_cfg.epochs + 1):
            model.train()
            perm = torch.randperm(n_train, generator=shuffle)
            loss_sum = 0.0
            for i in range(0, n_train, bs):
                idx = perm[i : i + bs]
                xb, yb = x_train[idx], y_train[idx]  # (batch, n_features), (batch,)
                opt.zero_grad(set_to_none=True)
                loss = F.cross_entropy(model(xb), yb)
                loss.backward()
                opt.step()
                loss_sum += loss.item() * len(idx)
            model.eval()
            train_acc, test_loss, test_acc = _evaluate(model, x_eval, y_train, y_test)
            row = {"epoch": epoch, "loss": loss_sum / n_train, "train_acc": train_acc, "test_loss": test_loss, "test_acc": test_acc}
            metrics.append(row)

            if epoch % train_cfg.checkpoint_every == 0 or epoch == train_cfg.epochs:
                # Copied now (weights, Adam moments, RNG states and metrics keep changing); written,
                # fsynced and recorded on the writer's thread while the next epochs train.
                ckpt = Checkpoint(epoch, _snapshot(model.state_dict()), _snapshot_optimizer(opt.state_dict()), capture_rng(shuffle), portable, list(metrics))
                writer.submit(_save_checkpoint, run, manifest, train_cfg, ckpt)
                result.checkpoints_written.append(epoch)
            if on_epoch is not None:
                on_epoch(row)
        writer.wait()  # the last checkpoint is on disk and in the manifest before the final files
    except BaseException:
        writer.close(quiet=True)  # finish the save in flight (its files stay consistent), keep this error
        raise
    writer.close()

    # --- final artifacts ------------------------------------------------------------------
    save_weights(run / "model.safetensors", model.state_dict(), portable)
    atomic_write_json(run / "metrics.json", {"epochs": metrics, "final": metrics[-1]})
    manifest.record([run / "model.safetensors", run / "metrics.json"])
    refresh_stale(manifest)  # derived artifacts of other weights stay marked stale
    # A kill between an earlier save's manifest write and its deletions leaves old
    # checkpoints that no later save prunes; prune here so the run ends as the manifest says.
    _prune_checkpoints(run, manifest, train_cfg.keep_checkpoints)
    return result


def _final_artifacts_current(run: Path, manifest: Manifest, epoch: int) -> bool:
    """True when model.safetensors and metrics.json are this run's final ones for ``epoch``.

    Existence is not enough: a kill after the last checkpoint of an extended run (10 -> 20
    epochs) leaves the epoch-10 files in place, and a kill before the final manifest write
    leaves files the manifest does not list. Both are recorded after both are written, so
    "listed with matching sha256, and metrics end at ``epoch``" means the final step finished.
    """
    for name in ("model.safetensors", "metrics.json"):
        entry = manifest.entry(run / name)
        if entry is None or not (run / name).is_file() or sha256_file(run / name) != entry.get("sha256"):
            return False
    try:
        return read_json(run / "metrics.json", "metrics.json")["final"]["epoch"] == epoch
    except (IrisOnnxError, KeyError, TypeError):
        return False


class _CheckpointWriter:
    """Saves checkpoints on one background thread, so training does not wait for their fsyncs.

    A checkpoint is 4-5 fsyncs (file and folder, manifest and folder): on a busy disk ~4 ms
    each, which made 20 checkpoints in 100 epochs 1.3-2x the cost of the training itself.
    fsync releases the GIL, so the next epochs run meanwhile. At most one save is in flight;
    the next one, the final artifacts and the end of train() wait for it, and its error (a
    full disk: exit 4) is raised there. Every write is still atomic, in the same order, so a
    kill at any instant leaves what a synchronous save would have left at some earlier instant.

    Ctrl-C: the KeyboardInterrupt can land on any line of the training thread, so whatever
    it interrupts, close() must still wait for every save that reached the worker. Hence one
    thread, started here before any save exists (with a ThreadPoolExecutor, a Ctrl-C inside
    the submit that started its thread left that thread untracked: shutdown did not wait for
    it, the process exited mid-save and left an empty temp file; 2 runs in 8 of the slow
    SIGINT test), a C-level SimpleQueue whose put cannot be cut in half, and close() that
    queues a stop mark behind every save and joins the thread.
    """

    _STOP = object()

    def __init__(self) -> None:
        import queue
        import threading

        self._queue: Any = queue.SimpleQueue()
        self._last: list[Any] | None = None  # [done Event, error] of the newest save queued
        self._thread = threading.Thread(target=self._work, name="irisonnx-checkpoint", daemon=True)
        self._thread.start()

    def _work(self) -> None:
        while True:
            job = self._queue.get()
            if job is self._STOP:
                return
            fn, args, state = job
            try:
                fn(*args)
            except BaseException as exc:  # noqa: BLE001 - handed to the training thread by wait()
                state[1] = exc
            finally:
                state[0].set()

    def submit(self, fn: Callable[..., None], *args: Any) -> None:
        import threading

        self.wait()
        state: list[Any] = [threading.Event(), None]
        self._queue.put((fn, args, state))
        self._last = state  # if a Ctrl-C lands before this line, close() still joins the save

    def wait(self) -> None:
        state = self._last
        if state is not None:
            state[0].wait()
            self._last = None
            if state[1] is not None:
                raise state[1]  # the save's exception, here in the training thread

    def close(self, quiet: bool = False) -> None:
        try:
            self.wait()
        except BaseException:
            if not quiet:
                raise
        finally:
            self._queue.put(self._STOP)  # behind every save queued so far
            self._thread.join()


def _snapshot(tensors: dict[str, Any]) -> dict[str, Any]:
    return {k: v.detach().clone() for k, v in tensors.items()}


def _snapshot_optimizer(state_dict: dict[str, Any]) -> dict[str, Any]:
    """A copy of an optimizer's state_dict that later steps cannot change: its tensors cloned,
    its groups' dicts and lists copied (deepcopy did the same at 3x the cost, on the
    training thread)."""
    state = {i: {k: (v.detach().clone() if hasattr(v, "detach") else v) for k, v in st.items()} for i, st in state_dict["state"].items()}
    groups = [{k: (v.detach().clone() if hasattr(v, "detach") else list(v) if isinstance(v, list) else v) for k, v in g.items()} for g in state_dict["param_groups"]]
    return {"state": state, "param_groups": groups}


def _save_checkpoint(run: Path, manifest: Manifest, train_cfg: TrainConfig, ckpt: Checkpoint) -> None:
    """Write the checkpoint, then the manifest, and only then prune old checkpoints."""
    ckpt_dir = run / "checkpoints"
    path = ckpt_dir / checkpoint_name(ckpt.epoch)
    digest, size = save_checkpoint(path, ckpt)
    manifest.record_digest(path, digest, size)
    _prune_checkpoints(run, manifest, train_cfg.keep_checkpoints)


def _prune_checkpoints(run: Path, manifest: Manifest, keep: int) -> None:
    """Forget all but the newest ``keep`` checkpoints, save the manifest, then delete them."""
    existing = list_checkpoints(run / "checkpoints")
    stale = [p for _, p in existing[: max(0, len(existing) - keep)]]
    manifest.forget(stale)
    manifest.save()
    for p in stale:
        p.unlink(missing_ok=True)
