"""What ``irisonnx serve`` serves: one model, or every variant of an edge bundle as versions.

A :class:`Repository` is fixed when the server starts (no load or unload while it runs); each
version is one :class:`irisonnx.runtimes.ort_engine.Predictor` over a checked model (its sha256 and the
validation status irisonnx recorded for it are part of its metadata). :meth:`ServedModel.infer`
is the one inference path of both front ends: decoded arrays in, checked against the
signature, outputs out; every failure a client can cause is a BadRequest.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from irisonnx.errors import DataError, IrisOnnxError, UsageError
from irisonnx.serve.protocol import BadRequest, expected, tensor_metadata

__all__ = ["ServedModel", "Repository", "load_repository", "default_name"]

PLATFORM = "onnxruntime_onnx"


@dataclass
class ServedModel:
    name: str
    version: str
    predictor: Any
    sha256: str
    path: str
    validated: bool | None
    validation: dict[str, Any] = field(default_factory=dict)

    @property
    def signature(self) -> Any:
        return self.predictor.info.signature

    def metadata(self, versions: list[str]) -> dict[str, Any]:
        sig = self.signature
        return {
            "name": self.name,
            "versions": versions,
            "platform": PLATFORM,
            "inputs": [tensor_metadata(i) for i in sig.inputs],
            "outputs": [tensor_metadata(o) for o in sig.outputs if o.is_tensor],
            "irisonnx": {"version": self.version, "sha256": self.sha256, "file": Path(self.path).name, "validated": self.validated, **self.validation},
        }

    def input_spec(self, name: Any) -> Any:
        sig = self.signature
        if not isinstance(name, str):
            raise BadRequest(f"an input has name {name!r}, not a string; the model takes {self.takes()}")
        try:
            return sig.input(name)
        except KeyError:
            raise BadRequest(f"input {name!r} is not an input of model {self.name!r}; it takes {self.takes()}") from None

    def takes(self) -> str:
        return ", ".join(f"{i.name} {expected(i)}" for i in self.signature.inputs)

    def infer(self, feeds: dict[str, np.ndarray], outputs: list[str] | None) -> dict[str, np.ndarray]:
        from irisonnx.modelfile.signature import check_feeds

        sig = self.signature
        missing = [i for i in sig.inputs if i.name not in feeds]
        if missing:
            raise BadRequest(f"input {missing[0].name!r} is missing; expected {expected(missing[0])} (the model takes {self.takes()})")
        tensor_outs = [o.name for o in sig.outputs if o.is_tensor]
        if outputs:
            for o in outputs:
                if o not in tensor_outs:
                    raise BadRequest(f"output {o!r} is not an output of model {self.name!r}; it has {', '.join(tensor_outs)}")
        names = list(outputs) if outputs else tensor_outs
        try:
            checked = check_feeds(sig, feeds, "request")
            return self.predictor.run_feeds(checked, names)
        except DataError as exc:
            raise BadRequest(str(exc)) from None
        except IrisOnnxError as exc:  # onnxruntime failed on these inputs (a Reshape that cannot hold them...)
            raise BadRequest(f"the model could not run on these inputs: {exc}", 422) from None


@dataclass
class Repository:
    """Models by name; each holds versions in order, the first being the default."""

    models: dict[str, dict[str, ServedModel]]

    def get(self, name: str, version: str | None) -> ServedModel:
        versions = self.models.get(name)
        if versions is None:
            raise BadRequest(f"unknown model {name!r}; this server serves {', '.join(self.models)}", 404)
        if version in (None, ""):
            return next(iter(versions.values()))
        m = versions.get(version)  # type: ignore[arg-type]
        if m is None:
            raise BadRequest(f"model {name!r} has no version {version!r}; it has {', '.join(versions)}", 404)
        return m

    def versions(self, name: str) -> list[str]:
        return list(self.models[name])


_NAME_OK = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")


def default_name(target: Path) -> str:
    """The served name: a run's or a bundle's folder name (a bundle named ``edge`` takes its
    run's), a model file's stem; reduced to letters, digits, ``_.-``."""
    t = target.resolve()
    base = t.stem if t.is_file() else (t.parent.name if t.name == "edge" else t.name)
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", base).strip("-._") or "model"
    return name[:63]


def check_name(name: str) -> str:
    if not _NAME_OK.match(name):
        raise UsageError("bad --name", repr(name), "use 1-63 letters, digits, '_', '.' or '-', starting with a letter or digit")
    return name


def _is_bundle(folder: Path) -> dict[str, Any] | None:
    from irisonnx.storage import MANIFEST_NAME, read_json

    if not (folder / MANIFEST_NAME).is_file() or (folder / "config.json").exists():
        return None
    m = read_json(folder / MANIFEST_NAME, "manifest")
    from irisonnx.edge.build import EDGE_FORMAT

    return m if isinstance(m, dict) and m.get("format") == EDGE_FORMAT else None


def load_repository(target: str | Path, name: str | None = None, threads: int | None = None) -> Repository:
    """Load a run, an .onnx file or an edge bundle (every .onnx variant a version, the
    manifest's default first). Errors are irisonnx's own (exit 2/3/4), before anything listens."""
    from irisonnx.modelfile.onnx_io import resolve_model
    from irisonnx.training.run import resolve_target
    from irisonnx.runtimes.ort_engine import Predictor

    t = Path(target)
    name = check_name(name) if name else default_name(t)
    bundle = _is_bundle(t) if t.is_dir() else None
    models: dict[str, ServedModel] = {}
    if bundle is not None:
        variants = [v for v in bundle.get("variants", []) if isinstance(v, dict) and str(v.get("file", "")).endswith(".onnx")]
        default = bundle.get("default_variant")
        variants.sort(key=lambda v: v.get("variant") != default)
        if not variants:
            raise UsageError("the edge bundle has no .onnx variant to serve", str(t))
        for v in variants:
            info = resolve_model(t / str(v["file"]))
            pred = Predictor(info, threads=threads)
            gate = {"gate": v.get("gate"), "figures": v.get("figures")}
            models[str(v["variant"])] = ServedModel(name, str(v["variant"]), pred, info.sha256, str(info.path), True, {"edge_gate": gate})
    else:
        _run, info = resolve_target(t)
        if info is None:
            raise UsageError("run has no model.onnx", str(t), f"export it first: irisonnx export {t}")
        pred = Predictor(info, threads=threads)
        entry = info.manifest_entry or {}
        validated = entry.get("validated") if isinstance(entry.get("validated"), bool) else None
        extra: dict[str, Any] = {}
        if info.export_record:
            extra["export"] = {k: info.export_record.get(k) for k in ("max_abs_err", "atol", "rtol", "exporter") if k in info.export_record}
        models["1"] = ServedModel(name, "1", pred, info.sha256, str(info.path), validated, extra)
    return Repository({name: models})
