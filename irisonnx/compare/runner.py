"""Run the same inputs through several runtimes and compare each against a baseline.

``run_compare`` streams the inputs in chunks: every runtime runs a chunk, each pair's
statistics absorb it (:class:`irisonnx.compare.stats.PairStats`), the outputs are optionally written
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

from irisonnx.compare.stats import PairStats, Tolerance
from irisonnx.errors import RuntimeUnavailable, UsageError
from irisonnx.runtimes import Runtime, RuntimeContext, create, parse_spec

__all__ = ["RuntimeStatus", "CompareResult", "run_compare", "DEFAULT_BATCH"]

DEFAULT_BATCH = 32768  # rows per chunk: float64 error arrays of 0.75 MiB stay in L2; 1M-row compare peak 1.1x inputs+outputs (65536: 1.6x), same time
TOP_ROWS = 8  # rows kept per pair for --locate
_MAX_GOLDEN_MODEL = 64 << 20  # a golden set keeps a copy of its model (for --locate) up to this size

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
    signature: dict[str, Any] = field(default_factory=dict)
    batched: bool = True

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
            "signature": self.signature,
            "batched": self.batched,
            "seconds": self.seconds,
            "passed": self.passed,
        }


def _resolve_target(target: str | os.PathLike, model: str | os.PathLike | None, notes: list[str]) -> tuple[Any, Any]:
    """(Run or None, checked ModelInfo or None). A run's own model.onnx must match its manifest
    (exit 3); a ``--model`` file that differs from it is compared as given, with a note."""
    from irisonnx.modelfile.onnx_io import load_model_safely
    from irisonnx.training.run import resolve_target
    from irisonnx.training.run import is_run_dir

    t = Path(target)
    if model is not None and not is_run_dir(t):
        raise UsageError("--model needs a run folder as the target", str(t))
    if model is None:
        run, info = resolve_target(t)
        if run is not None and info is None:
            notes.append(f"{run.onnx_path} does not exist (run irisonnx export first); ONNX runtimes are unavailable")
        return run, info
    from irisonnx.training.run import Run

    run = Run.open(t)
    if not Path(model).exists():
        raise UsageError("--model file not found", str(model))
    info = load_model_safely(model)
    entry = run.manifest().entry(run.onnx_path) if run.onnx_path.exists() else None
    if entry is None or entry.get("sha256") != info.sha256:
        was = f" (manifest: {entry['sha256'][:12]}…)" if entry else ""
        notes.append(f"--model {model} has sha256 {info.sha256[:12]}…, not the run's exported model.onnx{was}; compared as given")
    return run, info


def _signature(info: Any, run: Any) -> Any:
    """The model's signature; a run without model.onnx has its MLP's (torch only)."""
    from irisonnx.modelfile.signature import Signature, TensorSpec

    if info is not None:
        return info.signature
    n_f = len(run.config["data"]["feature_names"])
    return Signature((TensorSpec("features", "float32", ("batch", n_f)),), (TensorSpec("logits", "float32", ("batch", None)),))


def run_compare(
    target: str | os.PathLike,
    *,
    runtimes: list[str | Runtime] | None = None,
    baseline: str | Runtime | None = None,
    optional: list[str] | None = None,
    model: str | os.PathLike | None = None,
    module: Any = None,
    inputs: str | None = None,
    seed: int = 0,
    batch_size: int = DEFAULT_BATCH,
    tolerance: Tolerance = Tolerance(),
    save_io: str | os.PathLike | None = None,
    save_io_format: str = "irisonnx",
    load_io: str | os.PathLike | None = None,
    locate: bool = False,
    dims: dict[str, int] | None = None,
    input_ranges: dict[str, tuple[float, float]] | None = None,
    feeds: Any = None,
    progress: Progress | None = None,
    headers: list[tuple[str, str]] | None = None,
) -> CompareResult:
    """Compare runtimes on the same inputs. Unavailable runtimes that were asked for raise
    RuntimeUnavailable (exit 4); default ones are reported as unavailable and skipped.

    ``module``: a user's torch module (``FILE.py:FACTORY`` or an nn.Module) that becomes the
    ``torch`` runtime. ``feeds``: inputs given directly (an :class:`irisonnx.compare.inputs.InputSet`
    or a dict of arrays by input name), in place of ``inputs``. With ``save_io`` one runtime
    is enough (recording a golden set); comparing needs two (a golden set counts as one).
    ``headers``: (name, value) pairs sent with every request of a ``remote:`` runtime.
    ``optional``: more runtimes compared where they can run and listed as unavailable (with the
    reason and the command that enables them) where they cannot, even with ``runtimes`` given:
    the pipeline's runtime families (openvino, litert, executorch, ort-cuda)."""
    t0 = time.perf_counter()
    if batch_size < 1:
        raise UsageError("bad --batch-size", str(batch_size), "use a positive integer")
    if save_io_format not in ("irisonnx", "onnx"):
        raise UsageError("bad --save-io-format", repr(save_io_format), "use irisonnx or onnx")
    notes: list[str] = []
    run, info = _resolve_target(target, model, notes)
    model_path = info.path if info is not None else None
    ctx = RuntimeContext(model_path=model_path, run=run, model_info=info, headers=list(headers or []))
    if module is not None:
        from irisonnx.training.module import parse_module_spec

        ctx.module = parse_module_spec(module)
    sig = _signature(info, run)
    model_sha = info.sha256 if info is not None else None
    if info is not None:
        ctx.output_names = info.output_names
        unknown = sorted(set(tolerance.per_output) - set(info.output_names))
        if unknown:
            raise UsageError(f"tolerance for unknown output(s) {', '.join(map(repr, unknown))}", f"the model's outputs are {', '.join(info.output_names)}")
        feature_names = info.feature_names
    else:
        feature_names = run.config["data"]["feature_names"] if run is not None else []
    golden = None
    if load_io:
        from irisonnx.data.golden import load_golden

        golden = load_golden(load_io, sig.input_names, sig.output_names, inputs_file=inputs if inputs and str(inputs).endswith(".json") else None)
        ctx.golden_dir, ctx.golden = Path(load_io), golden

    # --- which runtimes ---------------------------------------------------------------------
    explicit = runtimes is not None
    # Runtime objects (irisonnx.create_runtime, or a subclass of Runtime) are used as given.
    given = {r.name: r for r in [*(runtimes or []), baseline] if isinstance(r, Runtime)}
    if isinstance(baseline, Runtime):
        baseline = baseline.name
    if runtimes is not None:
        runtimes = [r.name if isinstance(r, Runtime) else r.strip() for r in runtimes if isinstance(r, Runtime) or r.strip()]
        if not runtimes:
            raise UsageError("no runtimes given", "--runtimes is empty", "name at least one, e.g. --runtimes torch,ort-cpu")
    if runtimes is None:
        if load_io:
            runtimes = ["ort-cpu"] if model_path is not None else []
        else:
            runtimes = (["torch"] if run is not None or ctx.module is not None else []) + ["ort-cpu", "reference", "ort-cuda"]
    if baseline is None:
        baseline = "golden" if load_io else runtimes[0]
    specs = [baseline] + [r for r in runtimes if r != baseline]
    optional_set = {o for o in (optional or []) if o not in specs}
    specs += [o for o in (optional or []) if o in optional_set]
    for s in specs:
        if s not in given:
            parse_spec(s)
    if len(set(specs)) != len(specs):
        raise UsageError("a runtime is listed twice", ", ".join(specs))

    statuses: list[RuntimeStatus] = []
    active: list[Runtime] = []
    for s in specs:
        rt = given[s] if s in given else create(s, ctx)
        ok, why = rt.is_available()
        is_explicit = (explicit and s not in optional_set) or s == baseline
        statuses.append(RuntimeStatus(rt.name, ok, why, is_explicit))
        if not ok:
            if is_explicit and info is None and run is not None and rt.kind not in ("torch", "golden"):
                # Not a runtime problem: the file it would run is missing (exit 2, like any missing file).
                raise UsageError(f"runtime {rt.name} needs the run's model.onnx", f"{run.onnx_path} does not exist", f"export it first: irisonnx export {run.dir}")
            if is_explicit:
                raise RuntimeUnavailable(f"runtime {rt.name} unavailable", why)
            continue
        active.append(rt)
    need = 1 if save_io else 2
    if len(active) < need:
        raise UsageError("nothing to compare", f"only {', '.join(r.name for r in active) or 'no runtime'} can run" + "".join(f" ({n})" for n in notes), "ask for at least two runtimes with --runtimes (one is enough to record a golden set with --save-io)")

    if tolerance.require_argmax and info is not None and not any(o.is_float and len(o.shape) == 2 for o in sig.outputs if o.is_tensor):
        raise UsageError("--argmax needs a 2-D float output", f"the model's outputs are {', '.join(o.describe() for o in sig.outputs)}")

    # --- inputs -----------------------------------------------------------------------------
    from irisonnx.compare.inputs import InputSet, checked_set, make_feeds

    if golden is not None:
        iset = checked_set(golden.inputs, sig, f"golden set {load_io}") if not golden.batched else InputSet(golden.inputs, "", True)
        iset.description = f"golden set {load_io}: {golden.description}"
        if golden.batched:
            from irisonnx.modelfile.signature import check_feeds

            iset.samples = [check_feeds(sig, {k: np.asarray(v) for k, v in golden.inputs[0].items()}, f"golden set {load_io}")]
        if inputs is not None and not str(inputs).endswith(".json"):
            notes.append("--inputs is ignored with --load-io (the saved inputs are used)")
    elif feeds is not None:
        iset = feeds if isinstance(feeds, InputSet) else checked_set([dict(feeds)], sig, "the given arrays")
    else:
        spec = inputs or ("test" if run is not None else "random:1000")
        dataset, ranges = None, None
        if run is not None and (spec in ("test", "all", "train") or spec.startswith("random:")):
            dataset = run.dataset()
            ranges = (dataset.meta["stats"]["min"], dataset.meta["stats"]["max"])
        if spec in ("test", "all", "train") and dataset is None:
            raise UsageError(f"--inputs {spec} needs the dataset", "pass a run folder, or use random:N or a file")
        classifier = info.is_classifier if info is not None else run is not None
        iset = make_feeds(spec, sig, dataset=dataset, ranges=ranges, seed=seed, dims=dims, input_ranges=input_ranges, feature_names=feature_names, classifier=classifier)

    # --- stream -----------------------------------------------------------------------------
    try:
        for rt in list(active):
            t = time.perf_counter()
            try:
                rt.activate()
            except RuntimeUnavailable as exc:
                from irisonnx.runtimes.conversion import RuntimeUnsupported

                st = next(s for s in statuses if s.spec == rt.name)
                if st.explicit and not isinstance(exc, RuntimeUnsupported):
                    raise
                # A runtime whose converter lacks one of the model's ops ("unsupported: OP") is
                # skipped even when named: the others are still compared (never exit 70).
                # A default runtime that cannot take this model (the reference evaluator lacks
                # ZipMap, say) is reported as unavailable, as if is_available had said so.
                st.available, st.reason = False, exc.why or str(exc)
                active.remove(rt)
                continue
            rt.setup_seconds = time.perf_counter() - t  # type: ignore[attr-defined]
    except BaseException:  # one failed to start, or a signal: the started ones end (browser children, temp folders)
        for rt in active:
            rt.deactivate()
        raise
    if len(active) < need:
        for rt in active:
            rt.deactivate()
        raise UsageError("nothing to compare", f"only {', '.join(r.name for r in active) or 'no runtime'} can run", "ask for at least two runtimes with --runtimes (one is enough to record a golden set with --save-io)")
    base_rt, others = active[0], active[1:]
    try:
        iset = _aligned(iset, active, batch_size, notes, sig)
        pairs, only_in, tops, seconds, baseline_outs = _stream(iset, base_rt, others, tolerance, batch_size, save_io, save_io_format, statuses, active, progress, info.data if info is not None and len(info.data) <= _MAX_GOLDEN_MODEL else None)
    finally:
        for rt in active:
            rt.deactivate()
    if save_io and save_io_format == "onnx":
        from irisonnx.data.golden import write_onnx_layout

        write_onnx_layout(save_io, iset.samples if not iset.batched else [iset.samples[0]], baseline_outs)
    n = iset.n_rows
    result = CompareResult(
        target=str(target),
        model=str(model_path) if model_path else None,
        model_sha256=model_sha,
        notes=notes,
        inputs=iset.description,
        n_rows=n,
        tolerance=tolerance,
        baseline=base_rt.name,
        runtimes=statuses,
        pairs=list(pairs.values()),
        only_in=only_in,
        top_rows={k: [r for _, r in sorted(v, reverse=True)] for k, v in tops.items()},
        saved_io=str(save_io) if save_io else None,
    )
    result.signature = sig.to_dict()
    result.batched = iset.batched
    if locate:
        from irisonnx.compare.locate import locate_divergence

        base_for_locate = _golden_model_runtime(golden, notes) if base_rt.kind == "golden" else base_rt
        for rt in others:
            if not pairs[rt.name].passed and base_for_locate is not None:
                ids = result.top_rows[rt.name]
                if iset.batched:
                    sel = np.asarray(ids, dtype=np.int64)
                    rows = {k: np.ascontiguousarray(v[sel]) for k, v in iset.samples[0].items()}
                else:
                    rows = iset.samples[ids[0]] if ids else iset.samples[0]
                    ids = ids[:1]
                result.location.append(locate_divergence(rt, base_for_locate, rows, ids, tolerance))
    result.seconds = time.perf_counter() - t0
    return result


def _golden_model_runtime(golden: Any, notes: list[str]) -> Runtime | None:
    """For --locate against a golden set: its recorded model in onnxruntime CPU, whose
    intermediates are matched by name to the model under test."""
    if golden is None or golden.model is None:
        notes.append("--locate: the golden set holds no model to re-run (ONNX test data and Polygraphy outputs do not), so no node can be named")
        return None
    from irisonnx.modelfile.onnx_io import load_model_safely

    info = load_model_safely(golden.model)
    rt = create("ort-cpu", RuntimeContext(model_path=info.path, model_info=info, output_names=info.output_names))
    rt.label = "golden model (ort-cpu)"
    return rt


def _rows_declared(sig: Any) -> bool:
    """Every output's first dimension is declared as the inputs' rows (the same symbol)."""
    rows = {i.shape[0] for i in sig.inputs if i.is_tensor and i.shape and isinstance(i.shape[0], str)}
    outs = [o for o in sig.outputs if o.is_tensor]
    return bool(rows) and bool(outs) and all(o.shape and o.shape[0] in rows for o in outs)


def _aligned(iset: Any, active: list[Runtime], batch_size: int, notes: list[str], sig: Any = None) -> Any:
    """Cut rows into chunks only when every output follows the input rows: run the first
    chunk and look. A model whose outputs do not (a Transpose, a Gemm with transA) gets all
    rows in one call, as plain onnxruntime would."""
    if not iset.batched:
        return iset
    if iset.n_rows <= (iset.chunk_rows or batch_size):
        return iset  # one call: nothing to cut, whatever the outputs' shapes
    if sig is not None and iset.chunk_rows is None and _rows_declared(sig):
        return iset  # declared [rows, ...] (irisonnx's own models): no probe run needed
    start, feeds = next(iset.chunks(batch_size))
    rows = next(iter(feeds.values())).shape[0]
    for rt in active:
        for name, v in rt.run(feeds, start).items():
            if v.ndim == 0 or v.shape[0] != rows:
                if iset.chunk_rows is not None:  # a fixed batch cannot run whole: each chunk is a sample
                    notes.append(f"output {name!r} of {rt.name} does not follow the input rows ({list(v.shape)} for {rows} rows): each batch of {rows} is compared as a sample")
                    return iset.as_samples()
                notes.append(f"output {name!r} of {rt.name} does not follow the input rows ({list(v.shape)} for {rows} rows): all {iset.n_rows} rows run in one call")
                return iset.whole()
    return iset


def _stream(iset: Any, base_rt: Runtime, others: list[Runtime], tolerance: Tolerance, batch_size: int, save_io: Any, save_io_format: str, statuses: list[RuntimeStatus], active: list[Runtime], progress: Progress | None, model_bytes: bytes | None = None) -> tuple[dict[str, PairStats], dict[str, dict[str, list[str]]], dict[str, list[tuple[float, int]]], dict[str, float], list[dict[str, np.ndarray]]]:
    pairs = {rt.name: PairStats(rt.name, base_rt.name, tolerance) for rt in others}
    only_in: dict[str, dict[str, list[str]]] = {}
    tops: dict[str, list[tuple[float, int]]] = {rt.name: [] for rt in others}
    seconds = {rt.name: 0.0 for rt in active}
    n = iset.n_rows
    writer = None
    baseline_outs: list[dict[str, np.ndarray]] = []
    if save_io and save_io_format == "irisonnx":
        from irisonnx.data.golden import GoldenWriter

        writer = GoldenWriter(save_io, n, batched=iset.batched, single=iset.batched and n <= (iset.chunk_rows or batch_size))
    try:
        for start, chunk in iset.chunks(batch_size):
            outs = {}
            for rt in active:
                t = time.perf_counter()
                outs[rt.name] = rt.run(chunk, start)
                seconds[rt.name] += time.perf_counter() - t
            base = outs[base_rt.name]
            sample = None if iset.batched else start
            offset = start if iset.batched else 0
            for rt in others:
                mine = outs[rt.name]
                common = [o for o in base if o in mine]
                if rt.name not in only_in and (set(base) ^ set(mine)):
                    only_in[rt.name] = {base_rt.name: sorted(set(base) - set(mine)), rt.name: sorted(set(mine) - set(base))}
                for o in common:
                    pairs[rt.name].update(o, np.asarray(mine[o]), np.asarray(base[o]), offset, sample)
                if iset.batched:
                    _keep_top_rows(tops[rt.name], mine, base, common, start, pairs[rt.name].finite_abs_err)
                else:
                    _keep_top_sample(tops[rt.name], mine, base, common, start)
            if writer is not None:
                writer.write_inputs(start, chunk)
                for name, o in outs.items():
                    writer.write_outputs(name, start, o)
            elif save_io:
                baseline_outs.append(base)
            if progress is not None:
                progress(min(start + batch_size, n) if iset.batched else start + 1, n)
        infos = {}
        for st, rt in zip([s for s in statuses if s.available], active):
            st.info, st.seconds, st.setup_seconds = rt.info(), seconds[rt.name], getattr(rt, "setup_seconds", 0.0)
            infos[rt.name] = st.info
        if writer is not None:
            writer.finish(base_rt.name, infos, iset.description, model=model_bytes)
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    if save_io and save_io_format == "onnx" and iset.batched:
        baseline_outs = [{k: np.concatenate([b[k] for b in baseline_outs]) for k in baseline_outs[0]}] if baseline_outs else []
    return pairs, only_in, tops, seconds, baseline_outs


def _keep_top_sample(heap: list[tuple[float, int]], mine: dict[str, np.ndarray], base: dict[str, np.ndarray], common: list[str], sample: int) -> None:
    """For inputs fed as separate samples: keep the samples with the largest error."""
    err = -1.0
    for o in common:
        a, b = np.asarray(mine[o]), np.asarray(base[o])
        if a.shape != b.shape or a.size == 0 or a.dtype.kind not in "fiub" or b.dtype.kind not in "fiub":
            err = max(err, np.inf if a.shape != b.shape else err)
            continue
        with np.errstate(invalid="ignore", over="ignore"):
            d = np.abs(a.astype(np.float64) - b.astype(np.float64))
        err = max(err, float(np.nan_to_num(d, nan=np.inf).max()))
    item = (err, sample)
    if len(heap) < TOP_ROWS:
        heapq.heappush(heap, item)
    elif item > heap[0]:
        heapq.heapreplace(heap, item)


def _keep_top_rows(heap: list[tuple[float, int]], mine: dict[str, np.ndarray], base: dict[str, np.ndarray], common: list[str], start: int, known: dict[str, np.ndarray] | None = None) -> None:
    """Keep the TOP_ROWS rows with the largest error over all float outputs (a min-heap).
    ``known``: |a - b| per output already computed for this chunk (finite outputs only)."""
    row_err = None
    for o in common:
        a, b = np.asarray(mine[o]), np.asarray(base[o])
        if a.dtype.kind != "f" or b.dtype.kind != "f" or a.ndim == 0 or a.shape[0] == 0 or a.shape != b.shape:
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
