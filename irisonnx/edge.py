"""Edge deployment: variants of an exported model, each gated on parity, in a bundle.

``build_edge(RUN)`` makes the requested variants (:mod:`irisonnx.edge_variants`), checks
each against the fp32 model (:mod:`irisonnx.edge_eval`), times them side by side, and, only
when every requested variant passed its gate, writes the bundle::

    RUN/edge/model.<variant>.onnx    the variants (and model.<variant>.ort with ort_format)
    RUN/edge/required_operators.config   for a minimal onnxruntime build (ort_format)
    RUN/edge/labels.json             class and feature names, units, input/output names
    RUN/edge/manifest.json           sha256 and bytes of every file; each variant's gate figures
    RUN/edge/predict.py              standalone: needs only onnxruntime and numpy

All or nothing: the bundle is built in a temp folder beside the target and swapped in
with one atomic rename (``renameat2(RENAME_EXCHANGE)`` on Linux); a failed gate, an error
or a kill leaves the previous bundle as it was. The figures of a failing variant are still
returned, so the caller can show by how much it missed.
"""

from __future__ import annotations

import os
import platform
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from irisonnx.edge_eval import Check, Gates
from irisonnx.edge_variants import CALIBRATION_METHODS, INT8_WEIGHTS, OPT_LEVEL, VARIANTS, QuantOptions, variant_file
from irisonnx.errors import ArtifactError, UsageError
from irisonnx.storage import MANIFEST_NAME, TEMP_MARK, dumps_json, fsync_dir, read_json, sha256_file

__all__ = ["EDGE_FORMAT", "VARIANTS", "CALIBRATION_METHODS", "INT8_WEIGHTS", "OPT_LEVEL", "Gates", "QuantOptions", "Check", "VariantResult", "EdgeResult", "build_edge", "parse_variants"]

EDGE_FORMAT = "irisonnx-edge/1"
LABELS_NAME = "labels.json"
PREDICT_NAME = "predict.py"
_PREDICT_SOURCE = Path(__file__).with_name("edge_predict.py")


@dataclass
class VariantResult:
    variant: str
    file: str
    bytes: int
    sha256: str
    ops: dict[str, int]  # op type (domain::type outside the ONNX domain) -> count
    weight_bytes: int  # bytes of the initializers (the rest of the file is graph and metadata)
    settings: dict[str, Any]
    gate: str
    checks: list[Check] = field(default_factory=list)
    figures: list[Any] = field(default_factory=list)  # edge_eval.Figures
    summary: dict[str, Any] = field(default_factory=dict)
    batch_max_abs_diff: float = 0.0  # outputs all-at-once vs one row per call
    latency_us: float | None = None  # median, on the clock named in EdgeResult.bench
    throughput_rows_s: float | None = None
    timing: dict[str, Any] = field(default_factory=dict)  # both clocks
    ort: dict[str, Any] | None = None  # the ORT-format twin: file, sha256, bytes, bitwise_equal
    notes: list[str] = field(default_factory=list)

    @property
    def n_ops(self) -> int:
        return sum(self.ops.values())

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    @property
    def failed_checks(self) -> list[Check]:
        return [c for c in self.checks if not c.passed]

    def to_dict(self) -> dict[str, Any]:
        return {
            "variant": self.variant,
            "file": self.file,
            "bytes": self.bytes,
            "sha256": self.sha256,
            "n_ops": self.n_ops,
            "ops": self.ops,
            "weight_bytes": self.weight_bytes,
            "settings": self.settings,
            "gate": self.gate,
            "passed": self.passed,
            "checks": [c.to_dict() for c in self.checks],
            "summary": self.summary,
            "figures": [f.to_dict() for f in self.figures],
            "batch_invariant": self.batch_max_abs_diff == 0.0,
            "batch_max_abs_diff": self.batch_max_abs_diff if np.isfinite(self.batch_max_abs_diff) else repr(self.batch_max_abs_diff),
            "batch1_latency_us": self.latency_us,
            "throughput_rows_s": self.throughput_rows_s,
            "timing": self.timing,
            "ort": self.ort,
            "notes": self.notes,
        }


@dataclass
class EdgeResult:
    source: str
    source_sha256: str
    dataset: str
    out: str
    variants: list[VariantResult]
    gates: Gates
    quant: QuantOptions
    inputs: dict[str, Any]
    validated_with: dict[str, Any]
    bench: dict[str, Any]
    ort_format: bool
    written: bool = False
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return all(v.passed for v in self.variants)

    @property
    def failed(self) -> list[VariantResult]:
        return [v for v in self.variants if not v.passed]

    def variant(self, name: str) -> VariantResult:
        for v in self.variants:
            if v.variant == name:
                return v
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "source_sha256": self.source_sha256,
            "dataset": self.dataset,
            "out": self.out,
            "written": self.written,
            "passed": self.passed,
            "gates": self.gates.to_dict(),
            "quantization": self.quant.to_dict(),
            "inputs": self.inputs,
            "validated_with": self.validated_with,
            "bench": self.bench,
            "ort_format": self.ort_format,
            "variants": [v.to_dict() for v in self.variants],
            "files": self.files,
            "notes": self.notes,
            "seconds": round(self.seconds, 3),
        }


def parse_variants(spec: str | list[str] | tuple[str, ...] | None) -> list[str]:
    """``"fp32,int8-static"`` (or a list) -> the variants in canonical order; UsageError if unknown."""
    if spec is None:
        return list(VARIANTS)
    names = [s.strip() for s in (spec.split(",") if isinstance(spec, str) else spec) if s.strip()]
    if not names:
        raise UsageError("no variants given", f"choose from {', '.join(VARIANTS)}")
    bad = [n for n in names if n not in VARIANTS]
    if bad:
        raise UsageError(f"unknown variant {bad[0]!r}", f"choose from {', '.join(VARIANTS)}")
    if len(set(names)) != len(names):
        raise UsageError("a variant is listed twice", ", ".join(names))
    return [v for v in VARIANTS if v in names]


# --- the source model and its data ----------------------------------------------------------


def _source(target: str | os.PathLike, data: str | os.PathLike | None) -> tuple[Any, Any, Path]:
    """(checked ModelInfo, Dataset, default output folder) for a run folder or an .onnx file."""
    from irisonnx.data import load_dataset
    from irisonnx.onnx_io import resolve_model
    from irisonnx.run import Run, is_run_dir

    p = Path(target)
    if not p.exists():
        raise UsageError("no such run folder or model file", str(p))
    run_dir = p if is_run_dir(p) else (p.parent if p.name == "model.onnx" and is_run_dir(p.parent) else None)
    info = resolve_model(p)  # a run's model is checked against its manifest; unvalidated ones refused
    if info.has_external_data:
        raise UsageError("edge needs a self-contained model", f"{info.path} keeps its weights in external data files", "export it as one file (irisonnx export does)")
    if data is not None:
        ds = load_dataset(data)
    elif run_dir is not None:
        ds = Run.open(run_dir).dataset()
    elif info.metadata.get("dataset"):
        ds = load_dataset(info.metadata["dataset"])
    else:
        raise UsageError("no dataset for the parity gates", f"{p} names none in its metadata", "pass --data NAME|DIR (the test split gates accuracy, the training split calibrates int8-static)")
    _check_fits(info, ds)
    out = (run_dir if run_dir is not None else p.parent) / "edge"
    return info, ds, out


def _check_fits(info: Any, ds: Any) -> None:
    where = f"{info.path} vs dataset {ds.dir}"
    if ds.features.shape[1] != info.n_features or len(ds.class_names) != info.n_classes:
        raise UsageError("the dataset does not fit the model", f"{where}: {ds.features.shape[1]} features, {len(ds.class_names)} classes; the model takes {info.n_features} and gives {info.n_classes}")
    if info.has_irisonnx_metadata and (info.feature_names != ds.feature_names or info.class_names != ds.class_names):
        raise UsageError("the dataset does not fit the model", f"{where}: features/classes {ds.feature_names}/{ds.class_names} vs the model's {info.feature_names}/{info.class_names}")
    claimed = info.metadata.get("data_sha256")
    if claimed and claimed != ds.sha256:
        raise UsageError(
            "the model was trained on other data",
            f"{where}: the model's data_sha256 {claimed[:12]}… differs from the dataset's {ds.sha256[:12]}…",
            "its test split could hold training rows; pass the dataset the model was trained on with --data",
        )


# --- the bundle folder -----------------------------------------------------------------------


def _is_bundle(folder: Path) -> bool:
    try:
        m = read_json(folder / MANIFEST_NAME, "manifest")
    except Exception:  # missing or unreadable: not one of ours
        return False
    return isinstance(m, dict) and m.get("format") == EDGE_FORMAT


def _check_out(out: Path, source: Path) -> None:
    if out.exists() and not out.is_dir():
        raise UsageError("--out exists and is not a folder", str(out))
    if source.resolve().is_relative_to(out.resolve()):
        raise UsageError("--out holds the source model", f"{out} contains {source}", "write the bundle to another folder")
    if out.is_dir() and any(out.iterdir()) and not _is_bundle(out):
        raise UsageError("refusing to replace a folder that is not an irisonnx edge bundle", str(out), "choose another --out, or empty it")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _clean_stale(out: Path) -> None:
    """Remove temp folders that a killed build left beside ``out``; put back a bundle that a
    kill between the two renames of the non-atomic fallback left aside."""
    import shutil

    if not out.parent.is_dir():
        return
    for p in out.parent.glob(f"{TEMP_MARK}*"):
        parts = p.name[len(TEMP_MARK) :].split("-", 2)  # pid, token, name (see build_edge)
        if len(parts) != 3 or not parts[0].isdigit() or parts[2] not in (out.name, f"{out.name}.old"):
            continue
        if not p.is_dir() or _pid_alive(int(parts[0])):
            continue
        if parts[2].endswith(".old") and not out.exists():
            os.rename(p, out)
        else:
            shutil.rmtree(p, ignore_errors=True)


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths (Linux renameat2 RENAME_EXCHANGE). False where unsupported."""
    import ctypes
    import errno

    if not hasattr(os, "uname") or os.uname().sysname != "Linux":
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    at_fdcwd, rename_exchange = -100, 2
    if fn(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EPERM, errno.ENOTSUP):
        return False
    raise OSError(err, os.strerror(err), os.fspath(b))


def _commit(staging: Path, out: Path) -> None:
    """Put the finished ``staging`` folder at ``out``, replacing a previous bundle."""
    import shutil

    for p in staging.iterdir():
        fd = os.open(p, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    fsync_dir(staging)
    if not out.exists():
        os.rename(staging, out)
    elif _exchange(staging, out):
        shutil.rmtree(staging)  # now the previous bundle
    else:
        old = out.parent / f"{staging.name}.old"
        os.rename(out, old)
        os.rename(staging, out)
        shutil.rmtree(old)
    fsync_dir(out.parent)


# --- build -----------------------------------------------------------------------------------


def _ops(proto: Any) -> tuple[dict[str, int], int]:
    ops: Counter[str] = Counter()
    for n in proto.graph.node:
        ops[n.op_type if n.domain in ("", "ai.onnx") else f"{n.domain}::{n.op_type}"] += 1
    from onnx import numpy_helper

    weight_bytes = sum(numpy_helper.to_array(t).nbytes for t in proto.graph.initializer)
    return dict(sorted(ops.items(), key=lambda kv: (-kv[1], kv[0]))), weight_bytes


def _settings(variant: str, quant: QuantOptions) -> dict[str, Any]:
    if variant == "fp32-opt":
        return {"tool": "onnxruntime SessionOptions.optimized_model_filepath", "graph_optimization_level": f"ORT_ENABLE_{OPT_LEVEL.upper()}"}
    if variant == "int8-dynamic":
        return {"tool": "onnxruntime.quantization quant_pre_process + quantize_dynamic", "activations": "uint8, scale per call", "weights": quant.int8_weights, "per_channel": quant.per_channel, "reduce_range": quant.reduce_range}
    if variant == "int8-static":
        return {"tool": "onnxruntime.quantization quant_pre_process + quantize_static", "format": "QDQ", "activations": quant.int8_weights, "weights": quant.int8_weights, "per_channel": quant.per_channel, "reduce_range": quant.reduce_range, "calibration_method": quant.calibration_method, "calibration": "training split"}
    if variant == "fp16":
        return {"tool": "onnxruntime.transformers.float16.convert_float_to_float16", "keep_io_types": True, "io": "float32"}
    return {"tool": "irisonnx export (unchanged)"}


def _variant_notes(v: VariantResult, base: VariantResult | None, n_random: int, clamped: int) -> list[str]:
    notes = []
    if base is not None and v.variant != base.variant:
        if v.bytes > base.bytes:
            notes.append(f"{v.bytes / base.bytes:.2f}x the bytes of fp32 ({v.bytes:,} vs {base.bytes:,})")
        slower = []
        if v.latency_us and base.latency_us and v.latency_us > base.latency_us * 1.10:
            slower.append(f"{v.latency_us / base.latency_us:.2f}x the batch-1 time")
        if v.throughput_rows_s and base.throughput_rows_s and v.throughput_rows_s < base.throughput_rows_s * 0.90:
            slower.append(f"{v.throughput_rows_s / base.throughput_rows_s:.2f}x the throughput")
        if slower:
            notes.append(f"slower than fp32 here: {' and '.join(slower)}")
    if v.batch_max_abs_diff > 0:
        notes.append(f"results depend on the other rows in a call: all-at-once vs one-row-per-call outputs differ by up to {v.batch_max_abs_diff:.3g}" + (" (activation scale is computed per call)" if v.variant == "int8-dynamic" else ""))
    if v.variant == "fp16":
        notes.append("onnxruntime's CPU provider here runs the fp16 graph in float32 with float16 weights; the 'reference' row is true float16 arithmetic, as a device with fp16 kernels computes it")
        ref_bad = max((f.nonfinite for f in v.figures if f.runtime == "reference" and f.split == "random"), default=0)
        if ref_bad:
            notes.append(f"float16 overflows beyond ±65504: {ref_bad} values non-finite on the {n_random} random rows (which probe up to ±1e6)")
        if clamped:
            notes.append(f"{clamped} weights outside float16's range were clamped")
    if v.variant == "int8-static":
        rnd = [f for f in v.figures if f.split == "random"]
        if rnd and min(f.agreement for f in rnd) < 1.0:
            notes.append("inputs beyond the calibrated range saturate; random rows far outside the training range disagree more")
    if v.variant == "fp32-opt":
        custom = sorted({k.split("::")[0] for k in v.ops if "::" in k})
        if custom:
            notes.append(f"uses {', '.join(custom)} ops (contrib ops: every standard onnxruntime build has them)")
    return notes


def build_edge(
    target: str | os.PathLike,
    out: str | os.PathLike | None = None,
    variants: str | list[str] | tuple[str, ...] | None = None,
    *,
    ort_format: bool = False,
    gates: Gates = Gates(),
    quant: QuantOptions = QuantOptions(),
    data: str | os.PathLike | None = None,
    calibration_rows: np.ndarray | None = None,
    n_random: int = 1000,
    seed: int = 0,
    threads: int | None = 1,
    bench_rounds: int = 15,
    bench_reps: int = 200,
    bench_rows: int = 65536,
    before_commit: Callable[[Path], Any] | None = None,
) -> EdgeResult:
    """Make, gate and time the variants of ``target`` (a run folder or an .onnx file); write
    the bundle to ``out`` (default RUN/edge) only if every variant passes its gate.

    ``calibration_rows`` replaces the training split for int8-static calibration (tests use
    it to sabotage calibration). ``bench_rounds=0`` skips timing. ``before_commit(folder)``
    adds to the finished bundle before it replaces the previous one (``edge --web`` builds and
    tries its page there): if it raises, nothing is replaced. Returns the figures of every
    variant whether or not the bundle was written (``result.written``).
    """
    import onnxruntime as ort

    from irisonnx.edge_eval import Evaluator, bench, gate_checks, summarise
    from irisonnx.edge_variants import fp16_clamped, make_variant, remove_tree
    from irisonnx.inputs import random_rows
    from irisonnx.onnx_io import load_model_safely
    from irisonnx.predictor import Predictor
    from irisonnx.runtimes import RuntimeContext, create

    t0 = time.perf_counter()
    names = parse_variants(variants)
    if n_random < 1:
        raise UsageError("bad number of random rows", str(n_random), "use a positive integer")
    if bench_rounds < 0 or bench_reps < 1 or bench_rows < 1:
        raise UsageError("bad benchmark settings", f"rounds {bench_rounds}, reps {bench_reps}, rows {bench_rows}")
    info, ds, default_out = _source(target, data)
    out_dir = Path(out) if out is not None else default_out
    _check_out(out_dir, info.path)

    x_test, y_test = ds.features[ds.test_idx], ds.labels[ds.test_idx]
    lo, hi = ds.meta["stats"]["min"], ds.meta["stats"]["max"]
    x_random = random_rows(n_random, lo, hi, seed)
    calibration = ds.features[ds.train_idx] if calibration_rows is None else np.asarray(calibration_rows, dtype=np.float32)

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    _clean_stale(out_dir)
    staging = out_dir.parent / f"{TEMP_MARK}{os.getpid()}-{os.urandom(4).hex()}-{out_dir.name}"
    staging.mkdir()
    result = EdgeResult(
        source=str(info.path),
        source_sha256=info.sha256,
        dataset=ds.name,
        out=str(out_dir),
        variants=[],
        gates=gates,
        quant=quant,
        inputs={"test_rows": int(len(x_test)), "random_rows": int(n_random), "seed": seed, "calibration_rows": int(len(calibration)), "batch_modes": ["all", "batch-1"]},
        validated_with={"onnxruntime": ort.__version__, "provider": "CPUExecutionProvider", "machine": platform.machine(), "system": platform.system(), "threads": threads},
        bench={"rounds": bench_rounds, "reps": bench_reps, "rows": bench_rows, "threads": threads},
        ort_format=ort_format,
    )
    try:
        infos: dict[str, Any] = {}
        with tempfile.TemporaryDirectory(prefix="irisonnx-edge-") as work:
            for v in names:
                data_v = make_variant(v, info, Path(work), quant, calibration)
                path = staging / variant_file(v)
                path.write_bytes(data_v)
                infos[v] = load_model_safely(path)  # checker + signature: a tool's broken output is exit 3 here
        predictors = {v: Predictor(infos[v], threads=threads) for v in names}
        baseline = predictors.get("fp32") or Predictor(info, threads=threads)
        evaluator = Evaluator(baseline, x_test, y_test, x_random)
        for v in names:
            vi = infos[v]
            ops, wbytes = _ops(vi.proto)
            res = VariantResult(v, variant_file(v), vi.size, vi.sha256, ops, wbytes, _settings(v, quant), gates.describe(v))
            reference = None
            if v == "fp16":
                reference = create("reference", RuntimeContext(model_path=vi.path, model_info=vi, output_names=vi.output_names))
            res.figures, res.batch_max_abs_diff = evaluator.evaluate(predictors[v], reference)
            res.checks = gate_checks(v, res.figures, gates)
            if v == "fp32":
                res.checks.append(Check("same bytes as the exported model (sha256)", float(vi.sha256 == info.sha256), 1.0, ">=", "flag"))
            res.summary = summarise(res.figures)
            result.variants.append(res)
        if bench_rounds:
            timing = bench(predictors, info.n_features, lo, hi, rows=bench_rows, rounds=bench_rounds, reps=bench_reps, seed=seed, cpu_clock=threads == 1)
            for res in result.variants:
                res.timing = timing[res.variant]
                res.latency_us = res.timing["batch1_latency_us"]
                res.throughput_rows_s = res.timing["throughput_rows_s"]
            result.bench["clock"] = timing[names[0]]["clock"]
        base = next((r for r in result.variants if r.variant == "fp32"), None)
        for res in result.variants:
            res.notes = _variant_notes(res, base, n_random, fp16_clamped(info.proto) if res.variant == "fp16" else 0)

        if result.passed and ort_format:
            _ort_twins(result, staging, predictors, [x_test, x_random], threads)
        if result.passed:
            _write_bundle_files(result, staging, info, ds, names)
            if before_commit is not None:
                before_commit(staging)
            _commit(staging, out_dir)
            result.written = True
        else:
            result.notes.append(f"bundle not written: {', '.join(r.variant for r in result.failed)} failed {'its' if len(result.failed) == 1 else 'their'} gate" + ("; the previous bundle is untouched" if out_dir.exists() else ""))
    finally:
        if staging.exists():
            remove_tree(staging)
    result.seconds = time.perf_counter() - t0
    return result


def _ort_twins(result: EdgeResult, staging: Path, predictors: dict[str, Any], xs: list[np.ndarray], threads: int | None) -> None:
    """Convert every variant to ORT format and require bit-identical outputs to its .onnx twin."""
    from irisonnx.edge_eval import ort_format_session as session
    from irisonnx.edge_eval import twin_matches as matches
    from irisonnx.edge_variants import convert_to_ort

    convert_to_ort(staging)
    for res in result.variants:
        p = staging / variant_file(res.variant, "ort")
        if not p.is_file():
            raise ArtifactError("ORT format conversion skipped a model", res.file)
        data = p.read_bytes()
        equal, rows = matches(session(data, threads), predictors[res.variant], xs)
        res.ort = {"file": p.name, "sha256": sha256_file(p), "bytes": len(data), "bitwise_equal": equal, "rows_checked": rows}
        res.checks.append(Check("ORT-format twin bitwise equal to the .onnx", float(equal), 1.0, ">=", "flag", f"{rows} rows, all-at-once and one per call"))


def _labels(info: Any, ds: Any) -> dict[str, Any]:
    return {
        "format": "irisonnx-edge-labels/1",
        "dataset": ds.name,
        "class_names": info.class_names,
        "feature_names": info.feature_names,
        "feature_units": info.feature_units or dict(ds.meta.get("feature_units", {})),
        "n_features": info.n_features,
        "n_classes": info.n_classes,
        "input": info.input.to_dict(),
        "outputs": [o.to_dict() for o in info.outputs],
        "logits": info.logits_name,
        "probabilities": info.probabilities_name,
        "label": info.label_name,
        "note": "input rows are raw feature values in feature_names order (standardisation is inside the model); "
        + ("probabilities come from the model" if info.probabilities_name else "probabilities are softmax(logits), computed by the caller (predict.py does it in float64)"),
    }


def _write_bundle_files(result: EdgeResult, staging: Path, info: Any, ds: Any, names: list[str]) -> None:
    (staging / LABELS_NAME).write_text(dumps_json(_labels(info, ds)), encoding="utf-8")
    (staging / PREDICT_NAME).write_bytes(_PREDICT_SOURCE.read_bytes())
    files: dict[str, dict[str, Any]] = {}
    for p in sorted(staging.iterdir()):
        size = p.stat().st_size
        entry: dict[str, Any] = {"sha256": sha256_file(p), "bytes": size, "size": size}  # "size" as in a run's manifest
        for res in result.variants:
            if p.name == res.file or (res.ort and p.name == res.ort["file"]):
                entry.update(variant=res.variant, format=p.suffix[1:], validated=True)
        files[p.name] = entry
    variants = []
    for res in result.variants:
        rec = {
            "variant": res.variant,
            "file": res.file,
            "sha256": res.sha256,
            "bytes": res.bytes,
            "n_ops": res.n_ops,
            "ops": res.ops,
            "settings": res.settings,
            "gate": res.gate,
            "checks": [c.to_dict() for c in res.checks],
            "figures": res.summary,
            "batch_invariant": res.batch_max_abs_diff == 0.0,
            "bench": res.timing,
            "ort": res.ort,
            "notes": res.notes,
        }
        variants.append(rec)
    manifest = {
        "format": EDGE_FORMAT,
        "source": {"path": result.source, "sha256": result.source_sha256, "dataset": result.dataset, "data_sha256": ds.sha256},
        "default_variant": names[0],
        "validated_with": result.validated_with,
        "gates": result.gates.to_dict(),
        "quantization": result.quant.to_dict(),
        "inputs": result.inputs,
        "bench": result.bench,
        "variants": variants,
        "files": files,
    }
    from irisonnx import __version__

    manifest["irisonnx_version"] = __version__
    (staging / MANIFEST_NAME).write_text(dumps_json(manifest), encoding="utf-8")
    result.files = files
