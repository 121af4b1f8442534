"""What the ExecuTorch variants share (``executorch-fp32``, ``executorch-int8``): the torch
module (the run's MLP, wrapped to give the ONNX model's outputs, or the ``--module``) through
``torch.export`` to a ``.pte`` for the XNNPACK delegate, PT2E-quantised to int8 with the
XNNPACK quantizer for ``executorch-int8`` (calibrated on the rows int8-static calibrates on),
and loaded back by ExecuTorch's runtime for the gates.

The export and the loaded program are the runtime's (:mod:`irisonnx.runtimes.executorch`):
the same batch handling (dynamic up to 64 rows a call, chunked; a batch torch.export must fix
is padded). What a bundle's predict.py needs to run the file without irisonnx (forward's
input order, the output names, whether the batch is fixed) is written beside it as
``model.<variant>.pte.json`` and bundled with it.

ExecuTorch's Python runtime in the executorch wheel needs torch (its extension links
libtorch). ``executorch-numpy-runtime`` runs a .pte with numpy alone (Python >= 3.12; built on
ExecuTorch 1.3.1 and it read these 1.5.1 programs, XNNPACK fp32 and int8 alike); predict.py
uses it when installed, else executorch (and torch).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from irisonnx.edge.variants.base import Source, Variant
from irisonnx.errors import ArtifactError

__all__ = ["ExecuTorchVariant", "PteInfo", "PteRunner", "SIDECAR"]

SIDECAR = "irisonnx-executorch-program/1"
_INSTALL = "pip install 'irisonnx[executorch]'"


@dataclass
class PteInfo:
    """What :meth:`ExecuTorchVariant.check` gives: the file and how to feed it."""

    path: Path
    size: int
    sha256: str
    inputs: list[str]  # forward's order
    output_names: list[str]
    batch: str  # "dynamic", "fixed" or "as the signature"
    batched: bool
    details: dict[str, Any] = field(default_factory=dict)
    proto: Any = None  # not an ONNX model: no ONNX ops to count


class PteRunner:
    """A ``.pte`` run by ExecuTorch's runtime: ``run_feeds(feeds) -> outputs by name``."""

    def __init__(self, info: PteInfo, threads: int | None) -> None:
        from irisonnx.runtimes.executorch import PteProgram

        self.info = info
        self.program = PteProgram(info.path, batched=info.batched, fixed=info.batch == "fixed", threads=threads, label=info.path.name)

    def run_feeds(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        outs = self.program.run([np.ascontiguousarray(feeds[n]) for n in self.info.inputs])
        return dict(zip(self.info.output_names, outs))


def sidecar_path(path: Path) -> Path:
    return path.with_name(path.name + ".json")


class ExecuTorchVariant(Variant):
    """A .pte for ExecuTorch's XNNPACK delegate, from the torch module (``int8``: quantised)."""

    family = "executorch"
    suffix = ".pte"
    runtime = "executorch"
    int8 = False

    def skip_reason(self, src: Source) -> str | None:
        for pkg in ("executorch", "torch"):
            try:
                found = importlib.util.find_spec(pkg) is not None
            except (ImportError, ValueError):
                found = False
            if not found:
                return f"{pkg} is not installed: {_INSTALL}"
        if src.run_dir is None and src.module_spec is None:
            return "needs the torch module: a run folder or --module FILE.py:FACTORY (ExecuTorch cannot read ONNX)"
        return None

    def make(self, src: Source, out_path: Path, work: Path, opts: Any, calibration: Any) -> None:
        from irisonnx.runtimes.executorch import export_pte, input_specs
        from irisonnx.runtimes.torch_eager import torch_context, load_torch_model

        ctx = torch_context(src.info, run_dir=src.run_dir, module_spec=src.module_spec)
        model, params, label = load_torch_model(ctx)
        names = list(src.info.output_names)
        if params is None:  # the run's MLP gives logits; the ONNX model may add probabilities and the label
            from irisonnx.export.export import _wrap

            model = _wrap(model, "probabilities" in names, "label" in names)
        sig = src.signature
        specs = input_specs(sig, params)
        if self.int8 and calibration is None:
            from irisonnx.errors import UsageError

            raise UsageError(f"{self.name} needs calibration rows", "no dataset", "pass a run folder")
        details = export_pte(model, specs, sig.batched(), out_path, backend="xnnpack", calibration=calibration if self.int8 else None, label=label)
        meta = {"format": SIDECAR, "inputs": [s.name for s in specs], "outputs": names, "batch": details["batch"], "batched": sig.batched(), "details": details, "source": label, "source_sha256": src.sha256}
        sidecar_path(out_path).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")

    def check(self, path: Path) -> PteInfo:
        path = Path(path)
        try:
            meta = json.loads(sidecar_path(path).read_text())
            data = path.read_bytes()
        except (OSError, ValueError) as exc:
            raise ArtifactError(f"{path.name} is incomplete", f"{sidecar_path(path).name}: {exc}") from None
        if meta.get("format") != SIDECAR:
            raise ArtifactError(f"{sidecar_path(path).name} is not an irisonnx ExecuTorch sidecar", repr(meta.get("format")))
        return PteInfo(path, len(data), hashlib.sha256(data).hexdigest(), list(meta["inputs"]), list(meta["outputs"]), str(meta["batch"]), bool(meta["batched"]), dict(meta.get("details") or {}))

    def load(self, path: Any, threads: int | None) -> PteRunner:
        """A runner (``path``: the file, or what :meth:`check` returned for it)."""
        from irisonnx.runtimes.conversion import RuntimeUnsupported

        info = self.check(path) if isinstance(path, (str, Path)) else path
        try:
            return PteRunner(info, threads)
        except RuntimeUnsupported as exc:  # a kernel this runtime lacks: the variant cannot run here
            raise ArtifactError(str(exc), exc.why or "") from None

    def bundle_files(self, path: Path) -> list[Path]:
        return [path, sidecar_path(path)]

    def settings(self, opts: Any, src: Source, made: Any = None, generic: bool = False) -> dict[str, Any]:
        from importlib.metadata import version

        d: dict[str, Any] = {
            "tool": "torch.export + to_edge_transform_and_lower (XNNPACK partitioner) + to_executorch",
            "executorch": version("executorch"),
            "torch": version("torch"),
        }
        if made is not None:
            d.update(inputs=made.inputs, outputs=made.output_names, batch=made.batch, max_batch=made.details.get("max_batch"))
        d["predict"] = "predict.py runs it with executorch-numpy-runtime and numpy (Python >= 3.12, no torch) or, without it, with executorch, whose runtime needs torch"
        if self.int8:
            d.update(quantizer="PT2E, XNNPACKQuantizer (symmetric int8, per-channel weights, static activations)", calibration="see inputs.calibration" if generic else "training split")
        return d
