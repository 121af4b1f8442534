"""Golden input/output sets: ``compare --save-io DIR`` writes them, ``--load-io DIR`` replays them.

    DIR/inputs.npy                   float32 (n_rows, n_features)
    DIR/<runtime>.<output>.npy       one file per runtime and output
    DIR/index.json                   shapes, dtypes, sha256 of every file, runtime info, baseline

Arrays are streamed to disk chunk by chunk (memory-mapped), each under a temp name, and
renamed into place only when complete; index.json is written last.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from irisonnx.errors import ArtifactError, UsageError
from irisonnx.storage import TEMP_MARK, atomic_write_json, fsync_dir, read_json, sha256_file

__all__ = ["GoldenWriter", "read_index", "load_inputs", "load_outputs"]

FORMAT = "irisonnx-golden/1"


def _fname(runtime: str, output: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", f"{runtime}.{output}") + ".npy"


class GoldenWriter:
    def __init__(self, folder: str | os.PathLike, n_rows: int) -> None:
        self.dir = Path(folder)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.n_rows = n_rows
        self._maps: dict[str, tuple[Path, Any]] = {}
        self.outputs: dict[str, dict[str, str]] = {}

    def _map(self, fname: str, chunk: np.ndarray) -> Any:
        if fname not in self._maps:
            from irisonnx.guard import check_output

            check_output(self.dir / fname, "--save-io")  # a run's or dataset's own file: exit 2
            tmp = self.dir / f"{TEMP_MARK}{os.getpid()}-{fname}"
            arr = np.lib.format.open_memmap(tmp, mode="w+", dtype=chunk.dtype, shape=(self.n_rows,) + chunk.shape[1:])
            self._maps[fname] = (tmp, arr)
        return self._maps[fname][1]

    def write_inputs(self, start: int, chunk: np.ndarray) -> None:
        self._map("inputs.npy", chunk)[start : start + len(chunk)] = chunk

    def write_outputs(self, runtime: str, start: int, outputs: dict[str, np.ndarray]) -> None:
        for name, chunk in outputs.items():
            fname = _fname(runtime, name)
            self.outputs.setdefault(runtime, {})[name] = fname
            self._map(fname, chunk)[start : start + len(chunk)] = chunk

    def finish(self, baseline: str, infos: dict[str, Any], inputs_desc: str) -> Path:
        files: dict[str, dict[str, Any]] = {}
        for fname, (tmp, arr) in self._maps.items():
            arr.flush()
            shape, dtype = list(arr.shape), str(arr.dtype)
            del arr
            os.replace(tmp, self.dir / fname)
            files[fname] = {"sha256": sha256_file(self.dir / fname), "shape": shape, "dtype": dtype}
        self._maps.clear()
        fsync_dir(self.dir)
        index = {
            "format": FORMAT,
            "inputs": {"file": "inputs.npy", "description": inputs_desc, **files["inputs.npy"]},
            "baseline": baseline,
            "runtimes": {rt: {"info": infos.get(rt, {}), "outputs": {o: {"file": f, **files[f]} for o, f in outs.items()}} for rt, outs in self.outputs.items()},
        }
        atomic_write_json(self.dir / "index.json", index)
        return self.dir / "index.json"

    def abort(self) -> None:
        for tmp, arr in self._maps.values():
            del arr
            tmp.unlink(missing_ok=True)
        self._maps.clear()


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
