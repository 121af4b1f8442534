"""Run the same inputs through several runtimes and compare each against a baseline.

``run_compare`` streams the inputs in chunks: every runtime runs a chunk, each pair's
statistics absorb it (:class:`irisonnx.compare.PairStats`), the outputs are optionally written
to a golden set, and the chunk is dropped. Memory stays at inputs + one chunk per runtime.
"""

from __future__ import annotations

import heapq
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from irisonnx.compare import PairStats, Tolerance
from irisonnx.errors import RuntimeUnavailable, UsageError
from irisonnx.runtimes import Runtime, RuntimeContext, create, parse_spec

__all__ = ["RuntimeStatus", "CompareResult", "run_compare", "DEFAULT_BATCH"]

DEFAULT_BATCH = 32768  # rows per chunk: float64 error arrays of 0.75 MiB stay in L2; 1M-row compare peak 1.1x inputs+outputs (65536: 1.6x), same time
TOP_ROWS = 8  # rows kept per pair for --locate

Progress = Callable[[int, int], None]


@dataclass
class RuntimeStatus:
    spec: str
    available: bool
    reason: str
    explicit: bool
    info: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0  # inference only
    setup_seconds: float = 0.0  # imports, loading weights, creating the session

    def to_dict(self) -> dict[str, Any]:
        return {"runtime": self.spec, "available": self.available, "reason": self.reason, "requested": self.explicit, "info": self.info, "seconds": self.seconds, "setup_seconds": self.setup_seconds}


@dataclass
class CompareResult:
    target: str
    model: str | None
    model_sha256: str | None
    notes: list[str]
    inputs: str
    n_rows: int
    tolerance: Tolerance
    baseline: str
    runtimes: list[RuntimeStatus]
    pairs: list[PairStats]
    only_in: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    top_rows: dict[str, list[int]] = field(default_factory=dict)
    location: list[dict[str, Any]] = field(default_factory=list)
    saved_io: str | None = None
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return all(p.passed for p in self.pairs)

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "model": self.model,
            "model_sha256": self.model_sha256,
            "notes": self.notes,
            "inputs": self.inputs,
            "n_rows": self.n_rows,
            "tolerance": self.tolerance.to_dict(),
            "baseline": self.baseline,
            "runtimes": [r.to_dict() for r in self.runtimes],
            "pairs": [p.to_dict() for p in self.pairs],
            "outputs_only_in": self.only_in,
            "locate": self.location,
            "saved_io": self.saved_io,
            "seconds": self.seconds,
            "passed": self.passed,
        }


def _resolve_target(target: str | os.PathLike, model: str | os.PathLike | None, notes: list[str]) -> tuple[Any, Any]:
    """(Run or None, checked ModelInfo or None). A run's own model.onnx must match its manifest
    (exit 3); a ``--model`` file that differs from it is compared as given, with a note."""
    from irisonnx.onnx_io import load_model_safely, resolve_model
    from irisonnx.run import Run, is_run_dir

    t = Path(target)
    if not is_run_dir(t):
        if model is not None:
            raise UsageError("--model needs a run folder as the target", str(t))
        if not t.exists():
            raise UsageError("no such run folder or model file", str(t))
        return None, resolve_model(t, allow_unvalidated=True)
    run = Run.open(t)
    if model is not None:
        if not Path(model).exists():
            raise UsageError("--model file not found", str(model))
        info = load_model_safely(model)
        entry = run.manifest().entry(run.onnx_path) if run.onnx_path.exists() else None
        if entry is None or entry.get("sha256") != info.sha256:
            was = f" (manifest: {entry['sha256'][:12]}…)" if entry else ""
            notes.append(f"--model {model} has sha256 {info.sha256[:12]}…, not the run's exported model.onnx{was}; compared as given")
        return run, info
    if run.onnx_path.exists():
        return run, resolve_model(run.dir, allow_unvalidated=True)
    notes.append(f"{run.onnx_path} does not exist (run irisonnx export first); ONNX runtimes are unavailable")
    return run, None


def run_compare(
    target: str | os.PathLike,
    *,
    runtimes: list[str] | None = None,
    baseline: str | None = None,
    model: str | os.PathLike | None = None,
    inputs: str | None = None,
    seed: int = 0,
    batch_size: int = DEFAULT_BATCH,
    tolerance: Tolerance = Tolerance(),
    save_io: str | os.PathLike | None = None,
    load_io: str | os.PathLike | None = None,
    locate: bool = False,
    progress: Progress | None = None,
) -> CompareResult:
    """Compare runtimes on the same inputs. Unavailable runtimes that were asked for raise
    RuntimeUnavailable (exit 4); default ones are reported as unavailable and skipped."""
    t0 = time.perf_counter()
    if batch_size < 1:
        raise UsageError("bad --batch-size", str(batch_size), "use a positive integer")
    notes: list[str] = []
    run, info = _resolve_target(target, model, notes)
    model_path = info.path if info is not None else None
    ctx = RuntimeContext(model_path=model_path, run=run, golden_dir=Path(load_io) if load_io else None, model_info=info)
    model_sha = info.sha256 if info is not None else None
    if info is not None:
        ctx.output_names = info.output_names
        unknown = sorted(set(tolerance.per_output) - set(info.output_names))
        if unknown:
            raise UsageError(f"tolerance for unknown output(s) {', '.join(map(repr, unknown))}", f"the model's outputs are {', '.join(info.output_names)}")
        feature_names = info.feature_names
    else:
        feature_names = run.config["data"]["feature_names"] if run is not None else []

    # --- which runtimes ---------------------------------------------------------------------
    explicit = runtimes is not None
    if runtimes is not None:
        runtimes = [r.strip() for r in runtimes if r.strip()]
        if not runtimes:
            raise UsageError("no runtimes given", "--runtimes is empty", "name at least one, e.g. --runtimes torch,ort-cpu")
    if runtimes is None:
        if load_io:
            runtimes = ["ort-cpu"] if model_path is not None else []
        else:
            runtimes = (["torch"] if run is not None else []) + ["ort-cpu", "reference", "ort-cuda"]
    if baseline is None:
        baseline = "golden" if load_io else runtimes[0]
    specs = [baseline] + [r for r in runtimes if r != baseline]
    for s in specs:
        parse_spec(s)
    if len(set(specs)) != len(specs):
        raise UsageError("a runtime is listed twice", ", ".join(specs))

    statuses: list[RuntimeStatus] = []
    active: list[Runtime] = []
    for s in specs:
        rt = create(s, ctx)
        ok, why = rt.is_available()
        is_explicit = explicit or s == baseline
        statuses.append(RuntimeStatus(rt.name, ok, why, is_explicit))
        if not ok:
            if is_explicit and info is None and run is not None and rt.kind not in ("torch", "golden"):
                # Not a runtime problem: the file it would run is missing (exit 2, like any missing file).
                raise UsageError(f"runtime {rt.name} needs the run's model.onnx", f"{run.onnx_path} does not exist", f"export it first: irisonnx export {run.dir}")
            if is_explicit:
                raise RuntimeUnavailable(f"runtime {rt.name} unavailable", why)
            continue
        active.append(rt)
    if len(active) < 2:
        raise UsageError("nothing to compare", f"only {', '.join(r.name for r in active) or 'no runtime'} can run" + "".join(f" ({n})" for n in notes), "ask for at least two runtimes with --runtimes")

    # --- inputs -----------------------------------------------------------------------------
    dataset = None
    if load_io:
        from irisonnx.golden import load_inputs, read_index

        x = np.asarray(load_inputs(load_io))
        inputs_desc = f"golden set {load_io}: {read_index(load_io)['inputs'].get('description', '')}"
        if inputs is not None:
            notes.append("--inputs is ignored with --load-io (the saved inputs are used)")
    else:
        spec = inputs or ("test" if run is not None else "random:1000")
        ranges = None
        if run is not None and (spec in ("test", "all", "train") or spec.startswith("random:")):
            dataset = run.dataset()
            ranges = (dataset.meta["stats"]["min"], dataset.meta["stats"]["max"])
        x, inputs_desc = _inputs(spec, dataset, feature_names, ranges, seed)
    n = x.shape[0]

    # --- stream -----------------------------------------------------------------------------
    base_rt, others = active[0], active[1:]
    pairs = {rt.name: PairStats(rt.name, base_rt.name, tolerance) for rt in others}
    only_in: dict[str, dict[str, list[str]]] = {}
    tops: dict[str, list[tuple[float, int]]] = {rt.name: [] for rt in others}
    seconds = {rt.name: 0.0 for rt in active}
    setup = {}
    try:
        for rt in active:
            t = time.perf_counter()
            rt.activate()
            setup[rt.name] = time.perf_counter() - t
    except BaseException:  # one failed to start, or a signal: the started ones end (browser children, temp folders)
        for rt in active:
            rt.deactivate()
        raise
    writer = None
    if save_io:
        from irisonnx.golden import GoldenWriter

        writer = GoldenWriter(save_io, n)
    try:
        for start in range(0, n, batch_size):
            chunk = np.ascontiguousarray(x[start : start + batch_size], dtype=np.float32)
            outs = {}
            for rt in active:
                t = time.perf_counter()
                outs[rt.name] = rt.run(chunk, start)
                seconds[rt.name] += time.perf_counter() - t
            base = outs[base_rt.name]
            for rt in others:
                mine = outs[rt.name]
                common = [o for o in base if o in mine]
                if start == 0 and (set(base) ^ set(mine)):
                    only_in[rt.name] = {base_rt.name: sorted(set(base) - set(mine)), rt.name: sorted(set(mine) - set(base))}
                for o in common:
                    pairs[rt.name].update(o, np.asarray(mine[o]), np.asarray(base[o]), start)
                _keep_top_rows(tops[rt.name], mine, base, common, start, pairs[rt.name].finite_abs_err)
            if writer is not None:
                writer.write_inputs(start, chunk)
                for name, o in outs.items():
                    writer.write_outputs(name, start, o)
            if progress is not None:
                progress(min(start + batch_size, n), n)
        infos = {}
        for st, rt in zip([s for s in statuses if s.available], active):
            st.info, st.seconds, st.setup_seconds = rt.info(), seconds[rt.name], setup[rt.name]
            infos[rt.name] = st.info
        if writer is not None:
            writer.finish(base_rt.name, infos, inputs_desc)
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    finally:
        for rt in active:
            rt.deactivate()

    result = CompareResult(
        target=str(target),
        model=str(model_path) if model_path else None,
        model_sha256=model_sha,
        notes=notes,
        inputs=inputs_desc,
        n_rows=n,
        tolerance=tolerance,
        baseline=base_rt.name,
        runtimes=statuses,
        pairs=list(pairs.values()),
        only_in=only_in,
        top_rows={k: [r for _, r in sorted(v, reverse=True)] for k, v in tops.items()},
        saved_io=str(save_io) if save_io else None,
    )
    if locate:
        from irisonnx.locate import locate_divergence

        for rt in others:
            if not pairs[rt.name].passed:
                rows = x[np.asarray(result.top_rows[rt.name], dtype=np.int64)]
                result.location.append(locate_divergence(rt, base_rt, rows, result.top_rows[rt.name], tolerance))
    result.seconds = time.perf_counter() - t0
    return result


def _inputs(spec: str, dataset: Any, feature_names: list[str], ranges: Any, seed: int) -> tuple[np.ndarray, str]:
    from irisonnx.inputs import make_inputs

    if not feature_names:
        raise UsageError("cannot tell the model's features", "no model metadata and no run")
    return make_inputs(spec, dataset=dataset, feature_names=feature_names, ranges=ranges, seed=seed)


def _keep_top_rows(heap: list[tuple[float, int]], mine: dict[str, np.ndarray], base: dict[str, np.ndarray], common: list[str], start: int, known: dict[str, np.ndarray] | None = None) -> None:
    """Keep the TOP_ROWS rows with the largest error over all float outputs (a min-heap).
    ``known``: |a - b| per output already computed for this chunk (finite outputs only)."""
    row_err = None
    for o in common:
        a, b = np.asarray(mine[o]), np.asarray(base[o])
        if a.dtype.kind != "f" or a.ndim == 0 or a.shape[0] == 0:
            continue
        d = known.pop(o, None) if known else None
        if d is None:
            with np.errstate(invalid="ignore", over="ignore"):
                d = np.abs(a.astype(np.float64) - b.astype(np.float64))
            if not np.isfinite(d).all():  # nan_to_num is the identity on finite errors: skip its passes
                d = np.nan_to_num(d, nan=np.inf)
        d = _row_max(d.reshape(a.shape[0], -1))
        row_err = d if row_err is None else np.maximum(row_err, d)
    if row_err is None:
        return
    # The heap orders rows by (error, row): ties go to the later row. Rows of this chunk come
    # after every row in the heap, so one whose error equals the heap's smallest still
    # displaces it: when the heap is full, only rows with err >= its minimum can enter.
    cand = np.flatnonzero(row_err >= heap[0][0]) if len(heap) == TOP_ROWS else np.arange(row_err.shape[0])
    if cand.size > TOP_ROWS:
        vals = row_err[cand]
        t = np.partition(vals, -TOP_ROWS)[-TOP_ROWS]  # the TOP_ROWS-th largest error
        above, tied = cand[vals > t], cand[vals == t]  # both in row order
        cand = np.concatenate([above, tied[tied.size - (TOP_ROWS - above.size) :]])
    for i in cand:
        item = (float(row_err[i]), int(i) + start)
        if len(heap) < TOP_ROWS:
            heapq.heappush(heap, item)
        elif item > heap[0]:
            heapq.heapreplace(heap, item)


def _row_max(d: np.ndarray) -> np.ndarray:
    """``d.max(axis=1)`` for (rows, k) without NaN. For a few columns (3 classes) numpy's
    reduction along the short last axis loops per row; column by column is ~3x faster."""
    if d.shape[1] > 16:
        return d.max(axis=1)
    m = d[:, 0].copy()
    for j in range(1, d.shape[1]):
        np.maximum(m, d[:, j], out=m)
    return m
