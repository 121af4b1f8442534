"""Converted models are artifacts: written once per source, never reused for another one.

Runtimes that cannot read ONNX (LiteRT's ``.tflite``, ExecuTorch's ``.pte``), or that keep a
compiled form of it, convert the model first. The result is written under the run
(``RUN/conversions/``) or beside a bare model (``<stem>.conversions/`` next to it), with a
sidecar ``<file>.json`` that names the source's sha256, the converter and its version, the
options and the converted file's own sha256. A conversion is reused only when all of them
match and the file's bytes still hash to what the sidecar says; anything else is converted
again (the file name carries a key over source, converter and options, so a changed source
never even finds the old file). Older conversions of the same target are removed once a new
one is in place. Where the folder cannot be written (a read-only checkout), conversions go to
a temporary folder that lives as long as the process, with a note saying so.

Nothing here imports a runtime package: the caller passes the ``make`` function.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from irisonnx.errors import RuntimeUnavailable, StorageError

__all__ = ["Conversion", "RuntimeUnsupported", "convert", "conversion_dir", "module_digest", "SIDECAR_FORMAT"]

SIDECAR_FORMAT = "irisonnx-conversion/1"
_TMP_ROOT: Path | None = None


class RuntimeUnsupported(RuntimeUnavailable):
    """The runtime runs, but not this model: its converter lacks an op (``unsupported: OP``).
    compare and bench skip such a runtime and go on with the others, even when it was named."""


@dataclass
class Conversion:
    """A converted model on disk and what made it."""

    path: Path
    sidecar: dict[str, Any]
    reused: bool
    notes: list[str] = field(default_factory=list)

    def describe(self) -> str:
        s = self.sidecar
        return f"{s['converter']} {s['converter_version']} from {s['source']} (sha256 {s['source_sha256'][:12]})"


def _temp_root() -> Path:
    global _TMP_ROOT
    if _TMP_ROOT is None:
        _TMP_ROOT = Path(tempfile.mkdtemp(prefix="irisonnx-conversions-"))
        atexit.register(shutil.rmtree, _TMP_ROOT, True)
    return _TMP_ROOT


def conversion_dir(ctx: Any) -> Path:
    """Where conversions of ``ctx``'s model go: RUN/conversions, else beside the model file,
    else (a --module with no file) the per-process temporary folder."""
    if getattr(ctx, "run", None) is not None:
        return Path(ctx.run.dir) / "conversions"
    if getattr(ctx, "model_path", None) is not None:
        p = Path(ctx.model_path)
        return p.parent / f"{p.stem}.conversions"
    return _temp_root()


def module_digest(model: Any, extra: str = "") -> str:
    """sha256 over a torch module's class and every parameter/buffer (names, dtypes, shapes,
    bytes): what a conversion from the module depends on."""
    h = hashlib.sha256()
    h.update(f"{type(model).__module__}.{type(model).__qualname__}|{extra}".encode())
    for name, t in sorted(model.state_dict().items()):
        t = t.detach().contiguous().cpu()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}".encode())
        h.update(t.view(-1).view(__import__("torch").uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _valid(path: Path, side: Path, want: dict[str, Any]) -> dict[str, Any] | None:
    try:
        meta = json.loads(side.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(meta, dict) or meta.get("format") != SIDECAR_FORMAT:
        return None
    if any(meta.get(k) != v for k, v in want.items()):
        return None
    try:
        if _sha256(path) != meta.get("sha256"):
            return None
    except OSError:
        return None
    return meta


def convert(
    ctx: Any,
    target: str,
    suffix: str,
    *,
    source: str,
    source_sha256: str,
    converter: str,
    converter_version: str,
    make: Callable[[Path], Any],
    options: dict[str, Any] | None = None,
) -> Conversion:
    """The converted model for ``target`` (e.g. ``"litert"``), made by ``make(path)`` unless a
    valid conversion of the same source, converter, version and options is already on disk.

    ``make`` writes the model to the path it is given (a temporary name in the same folder,
    renamed into place once it is complete); a dict it returns is kept in the sidecar as
    ``details`` (what the converter decided, e.g. a batch it had to fix), for a reuse to read.
    Exceptions from ``make`` pass through; the temporary file is removed."""
    options = dict(sorted((options or {}).items()))
    want = {"target": target, "source_sha256": source_sha256, "converter": converter, "converter_version": converter_version, "options": options}
    key = hashlib.sha256(json.dumps(want, sort_keys=True).encode()).hexdigest()[:16]
    notes: list[str] = []
    folder = conversion_dir(ctx)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".irisonnx-probe-{os.getpid()}"
        probe.touch()
        probe.unlink()
    except OSError:
        notes.append(f"{folder} is not writable: converted in a temporary folder (not kept)")
        folder = _temp_root()
    path = folder / f"{target}-{key}{suffix}"
    side = path.with_name(path.name + ".json")
    meta = _valid(path, side, want)
    if meta is not None:
        return Conversion(path, meta, True, notes)
    tmp = folder / f".tmp-{os.getpid()}-{os.urandom(4).hex()}-{path.name}"
    try:
        details = make(tmp)
        if not tmp.is_file():
            raise RuntimeError(f"the {converter} converter wrote no file")
        meta = {"format": SIDECAR_FORMAT, **want, "source": source, "file": path.name, "sha256": _sha256(tmp), "bytes": tmp.stat().st_size}
        if isinstance(details, dict):
            meta["details"] = details
        os.replace(tmp, path)
        side_tmp = side.with_name(f".tmp-{os.getpid()}-{side.name}")
        side_tmp.write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
        os.replace(side_tmp, side)
    except OSError as exc:
        raise StorageError(f"cannot write the {target} conversion", f"{path}: {exc.strerror or exc}") from exc
    finally:
        for leftover in folder.glob(f".tmp-{os.getpid()}-*"):
            leftover.unlink(missing_ok=True)
    for old in folder.glob(f"{target}-*{suffix}"):  # earlier sources' conversions: never reused, so gone
        if old != path:
            old.unlink(missing_ok=True)
            old.with_name(old.name + ".json").unlink(missing_ok=True)
    return Conversion(path, meta, False, notes)
