"""What the onnxruntime-family variants share: :class:`OrtVariant` (make one .onnx file from the
source, check it, load it into a Predictor), the quantiser helpers (pre-processing,
calibration readers, weight types), graph fixes (toposort, opset normalisation) and the
ORT-format converter. Each variant's own converter is in its file (fp32.py ... fp16.py).

Nothing here judges the result (that is :mod:`irisonnx.edge.gates`'s job) or prints.
onnxruntime's quantisation tools print and log freely, so each conversion runs under
:func:`_quiet`.

Default int8 weights are uint8 (U8U8), not onnxruntime's int8: on x86 CPUs without VNNI
(AVX2 only, like our build machines) the U8S8 kernels use VPMADDUBSW, whose int16
saturation cost this Iris model 1-2 test rows; U8U8 kernels exist on every platform.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import shutil
import subprocess
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from irisonnx.edge.variants.base import Source, Variant
from irisonnx.errors import ArtifactError, UsageError

__all__ = [
    "OrtVariant",
    "CALIBRATION_METHODS",
    "INT8_WEIGHTS",
    "OPT_LEVEL",
    "QuantOptions",
    "variant_file",
    "convert_to_ort",
    "toposort",
    "normalise_opsets",
    "int8_skip_reason",
    "QUANTISABLE_OPS",
]

CALIBRATION_METHODS = ("minmax", "entropy", "percentile")
INT8_WEIGHTS = ("uint8", "int8")
OPT_LEVEL = "extended"  # see the module docstring for why not "all"
ORT_TOOL = "onnxruntime.tools.convert_onnx_models_to_ort"
ORT_CONFIG = "required_operators.config"
QUANTISABLE_OPS = ("MatMul", "Gemm", "Conv")  # what int8 buys anything on; the rest stays float


@dataclass(frozen=True)
class QuantOptions:
    """How the int8 variants are made. ``per_channel`` applies to both int8 variants."""

    calibration_method: str = "minmax"
    per_channel: bool = False
    int8_weights: str = "uint8"
    reduce_range: bool = False
    calibration_batch: int = 64  # rows per calibration call, at most (see _CalibrationRows)

    def __post_init__(self) -> None:
        if self.calibration_method not in CALIBRATION_METHODS:
            raise UsageError("unknown calibration method", repr(self.calibration_method), f"choose one of {', '.join(CALIBRATION_METHODS)}")
        if self.int8_weights not in INT8_WEIGHTS:
            raise UsageError("unknown int8 weight type", repr(self.int8_weights), f"choose one of {', '.join(INT8_WEIGHTS)}")
        if self.calibration_batch < 1:
            raise UsageError("bad calibration batch size", repr(self.calibration_batch))

    def to_dict(self) -> dict[str, Any]:
        return {"calibration_method": self.calibration_method, "per_channel": self.per_channel, "int8_weights": self.int8_weights, "reduce_range": self.reduce_range}


def variant_file(variant: str, fmt: str = "onnx") -> str:
    """``model.<variant>.onnx`` (or ``.ort``): the names inside a bundle."""
    return f"model.{variant}.{fmt}"


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence the quantisation tools: they print to stdout (``Number of tensors : 4``), log
    warnings ('Please consider to run pre-processing') and warn; the library prints nothing."""
    import onnxruntime as ort

    from irisonnx import ortlog

    names = ("root", "onnxruntime", "onnxruntime.quantization", "onnxruntime.transformers")
    loggers = [logging.getLogger() if n == "root" else logging.getLogger(n) for n in names]
    levels = [lg.level for lg in loggers]
    try:
        for lg in loggers:
            lg.setLevel(logging.ERROR)
        # Sessions the tools create log C++ warnings otherwise; set back when they are done.
        with ortlog.default_severity(ort, max(3, ortlog.process_severity())), warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, lvl in zip(loggers, levels):
            lg.setLevel(lvl)


def _preprocessed(src: Path, work: Path) -> Path:
    """onnxruntime's recommended step before quantising: ONNX shape inference plus basic
    graph optimisation. Symbolic shape inference (for transformer-style dynamic shapes, and
    ~6 s of sympy here) adds nothing to a Gemm MLP, so it is skipped."""
    from onnxruntime.quantization.shape_inference import quant_pre_process

    out = work / "preprocessed.onnx"
    if not out.exists():
        quant_pre_process(os.fspath(src), os.fspath(out), skip_symbolic_shape=True)
    return out


def _weight_types(opts: QuantOptions) -> tuple[Any, Any]:
    """(activation type, weight type) for quantize_static; dynamic activations are always uint8."""
    from onnxruntime.quantization import QuantType

    if opts.int8_weights == "uint8":
        return QuantType.QUInt8, QuantType.QUInt8
    return QuantType.QInt8, QuantType.QInt8  # onnxruntime's QDQ default (S8S8)


def _batch_size(n: int, at_most: int) -> int:
    """The largest divisor of ``n`` not above ``at_most``: onnxruntime's histogram collectors
    (entropy, percentile) stack every batch into one array and fail on a shorter last batch."""
    for b in range(min(n, at_most), 0, -1):
        if n % b == 0:
            return b
    return 1


def _feeds_reader(feeds: list[dict[str, np.ndarray]]) -> Any:
    """Calibration feeds of any signature (arrays by input name), one call each, rewindable."""
    from onnxruntime.quantization import CalibrationDataReader

    class _CalibrationFeeds(CalibrationDataReader):
        def __init__(self) -> None:
            self.i = 0

        def get_next(self) -> dict[str, np.ndarray] | None:
            if self.i >= len(feeds):
                return None
            self.i += 1
            return feeds[self.i - 1]

        def rewind(self) -> None:
            self.i = 0

    return _CalibrationFeeds()


def _calibration_reader(rows: np.ndarray, input_name: str, batch: int) -> Any:
    from onnxruntime.quantization import CalibrationDataReader

    class _CalibrationRows(CalibrationDataReader):
        """The calibration rows in equal batches, rewindable (entropy/percentile read twice)."""

        def __init__(self) -> None:
            self.x = np.ascontiguousarray(rows, dtype=np.float32)  # (n, n_features)
            self.batch = _batch_size(len(self.x), batch)
            self.i = 0

        def get_next(self) -> dict[str, np.ndarray] | None:
            if self.i >= len(self.x):
                return None
            chunk = self.x[self.i : self.i + self.batch]
            self.i += self.batch
            return {input_name: chunk}

        def rewind(self) -> None:
            self.i = 0

    return _CalibrationRows()


def toposort(graph: Any) -> None:
    """Sort ``graph.node`` in place so every node comes after the nodes that feed it (Kahn)."""
    nodes = list(graph.node)
    produced = {o: i for i, n in enumerate(nodes) for o in n.output if o}
    deps = [{produced[x] for x in n.input if x in produced} for n in nodes]
    done: set[int] = set()
    order: list[int] = []
    while len(order) < len(nodes):
        ready = [i for i in range(len(nodes)) if i not in done and deps[i] <= done]
        if not ready:
            raise ArtifactError("cannot sort the graph", "it has a cycle")
        for i in ready:  # keeps the original order among independent nodes
            done.add(i)
            order.append(i)
    sorted_nodes = [nodes[i] for i in order]
    del graph.node[:]
    graph.node.extend(sorted_nodes)


def normalise_opsets(proto: Any) -> Any:
    """A copy of ``proto`` that imports each opset domain once, at the highest version given
    ('' and 'ai.onnx' are one domain). skl2onnx declares the default domain twice, which
    onnx.checker accepts and onnxruntime's quantiser fails on ("Failed to find proper
    ai.onnx domain")."""
    best: dict[str, int] = {}
    for o in proto.opset_import:
        d = "" if o.domain in ("", "ai.onnx") else o.domain
        best[d] = max(best.get(d, 0), int(o.version))
    out = type(proto)()
    out.CopyFrom(proto)
    del out.opset_import[:]
    for d, v in best.items():
        out.opset_import.add(domain=d, version=v)
    return out


def _all_op_types(proto: Any) -> set[str]:
    """Op types of the default domain in the graph and every subgraph (If/Loop/Scan bodies)."""
    found: set[str] = set()
    stack = [proto.graph]
    while stack:
        g = stack.pop()
        for n in g.node:
            if n.domain in ("", "ai.onnx"):
                found.add(n.op_type)
            for a in n.attribute:
                if a.HasField("g"):
                    stack.append(a.g)
                stack.extend(a.graphs)
    return found


def int8_skip_reason(proto: Any) -> str | None:
    """Why an int8 variant would be pointless for this graph (None: it applies)."""
    if not _all_op_types(proto) & set(QUANTISABLE_OPS):
        return "no MatMul/Gemm/Conv to quantise"
    return None


def _finish(data: bytes, extra: dict[str, str]) -> bytes:
    """The variant's bytes with ``edge_*`` keys added to metadata_props (the rest kept), and
    only the opset imports its nodes use: onnxruntime's optimiser declares every domain it
    knows (ai.onnx.training, com.microsoft.nchwc, org.pytorch.aten, ...), which loaders that
    vet domains rightly refuse."""
    import onnx

    proto = onnx.load_model_from_string(data)
    used = {n.domain or "" for n in proto.graph.node} | {""}
    kept = [o for o in proto.opset_import if (o.domain or "") in used or o.domain == "ai.onnx"]
    del proto.opset_import[:]
    proto.opset_import.extend(kept)
    keep = [(p.key, p.value) for p in proto.metadata_props if p.key not in extra]
    del proto.metadata_props[:]
    for k, v in keep + sorted(extra.items()):
        proto.metadata_props.add(key=k, value=v)
    return proto.SerializeToString()


class OrtVariant(Variant):
    """A variant that is one .onnx file run by onnxruntime: :meth:`convert` gives its bytes from
    the source file (each opset domain imported once); ``edge_variant`` and
    ``edge_source_sha256`` are added to its metadata."""

    family = "onnxruntime"
    suffix = ".onnx"
    runtime = "ort-cpu"

    def convert(self, src_file: Path, src: Source, work: Path, opts: QuantOptions, calibration: Any) -> bytes:
        raise NotImplementedError

    def make(self, src: Source, out_path: Path, work: Path, opts: Any, calibration: Any) -> None:
        work.mkdir(parents=True, exist_ok=True)
        src_file = work / "source.onnx"
        if not src_file.exists():  # the tools read a file; each opset domain imported once (see normalise_opsets)
            src_file.write_bytes(normalise_opsets(src.proto).SerializeToString())
        with _quiet():
            data = self.convert(src_file, src, work, opts, calibration)
        out_path.write_bytes(_finish(data, {"edge_variant": self.name, "edge_source_sha256": src.sha256}))

    def check(self, path: Path) -> Any:
        from irisonnx.modelfile.onnx_io import load_model_safely

        return load_model_safely(path)  # checker + signature

    def load(self, path: Any, threads: int | None) -> Any:
        """A Predictor (``path``: the file, or what :meth:`check` returned for it)."""
        from irisonnx.runtimes.ort_engine import Predictor

        return Predictor(self.check(path) if isinstance(path, (str, Path)) else path, threads=threads)


# --- .ort format ---------------------------------------------------------------------------


def convert_to_ort(folder: Path, timeout: float = 600) -> tuple[list[Path], Path]:
    """Run onnxruntime's own converter on every ``*.onnx`` in ``folder`` (Fixed optimisation
    style at its default level 'all'; without --target_platform it leaves out the
    machine-specific NCHWc transformer). Returns (the .ort files, required_operators.config).

    The config's comment lines name the converted files by absolute path, here a temp
    folder; they are rewritten to bare file names so the bundle can move.
    """
    env = {k: v for k, v in os.environ.items() if k != "ORT_CONVERT_ONNX_MODELS_TO_ORT_OPTIMIZATION_LEVEL"}
    args = [os.fspath(folder), "--optimization_style", "Fixed", "--output_dir", os.fspath(folder)]
    # As `python -m ORT_TOOL ARGS`, but with torch hidden: onnxruntime.tools/__init__ imports
    # torch whenever it is installed (for an export helper the converter never uses), which
    # is 5-6 s of a 7 s conversion here.
    boot = f"import runpy, sys; sys.modules['torch'] = None; sys.argv = [{ORT_TOOL!r}] + sys.argv[1:]; runpy.run_module({ORT_TOOL!r}, run_name='__main__', alter_sys=True)"
    cmd = [sys.executable, "-c", boot, *args]
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        raise ArtifactError("ORT format conversion timed out", f"{ORT_TOOL} ran over {timeout:.0f} s") from None
    if r.returncode != 0:
        lines = [ln for ln in (r.stderr + r.stdout).splitlines() if ln.strip()]
        raise ArtifactError("ORT format conversion failed", f"{ORT_TOOL} exited {r.returncode}: {lines[-1] if lines else 'no output'}")
    config = folder / ORT_CONFIG
    if not config.is_file():
        raise ArtifactError("ORT format conversion wrote no required_operators.config", os.fspath(folder))
    base = os.fspath(folder.resolve())
    text = config.read_text(encoding="utf-8")
    lines = []
    for ln in text.splitlines():
        if ln.startswith("# - "):
            ln = "# - " + Path(ln[4:].strip()).name
        lines.append(ln.replace(base + os.sep, ""))
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return sorted(folder.glob("*.ort")), config


def remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
