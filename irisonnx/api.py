"""``irisonnx.check``: the Python entry point, for a torch module or an ONNX file.

Given an ``nn.Module`` it exports it (:func:`irisonnx.export.export_module.export_module`, the same
checks as ``irisonnx export --module``, to a temporary folder or ``onnx_path``), then runs the
runtimes on the same inputs and compares them through the one comparator
(:func:`irisonnx.compare.runner.run_compare`). Nothing is printed and nothing exits: bad input
raises an :class:`irisonnx.errors.IrisOnnxError` (its ``exit_code`` says which kind), and a
disagreement is ``result.passed == False`` with the figures to say where.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from irisonnx.errors import UsageError

__all__ = ["check", "CheckResult", "prepare_data", "train", "verify", "export", "compare", "predict", "build_edge", "bench", "report", "pipeline", "runtimes", "create_runtime", "load_model", "signature"]


@dataclass
class CheckResult:
    """What :func:`check` found. ``pairs[runtime][output]`` is an
    :class:`irisonnx.compare.stats.OutputStats` (``max_abs``, ``max_rel``, ``max_ulp``, ``n_fail``,
    ``worst``, ``passed``...) of that runtime's output against the baseline's."""

    compare: Any  # irisonnx.compare.runner.CompareResult
    onnx_path: Path | None  # None when a temporary export was removed
    export: Any = None  # irisonnx.export.export_module.ModuleExportResult when a module was exported

    @property
    def passed(self) -> bool:
        return self.compare.passed

    @property
    def baseline(self) -> str:
        return self.compare.baseline

    @property
    def pairs(self) -> dict[str, dict[str, Any]]:
        return {p.runtime: dict(p.outputs) for p in self.compare.pairs}

    @property
    def failing(self) -> list[str]:
        """Runtimes that disagree with the baseline."""
        return [p.runtime for p in self.compare.pairs if not p.passed]

    def to_dict(self) -> dict[str, Any]:
        d = self.compare.to_dict()
        d["onnx_path"] = str(self.onnx_path) if self.onnx_path else None
        if self.export is not None:
            d["export"] = self.export.to_dict()
        return d

    def __bool__(self) -> bool:
        return self.passed

    def __str__(self) -> str:
        c = self.compare
        names = ", ".join(p.runtime for p in c.pairs)
        lines = [f"irisonnx.check: {'PASSED' if self.passed else 'FAILED'}: {names} vs {c.baseline} on {c.inputs}; {c.tolerance.describe()}"]
        for p in c.pairs:
            for s in p.outputs.values():
                head = f"  {p.runtime} {s.output}: {'ok' if s.passed else 'FAIL'}"
                if s.shape_mismatch:
                    lines.append(f"{head}, shape {s.shape_mismatch}")
                    continue
                fig = f"max abs {s.max_abs:.3g}, max rel {s.max_rel:.3g}, max ULP {s.max_ulp:.0f}" if s.dtype.startswith(("float", "bfloat")) else "exact"
                lines.append(f"{head}, {fig}, {s.n_fail}/{s.n_elements} out of tolerance")
                if not s.passed and s.worst:
                    w = s.worst
                    lines.append(f"    worst at {w['index']}: {w['value']!r} vs {w['baseline']!r} ({c.baseline})")
                elif not s.passed and s.mismatches:
                    m = s.mismatches[0]
                    lines.append(f"    first mismatch at {m['index']}: {m['value']!r} vs {m['baseline']!r} ({c.baseline})")
        for loc in c.location:
            first = loc.get("first_divergence")
            if first:
                lines.append(f"  first divergence of {loc['runtime']}: node {first['node']!r} ({first['op_type']})")
        lines.extend(f"  note: {n}" for n in c.notes)
        return "\n".join(lines)

    __repr__ = __str__


def _is_module(obj: Any) -> bool:
    if isinstance(obj, (str, os.PathLike)):
        return False
    import torch

    return isinstance(obj, torch.nn.Module)


def check(
    model: Any,
    inputs: Any,
    runtimes: Sequence[str] | None = None,
    *,
    atol: float = 1e-5,
    rtol: float = 1e-5,
    exact: bool = False,
    max_ulp: int | None = None,
    per_output: dict[str, tuple[float, float]] | None = None,
    baseline: str | None = None,
    module: Any = None,
    onnx_path: str | os.PathLike | None = None,
    exporter: str = "dynamo",
    opset: int | None = None,
    dynamic: Sequence[str] = (),
    static: bool = False,
    output_names: Sequence[str] | None = None,
    locate: bool = False,
) -> CheckResult:
    """Do the runtimes compute the same function as torch (or as each other)?

    ``model``: an ``nn.Module`` (exported first; kept at ``onnx_path`` if given), or an ONNX
    file's path (``module=`` then adds your torch module as the ``torch`` runtime).
    ``inputs``: a dict of arrays by input name, a tuple of arrays or tensors in input order,
    or one array. ``runtimes``: default torch, ort-cpu and reference (without torch for an ONNX
    file given alone); the first is the baseline unless ``baseline``. Tolerance: ``atol``/
    ``rtol`` (``|a - b| <= atol + rtol * |b|``), or ``exact`` (bitwise), or ``max_ulp``;
    integer and bool outputs always exactly.
    """
    from irisonnx.compare.stats import Tolerance
    from irisonnx.compare.runner import run_compare
    from irisonnx.export.export_module import export_module

    if exact and max_ulp is not None:
        raise UsageError("exact and max_ulp exclude each other", "pick one tolerance mode")
    if max_ulp is not None and (not isinstance(max_ulp, int) or max_ulp < 0):
        raise UsageError("bad max_ulp", repr(max_ulp), "use a non-negative integer")
    mode = "exact" if exact else "ulp" if max_ulp is not None else "close"
    tol = Tolerance(mode=mode, atol=atol, rtol=rtol, max_ulp=max_ulp or 0, per_output=dict(per_output or {}))
    if _is_module(model):
        if module is not None:
            raise UsageError("module= is for an ONNX file", "the model given is already a torch module")
        module = model
        tmp = None
        if onnx_path is None:
            tmp = tempfile.TemporaryDirectory(prefix="irisonnx-check-")
            target = Path(tmp.name) / "model.onnx"
        else:
            target = Path(onnx_path)
        try:
            exp = export_module(model, inputs, target, exporter=exporter, opset=opset, dynamic=dynamic, static=static, output_names=output_names, atol=atol, rtol=rtol, parity=False)
            res = _compare(run_compare, target, inputs, runtimes or ("torch", "ort-cpu", "reference"), baseline, module, tol, locate)
        finally:
            if tmp is not None:
                tmp.cleanup()
        return CheckResult(res, None if tmp is not None else target, exp)
    if not isinstance(model, (str, os.PathLike)):
        raise UsageError("irisonnx.check takes a torch.nn.Module or an ONNX file's path", f"got a {type(model).__name__}")
    default = ("torch", "ort-cpu", "reference") if module is not None else ("ort-cpu", "reference")
    res = _compare(run_compare, Path(model), inputs, runtimes or default, baseline, module, tol, locate)
    return CheckResult(res, Path(model))


def _compare(run_compare: Any, target: Path, inputs: Any, runtimes: Sequence[str], baseline: str | None, module: Any, tol: Any, locate: bool) -> Any:
    from irisonnx.export.export_module import example_feeds
    from irisonnx.modelfile.onnx_io import resolve_model

    if isinstance(runtimes, str):
        runtimes = [r for r in runtimes.split(",") if r.strip()]
    if not target.exists():
        raise UsageError("no such model file", str(target))
    names = resolve_model(target, allow_unvalidated=True).signature.input_names
    feeds = example_feeds(inputs, names, "inputs")
    return run_compare(target, runtimes=list(runtimes), baseline=baseline, module=module, feeds=feeds, tolerance=tol, locate=locate)


# --- the rest of the toolkit, one function per stage -----------------------------------------
#
# Thin wrappers over the library modules (no logic of their own beyond turning arguments into
# the modules' types): every call that checks something returns a result with ``.passed``;
# exceptions (irisonnx.errors.IrisOnnxError and subclasses) only for errors. Nothing prints,
# exits or changes process state (RNGs, thread counts, onnxruntime's default logger).

def _tolerance(atol: float, rtol: float, exact: bool, max_ulp: int | None, per_output: dict[str, tuple[float, float]] | None, require_argmax: bool = False) -> Any:
    from irisonnx.compare.stats import Tolerance

    if exact and max_ulp is not None:
        raise UsageError("exact and max_ulp exclude each other", "pick one tolerance mode")
    if max_ulp is not None and (not isinstance(max_ulp, int) or max_ulp < 0):
        raise UsageError("bad max_ulp", repr(max_ulp), "use a non-negative integer")
    mode = "exact" if exact else "ulp" if max_ulp is not None else "close"
    return Tolerance(mode=mode, atol=atol, rtol=rtol, max_ulp=max_ulp or 0, per_output=dict(per_output or {}), require_argmax=require_argmax)


def prepare_data(
    csv: str | os.PathLike | None = None,
    *,
    target: str | None = None,
    name: str | None = None,
    datastore: str | os.PathLike | None = None,
    test_fraction: float = 0.2,
    seed: int = 42,
    force: bool = False,
) -> Any:
    """Validate a CSV (or the bundled Iris when ``csv`` is None) and write the processed
    dataset (``irisonnx data``). Returns an :class:`irisonnx.data.datastore.Dataset` (``features``,
    ``labels``, ``feature_names``, ``class_names``, ``train_idx``/``test_idx``, ``dir``).

    ``target``: the label column (required with ``csv``); ``name``: the dataset's name
    (default: the CSV's stem, or ``iris``); ``datastore``: where ``processed/NAME`` is written
    (default ``./datastore`` or ``$IRISONNX_DATASTORE``). A dataset of that name made from
    another source is not replaced unless ``force``."""
    from irisonnx.data import datastore as data

    if csv is None:
        if target is not None or name is not None:
            raise UsageError("target and name need csv", "without csv the bundled Iris is converted")
        return data.convert_iris(datastore, test_fraction=test_fraction, seed=seed, force=force)
    if not target:
        raise UsageError("csv needs target", "name the label column")
    text = data.read_source_csv(csv)
    return data.convert(text, name=name or Path(csv).stem, target=target, source_name=Path(csv).name, datastore=datastore, test_fraction=test_fraction, seed=seed, force=force)


def train(
    data: Any = "iris",
    run_dir: str | os.PathLike | None = None,
    *,
    hidden: Sequence[int] = (16,),
    activation: str = "relu",
    epochs: int = 100,
    batch_size: int = 16,
    lr: float = 0.01,
    optimizer: str = "adam",
    weight_decay: float = 0.0,
    seed: int = 0,
    checkpoint_every: int = 5,
    resume: bool = True,
    datastore: str | os.PathLike | None = None,
    on_epoch: Any = None,
) -> Any:
    """Train (or resume) an MLP classifier (``irisonnx train``; needs the ``[train]`` extra).

    ``data``: a :class:`irisonnx.data.datastore.Dataset` (from :func:`prepare_data`), or a processed
    dataset's name or folder (``"iris"`` is prepared on first use). ``run_dir`` (default
    ``artifacts/runs/NAME``) gets the weights, checkpoints and metrics; a stopped run resumes
    bit-identically. ``on_epoch(row)`` is called after every epoch with that epoch's metrics.
    Returns an :class:`irisonnx.training.train.TrainResult` (``run_dir``, ``metrics``, ``final``).
    The global torch/numpy/python RNG states and torch's thread count are as they were."""
    from irisonnx.config import ModelConfig, TrainConfig
    from irisonnx.data.datastore import Dataset, load_dataset
    from irisonnx.training.train import default_run_dir, train as _train

    ds = data if isinstance(data, Dataset) else load_dataset(data, datastore)
    mc = ModelConfig(n_features=ds.meta["n_features"], n_classes=ds.meta["n_classes"], hidden=tuple(hidden), activation=activation)
    tc = TrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, optimizer=optimizer, weight_decay=weight_decay, seed=seed, checkpoint_every=checkpoint_every)
    return _train(ds, mc, tc, run_dir if run_dir is not None else default_run_dir(ds.name), resume=resume, on_epoch=on_epoch)


def verify(run_dir: str | os.PathLike) -> Any:
    """Reload a run's newest checkpoint and final weights and check they agree bitwise
    (``irisonnx verify``). Returns an :class:`irisonnx.training.verify.VerifyResult` with ``.passed``."""
    from irisonnx.training.verify import verify_run

    return verify_run(run_dir)


def export(
    model: Any,
    out: str | os.PathLike | None = None,
    *,
    inputs: Any = None,
    exporter: str = "dynamo",
    opset: int | None = None,
    with_probabilities: bool = False,
    with_label: bool = False,
    dynamic: Sequence[str] = (),
    static: bool = False,
    output_names: Sequence[str] | None = None,
    atol: float = 1e-5,
    rtol: float = 1e-5,
) -> Any:
    """Export to ONNX, check the file and prove parity with torch (``irisonnx export``).

    ``model``: a run folder (its final weights; ``out`` defaults to ``RUN/model.onnx``, and
    ``with_probabilities``/``with_label`` add those outputs), or a ``torch.nn.Module`` with
    example ``inputs`` (arrays, see :func:`check`; ``out`` required; ``dynamic``, ``static``,
    ``output_names`` as for ``export --module``). Returns the export result; a parity
    failure is ``result.passed == False`` (the file is kept, marked not validated), not an
    exception. Needs the ``[train]`` extra."""
    from irisonnx.errors import CheckFailed

    try:
        if isinstance(model, (str, os.PathLike)):
            if inputs is not None or dynamic or static or output_names:
                raise UsageError("inputs, dynamic, static and output_names are for a torch module", "a run folder's model has its own signature")
            from irisonnx.export.export import DEFAULT_OPSET, export_run

            return export_run(model, out, exporter=exporter, opset=opset if opset is not None else DEFAULT_OPSET, with_probabilities=with_probabilities, with_label=with_label, atol=atol, rtol=rtol)
        if out is None or inputs is None:
            raise UsageError("exporting a torch module needs out and inputs", "out: the .onnx path; inputs: example arrays")
        from irisonnx.export.export_module import export_module

        return export_module(model, inputs, out, exporter=exporter, opset=opset, dynamic=dynamic, static=static, output_names=output_names, atol=atol, rtol=rtol)
    except CheckFailed as exc:
        result = getattr(exc, "result", None)
        if result is None:
            raise
        return result


def compare(
    model: str | os.PathLike,
    inputs: Any = None,
    runtimes: Sequence[Any] | None = None,
    *,
    baseline: Any = None,
    module: Any = None,
    atol: float = 1e-5,
    rtol: float = 1e-5,
    exact: bool = False,
    max_ulp: int | None = None,
    per_output: dict[str, tuple[float, float]] | None = None,
    require_argmax: bool = False,
    seed: int = 0,
    dims: dict[str, int] | None = None,
    input_ranges: dict[str, tuple[float, float]] | None = None,
    save_io: str | os.PathLike | None = None,
    load_io: str | os.PathLike | None = None,
    locate: bool = False,
    record: bool = False,
) -> Any:
    """Run several runtimes on the same inputs and compare their outputs (``irisonnx compare``).

    ``model``: a run folder or an ONNX file. ``inputs``: a dict of arrays by input name (or
    a tuple in input order, or one array), or a spec string as on the command line
    (``test``, ``all``, ``random:N``, a ``.npz``/``.npy``/``.json`` file); default the
    test split of a run, else random rows. ``runtimes``: spec strings (``"ort-cpu"``,
    ``"ort-cpu:O0"``, ``"reference"``, ``"torch"``...) and/or :class:`Runtime` objects
    (:func:`create_runtime`, or your own subclass); the first is the baseline unless
    ``baseline``. Tolerance as in :func:`check`. ``record``: for a run folder, also write
    ``RUN/compare.json`` for :func:`report`. Returns an
    :class:`irisonnx.compare.runner.CompareResult` with ``.passed`` (all pairs within tolerance)."""
    from irisonnx.compare.runner import run_compare

    tol = _tolerance(atol, rtol, exact, max_ulp, per_output, require_argmax)
    if isinstance(runtimes, str):
        runtimes = [r for r in runtimes.split(",") if r.strip()]
    spec = inputs if isinstance(inputs, str) or inputs is None else None
    feeds = None
    if spec is None and inputs is not None:
        from irisonnx.export.export_module import example_feeds
        from irisonnx.training.run import resolve_target

        _, info = resolve_target(model)
        if info is None:
            raise UsageError("arrays need the run's model.onnx", f"{model} has none", f"export it first: irisonnx export {model}")
        feeds = example_feeds(inputs, info.signature.input_names, "inputs")

    def go() -> Any:
        return run_compare(model, runtimes=list(runtimes) if runtimes is not None else None, baseline=baseline, module=module, inputs=spec, feeds=feeds, seed=seed, tolerance=tol, dims=dims, input_ranges=input_ranges, save_io=save_io, load_io=load_io, locate=locate)

    if not record:
        return go()
    return _recorded(model, "compare.json", go)


def _recorded(target: Any, name: str, fn: Any) -> Any:
    """Run ``fn`` under the run's lock and write its result as ``RUN/name``, listed in the
    run's manifest with the weights it was made from (as ``irisonnx pipeline`` does)."""
    from irisonnx.guard import is_run_folder
    from irisonnx.pipeline.stages import _record
    from irisonnx.runlock import run_lock

    if not is_run_folder(Path(target)):
        raise UsageError("record needs a run folder", str(target))
    with run_lock(target):
        res = fn()
        _record(Path(target), name, res.to_dict())
    return res


def predict(model: Any, x: Any, *, provider: str = "cpu", threads: int | None = None) -> Any:
    """Run a model with onnxruntime (``irisonnx predict``).

    ``model``: a run folder, an ONNX file, or a :class:`Predictor` (reused: no new session).
    ``x``: for an irisonnx classifier, a float32 ``(rows, n_features)`` array: returns
    ``(labels, probabilities)`` (class indices, per-class probabilities; names in
    ``Predictor.class_names``). For any other model a dict of arrays by input name: returns
    every output by name."""
    from irisonnx.runtimes.ort_engine import Predictor as _Predictor

    p = model if isinstance(model, _Predictor) else _Predictor(model, provider=provider, threads=threads)
    if p.generic or isinstance(x, dict):
        from irisonnx.modelfile.signature import check_feeds

        if not isinstance(x, dict):
            raise UsageError("this model takes its inputs by name", "pass a dict of arrays by input name")
        return p.run_feeds(check_feeds(p.info.signature, x, "inputs"))
    return p.predict(x)


def build_edge(
    model: str | os.PathLike,
    out: str | os.PathLike | None = None,
    variants: str | Sequence[str] | None = None,
    *,
    for_web: bool = False,
    ort_format: bool = False,
    calibration: str | os.PathLike | None = None,
    dims: dict[str, int] | None = None,
    input_ranges: dict[str, tuple[float, float]] | None = None,
    n_random: int = 1000,
    seed: int = 0,
    threads: int | None = 1,
    bench_rounds: int = 15,
    bench_reps: int = 200,
    bench_rows: int = 65536,
) -> Any:
    """Make, gate and time deployment variants (fp32, optimised, fp16, int8...) of a run or an
    ONNX file and write the bundle to ``out`` (default ``RUN/edge``) when every variant passes
    its gate (``irisonnx edge``). Returns an :class:`irisonnx.edge.build.EdgeResult` with ``.passed``
    and ``.written``; ``variants`` as ``edge --variants`` (a comma list or a sequence)."""
    from irisonnx.edge.build import build_edge as _build_edge, parse_variants

    vs = parse_variants(list(variants) if variants is not None and not isinstance(variants, str) else variants)
    return _build_edge(model, out, vs, for_web=for_web, ort_format=ort_format, calibration=calibration, dims=dims, input_ranges=input_ranges, n_random=n_random, seed=seed, threads=threads, bench_rounds=bench_rounds, bench_reps=bench_reps, bench_rows=bench_rows)


def bench(
    model: str | os.PathLike,
    runtimes: Sequence[str] | None = None,
    *,
    variants: Sequence[str] | None = None,
    quick: bool = False,
    batch_sizes: Sequence[int] | None = None,
    repeats: int | None = None,
    threads: int | None = None,
    seed: int = 0,
    dims: dict[str, int] | None = None,
    input_ranges: dict[str, tuple[float, float]] | None = None,
    record: bool = False,
) -> Any:
    """Time runtimes on a run or an ONNX file: latency percentiles, throughput per batch size
    (``irisonnx bench``). ``quick``: a few seconds in all. ``record``: for a run folder, also
    write ``RUN/bench.json`` for :func:`report`. Returns an :class:`irisonnx.bench.BenchResult`
    (a measurement: nothing passes or fails)."""
    from irisonnx.bench import BenchSettings, run_bench

    s = BenchSettings.make(quick=quick, batch_sizes=tuple(batch_sizes) if batch_sizes else None, repeats=repeats, threads=threads, seed=seed, dims=dims, input_ranges=input_ranges)

    def go() -> Any:
        return run_bench(model, runtimes=list(runtimes) if runtimes else None, variants=list(variants) if variants else None, settings=s)

    return _recorded(model, "bench.json", go) if record else go()


def report(run_dir: str | os.PathLike, out: str | os.PathLike | None = None) -> Any:
    """Write the run's HTML report (``irisonnx report``; plots need the ``[report]`` extra).
    Returns an :class:`irisonnx.report.report.ReportResult` (``path``, ``missing``: sections with no data)."""
    from irisonnx.report.report import build_report

    return build_report(run_dir, out)


def pipeline(
    csv: str | os.PathLike | None = None,
    *,
    target: str | None = None,
    name: str | None = None,
    run_dir: str | os.PathLike | None = None,
    hidden: Sequence[int] = (16,),
    epochs: int = 100,
    seed: int = 0,
    exporter: str = "dynamo",
    web: bool | None = None,
    bench: bool = True,
    force: bool = False,
    on_event: Any = None,
) -> Any:
    """Every stage, data to report, skipping those already up to date (``irisonnx pipeline``).
    Returns an :class:`irisonnx.pipeline.runner.PipelineResult` (``stages``, ``report``); a stage
    whose check fails raises :class:`irisonnx.errors.CheckFailed` naming the stage (its
    results stay on disk for :func:`report`). ``on_event(stage, message)`` follows progress."""
    from irisonnx.pipeline.runner import PipelineConfig, run_pipeline

    cfg = PipelineConfig(name=name, csv=None if csv is None else os.fspath(csv), target=target, run=None if run_dir is None else os.fspath(run_dir), hidden=tuple(hidden), epochs=epochs, seed=seed, exporter=exporter, web=web, bench=bench, force=force)
    return run_pipeline(cfg, on_event)


def runtimes() -> list[str]:
    """The names of the registered runtimes (specs may add an option: ``ort-cpu:O0``)."""
    from irisonnx.runtimes import REGISTRY

    return list(REGISTRY)


def create_runtime(spec: str, model: str | os.PathLike | None = None, *, module: Any = None, threads: int | None = None) -> Any:
    """A :class:`Runtime` for ``spec`` (``"ort-cpu"``, ``"ort-cpu:O0"``, ``"reference"``,
    ``"torch"``...) on ``model`` (a run folder or an ONNX file); ``module``: a torch module
    (``nn.Module`` or ``FILE.py:FACTORY``) for the ``torch`` runtime. Pass it to
    :func:`compare`, or call ``rt.run({name: array})`` for outputs by name (``rt.is_available()``
    says whether it can run here; ``rt.deactivate()`` frees it)."""
    from irisonnx.runtimes import RuntimeContext, create

    ctx = RuntimeContext(threads=threads)
    if model is not None:
        from irisonnx.training.run import resolve_target

        run, info = resolve_target(model)
        ctx.run, ctx.model_info = run, info
        ctx.model_path = info.path if info is not None else None
        if info is not None:
            ctx.output_names = info.output_names
    if module is not None:
        from irisonnx.training.module import parse_module_spec

        ctx.module = parse_module_spec(module)
    return create(spec, ctx)


def load_model(path: str | os.PathLike) -> Any:
    """Load and check an ONNX file (or a run's model.onnx) the way every command does: size
    limits, external data inside its folder, checker, custom domains. Returns an
    :class:`irisonnx.modelfile.onnx_io.ModelInfo` (``signature``, ``metadata``, ``sha256``, ``proto``)."""
    from irisonnx.modelfile.onnx_io import resolve_model

    return resolve_model(path, allow_unvalidated=True)


def signature(model: Any) -> Any:
    """The inputs and outputs (names, dtypes, shapes) of an ONNX file, a run, a loaded model
    or a :class:`Predictor`: an :class:`irisonnx.modelfile.signature.Signature`."""
    if hasattr(model, "signature") and not isinstance(model, (str, os.PathLike)):
        return model.signature
    if hasattr(model, "info") and hasattr(model.info, "signature"):
        return model.info.signature
    return load_model(model).signature
