"""Golden input/output sets: ``compare --save-io DIR`` writes them, ``--load-io DIR`` replays them.

    DIR/inputs.npy                   float32 (n_rows, n_features)
    DIR/<runtime>.<output>.npy       one file per runtime and output
    DIR/index.json                   shapes, dtypes, sha256 of every file, runtime info, baseline

Arrays are streamed to disk chunk by chunk (buffered writes, never a memory map), each under
a temp name, and renamed into place only when complete; index.json is written last.
"""

from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from irisonnx.errors import ArtifactError, UsageError
from irisonnx.storage import TEMP_MARK, _storage_error, atomic_writer, dumps_json, make_dirs, read_json, remove_made_dirs, sha256_file

__all__ = ["GoldenWriter", "read_index", "load_inputs", "load_outputs"]

FORMAT = "irisonnx-golden/1"


def _fname(runtime: str, output: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", f"{runtime}.{output}") + ".npy"


class GoldenWriter:
    """Streams each array to a temp file with ordinary buffered writes (a .npy header, then
    the rows chunk by chunk), so a full disk is an OSError (StorageError, exit 4), never the
    SIGBUS a memory-mapped write gets. ``finish`` fsyncs and renames them into place."""

    def __init__(self, folder: str | os.PathLike, n_rows: int) -> None:
        self.dir = Path(folder)
        try:
            self._made = make_dirs(self.dir)
        except OSError as exc:
            raise _storage_error(self.dir, exc) from exc
        self.n_rows = n_rows
        self._files: dict[str, tuple[Path, Any, np.dtype, tuple[int, ...], int]] = {}  # tmp, file, dtype, shape, header bytes
        self.outputs: dict[str, dict[str, str]] = {}

    def _write(self, fname: str, start: int, chunk: np.ndarray) -> None:
        tmp = self.dir / f"{TEMP_MARK}{os.getpid()}-{fname}"
        try:
            if fname not in self._files:
                shape = (self.n_rows,) + chunk.shape[1:]
                fh = open(tmp, "wb")
                self._files[fname] = (tmp, fh, chunk.dtype, shape, 0)
                np.lib.format.write_array_header_1_0(fh, {"descr": np.lib.format.dtype_to_descr(chunk.dtype), "fortran_order": False, "shape": shape})
                self._files[fname] = (tmp, fh, chunk.dtype, shape, fh.tell())
            _, fh, dtype, shape, head = self._files[fname]
            data = np.ascontiguousarray(chunk, dtype=dtype)
            pos = head + start * (data.nbytes // max(len(data), 1))
            if fh.tell() != pos:
                fh.seek(pos)
            fh.write(data.data)
        except OSError as exc:
            raise _storage_error(tmp, exc) from exc

    def write_inputs(self, start: int, chunk: np.ndarray) -> None:
        self._write("inputs.npy", start, chunk)

    def write_outputs(self, runtime: str, start: int, outputs: dict[str, np.ndarray]) -> None:
        for name, chunk in outputs.items():
            fname = _fname(runtime, name)
            self.outputs.setdefault(runtime, {})[name] = fname
            self._write(fname, start, chunk)

    def finish(self, baseline: str, infos: dict[str, Any], inputs_desc: str) -> Path:
        files: dict[str, dict[str, Any]] = {}
        for fname, (tmp, fh, dtype, shape, head) in self._files.items():
            try:
                fh.truncate(head + int(np.prod(shape)) * dtype.itemsize)  # rows never written read as zeros, as before
                fh.flush()
                os.fsync(fh.fileno())
                fh.close()
            except OSError as exc:
                raise _storage_error(tmp, exc) from exc
            files[fname] = {"sha256": sha256_file(tmp), "shape": list(shape), "dtype": str(dtype)}
        index = {
            "format": FORMAT,
            "inputs": {"file": "inputs.npy", "description": inputs_desc, **files["inputs.npy"]},
            "baseline": baseline,
            "runtimes": {rt: {"info": infos.get(rt, {}), "outputs": {o: {"file": f, **files[f]} for o, f in outs.items()}} for rt, outs in self.outputs.items()},
        }
        # index.json is written to its temp file first: if that fails, no array was replaced.
        with atomic_writer(self.dir / "index.json") as tmp_index:
            tmp_index.write_text(dumps_json(index), encoding="utf-8")
            for fname, (tmp, *_) in self._files.items():
                os.replace(tmp, self.dir / fname)
            self._files.clear()
        return self.dir / "index.json"

    def abort(self) -> None:
        for tmp, fh, *_ in self._files.values():
            with contextlib.suppress(OSError):  # closing flushes: on a full disk that fails again
                fh.close()
            with contextlib.suppress(OSError):
                tmp.unlink()
        self._files.clear()
        remove_made_dirs(self._made)


def read_index(folder: str | os.PathLike) -> dict[str, Any]:
    d = Path(folder)
    if not d.is_dir():
        raise UsageError("golden folder not found", str(d), "create it with: irisonnx compare ... --save-io DIR")
    idx = read_json(d / "index.json", "golden index.json")
    if not isinstance(idx, dict) or idx.get("format") != FORMAT:
        raise ArtifactError("not an irisonnx golden set", str(d / "index.json"))
    runtimes = idx.get("runtimes")
    if not (isinstance(idx.get("inputs"), dict) and isinstance(idx.get("baseline"), str) and isinstance(runtimes, dict) and all(isinstance(r, dict) and isinstance(r.get("outputs"), dict) for r in runtimes.values())):
        raise ArtifactError("corrupt golden index.json", f"{d / 'index.json'}: inputs, baseline or runtimes missing or malformed")
    return idx


def _load(d: Path, entry: dict[str, Any]) -> np.ndarray:
    if not (isinstance(entry, dict) and isinstance(entry.get("file"), str) and isinstance(entry.get("sha256"), str) and isinstance(entry.get("shape"), list) and isinstance(entry.get("dtype"), str)):
        raise ArtifactError("corrupt golden index.json", f"{d}: an entry lacks file, sha256, shape or dtype")
    path = d / entry["file"]
    if Path(entry["file"]).name != entry["file"]:
        raise ArtifactError("golden index points outside its folder", entry["file"])
    if not path.exists():
        raise UsageError("golden file missing", str(path))
    if sha256_file(path) != entry["sha256"]:
        raise ArtifactError("golden file is corrupt or was modified", str(path))
    try:
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except Exception as exc:  # noqa: BLE001 - objects (would need pickle: refused), or not .npy: numpy raises many types
        raise ArtifactError("golden file is not a plain .npy array", f"{path}: {exc}") from exc
    if not isinstance(arr, np.ndarray):  # an .npz archive under an .npy name
        raise ArtifactError("golden file is not a plain .npy array", f"{path}: {type(arr).__name__}")
    if list(arr.shape) != entry["shape"] or str(arr.dtype) != entry["dtype"]:
        raise ArtifactError("golden file does not match its index", str(path))
    return arr


def load_inputs(folder: str | os.PathLike) -> np.ndarray:
    d = Path(folder)
    return _load(d, read_index(d)["inputs"])


def load_outputs(folder: str | os.PathLike, runtime: str) -> dict[str, np.ndarray]:
    d = Path(folder)
    idx = read_index(d)
    return {o: _load(d, e) for o, e in idx["runtimes"][runtime]["outputs"].items()}
