"""The interface every edge variant implements: one file per variant, one registry line.

A variant turns the checked source model into its own file(s) (:meth:`Variant.make`), says
when it does not apply (:meth:`Variant.skip_reason`), and loads what it made into a runner
(:meth:`Variant.load`) whose only call the gates use is ``run_feeds(feeds) -> outputs``. The
builder (:mod:`irisonnx.edge.build`) makes, loads, evaluates and times variants through this
interface alone; which gate a variant gets is its ``kind``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

__all__ = ["Runner", "Source", "Variant"]


class Runner(Protocol):
    """What :meth:`Variant.load` returns: runs the variant on arrays by input name."""

    def run_feeds(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]: ...


@dataclass(frozen=True)
class Source:
    """The model the variants are made from: the checked ONNX source (a ModelInfo: path,
    proto, bytes, signature, sha256) and, when known, its run folder and torch module spec
    (variants that convert from torch need them)."""

    info: Any
    run_dir: Path | None = None
    module_spec: str | None = None

    @property
    def path(self) -> Path:
        return Path(self.info.path)

    @property
    def proto(self) -> Any:
        return self.info.proto

    @property
    def sha256(self) -> str:
        return str(self.info.sha256)

    @property
    def signature(self) -> Any:
        return self.info.signature


class Variant:
    """One deployment variant. Subclasses set the class attributes and implement make/load."""

    name: str = ""  # "int8-static": what --variants takes, the manifest records
    family: str = ""  # the runtime family that loads it ("onnxruntime"; later "openvino", "litert"...)
    suffix: str = ".onnx"  # the file is model.<name><suffix>
    kind: str = "fp32"  # "fp32" | "fp32-runtime" (another runtime's float32) | "fp16" | "int8": picks the gate (see edge.gates.Gates)
    source: bool = False  # the source model itself (the baseline every other variant is compared with)
    runtime: str = "ort-cpu"  # how its figures name the runtime that ran it
    summary: str = ""  # one line for --help
    batch_note: str = ""  # why results may depend on the other rows in a call (appended to that note)
    beyond_note: str = ""  # appended to the note on inputs beyond the gated ranges

    @property
    def file_name(self) -> str:
        return f"model.{self.name}{self.suffix}"

    @property
    def gate(self) -> str:
        """The gate key: "source" (byte-identical), or the kind."""
        return "source" if self.source else self.kind

    def skip_reason(self, src: Source) -> str | None:
        """Why this variant does not apply to ``src`` (a missing package: the command that
        installs it); None when it applies."""
        return None

    def make(self, src: Source, out_path: Path, work: Path, opts: Any, calibration: Any) -> None:
        """Write the variant to ``out_path`` (``work``: a scratch folder). ``calibration``: rows
        of the one classifier input, or a list of feeds by input name, or None."""
        raise NotImplementedError

    def check(self, path: Path) -> Any:
        """Check the written file; returns what describes it (a ModelInfo for ONNX files)."""
        raise NotImplementedError

    def load(self, path: Path, threads: int | None) -> Runner:
        raise NotImplementedError

    def bundle_files(self, path: Path) -> list[Path]:
        return [path]

    def settings(self, opts: Any, src: Source, made: Any = None, generic: bool = False) -> dict[str, Any]:
        """How it was made (the manifest's ``settings``)."""
        return {}

    def reference(self, made: Any) -> Any:
        """A second runtime that cross-checks this variant's arithmetic (a Runtime), or None."""
        return None

    def notes(self, res: Any, src: Source, n_random: int) -> list[str]:
        """Notes on this variant's figures (classifier gates)."""
        return []

    def generic_notes(self, res: Any, src: Source, made: Any) -> list[str]:
        """Notes on this variant's figures (tolerance gates, models that are not classifiers)."""
        return []

    def __repr__(self) -> str:
        return f"<edge variant {self.name}>"
