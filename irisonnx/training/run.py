"""The run directory: the handle users pass around (``irisonnx export RUN``).

    RUN/config.json            data, model and training config, data sha256, library versions
    RUN/checkpoints/epoch-NNNN.safetensors
    RUN/model.safetensors      final weights
    RUN/metrics.json           per-epoch loss and accuracy
    RUN/manifest.json          sha256 and size of every file above (and model.onnx once exported)
"""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from irisonnx.config import ModelConfig, TrainConfig, from_dict
from irisonnx.errors import ArtifactError, UsageError
from irisonnx.storage import Manifest, read_json

if TYPE_CHECKING:
    from irisonnx.modelfile.onnx_io import ModelInfo

__all__ = ["RUN_FORMAT", "Run", "library_versions", "is_run_dir", "resolve_target"]

RUN_FORMAT = "irisonnx-run/1"


def library_versions(*names: str) -> dict[str, str]:
    """Versions of the named distributions (without importing them) plus irisonnx and python."""
    from importlib import metadata

    from irisonnx import __version__

    out = {"irisonnx": __version__, "python": platform.python_version()}
    for n in names:
        try:
            out[n] = metadata.version(n)
        except metadata.PackageNotFoundError:
            out[n] = "not installed"
    return out


def is_run_dir(path: str | os.PathLike) -> bool:
    return Path(path).is_dir() and (Path(path) / "config.json").exists()


@dataclass
class Run:
    dir: Path
    config: dict[str, Any]

    @classmethod
    def open(cls, path: str | os.PathLike) -> "Run":
        d = Path(path)
        if not d.exists():
            raise UsageError("run folder not found", str(d), "train one with: irisonnx train")
        if not d.is_dir() or not (d / "config.json").exists():
            raise UsageError("not a run folder", f"{d} has no config.json", "pass the folder irisonnx train wrote")
        cfg = read_json(d / "config.json", "run config.json")
        if not isinstance(cfg, dict) or cfg.get("format") != RUN_FORMAT:
            raise ArtifactError("not an irisonnx run config", str(d / "config.json"))
        from irisonnx.guard import check_run_links

        check_run_links(d)  # before anything else of the run is read (exit 3)
        return cls(d, cfg)

    @property
    def model_config(self) -> ModelConfig:
        return from_dict(ModelConfig, self.config["model"])

    @property
    def train_config(self) -> TrainConfig:
        return from_dict(TrainConfig, self.config["train"])

    @property
    def checkpoints_dir(self) -> Path:
        return self.dir / "checkpoints"

    @property
    def weights_path(self) -> Path:
        return self.dir / "model.safetensors"

    @property
    def onnx_path(self) -> Path:
        return self.dir / "model.onnx"

    def manifest(self) -> Manifest:
        return Manifest.load(self.dir)

    def dataset(self) -> Any:
        """The dataset the run was trained on, checked against the checksum in config.json."""
        from irisonnx.data.datastore import load_dataset

        d = self.config["data"]
        candidates = [d.get("dir"), d["name"]]
        last: Exception | None = None
        for c in candidates:
            if not c:
                continue
            try:
                ds = load_dataset(c)
            except UsageError as exc:
                last = exc
                continue
            if ds.sha256 != d.get("sha256"):
                raise ArtifactError(
                    f"dataset {d['name']!r} differs from the one this run was trained on",
                    f"{ds.dir}/meta.json sha256 {ds.sha256[:12]}… != {str(d.get('sha256'))[:12]}…",
                    "re-create it with the same CSV and split settings",
                )
            return ds
        raise last or UsageError("dataset not found", d["name"])

    def load_model(self, weights: str | os.PathLike | None = None, verify: bool = True) -> Any:
        """Rebuild the torch model from config.json and the final (or given) weights."""
        from irisonnx.training.checkpoint import load_weights_torch
        from irisonnx.training.model import MLP

        path = Path(weights) if weights else self.weights_path
        if verify and path.resolve().parent == self.dir.resolve():
            self.manifest().verify(path, "weights file")
        import torch

        state = load_weights_torch(path)
        with torch.random.fork_rng(devices=[]):  # the random init is overwritten: leave the caller's torch RNG alone
            model = MLP(self.model_config)
        try:
            model.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            raise ArtifactError("weights do not fit the run's model config", f"{path}: {str(exc).splitlines()[0]}") from exc
        return model.eval()


def resolve_target(target: str | os.PathLike, *, allow_unvalidated: bool = True, model_in_run: bool = False) -> tuple[Any, ModelInfo | None]:
    """The one "run folder or model file" resolver (compare, bench, edge): (Run or None,
    checked ModelInfo or None). A run without model.onnx gives (run, None); a missing path or a
    folder that is not a run is exit 2. ``model_in_run``: RUN/model.onnx also gives its run."""
    from irisonnx.modelfile.onnx_io import resolve_model

    t = Path(target)
    if not t.exists():
        raise UsageError("no such run folder or model file", str(t), "pass a run folder or an .onnx file")
    if is_run_dir(t):
        run = Run.open(t)
        return run, (resolve_model(run.dir, allow_unvalidated=allow_unvalidated) if run.onnx_path.exists() else None)
    if t.is_dir():
        raise UsageError("not a run folder", f"{t} has no config.json", "pass a run folder or an .onnx file")
    run = Run.open(t.parent) if model_in_run and t.name == "model.onnx" and is_run_dir(t.parent) else None
    return run, resolve_model(t, allow_unvalidated=allow_unvalidated)
