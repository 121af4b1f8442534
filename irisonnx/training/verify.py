"""Save/load verification: the final weights rebuilt from disk must equal the newest
checkpoint bit for bit, and both must compute bit-identical outputs on the dataset."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


from irisonnx.training.checkpoint import list_checkpoints, load_checkpoint
from irisonnx.compare.stats import PairStats, Tolerance
from irisonnx.errors import ArtifactError, UsageError
from irisonnx.training.run import Run

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


def _bitwise() -> PairStats:
    """compare's comparator in exact mode: bit patterns, so -0.0 != +0.0 and NaNs compare by
    payload; a different shape never passes."""
    return PairStats("final", "checkpoint", Tolerance(mode="exact"))


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

    from irisonnx.training.model import MLP

    final_model = run.load_model()
    ckpt = load_checkpoint(path)
    with torch.random.fork_rng(devices=[]):  # the random init is overwritten: leave the caller's torch RNG alone
        ckpt_model = MLP(run.model_config)
    try:
        ckpt_model.load_state_dict(ckpt.model_state, strict=True)
    except RuntimeError as exc:  # parsed, but its tensors do not fit the config: corrupt, not our bug
        raise ArtifactError("checkpoint does not fit the run's model config", f"{path}: {str(exc).strip().splitlines()[0]}") from None
    ckpt_model.eval()

    params = []
    final_state = final_model.state_dict()
    by_param = _bitwise()
    for name, ref in ckpt_model.state_dict().items():
        a, b = final_state[name].numpy(), ref.numpy()
        by_param.update(name, a, b)
        st = by_param.outputs[name]
        params.append(ParamCheck(name, list(a.shape), a.dtype == b.dtype and st.passed, float(st.max_abs)))

    ds = run.dataset()
    x = torch.from_numpy(ds.features)  # (n_rows, n_features)
    with torch.no_grad():
        out_a = final_model(x).numpy()  # (n_rows, n_classes)
        out_b = ckpt_model(x).numpy()
    outputs = _bitwise()
    outputs.update("logits", out_a, out_b)
    st = outputs.outputs["logits"]
    return VerifyResult(
        run_dir=run.dir,
        checkpoint=path,
        checkpoint_epoch=epoch,
        params=params,
        n_rows=st.n_rows,
        n_rows_identical=st.n_rows - st.n_rows_fail,
        n_argmax_equal=st.argmax_agree if st.argmax_rows else st.n_rows,  # one column: argmax is 0 on every row
        max_abs_diff=float(st.max_abs),
        mismatched_rows=st.fail_rows[:10],
    )
