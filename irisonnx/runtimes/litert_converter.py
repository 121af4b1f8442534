"""The ONNX-to-TFLite converter (onnx2tf) in an environment of its own, driven as a subprocess.

onnx2tf needs tensorflow 2.19 with numpy 1.26 and onnx 1.19, which clash with irisonnx's own
environment (torch, onnxruntime, numpy 2), so ``irisonnx setup litert`` (:func:`setup_litert`)
creates a separate virtual environment in the per-user cache,
``$XDG_CACHE_HOME/irisonnx/litert-converter`` (``~/.cache/irisonnx/litert-converter``; or
``$IRISONNX_LITERT_CONVERTER``), about 2.6 GB, with exactly the versions in :data:`PINS`
(verified together: onnx2tf 1.29.24's own pins plus their dependencies). The environment is
built in a temporary folder beside it and renamed into place once complete: a failed setup
leaves nothing half-made, and the one that was there before stays until the new one is whole.

:func:`onnx2tf_convert` runs it on one ONNX file, keeping every input's layout (``-kat``: no
NCHW-to-NHWC transposition), writing signature defs (``-osd``: the tflite's inputs and outputs
keep the ONNX names), with no network (proxies pointed at a closed local port) and its output
captured; a failure names the ONNX op the converter lacks where it says so.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from irisonnx.errors import RuntimeUnavailable

__all__ = ["PINS", "SETUP_HINT", "converter_dir", "converter_status", "converter_versions", "setup_litert", "SetupResult", "onnx2tf_convert", "ConversionFailed"]

SETUP_HINT = "irisonnx setup litert"
STAMP_FORMAT = "irisonnx-litert-converter/1"
_STAMP = ".irisonnx-converter.json"

# Verified together on Python 3.11 (Linux x86_64): `pip install onnx2tf==1.29.24 sng4onnx==1.0.5`
# resolved to exactly these, and converted an MLP, a CNN and a two-output model whose tflite
# matched onnxruntime within 1e-6. onnx2tf pins tensorflow, numpy, onnx, onnxruntime, ... itself.
PINS: tuple[str, ...] = (
    "onnx2tf==1.29.24", "tensorflow==2.19.0", "tf-keras==2.19.0", "keras==3.15.1", "numpy==1.26.4",
    "onnx==1.19.1", "onnxruntime==1.23.0", "onnxsim==0.4.36", "onnxoptimizer==0.4.2",
    "onnx-graphsurgeon==0.5.8", "sng4onnx==1.0.5", "simple-onnx-processing-tools==1.1.32",
    "ai-edge-litert==2.1.0", "protobuf==4.25.5", "psutil==5.9.5", "h5py==3.11.0", "ml-dtypes==0.5.1",
    "flatbuffers==25.12.19", "opencv-python==4.11.0.86", "requests==2.32.5",
    "absl-py==2.5.1", "astunparse==1.6.3", "backports.strenum==1.2.8", "certifi==2026.10.19.post1",
    "charset-normalizer==3.5.3", "coloredlogs==15.0.1", "gast==0.7.0", "google-pasta==0.2.0",
    "grpcio==1.85.3", "humanfriendly==10.0", "idna==3.20", "json2onnx==2.0.3", "libclang==18.1.1",
    "Markdown==3.11.3", "markdown-it-py==4.3.0", "MarkupSafe==3.0.4", "mdurl==0.1.2", "mpmath==1.3.0",
    "namex==0.1.0", "onnx2json==2.0.4", "opt-einsum==3.4.0", "optree==0.20.0", "packaging==26.4",
    "Pygments==2.21.0", "rich==15.0.0", "sam4onnx==2.0.0", "sbi4onnx==1.0.7", "scc4onnx==1.0.7",
    "scs4onnx==1.0.18", "sde4onnx==1.0.0", "sed4onnx==1.0.5", "sio4onnx==1.0.3", "sit4onnx==1.0.10",
    "six==1.17.0", "sna4onnx==1.0.6", "snc4onnx==1.0.14", "snd4onnx==1.1.7", "sne4onnx==2.0.1",
    "soa4onnx==1.0.5", "soc4onnx==1.0.2", "sod4onnx==1.0.0", "sog4onnx==1.0.17", "sor4onnx==1.0.7",
    "spo4onnx==1.0.5", "ssc4onnx==1.0.8", "ssi4onnx==1.0.4", "svs4onnx==1.0.0", "sympy==1.14.0",
    "tensorboard==2.19.0", "tensorboard-data-server==0.7.2", "tensorflow-io-gcs-filesystem==0.37.1",
    "termcolor==3.3.0", "tqdm==4.70.1", "typing-extensions==4.16.0", "urllib3==2.8.0", "Werkzeug==3.1.9",
    "wrapt==2.5.2",
)
_SUPPORTED_PY = ((3, 10), (3, 11), (3, 12))  # tensorflow 2.19's wheels (and onnx2tf's >=3.10.12)


def converter_dir() -> Path:
    """``$IRISONNX_LITERT_CONVERTER``, else ``$XDG_CACHE_HOME/irisonnx/litert-converter``
    (``~/.cache/irisonnx/litert-converter`` when XDG_CACHE_HOME is unset)."""
    env = os.environ.get("IRISONNX_LITERT_CONVERTER")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "irisonnx" / "litert-converter"


def _python(where: Path) -> Path:
    return where / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def _stamp(where: Path) -> dict[str, Any] | None:
    try:
        meta = json.loads((where / _STAMP).read_text())
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) and meta.get("format") == STAMP_FORMAT else None


def converter_status(where: Path | None = None) -> tuple[bool, str]:
    """(True, "") when the converter environment is set up with this irisonnx's pins."""
    where = where or converter_dir()
    meta = _stamp(where)
    if meta is None or not _python(where).exists():
        return False, f"the ONNX-to-TFLite converter is not set up: {SETUP_HINT}"
    if meta.get("pins") != list(PINS):
        return False, f"the ONNX-to-TFLite converter in {where} was set up by another irisonnx version: {SETUP_HINT}"
    return True, ""


def converter_versions(where: Path | None = None) -> dict[str, str]:
    """Package versions of the converter environment (from its stamp), e.g. onnx2tf, tensorflow."""
    meta = _stamp(where or converter_dir()) or {}
    return dict(meta.get("versions") or {})


@dataclass
class SetupResult:
    dir: Path
    bytes: int
    versions: dict[str, str]
    python: str

    def to_dict(self) -> dict[str, Any]:
        return {"dir": str(self.dir), "bytes": self.bytes, "size_gb": round(self.bytes / 1e9, 2), "versions": self.versions, "python": self.python}


def _tree_bytes(root: Path) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(root):
        for f in files:
            try:
                total += os.lstat(os.path.join(dirpath, f)).st_size
            except OSError:
                pass
    return total


def _base_python(python: str | None) -> str:
    """An interpreter tensorflow 2.19 has wheels for: the one given, this one, or python3.12/11/10 on PATH."""
    cands = [python] if python else [sys.executable] + [shutil.which(f"python{a}.{b}") or "" for a, b in reversed(_SUPPORTED_PY)]
    for c in cands:
        if not c:
            continue
        try:
            r = subprocess.run([c, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"], capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired):
            continue
        ver = tuple(int(x) for x in r.stdout.strip().split(".")) if r.returncode == 0 and r.stdout.strip() else ()
        if ver in _SUPPORTED_PY:
            return c
    raise RuntimeUnavailable("cannot set up the ONNX-to-TFLite converter", f"tensorflow 2.19 needs Python 3.10-3.12; {python or sys.executable} is not one and none is on PATH", "install python3.11 and rerun: irisonnx setup litert --python python3.11")


def _tail(text: str, n: int = 12) -> str:
    lines = [ln for ln in (text or "").splitlines() if ln.strip()]
    return "\n".join(lines[-n:])


def setup_litert(dest: str | os.PathLike | None = None, *, python: str | None = None, timeout: float = 3600.0) -> SetupResult:
    """Create the converter environment at ``dest`` (default :func:`converter_dir`) with
    exactly :data:`PINS`; returns where it is and its size. Built beside ``dest`` in a
    temporary folder and renamed into place when complete (an existing one is replaced only
    then). Raises :class:`RuntimeUnavailable` (exit 4) when the venv or pip fails, with pip's
    last lines; nothing is left behind."""
    out = Path(dest) if dest is not None else converter_dir()
    base = _base_python(python)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    old: Path | None = None
    try:
        # pip from this environment installs into the new one (pip >= 22.3: --python), which
        # saves ensurepip's copy of pip; without pip here, the venv gets its own.
        import importlib.util

        own_pip = importlib.util.find_spec("pip") is not None
        r = subprocess.run([base, "-m", "venv", *(["--without-pip"] if own_pip else []), str(tmp)], capture_output=True, text=True, timeout=600)
        if r.returncode != 0:
            raise RuntimeUnavailable("cannot set up the ONNX-to-TFLite converter", f"{base} -m venv failed: {_tail(r.stderr or r.stdout, 3)}")
        py = _python(tmp)
        env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
        pip = [sys.executable, "-m", "pip", "--python", str(py)] if own_pip else [str(py), "-m", "pip"]
        try:
            r = subprocess.run([*pip, "install", "--no-input", "--progress-bar", "off", *PINS], capture_output=True, text=True, timeout=timeout, env=env)
        except subprocess.TimeoutExpired:
            raise RuntimeUnavailable("cannot set up the ONNX-to-TFLite converter", f"pip install took over {timeout:.0f} s") from None
        if r.returncode != 0:
            raise RuntimeUnavailable("cannot set up the ONNX-to-TFLite converter", f"pip install failed:\n{_tail(r.stderr or r.stdout)}")
        probe = "import json, importlib.metadata as m, sys, onnx2tf, tensorflow, onnx, numpy; print(json.dumps({'versions': {p: m.version(p) for p in ('onnx2tf', 'tensorflow', 'onnx', 'numpy', 'onnxruntime', 'ai-edge-litert')}, 'python': sys.version.split()[0]}))"
        bare = {k: v for k, v in env.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP")}
        r = subprocess.run([str(py), "-c", probe], capture_output=True, text=True, timeout=600, env={**bare, "TF_CPP_MIN_LOG_LEVEL": "3"})
        if r.returncode != 0:
            raise RuntimeUnavailable("cannot set up the ONNX-to-TFLite converter", f"the installed converter does not import:\n{_tail(r.stderr or r.stdout)}")
        found = json.loads(r.stdout.strip().splitlines()[-1])
        stamp = {"format": STAMP_FORMAT, "pins": list(PINS), "versions": found["versions"], "python": found["python"]}
        (tmp / _STAMP).write_text(json.dumps(stamp, indent=2, sort_keys=True) + "\n")
        if out.exists():
            old = out.with_name(f".{out.name}.old-{os.getpid()}")
            os.replace(out, old)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if old is not None and not out.exists():
            os.replace(old, out)  # put the previous one back
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return SetupResult(out, _tree_bytes(out), found["versions"], found["python"])


# --- conversion ---------------------------------------------------------------------------------


class ConversionFailed(Exception):
    """onnx2tf failed. ``op`` is the ONNX op type it lacks where it says so; ``tail`` its last lines."""

    def __init__(self, op: str | None, tail: str) -> None:
        super().__init__(f"unsupported: {op}" if op else tail)
        self.op, self.tail = op, tail


_UNSUPPORTED = (
    re.compile(r"(\w+) OP is not yet implemented"),
    re.compile(r"No module named 'onnx2tf\.ops\.(\w+)'"),
)
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
# onnx2tf fetches sample images when every input is a small-batch 4-D tensor ending in 3; a local
# file of that name (zeros: only used for its own accuracy check) keeps it off the network.
_SAMPLE = "calibration_image_sample_data_20x128x128x3_float32.npy"


def onnx2tf_convert(model: bytes, out: str | os.PathLike, input_names: list[str], *, timeout: float = 900.0, where: Path | None = None) -> None:
    """Convert the serialized ONNX ``model`` (weights inline) to a float32 ``.tflite`` written
    at ``out``. Raises :class:`ConversionFailed` (with the op where onnx2tf names it) or
    RuntimeUnavailable when the environment is not set up."""
    where = where or converter_dir()
    ok, why = converter_status(where)
    if not ok:
        raise RuntimeUnavailable("litert unavailable", why)
    with tempfile.TemporaryDirectory(prefix="irisonnx-onnx2tf-") as work:
        w = Path(work)
        import numpy as np

        np.save(w / _SAMPLE, np.zeros((20, 128, 128, 3), np.float32))
        src = w / "model.onnx"
        src.write_bytes(model)
        dead = "http://127.0.0.1:9"  # discard port: any request fails at once
        # Its own environment only: no PYTHONPATH/PYTHONHOME/VIRTUAL_ENV of the caller's (numpy 2 there).
        own = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP")}
        env = {**own, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": "", "HTTP_PROXY": dead, "HTTPS_PROXY": dead, "http_proxy": dead, "https_proxy": dead, "NO_PROXY": "", "no_proxy": "", "PYTHONWARNINGS": "ignore"}
        cmd = [str(_python(where)), "-m", "onnx2tf", "-i", str(src), "-o", str(w / "out"), "-osd", "-v", "error"]
        if input_names:
            cmd += ["-kat", *input_names]
        try:
            r = subprocess.run(cmd, cwd=str(w), capture_output=True, text=True, timeout=timeout, env=env)
        except subprocess.TimeoutExpired:
            raise ConversionFailed(None, f"onnx2tf took over {timeout:.0f} s") from None
        log = _ANSI.sub("", (r.stdout or "") + "\n" + (r.stderr or ""))
        made = w / "out" / "model_float32.tflite"
        if r.returncode != 0 or not made.is_file():
            op = next((m.group(1) for pat in _UNSUPPORTED for m in [pat.search(log)] if m), None)
            raise ConversionFailed(op, _tail(log, 8) or f"onnx2tf exited {r.returncode}")
        shutil.copyfile(made, out)
