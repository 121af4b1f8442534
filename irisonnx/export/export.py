"""torch -> ONNX, with the metadata inside the model, onnx.checker, and a parity check.

The order is the point: export into memory, add metadata, write one self-contained file
atomically (checked by ``onnx.checker.check_model(full_check=True)`` before it replaces the
old one), then compare onnxruntime against torch on real, random and extreme rows. A
mismatch is a failure (exit 1): the file stays for inspection but the manifest marks it
``validated: false`` and ``predict RUN`` refuses it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from irisonnx.compare.stats import OutputStats, PairStats, Tolerance
from irisonnx.errors import ArtifactError, CheckFailed, UsageError
from irisonnx.modelfile.onnx_io import MODEL_FORMAT, ModelInfo, load_model_safely
from irisonnx.storage import atomic_writer, sha256_file

__all__ = ["EXPORTERS", "OPSET_RANGES", "DEFAULT_OPSET", "ExportResult", "ParityReport", "export_run", "parity_inputs"]

DEFAULT_OPSET = 18
# What each exporter in torch 2.x can emit for this model. The dynamo exporter implements
# opset 18+ only (asked for less, it converts down or quietly keeps 18); the TorchScript one
# stops at 20 (torch's ONNX_TORCHSCRIPT_EXPORTER_MAX_OPSET) and our ops need at least 9.
OPSET_RANGES = {"dynamo": (18, 23), "torchscript": (9, 20)}
EXPORTERS = tuple(OPSET_RANGES)
_BATCH_1_ROWS = 4096  # rows also checked one at a time (all of them, for Iris-sized data)
ROW_SCALED_GROUPS = ("large",)  # see _compare


@dataclass
class Stats:
    """Parity figures of one output (or one input group, all float outputs), over every batch
    mode: a view of compare's :class:`~irisonnx.compare.stats.OutputStats` (the one comparator),
    in export's terms. ``where(row)`` names a row of the pair ("group row i, batch mode")."""

    stats: OutputStats
    where: Callable[[int], str]

    @property
    def max_abs_err(self) -> float:
        return float(self.stats.max_abs)

    @property
    def max_rel_err(self) -> float:
        # |a-b| / scale where the relative term rules the tolerance (rtol * scale >= atol); near
        # zero the atol term rules and a relative error says nothing. scale: see ROW_SCALED_GROUPS.
        return float(self.stats.max_rel_ruled)

    @property
    def n_rel(self) -> int:  # elements where a relative error means something; 0 -> reported as None
        return self.stats.n_rel_ruled

    @property
    def max_ratio(self) -> float:  # max |a-b| / (atol + rtol * scale): the check passes when <= 1
        return float(self.stats.max_ratio)

    @property
    def n_bad(self) -> int:  # elements outside atol + rtol * scale
        return self.stats.n_fail

    @property
    def worst(self) -> str:
        """Where the largest error/tolerance ratio is: "group row i, batch mode"."""
        w = self.stats.worst_ratio
        return self.where(w["index"][0]) if w and w["index"] else ""

    def to_dict(self) -> dict[str, Any]:
        ratio = self.max_ratio if np.isfinite(self.max_ratio) else None  # atol = rtol = 0 and a difference
        return {"max_abs_err": self.max_abs_err, "max_rel_err": self.rel, "max_tolerance_ratio": ratio, "n_bad": self.n_bad, "worst": self.worst}

    @property
    def rel(self) -> float | None:
        return self.max_rel_err if self.n_rel else None


@dataclass
class ParityReport:
    atol: float
    rtol: float
    groups: dict[str, int]  # input group -> rows
    batch_modes: list[str]
    outputs: dict[str, Stats]  # per float output
    by_group: dict[str, Stats]  # per input group, all float outputs
    label_mismatches: int = 0  # argmax disagreements where torch's top-2 margin exceeds the tolerance
    seconds: float = 0.0

    @property
    def n_rows(self) -> int:
        return sum(self.groups.values())

    @property
    def max_abs_err(self) -> float:
        return max((o.max_abs_err for o in self.outputs.values()), default=0.0)

    @property
    def max_rel_err(self) -> float:
        return max((o.max_rel_err for o in self.outputs.values() if o.n_rel), default=0.0)

    @property
    def max_tolerance_ratio(self) -> float:
        return max((o.max_ratio for o in self.outputs.values()), default=0.0)

    @property
    def passed(self) -> bool:
        return all(o.n_bad == 0 for o in self.outputs.values()) and self.label_mismatches == 0

    def summary(self) -> str:
        """Where it failed, in one line."""
        parts = [f"{name}: {o.n_bad} values, worst at {o.worst}" for name, o in self.outputs.items() if o.n_bad]
        if self.label_mismatches:
            parts.append(f"label: {self.label_mismatches} rows")
        return "; ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "atol": self.atol,
            "rtol": self.rtol,
            "groups": self.groups,
            "n_rows": self.n_rows,
            "batch_modes": self.batch_modes,
            "outputs": {k: v.to_dict() for k, v in self.outputs.items()},
            "by_group": {k: {"rows": self.groups[k], "tolerance": "row-scaled" if k in ROW_SCALED_GROUPS else "elementwise", **v.to_dict()} for k, v in self.by_group.items()},
            "label_mismatches": self.label_mismatches,
            "max_abs_err": self.max_abs_err,
            "max_rel_err": self.max_rel_err,
            "max_tolerance_ratio": self.max_tolerance_ratio if np.isfinite(self.max_tolerance_ratio) else None,
            "passed": self.passed,
            "seconds": round(self.seconds, 4),
        }


@dataclass
class ExportResult:
    path: Path
    run_dir: Path
    exporter: str
    opset: int
    outputs: list[str]
    sha256: str
    size: int
    export_seconds: float  # the torch.onnx.export call alone
    check_seconds: float  # onnx.checker full_check
    parity: ParityReport
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def validated(self) -> bool:
        return self.parity.passed

    @property
    def passed(self) -> bool:
        """The parity check's outcome (the API's one way to signal it; same as ``validated``)."""
        return self.parity.passed

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "run": str(self.run_dir),
            "exporter": self.exporter,
            "opset": self.opset,
            "outputs": self.outputs,
            "sha256": self.sha256,
            "size": self.size,
            "export_seconds": round(self.export_seconds, 4),
            "check_seconds": round(self.check_seconds, 4),
            "validated": self.validated,
            "max_abs_err": self.parity.max_abs_err,
            "max_rel_err": self.parity.max_rel_err,
            "parity": self.parity.to_dict(),
            "metadata": self.metadata,
        }


# --- the graph ---------------------------------------------------------------------------


def _wrap(model: Any, with_probabilities: bool, with_label: bool) -> Any:
    """The exported module: logits, plus softmax probabilities and an int64 argmax label."""
    import torch
    from torch import nn

    class Exported(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.mlp = model

        def forward(self, features: torch.Tensor) -> Any:  # (batch, n_features)
            logits = self.mlp(features)  # (batch, n_classes)
            outs = [logits]
            if with_probabilities:
                outs.append(torch.softmax(logits, dim=1))  # (batch, n_classes)
            if with_label:
                outs.append(torch.argmax(logits, dim=1))  # (batch,) int64
            return tuple(outs) if len(outs) > 1 else logits

    return Exported().eval()


@contextlib.contextmanager
def _quiet_exporter() -> Iterator[None]:
    """The exporters warn through `warnings` and `logging` (deprecations, 'torchvision is not
    installed'); the library prints nothing, and the CLI's stderr is for one-line errors."""
    names = ("torch.onnx", "torch.export", "torch._dynamo", "torch._export", "onnxscript", "onnx_ir")
    loggers = [logging.getLogger(n) for n in names]
    levels = [lg.level for lg in loggers]
    try:
        for lg in loggers:
            lg.setLevel(logging.ERROR)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, lvl in zip(loggers, levels):
            lg.setLevel(lvl)


def _export_proto(wrapped: Any, n_features: int, out_names: list[str], exporter: str, opset: int) -> Any:
    """Run one exporter into memory and return the ModelProto (no file, no external data)."""
    import io

    import onnx
    import torch

    example = torch.zeros(2, n_features)  # (batch, n_features); 2 so the batch dim is not specialised
    with _quiet_exporter(), torch.no_grad():
        try:
            if exporter == "dynamo":
                prog = torch.onnx.export(
                    wrapped,
                    (example,),
                    dynamo=True,
                    input_names=["features"],
                    output_names=out_names,
                    dynamic_shapes=({0: torch.export.Dim("batch")},),
                    opset_version=opset,
                    verbose=False,
                    optimize=True,
                )
                # model_proto holds every initializer inline; we never call prog.save(), so
                # nothing (no .onnx.data) is written beside the model.
                return _strip_stack_traces(prog.model_proto)
            buf = io.BytesIO()
            torch.onnx.export(
                wrapped,
                (example,),
                buf,
                dynamo=False,
                input_names=["features"],
                output_names=out_names,
                dynamic_axes={"features": {0: "batch"}, **{n: {0: "batch"} for n in out_names}},
                opset_version=opset,
                do_constant_folding=True,
            )
            return onnx.load_model_from_string(buf.getvalue())
        except Exception as exc:  # exporter errors have no common base class
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise UsageError(f"the {exporter} exporter cannot export this model at opset {opset}", first, _opset_hint(exporter)) from None


def _opset_hint(exporter: str) -> str:
    lo, hi = OPSET_RANGES[exporter]
    return f"the {exporter} exporter supports --opset {lo}..{hi}; try --opset {DEFAULT_OPSET}" + (" or --exporter dynamo" if exporter == "torchscript" else "")


def _metadata(run: Any, exporter: str, opset: int) -> dict[str, str]:
    from irisonnx.training.run import library_versions

    cfg = run.config
    data = cfg["data"]
    versions = library_versions("torch", "onnx", "onnxscript", "onnxruntime")
    meta = {
        "format": MODEL_FORMAT,
        "dataset": str(data["name"]),
        "class_names": json.dumps(list(data["class_names"])),
        "feature_names": json.dumps(list(data["feature_names"])),
        "feature_units": json.dumps(dict(data.get("feature_units", {})), sort_keys=True),
        "n_features": str(run.model_config.n_features),
        "n_classes": str(run.model_config.n_classes),
        "weights_sha256": sha256_file(run.weights_path),
        "data_sha256": str(data["sha256"]),
        "irisonnx_version": versions["irisonnx"],
        "torch_version": versions["torch"],
        "onnx_version": versions["onnx"],
        "training_config": json.dumps(
            {
                "data": {k: data[k] for k in ("name", "sha256", "test_fraction", "split_seed") if k in data},
                "model": cfg["model"],
                "train": cfg["train"],
            },
            sort_keys=True,
        ),
        "exporter": exporter,
        "opset": str(opset),
    }
    if exporter == "dynamo":
        meta["onnxscript_version"] = versions["onnxscript"]
    return meta


def _doc_string(meta: dict[str, str], outputs: list[str]) -> str:
    feats = json.loads(meta["feature_names"])
    units = json.loads(meta["feature_units"])
    classes = json.loads(meta["class_names"])
    cols = ", ".join(f"{f} ({units[f]})" if f in units else f for f in feats)
    parts = [f"logits float32 [batch, {len(classes)}]"]
    if "probabilities" in outputs:
        parts.append(f"probabilities float32 [batch, {len(classes)}] (softmax)")
    if "label" in outputs:
        parts.append("label int64 [batch] (argmax, an index into class_names)")
    return (
        f"irisonnx MLP classifier for the {meta['dataset']!r} dataset. "
        f"Input: features float32 [batch, {len(feats)}] in raw units, columns {cols}; standardisation is inside the graph. "
        f"Outputs: {'; '.join(parts)}. Classes: {', '.join(classes)}. "
        f"Exported by torch {meta['torch_version']} ({meta['exporter']} exporter, opset {meta['opset']}) "
        f"from weights sha256 {meta['weights_sha256'][:16]}…; see metadata_props for the training config."
    )


_STACK_TRACE = "pkg.torch.onnx.stack_trace"


def _strip_stack_traces(proto: Any) -> Any:
    """Drop the dynamo exporter's per-node Python stack traces. They hold absolute source
    paths ("/home/alice/src/irisonnx/export/export.py", line ...): a model shipped to a device would
    carry its builder's file system, and the same training gave different model bytes in
    every checkout. The other per-node entries (fx node, name scopes, class hierarchy) are
    path-free and stay."""

    def strip(nodes: Any) -> None:
        for node in nodes:
            keep = [m for m in node.metadata_props if m.key != _STACK_TRACE]
            if len(keep) != len(node.metadata_props):
                kept = [(m.key, m.value) for m in keep]
                del node.metadata_props[:]
                for k, v in kept:
                    node.metadata_props.add(key=k, value=v)
            for attr in node.attribute:
                if attr.HasField("g"):
                    strip(attr.g.node)
                for g in attr.graphs:
                    strip(g.node)

    strip(proto.graph.node)
    for fn in proto.functions:
        strip(fn.node)
    return proto


def _write_model(proto: Any, out: Path) -> float:
    """Serialise to one file atomically; the full checker runs on the temp file first, so a
    model that fails it never replaces the previous one. Returns the checker's seconds."""
    import onnx
    from onnx import TensorProto

    for t in proto.graph.initializer:
        if t.data_location == TensorProto.EXTERNAL:
            raise ArtifactError("exporter produced external data", f"initializer {t.name!r}", "please report this; the model must be one file")
    if proto.ByteSize() >= (2 << 30) - 1:
        raise UsageError("model too large for one ONNX file", f"{proto.ByteSize():,} bytes (protobuf's 2 GiB limit)")
    blob = proto.SerializeToString()
    with atomic_writer(out) as tmp:
        tmp.write_bytes(blob)
        t0 = time.perf_counter()
        try:
            onnx.checker.check_model(os.fspath(tmp), full_check=True)
        except Exception as exc:  # onnx.checker.ValidationError, shape inference errors
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ArtifactError("exported model fails onnx.checker (full_check)", first, "the previous file, if any, is untouched") from None
        return time.perf_counter() - t0


# --- parity ------------------------------------------------------------------------------


def parity_inputs(ds: Any, n_random: int = 1000, seed: int = 0) -> dict[str, np.ndarray]:
    """Named float32 (rows, n_features) groups: the test split, the whole dataset, seeded
    random rows inside and well beyond the training range, edge rows, and huge values."""
    rng = np.random.default_rng(seed)
    x = ds.features.astype(np.float32)  # (n_rows, n_features)
    lo, hi = x.min(axis=0).astype(np.float64), x.max(axis=0).astype(np.float64)
    span = np.where(hi > lo, hi - lo, 1.0)
    nf = x.shape[1]
    edge = np.stack([np.zeros(nf), lo, hi, (lo + hi) / 2, -hi, -span, span])
    scales = np.repeat([1e3, 1e4, 1e5, 1e6], 32)[:, None]  # 128 rows, 32 per magnitude
    large = rng.choice([-1.0, 1.0], size=(len(scales), nf)) * scales * span * rng.uniform(0.1, 1.0, size=(len(scales), nf))
    groups = {
        "test": x[ds.test_idx],
        "dataset": x,
        "random_within": rng.uniform(lo, hi, size=(n_random, nf)),
        "random_beyond": rng.uniform(lo - 3 * span, hi + 3 * span, size=(n_random, nf)),
        "edge": edge,
        "large": large,
    }
    return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in groups.items() if len(v)}


def _torch_outputs(wrapped: Any, x: np.ndarray, names: list[str]) -> dict[str, np.ndarray]:
    import torch

    with torch.no_grad():
        out = wrapped(torch.from_numpy(x))
    outs = out if isinstance(out, tuple) else (out,)
    return {n: o.numpy() for n, o in zip(names, outs)}


def _compare(pred: Any, wrapped: Any, groups: dict[str, np.ndarray], names: list[str], atol: float, rtol: float) -> ParityReport:
    """onnxruntime (all rows at once, and row by row) against torch (all rows at once),
    judged by compare's :class:`~irisonnx.compare.stats.PairStats` in close mode, per output and
    per input group; the batch-1 run's rows follow the all-at-once run's in the pair.

    Tolerance: ``|a - b| <= atol + rtol * |b|`` elementwise, b = torch. In ROW_SCALED_GROUPS
    ``|b|`` is the row's largest ``|b|`` (PairStats' ``scale``): there inputs of 1e3..1e6
    make logits that are sums of huge terms which cancel, and both float32 runtimes are then
    off by a few ulps *of the terms* (measured: ~2e-7 of the row's scale, against a float64
    oracle) while an element can be 1e4 times smaller than its row. A wrong weight still
    moves the row by O(1). The label is compared exactly, on rows where torch's top-2 logit
    margin exceeds the tolerance (a near-tie may flip either way).
    """
    t0 = time.perf_counter()
    x = np.concatenate(list(groups.values()))  # (n_rows, n_features)
    bounds, start = {}, 0
    for g, v in groups.items():
        bounds[g] = (start, start + len(v))
        start += len(v)

    ref = _torch_outputs(wrapped, x, names)  # the reference b
    runs = {"all-at-once": pred.run(x, names)}
    n1 = min(len(x), _BATCH_1_ROWS)
    one = [pred.run(x[i : i + 1], names) for i in range(n1)]
    runs["batch-1"] = {n: np.concatenate([o[n] for o in one]) for n in names}
    modes = list(runs)

    def where(r: int) -> str:  # row r of the pair: mode r // len(x), row r % len(x) of x
        mode, r = modes[r // len(x)], r % len(x)
        g = next(g for g, (lo, hi) in bounds.items() if lo <= r < hi)
        return f"{g} row {r - bounds[g][0]}, {mode}"

    tol = Tolerance(mode="close", atol=atol, rtol=rtol)
    by_output = PairStats("onnxruntime", "torch", tol, tolerance_figures=True)
    by_group = PairStats("onnxruntime", "torch", tol, tolerance_figures=True)
    labels = PairStats("onnxruntime", "torch", Tolerance(mode="exact"))
    for name in names:
        b = ref[name]
        if name == "label":
            top2 = np.sort(ref["logits"].astype(np.float64), axis=1)[:, -2:]
            clear = top2[:, 1] - top2[:, 0] > atol + rtol * np.abs(top2[:, 1])  # not a near-tie
            for a_all in runs.values():
                a = a_all[name]
                keep = clear[: len(a)]
                labels.update(name, a[keep], b[: len(a)][keep])
            continue
        scale = np.abs(b.astype(np.float64))
        for g in ROW_SCALED_GROUPS:
            if g in bounds:
                lo, hi = bounds[g]
                scale[lo:hi] = scale[lo:hi].max(axis=1, keepdims=True)
        for k, a_all in enumerate(runs.values()):
            a = a_all[name]
            for g, (lo, hi) in bounds.items():
                hi = min(hi, len(a))
                if lo >= hi:
                    continue
                chunk = (a[lo:hi], b[lo:hi])
                by_output.update(name, *chunk, row_offset=k * len(x) + lo, scale=scale[lo:hi])
                by_group.update(g, *chunk, row_offset=k * len(x) + lo, scale=scale[lo:hi])
    out_stats = {n: Stats(by_output.outputs[n], where) for n in names if n != "label"}
    grp_stats = {g: Stats(by_group.outputs[g], where) for g in groups}
    label_bad = labels.outputs["label"].n_fail if "label" in labels.outputs else 0
    batch_modes = ["all-at-once", f"batch-1 (first {n1} rows)" if n1 < len(x) else "batch-1"]
    return ParityReport(atol, rtol, {g: len(v) for g, v in groups.items()}, batch_modes, out_stats, grp_stats, label_bad, time.perf_counter() - t0)


# --- the whole export --------------------------------------------------------------------


def _check_args(exporter: str, opset: int, atol: float, rtol: float) -> None:
    if exporter not in OPSET_RANGES:
        raise UsageError("unknown exporter", repr(exporter), f"choose one of {', '.join(EXPORTERS)}")
    lo, hi = OPSET_RANGES[exporter]
    if not lo <= opset <= hi:
        raise UsageError(f"opset {opset} is not supported by the {exporter} exporter", f"the allowed range is {lo}..{hi}", f"use --opset {DEFAULT_OPSET}" if lo <= DEFAULT_OPSET <= hi else f"use --opset {hi}")
    for name, v in (("atol", atol), ("rtol", rtol)):
        if not (isinstance(v, (int, float)) and np.isfinite(v) and v >= 0):
            raise UsageError(f"bad {name}", repr(v), "use a finite number >= 0")


def export_run(
    run_dir: str | os.PathLike,
    out: str | os.PathLike | None = None,
    exporter: str = "dynamo",
    opset: int = DEFAULT_OPSET,
    with_probabilities: bool = False,
    with_label: bool = False,
    atol: float = 1e-5,
    rtol: float = 1e-5,
) -> ExportResult:
    """Export a run's final weights to ONNX, check it, prove parity with torch, record it.

    Raises CheckFailed (exit 1) when onnxruntime and torch disagree beyond
    ``atol + rtol * |torch|``; the exception's ``result`` holds the full ExportResult.
    """
    from irisonnx.guard import check_output
    from irisonnx.training.run import Run
    from irisonnx.runlock import run_lock

    _check_args(exporter, opset, atol, rtol)
    run = Run.open(run_dir)
    target = Path(out) if out is not None else run.onnx_path
    if target.suffix != ".onnx":
        raise UsageError("output must be an .onnx file", str(target), "name it e.g. model.onnx")
    if target.is_dir():
        raise UsageError("output path is a folder", str(target), "give a file name ending in .onnx")
    check_output(target, "--out", allow=run.onnx_path)
    with run_lock(run.dir):  # the weights must not move while they are exported
        run = Run.open(run.dir)
        return _export_locked(run, target, exporter, opset, with_probabilities, with_label, atol, rtol)


def _export_locked(run: Any, target: Path, exporter: str, opset: int, with_probabilities: bool, with_label: bool, atol: float, rtol: float) -> ExportResult:
    from irisonnx.runtimes.ort_engine import Predictor

    model = run.load_model()  # verified against the manifest
    ds = run.dataset()  # verified against the data sha256 in config.json
    names = ["logits"] + (["probabilities"] if with_probabilities else []) + (["label"] if with_label else [])
    wrapped = _wrap(model, with_probabilities, with_label)

    t0 = time.perf_counter()
    proto = _export_proto(wrapped, run.model_config.n_features, names, exporter, opset)
    export_seconds = time.perf_counter() - t0
    got = {o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")}
    if got != {opset}:
        raise UsageError(f"the {exporter} exporter produced opset {sorted(got)}, not the {opset} asked for", "version conversion failed", _opset_hint(exporter))

    meta = _metadata(run, exporter, opset)
    existing = {p.key: p.value for p in proto.metadata_props}
    del proto.metadata_props[:]
    for k, v in {**existing, **meta}.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = k, v
    proto.doc_string = _doc_string(meta, names)
    check_seconds = _write_model(proto, target)

    info: ModelInfo = load_model_safely(target)  # what predict will see: refuse it now if it would
    pred = Predictor(info, provider="cpu")
    report = _compare(pred, wrapped, parity_inputs(ds), names, atol, rtol)
    result = ExportResult(target, run.dir, exporter, opset, names, info.sha256, info.size, export_seconds, check_seconds, report, meta)
    _record(run, target, result)
    if not report.passed:
        bad = {g: st for g, st in report.by_group.items() if st.n_bad}
        worst_abs = max((st.max_abs_err for st in bad.values()), default=report.max_abs_err)
        worst_rel = max((st.max_rel_err for st in bad.values() if st.n_rel), default=report.max_rel_err)
        err = CheckFailed(
            "ONNX model disagrees with torch",
            f"max abs err {worst_abs:.3g}, max rel err {worst_rel:.3g} in {', '.join(bad) or 'labels'} (tolerance {atol:g} + {rtol:g}*|torch|; {report.summary()})",
            f"{target} is kept but marked validated: false in the manifest",
        )
        err.result = result  # type: ignore[attr-defined]
        raise err
    return result


def _record(run: Any, target: Path, result: ExportResult) -> None:
    """Put the run's own model.onnx and its validation in the run's manifest, with the sha256
    of the weights it was made from. A model written anywhere else leaves the run untouched."""
    manifest = run.manifest()
    rep = result.parity
    section = {
        "exporter": result.exporter,
        "opset": result.opset,
        "outputs": result.outputs,
        "sha256": result.sha256,
        "max_abs_err": rep.max_abs_err,
        "max_rel_err": rep.max_rel_err,
        "max_tolerance_ratio": rep.to_dict()["max_tolerance_ratio"],
        "n_rows": rep.n_rows,
        "groups": {k: {"rows": v["rows"], "max_abs_err": v["max_abs_err"], "max_rel_err": v["max_rel_err"], "tolerance": v["tolerance"]} for k, v in rep.to_dict()["by_group"].items()},
        "batch_modes": rep.batch_modes,
        "label_mismatches": rep.label_mismatches,
        "atol": rep.atol,
        "rtol": rep.rtol,
        "validated": rep.passed,
        "export_seconds": round(result.export_seconds, 4),
    }
    if target.resolve() != run.onnx_path.resolve():
        # Exported elsewhere (--out): the run's model.onnx and its export record stay as they
        # are; they describe the run's own model, which a later pipeline must not replace.
        return
    from irisonnx.guard import current_weights_sha, record_derived

    weights = current_weights_sha(manifest.data)
    manifest.record([run.onnx_path], validated=rep.passed)
    section["path"] = "model.onnx"
    section["weights_sha256"] = weights
    section["stale"] = False
    manifest.data["export"] = section
    record_derived(manifest, "model.onnx", weights)
    manifest.save()
