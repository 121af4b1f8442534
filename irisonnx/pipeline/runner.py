"""data -> train -> verify -> export -> compare -> edge -> bench -> report, resumable.

Each stage first checks whether its output already exists and is valid (checksums against the
manifest, the model's sha256 recorded in compare.json / bench.json / edge/manifest.json); if
so it is skipped, so re-running continues from what is done rather than from scratch. A stage
that fails stops the pipeline with the stage named and the error's own exit code.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from irisonnx.errors import IrisOnnxError
from irisonnx.pipeline.stages import STAGE_NAMES, STAGES, Context, Event, Stage, StageResult

__all__ = ["PipelineConfig", "StageResult", "PipelineResult", "STAGES", "Stage", "run_pipeline"]


@dataclass(frozen=True)
class PipelineConfig:
    name: str | None = None  # None: the CSV's stem, or iris
    csv: str | None = None
    target: str | None = None
    run: str | None = None
    hidden: tuple[int, ...] = (16,)
    epochs: int = 100
    seed: int = 0
    exporter: str = "dynamo"
    web: bool | None = None  # None: use the browser runtime when it is available
    bench: bool = True
    families: bool = True  # also compare and bench openvino, litert and executorch where they can run
    force: bool = False  # replace a processed dataset of this name made from another source

    @property
    def dataset_name(self) -> str:
        """``name``, or the CSV's stem (as ``irisonnx data`` names it), or iris."""
        if self.name:
            return self.name
        return Path(self.csv).stem if self.csv else "iris"


@dataclass
class PipelineResult:
    run_dir: Path
    stages: list[StageResult] = field(default_factory=list)
    report: Path | None = None
    matrix: list[Any] = field(default_factory=list)  # irisonnx.report.matrix.MatrixRow, one per runtime

    def to_dict(self) -> dict[str, Any]:
        return {"run": str(self.run_dir), "report": str(self.report) if self.report else None, "stages": [s.__dict__ for s in self.stages], "matrix": [r.to_dict() for r in self.matrix]}


def _fail(stage: str, exc: IrisOnnxError) -> IrisOnnxError:
    """The same error class (so the same exit code), with the stage named first."""
    new = type(exc)(f"pipeline stage {stage!r} failed: {exc.what}", exc.why, exc.hint)
    for k, v in vars(exc).items():
        if k not in ("what", "why", "hint"):
            setattr(new, k, v)
    return new


def run_pipeline(cfg: PipelineConfig, on_event: Event | None = None, stages: tuple[Stage, ...] = STAGES) -> PipelineResult:
    emit = on_event or (lambda stage, msg: None)
    from irisonnx.guard import check_not_foreign, check_run_links
    from irisonnx.runlock import run_lock
    from irisonnx.training.train import default_run_dir

    run_dir = Path(cfg.run) if cfg.run else default_run_dir(cfg.dataset_name)
    # Before anything is written: someone else's folder is not made a run, a run whose files
    # link elsewhere is not touched, and one writer at a time (every stage under this lock).
    check_not_foreign(run_dir)
    check_run_links(run_dir)
    with run_lock(run_dir):
        return _run_stages(Context(cfg, run_dir, emit), stages)


def _run_stages(ctx: Context, stages: tuple[Stage, ...]) -> PipelineResult:
    res = PipelineResult(ctx.run_dir)
    for stage in stages:
        ctx.emit(stage.name, "start")
        t = time.perf_counter()
        try:
            r = stage.run(ctx)
        except IrisOnnxError as exc:
            raise _fail(stage.name, exc) from exc
        r.seconds = round(time.perf_counter() - t, 2)
        res.stages.append(r)
        res.report = ctx.report
        ctx.emit(stage.name, f"{r.status}: {r.summary}")
    res.matrix = _matrix(ctx.run_dir)
    return res


def _matrix(run_dir: Path) -> list[Any]:
    """The runtime matrix from the run's compare.json and bench.json (those the stages wrote)."""
    from irisonnx.report.matrix import runtime_matrix
    from irisonnx.storage import read_json

    docs = [read_json(run_dir / n, n) if (run_dir / n).is_file() else None for n in ("compare.json", "bench.json")]
    return runtime_matrix(*docs) if any(d is not None for d in docs) else []
