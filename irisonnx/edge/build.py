"""Edge deployment: variants of an exported model, each gated on parity, in a bundle.

``build_edge(RUN)`` makes the requested variants (:mod:`irisonnx.edge.variants._ort`), checks
each against the fp32 model (:mod:`irisonnx.edge.gates`), times them side by side, and, only
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

from irisonnx.edge.gates import Check, Gates
from irisonnx.edge.variants import DEFAULT, VARIANTS as ALL_VARIANTS, get as get_variant
from irisonnx.edge.variants._ort import CALIBRATION_METHODS, INT8_WEIGHTS, OPT_LEVEL, QuantOptions, variant_file
from irisonnx.edge.variants.base import Source
from irisonnx.errors import ArtifactError, StorageError, UsageError
from irisonnx.storage import MANIFEST_NAME, TEMP_MARK, dumps_json, fsync_dir, read_json, sha256_file

VARIANTS = DEFAULT  # what edge makes unless told: every registered variant but the other families'

__all__ = ["EDGE_FORMAT", "VARIANTS", "CALIBRATION_METHODS", "INT8_WEIGHTS", "OPT_LEVEL", "Gates", "QuantOptions", "Check", "VariantResult", "EdgeResult", "build_edge", "parse_variants"]

EDGE_FORMAT = "irisonnx-edge/1"
LABELS_NAME = "labels.json"
PREDICT_NAME = "predict.py"
_PREDICT_SOURCE = Path(__file__).parent / "template" / "predict.py"


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
    dataset: str | None  # None: a model that is not an irisonnx classifier, gated on generated inputs
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
    classifier: bool = True  # gated on argmax/accuracy (a dataset); else per-output tolerances
    skipped: list[dict[str, str]] = field(default_factory=list)  # {"variant", "reason"}: not made

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
            "classifier": self.classifier,
            "skipped": self.skipped,
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
    """``"fp32,int8-static"`` (or a list) -> the variants in canonical order; UsageError if
    unknown. None: the default ones (other runtime families' variants only when named)."""
    if spec is None:
        return list(DEFAULT)
    names = [s.strip() for s in (spec.split(",") if isinstance(spec, str) else spec) if s.strip()]
    if not names:
        raise UsageError("no variants given", f"choose from {', '.join(ALL_VARIANTS)}")
    bad = [n for n in names if n not in ALL_VARIANTS]
    if bad:
        raise UsageError(f"unknown variant {bad[0]!r}", f"choose from {', '.join(ALL_VARIANTS)}")
    if len(set(names)) != len(names):
        raise UsageError("a variant is listed twice", ", ".join(names))
    return [v for v in ALL_VARIANTS if v in names]


# --- the source model and its data ----------------------------------------------------------


def _source(target: str | os.PathLike, data: str | os.PathLike | None) -> tuple[Any, Any, Path]:
    """(checked ModelInfo, Dataset or None, default output folder) for a run folder or an
    .onnx file. A classifier with a dataset (the run's, --data, or named in its metadata) is
    gated on it; any other model (None) on generated inputs, by per-output tolerances."""
    from irisonnx.data.datastore import load_dataset
    from irisonnx.modelfile.onnx_io import resolve_model
    from irisonnx.training.run import resolve_target

    p = Path(target)
    run, info = resolve_target(p, allow_unvalidated=False, model_in_run=True)  # unvalidated models refused
    run_dir = run.dir if run is not None else None
    if info is None:
        info = resolve_model(p)  # a run without model.onnx: resolve_model says to export it
    if info.has_external_data:
        raise UsageError("edge needs a self-contained model", f"{info.path} keeps its weights in external data files", "export it as one file (irisonnx export does)")
    out = (run_dir if run_dir is not None else p.parent) / "edge"
    if not info.is_classifier:
        if data is not None:
            raise UsageError("--data is for classifiers", f"{info.path} takes {', '.join(i.describe() for i in info.inputs)}", "drop --data: its variants are gated on generated inputs (--dim, --input-range, --calibration FILE.npz)")
        return info, None, out
    if data is None and run_dir is None and not info.metadata.get("dataset") and not info.has_irisonnx_metadata:
        return info, None, out  # a foreign model shaped like a classifier: tolerance gates
    if data is not None:
        ds = load_dataset(data)
    elif run_dir is not None:
        ds = run.dataset()
    elif info.metadata.get("dataset"):
        ds = load_dataset(info.metadata["dataset"])
    else:
        raise UsageError("no dataset for the parity gates", f"{p} names none in its metadata", "pass --data NAME|DIR (the test split gates accuracy, the training split calibrates int8-static)")
    _check_fits(info, ds)
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


def _variant_notes(v: VariantResult, base: VariantResult | None, n_random: int, src: Source) -> list[str]:
    return _shared_notes(v, base) + get_variant(v.variant).notes(v, src, n_random)


def _source_name(names: Any) -> str | None:
    """The variant that is the source model itself (the baseline), if among ``names``."""
    return next((n for n in names if get_variant(n).source), None)


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
    calibration: str | os.PathLike | None = None,
    dims: dict[str, int] | None = None,
    input_ranges: dict[str, tuple[float, float]] | None = None,
    for_web: bool = False,
    n_random: int = 1000,
    seed: int = 0,
    threads: int | None = 1,
    bench_rounds: int = 15,
    bench_reps: int = 200,
    bench_rows: int = 65536,
    before_commit: Callable[[Path], Any] | None = None,
) -> EdgeResult:
    """Make, gate and time the variants of ``target`` (a run folder or an .onnx file); write
    the bundle to ``out`` (default RUN/edge) only if every variant made passes its gate.

    A classifier with a dataset is gated on its test split (argmax agreement, accuracy); any
    other model on ``n_random`` generated rows inside the input ranges (per-output tolerances,
    :meth:`Gates.tolerance`), with as many rows within and far beyond them reported.
    ``dims``/``input_ranges`` bind symbolic dimensions and value ranges (as compare's --dim,
    --input-range). int8-static calibrates on the training split, on other generated rows, or
    on ``calibration`` (a .npz of arrays by input name); ``calibration_rows`` replaces the
    training split (tests use it to sabotage calibration). A variant that does not apply to
    the model, or that a converter cannot make, is skipped with the reason
    (``result.skipped``). ``for_web``: refuse (exit 2) up front a model the web page cannot
    run. ``bench_rounds=0`` skips timing. ``before_commit(folder)`` adds to the finished
    bundle before it replaces the previous one (``edge --web`` builds and tries its page
    there): if it raises, nothing is replaced. Returns the figures of every variant whether
    or not the bundle was written (``result.written``).
    """
    import onnxruntime as ort

    from irisonnx.edge.variants._ort import remove_tree

    t0 = time.perf_counter()
    names = parse_variants(variants)
    if n_random < 1:
        raise UsageError("bad number of random rows", str(n_random), "use a positive integer")
    if bench_rounds < 0 or bench_reps < 1 or bench_rows < 1:
        raise UsageError("bad benchmark settings", f"rounds {bench_rounds}, reps {bench_reps}, rows {bench_rows}")
    info, ds, default_out = _source(target, data)
    if for_web and ds is None:
        raise UsageError("--web is for classifiers", f"the page takes one row of feature values and shows class probabilities; {info.path} takes {', '.join(i.describe() for i in info.inputs)} and is gated without a dataset", "drop --web (the bundle's predict.py runs any signature from .npz files)")
    if (dims or input_ranges) and ds is not None:
        raise UsageError("--dim and --input-range are for models gated on generated inputs", f"{info.path} is a classifier gated on dataset {ds.name}")
    out_dir = Path(out) if out is not None else default_out
    _check_out(out_dir, info.path)

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    _clean_stale(out_dir)
    staging = out_dir.parent / f"{TEMP_MARK}{os.getpid()}-{os.urandom(4).hex()}-{out_dir.name}"
    staging.mkdir()
    result = EdgeResult(
        source=str(info.path),
        source_sha256=info.sha256,
        dataset=ds.name if ds is not None else None,
        out=str(out_dir),
        variants=[],
        gates=gates,
        quant=quant,
        inputs={},
        validated_with={"onnxruntime": ort.__version__, "provider": "CPUExecutionProvider", "machine": platform.machine(), "system": platform.system(), "threads": threads},
        bench={"rounds": bench_rounds, "reps": bench_reps, "rows": bench_rows, "threads": threads},
        ort_format=ort_format,
        classifier=ds is not None,
    )
    try:
        if ds is not None:
            _build_classifier(result, info, ds, names, staging, calibration_rows, calibration, n_random, seed, threads, bench_rounds, bench_reps, bench_rows)
        else:
            _build_generic(result, info, names, staging, calibration, dims or {}, input_ranges or {}, n_random, seed, threads, bench_rounds, bench_reps, bench_rows)
        if result.passed:
            _write_bundle_files(result, staging, info, ds, [r.variant for r in result.variants])
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


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__


def _make_all(result: EdgeResult, info: Any, names: list[str], staging: Path, quant: QuantOptions, calibration: Any, threads: int | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """Make every variant that applies; ({variant: what its check gave (a ModelInfo)},
    {variant: its runner}), all through the Variant interface. A variant that does not apply,
    or that a converter, the checker or its runtime cannot make or load, is recorded in
    ``result.skipped`` with the reason (the tool's first line), not raised."""
    src = Source(info)
    infos: dict[str, Any] = {}
    runners: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="irisonnx-edge-") as work:
        for v in names:
            variant = get_variant(v)
            why = variant.skip_reason(src)
            if why is None:
                path = staging / variant.file_name
                try:
                    variant.make(src, path, Path(work), quant, calibration)
                except (UsageError, StorageError):
                    raise
                except OSError as exc:  # a full or read-only disk is the machine's, not the model's
                    from irisonnx.storage import _storage_error

                    raise _storage_error(path, exc) from exc
                except Exception as exc:  # noqa: BLE001 - converters and quantisers raise anything
                    why = f"the {v} converter failed: {_first_line(exc)}"
                else:
                    try:
                        infos[v] = variant.check(path)  # checker + signature
                        runners[v] = variant.load(infos[v], threads)
                    except ArtifactError as exc:
                        why = f"the {v} model does not load: {exc}"
                        infos.pop(v, None)
                if why is not None:
                    for f in variant.bundle_files(path):
                        f.unlink(missing_ok=True)
            if why is not None:
                if variant.source:
                    raise ArtifactError("the source model does not load", why)
                result.skipped.append({"variant": v, "reason": why})
    if not infos:
        raise UsageError("no edge variant could be made for this model", "; ".join(f"{s['variant']}: {s['reason']}" for s in result.skipped), "choose other --variants")
    return infos, runners


def _build_classifier(result: EdgeResult, info: Any, ds: Any, names: list[str], staging: Path, calibration_rows: np.ndarray | None, calibration_file: str | os.PathLike | None, n_random: int, seed: int, threads: int | None, bench_rounds: int, bench_reps: int, bench_rows: int) -> None:
    """irisonnx's classifiers: gates on the dataset's test split (argmax agreement, accuracy)."""
    from irisonnx.compare.inputs import random_rows
    from irisonnx.edge.gates import Evaluator, bench, gate_checks, summarise

    gates, quant = result.gates, result.quant
    x_test, y_test = ds.features[ds.test_idx], ds.labels[ds.test_idx]
    lo, hi = ds.meta["stats"]["min"], ds.meta["stats"]["max"]
    x_random = random_rows(n_random, lo, hi, seed)
    if calibration_file is not None:
        calibration_rows = _calibration_file(calibration_file, info)[0][info.input.name]
    calibration = ds.features[ds.train_idx] if calibration_rows is None else np.asarray(calibration_rows, dtype=np.float32)
    result.inputs = {"test_rows": int(len(x_test)), "random_rows": int(n_random), "seed": seed, "calibration_rows": int(len(calibration)), "batch_modes": ["all", "batch-1"]}
    if calibration_file is not None:
        result.inputs["calibration"] = str(calibration_file)
    infos, predictors = _make_all(result, info, names, staging, quant, calibration, threads)
    made = list(infos)
    src = Source(info)
    baseline = _baseline(predictors, info, threads)
    evaluator = Evaluator(baseline, x_test, y_test, x_random, info.input.name, info.logits_name)
    for v in made:
        variant, vi = get_variant(v), infos[v]
        ops, wbytes = _ops(vi.proto) if getattr(vi, "proto", None) is not None else (dict(getattr(vi, "ops", {})), int(getattr(vi, "weight_bytes", 0)))  # not ONNX: what its check counted
        res = VariantResult(v, variant.file_name, vi.size, vi.sha256, ops, wbytes, variant.settings(quant, src), gates.describe(variant))
        res.figures, res.batch_max_abs_diff = evaluator.evaluate(predictors[v], variant.reference(vi), variant.runtime)
        res.checks = gate_checks(variant, res.figures, gates)
        if variant.source:
            res.checks.append(Check("same bytes as the exported model (sha256)", float(vi.sha256 == info.sha256), 1.0, ">=", "flag"))
        res.summary = summarise(res.figures)
        result.variants.append(res)
    if bench_rounds:
        timing = bench(predictors, info.n_features, lo, hi, input_name=info.input.name, rows=bench_rows, rounds=bench_rounds, reps=bench_reps, seed=seed, cpu_clock=threads == 1)
        _set_timing(result, timing)
    base = next((r for r in result.variants if get_variant(r.variant).source), None)
    for res in result.variants:
        res.notes = _variant_notes(res, base, n_random, src)
    if result.passed and result.ort_format:
        _ort_twins(result, staging, predictors, [x_test, x_random], threads)


def _baseline(runners: dict[str, Any], info: Any, threads: int | None) -> Any:
    """The source variant's runner: the one made, else loaded from the source model."""
    name = _source_name(VARIANTS)
    assert name is not None, "the registry has no source variant"
    return runners.get(name) or get_variant(name).load(info, threads)


def _set_timing(result: EdgeResult, timing: dict[str, dict[str, Any]]) -> None:
    for res in result.variants:
        res.timing = timing[res.variant]
        res.latency_us = res.timing["batch1_latency_us"]
        res.throughput_rows_s = res.timing["throughput_rows_s"]
    result.bench["clock"] = timing[result.variants[0].variant]["clock"]


def _calibration_file(path: str | os.PathLike, info: Any) -> list[dict[str, np.ndarray]]:
    """Calibration inputs from a .npz (arrays by input name; .npy for one input), checked
    against the signature: feeds of at most 64 rows when the signature is batched."""
    from irisonnx.compare.inputs import make_feeds

    sig = info.signature
    s = make_feeds(os.fspath(path), sig)
    if not s.batched:
        return s.samples
    return [f for _, f in s.chunks(_equal_chunk(s.n_rows, s.chunk_rows))]


def _equal_chunk(n: int, fixed: int | None, at_most: int = 64) -> int:
    """Rows per calibration call: the fixed batch, else the largest divisor of ``n`` up to
    ``at_most`` (onnxruntime's histogram calibrators stack calls and need equal ones)."""
    if fixed:
        return fixed
    from irisonnx.edge.variants._ort import _batch_size

    return _batch_size(n, at_most)


def _build_generic(result: EdgeResult, info: Any, names: list[str], staging: Path, calibration_file: str | os.PathLike | None, dims: dict[str, int], ranges: dict[str, tuple[float, float]], n_random: int, seed: int, threads: int | None, bench_rounds: int, bench_reps: int, bench_rows: int) -> None:
    """Any model: per-output tolerance gates on generated in-range inputs; figures on inputs
    within and far beyond the ranges are reported, not gated."""
    from irisonnx.edge.gates import BEYOND, IN_RANGE, FeedSet, GenericEvaluator, bench_feeds, summarise_generic, tolerance_checks
    from irisonnx.compare.inputs import DEFAULT_FLOAT_RANGE, DEFAULT_INT_RANGE, random_feeds
    from irisonnx.modelfile.signature import check_feeds
    from irisonnx.runtimes.base import normalise_outputs

    gates, quant = result.gates, result.quant
    sig = info.signature
    gated, fixed = random_feeds(sig, n_random, seed, dims, ranges, within=True)
    beyond, _ = random_feeds(sig, n_random, seed + 1, dims, ranges)
    cal, _ = random_feeds(sig, _CAL_ROWS, seed + 2, dims, ranges, within=True)
    batched = fixed is None and sig.batched()
    for f in (gated, beyond):
        check_feeds(sig, {k: v[:fixed] for k, v in f.items()} if fixed else f, "generated inputs")
    sets = {IN_RANGE: FeedSet(gated, batched, fixed), BEYOND: FeedSet(beyond, batched, fixed)}
    if calibration_file is not None:
        calibration = _calibration_file(calibration_file, info)
        cal_desc = f"{calibration_file} ({len(calibration)} call(s))"
    else:
        cal_set = FeedSet(cal, batched, fixed)
        if batched or fixed:
            step = _equal_chunk(cal_set.rows, fixed)
            calibration = [{k: np.ascontiguousarray(v[i : i + step]) for k, v in cal.items()} for i in range(0, cal_set.rows, step)]
        else:
            calibration = [cal]
        cal_desc = f"{cal_set.rows} generated in-range rows (seed {seed + 2}), {len(calibration)} call(s)"
    rows = sets[IN_RANGE].rows
    result.inputs = {
        "generated": True,
        "in_range_rows": rows,
        "random_rows": sets[BEYOND].rows,
        "seed": seed,
        "ranges": {i.name: list(ranges.get(i.name, DEFAULT_FLOAT_RANGE if i.is_float else DEFAULT_INT_RANGE)) if i.dtype != "bool" else [False, True] for i in sig.inputs},
        "dims": dims,
        "shapes": {k: list(v.shape) for k, v in gated.items()},
        "batched": batched,
        "fixed_batch": fixed,
        "batch_modes": list(sets[IN_RANGE].modes()),
        "calibration": cal_desc,
        "description": f"{rows} rows drawn inside the input ranges (gated) and {sets[BEYOND].rows} within and far beyond them (reported), seed {seed}",
    }
    infos, predictors = _make_all(result, info, names, staging, quant, calibration, threads)

    def runner(p: Any, who: str) -> Any:
        return lambda feeds: normalise_outputs(p.run_feeds(feeds), who)

    src = Source(info)
    base_pred = _baseline(predictors, info, threads)
    evaluator = GenericEvaluator(runner(base_pred, "fp32"), sets)
    for v in list(infos):
        variant, vi = get_variant(v), infos[v]
        tol = gates.tolerance(variant, vi.output_names)
        ops, wbytes = _ops(vi.proto) if getattr(vi, "proto", None) is not None else (dict(getattr(vi, "ops", {})), int(getattr(vi, "weight_bytes", 0)))  # not ONNX: what its check counted
        res = VariantResult(v, variant.file_name, vi.size, vi.sha256, ops, wbytes, variant.settings(quant, src, vi, generic=True), gates.describe(variant, classifier=False))
        notes: list[str] = []
        reference = None
        ref_rt = variant.reference(vi)
        if ref_rt is not None:
            ok, why = ref_rt.is_available()
            if ok:
                reference = lambda feeds, rt=ref_rt: rt.run(feeds)  # noqa: E731
            else:
                notes.append(f"not run in float16 reference arithmetic: {why}")
        try:
            try:
                res.figures, res.batch_max_abs_diff = evaluator.evaluate(runner(predictors[v], v), tol, reference, variant.runtime)
            except Exception as exc:  # noqa: BLE001 - the reference evaluator lacks some ops/types
                if reference is None or isinstance(exc, KeyboardInterrupt):
                    raise
                notes.append(f"not run in float16 reference arithmetic: {_first_line(exc)}")
                res.figures, res.batch_max_abs_diff = evaluator.evaluate(runner(predictors[v], v), tol, runtime=variant.runtime)
        except (UsageError, ArtifactError) as exc:
            if variant.source:
                raise
            result.skipped.append({"variant": v, "reason": f"{variant.family} cannot run it: {exc}"})
            for f in variant.bundle_files(staging / variant.file_name):
                f.unlink(missing_ok=True)
            del infos[v], predictors[v]
            continue
        res.checks = tolerance_checks(res.figures, tol) if not variant.source else []
        if variant.source:
            res.checks.append(Check("same bytes as the source model (sha256)", float(vi.sha256 == info.sha256), 1.0, ">=", "flag"))
        res.summary = summarise_generic(res.figures)
        res.notes = notes
        result.variants.append(res)
    if not result.variants:
        raise UsageError("no edge variant could be run for this model", "; ".join(f"{s['variant']}: {s['reason']}" for s in result.skipped))
    if bench_rounds:
        small, big, big_rows = _bench_feeds(sig, sets[IN_RANGE], bench_rows, seed, dims, ranges)
        calls = {r.variant: (lambda p=predictors[r.variant]: p.run_feeds(small), lambda p=predictors[r.variant]: p.run_feeds(big)) for r in result.variants}
        timing = bench_feeds(calls, big_rows, rounds=bench_rounds, reps=bench_reps, cpu_clock=threads == 1)
        _set_timing(result, timing)
        result.bench["rows"] = big_rows
        result.bench["small_rows"] = FeedSet(small, batched, fixed).rows if (batched or fixed) else None
    base = next((r for r in result.variants if get_variant(r.variant).source), None)
    for res in result.variants:
        res.notes = _shared_notes(res, base) + res.notes + _generic_notes(res, src, infos[res.variant])
    if result.passed and result.ort_format:
        _ort_twins(result, staging, predictors, list(sets.values()), threads)


_CAL_ROWS = 256  # generated rows int8-static calibrates on (minmax: more rows, fuller ranges)
_BENCH_BYTES = 16 << 20  # the throughput call's inputs at most (a CNN's 65536 images would be 200 MB)


def _bench_feeds(sig: Any, gated: Any, rows: int, seed: int, dims: dict[str, int], ranges: dict[str, tuple[float, float]]) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], int]:
    """(small feeds, big feeds, rows of the big call): batch 1 and up to ``rows`` rows when the
    signature is batched; a fixed batch (or rows that cannot vary) in both."""
    from irisonnx.compare.inputs import random_feeds

    feeds = gated.feeds
    if gated.chunk or not gated.batched:
        small = {k: np.ascontiguousarray(v[: gated.chunk]) for k, v in feeds.items()} if gated.chunk else feeds
        n = gated.chunk or 1
        return small, small, n
    per_row = sum(v.nbytes // max(v.shape[0], 1) for v in feeds.values()) or 1
    n = max(1, min(rows, _BENCH_BYTES // per_row))
    big, _ = random_feeds(sig, n, seed + 3, dims, ranges, within=True)
    small = {k: np.ascontiguousarray(v[:1]) for k, v in big.items()}
    return small, big, n


def _shared_notes(v: VariantResult, base: VariantResult | None) -> list[str]:
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
        notes.append(f"results depend on the other rows in a call: all-at-once vs one-row-per-call outputs differ by up to {v.batch_max_abs_diff:.3g}" + get_variant(v.variant).batch_note)
    return notes


def _generic_notes(v: VariantResult, src: Source, vi: Any) -> list[str]:
    from irisonnx.edge.gates import BEYOND

    variant = get_variant(v.variant)
    notes = variant.generic_notes(v, src, vi)
    beyond = [f for f in v.figures if f.split == BEYOND and f.runtime == variant.runtime]
    if not variant.source and beyond:
        bad = max(f.n_fail for f in beyond)
        if bad:
            total = sum(s.n_elements for s in beyond[0].stats.outputs.values())
            notes.append(f"on the random inputs within and far beyond the ranges (not gated) {bad:,} of {total:,} output elements exceed the tolerance (max abs {max(f.max_abs for f in beyond):.3g})" + variant.beyond_note)
    return notes


def _ort_twins(result: EdgeResult, staging: Path, predictors: dict[str, Any], xs: list[np.ndarray], threads: int | None) -> None:
    """Convert every variant to ORT format and require bit-identical outputs to its .onnx twin."""
    from irisonnx.edge.gates import ort_format_session as session
    from irisonnx.edge.gates import twin_matches as matches
    from irisonnx.edge.variants._ort import convert_to_ort

    convert_to_ort(staging)
    for res in result.variants:
        if get_variant(res.variant).family != "onnxruntime":
            continue  # the ORT format is onnxruntime's own
        p = staging / variant_file(res.variant, "ort")
        if not p.is_file():
            raise ArtifactError("ORT format conversion skipped a model", res.file)
        data = p.read_bytes()
        equal, rows = matches(session(data, threads), predictors[res.variant], xs)
        res.ort = {"file": p.name, "sha256": sha256_file(p), "bytes": len(data), "bitwise_equal": equal, "rows_checked": rows}
        res.checks.append(Check("ORT-format twin bitwise equal to the .onnx", float(equal), 1.0, ">=", "flag", f"{rows} rows, all-at-once and one per call"))


def _labels(info: Any, ds: Any) -> dict[str, Any]:
    if ds is None:
        return {
            "format": "irisonnx-edge-labels/1",
            "classifier": False,
            "inputs": [i.to_dict() for i in info.inputs],
            "outputs": [o.to_dict() for o in info.outputs],
            "note": "not an irisonnx classifier: predict.py takes --input FILE.npz (arrays by input name; .npy for one input) and writes every output by name with --output FILE.npz",
        }
    return {
        "format": "irisonnx-edge-labels/1",
        "classifier": True,
        "inputs": [i.to_dict() for i in info.inputs],
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
            own = {f.name for f in get_variant(res.variant).bundle_files(staging / res.file)}
            if p.name in own or (res.ort and p.name == res.ort["file"]):
                entry.update(variant=res.variant, format=p.suffix[1:], validated=True)
        files[p.name] = entry
    variants = []
    for res in result.variants:
        rec = {
            "variant": res.variant,
            "family": get_variant(res.variant).family,
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
        "source": {"path": result.source, "sha256": result.source_sha256, "dataset": result.dataset, "data_sha256": ds.sha256 if ds is not None else None},
        "classifier": result.classifier,
        "skipped": result.skipped,
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
