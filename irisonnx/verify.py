"""Save/load verification: the final weights rebuilt from disk must equal the newest
checkpoint bit for bit, and both must compute bit-identical outputs on the dataset."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from irisonnx.checkpoint import list_checkpoints, load_checkpoint
from irisonnx.errors import ArtifactError, UsageError
from irisonnx.run import Run

__all__ = ["ParamCheck", "VerifyResult", "verify_run"]


@dataclass
class ParamCheck:
    name: str
    shape: list[int]
    identical: bool
    max_abs_diff: float


@dataclass
class VerifyResult:
    run_dir: Path
    checkpoint: Path
    checkpoint_epoch: int
    params: list[ParamCheck]
    n_rows: int
    n_rows_identical: int
    n_argmax_equal: int
    max_abs_diff: float
    mismatched_rows: list[int] = field(default_factory=list)  # first few, for the report

    @property
    def passed(self) -> bool:
        return all(p.identical for p in self.params) and self.n_rows_identical == self.n_rows

    def to_dict(self) -> dict[str, Any]:
        return {
            "run": str(self.run_dir),
            "checkpoint": str(self.checkpoint),
            "checkpoint_epoch": self.checkpoint_epoch,
            "params": [p.__dict__ for p in self.params],
            "n_rows": self.n_rows,
            "n_rows_identical": self.n_rows_identical,
            "n_argmax_equal": self.n_argmax_equal,
            "max_abs_diff": self.max_abs_diff,
            "mismatched_rows": self.mismatched_rows,
            "passed": self.passed,
        }


def _bits(a: np.ndarray) -> np.ndarray:
    """Bit patterns, so that -0.0 != +0.0 and NaNs compare by payload."""
    return np.ascontiguousarray(a).view(np.uint8).reshape(a.shape + (-1,)) if a.dtype.itemsize else a


def _identical(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and a.dtype == b.dtype and a.tobytes() == b.tobytes()


def verify_run(run_dir: str | os.PathLike) -> VerifyResult:
    run = Run.open(run_dir)
    manifest = run.manifest()
    # Every file against the manifest first: a missing or corrupt file is reported before
    # torch is imported (about 2 s), and nothing unverified is ever parsed.
    manifest.verify(run.dir / "config.json", "run config")
    manifest.verify(run.weights_path, "weights file")
    found = list_checkpoints(run.checkpoints_dir)
    if not found:
        raise UsageError("no checkpoint to verify against", f"{run.checkpoints_dir} is empty or missing")
    epoch, path = found[-1]
    manifest.verify(path, "checkpoint")

    import torch

    from irisonnx.model import MLP

    final_model = run.load_model()
    ckpt = load_checkpoint(path)
    ckpt_model = MLP(run.model_config)
    try:
        ckpt_model.load_state_dict(ckpt.model_state, strict=True)
    except RuntimeError as exc:  # parsed, but its tensors do not fit the config: corrupt, not our bug
        raise ArtifactError("checkpoint does not fit the run's model config", f"{path}: {str(exc).strip().splitlines()[0]}") from None
    ckpt_model.eval()

    params = []
    final_state = final_model.state_dict()
    for name, ref in ckpt_model.state_dict().items():
        a, b = final_state[name].numpy(), ref.numpy()
        same = _identical(a, b)
        diff = float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64)))) if a.shape == b.shape and a.size else 0.0
        params.append(ParamCheck(name, list(a.shape), same, diff))

    ds = run.dataset()
    x = torch.from_numpy(ds.features)  # (n_rows, n_features)
    with torch.no_grad():
        out_a = final_model(x).numpy()  # (n_rows, n_classes)
        out_b = ckpt_model(x).numpy()
    row_same = np.all(_bits(out_a) == _bits(out_b), axis=tuple(range(1, out_a.ndim + 1)))
    return VerifyResult(
        run_dir=run.dir,
        checkpoint=path,
        checkpoint_epoch=epoch,
        params=params,
        n_rows=int(out_a.shape[0]),
        n_rows_identical=int(row_same.sum()),
        n_argmax_equal=int((out_a.argmax(1) == out_b.argmax(1)).sum()),
        max_abs_diff=float(np.max(np.abs(out_a.astype(np.float64) - out_b))) if out_a.size else 0.0,
        mismatched_rows=np.flatnonzero(~row_same)[:10].tolist(),
    )
