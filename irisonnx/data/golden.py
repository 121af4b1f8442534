"""Golden input/output sets: ``compare --save-io DIR`` writes them, ``--load-io`` replays them.

irisonnx's own layout (``irisonnx-golden/2``)::

    DIR/input.<name>.npy             every model input, by name
    DIR/<runtime>.<output>.npy       one file per runtime and output
    DIR/index.json                   shapes, dtypes, sha256 of every file, runtime info, baseline

When the inputs are *samples* that cannot be stacked into rows (a fixed-shape model fed set by
set, outputs that do not follow the input rows, ONNX test-data sets), each file name gets the
sample's index (``input.x.0.npy``, ``input.x.1.npy``, ...). Version 1 sets (``inputs.npy`` for
the single ``features`` input) are still read.

Other tools' sets are read too, never by executing anything from them: the ONNX test-data
layout (``test_data_set_N/input_K.pb``, ``output_K.pb``: the model zoo's and the backend
tests') and Polygraphy's ``--save-outputs`` JSON (with its ``--save-inputs`` JSON as
``--inputs``); see :mod:`irisonnx.data.io_formats`. ``--save-io-format onnx`` writes the ONNX layout.

Arrays are written with plain buffered writes under temp names (an ENOSPC is an OSError,
exit 4, never a SIGBUS from a memory map), fsynced and renamed into place when complete;
index.json is written last.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from irisonnx.errors import ArtifactError, DataError, StorageError, UsageError
from irisonnx.storage import TEMP_MARK, _storage_error, atomic_write_json, fsync_dir, make_dirs, read_json, remove_made_dirs, sha256_file

__all__ = ["GoldenWriter", "GoldenSet", "read_index", "load_golden", "FORMAT"]

FORMAT = "irisonnx-golden/2"
FORMAT_V1 = "irisonnx-golden/1"


def _fname(*parts: Any) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", ".".join(str(p) for p in parts)) + ".npy"


class _Stream:
    """One .npy file written chunk by chunk along axis 0 with ordinary writes: the header
    carries the final shape, the rows follow. Strings are collected and written at the end."""

    def __init__(self, tmp: Path, first: np.ndarray, shape: tuple[int, ...]) -> None:
        self.tmp, self.shape, self.dtype = tmp, shape, first.dtype
        self.rows = 0
        self.fh = open(tmp, "wb")  # noqa: SIM115 - closed in close()/abort()
        self.held: list[np.ndarray] | None = [] if first.dtype.kind in "OUS" else None
        if self.held is None:
            np.lib.format.write_array_header_2_0(self.fh, {"descr": np.lib.format.dtype_to_descr(first.dtype), "fortran_order": False, "shape": shape})

    def write(self, chunk: np.ndarray) -> None:
        if self.held is not None:
            self.held.append(np.asarray(chunk))
            return
        if chunk.dtype != self.dtype:
            raise ArtifactError("a runtime changed an output's type between chunks", f"{self.dtype} then {chunk.dtype}")
        self.fh.write(memoryview(np.ascontiguousarray(chunk)).cast("B"))
        self.rows += chunk.shape[0] if chunk.ndim else 1

    def close(self) -> tuple[list[int], str]:
        if self.held is not None:
            arr = np.concatenate(self.held) if len(self.held) > 1 else self.held[0]
            arr = arr.astype(str) if arr.dtype == object else arr  # fixed-width text: no pickle needed
            np.save(self.fh, arr, allow_pickle=False)
            shape, dtype = list(arr.shape), str(arr.dtype)
        else:
            shape, dtype = list(self.shape), str(self.dtype)
            if self.shape and self.rows != self.shape[0]:
                raise ArtifactError("a runtime's output does not follow the input rows", f"{self.tmp.name}: {self.rows} rows written for {self.shape[0]}")
        self.fh.flush()
        os.fsync(self.fh.fileno())
        self.fh.close()
        return shape, dtype


class GoldenWriter:
    """Writes a golden set. ``batched``: inputs and outputs are rows, streamed chunk by chunk
    (``start`` is the chunk's first row); otherwise each call is one whole sample (``start``
    is its index)."""

    def __init__(self, folder: str | os.PathLike, n_rows: int, batched: bool = True, single: bool = False) -> None:
        """``single``: the rows come in one call, so an output may have any shape (a
        Transpose's [4, rows]); the set is then marked unbatched unless every output follows the rows."""
        self.dir = Path(folder)
        try:
            self._made = make_dirs(self.dir)  # taken away again by abort() where still empty
        except OSError as exc:
            raise _storage_error(self.dir, exc) from exc
        self.n_rows, self.batched, self.single = n_rows, batched, single
        self._streams: dict[str, _Stream] = {}
        self.inputs: dict[str, list[str]] = {}
        self.outputs: dict[str, dict[str, list[str]]] = {}

    def _write(self, fname: str, start: int, arr: np.ndarray) -> None:
        try:
            st = self._streams.get(fname)
            if st is None:
                from irisonnx.guard import check_output

                check_output(self.dir / fname, "--save-io")  # never a run's or a dataset's own file (exit 2)
                arr = np.asarray(arr)
                shape = ((self.n_rows,) + arr.shape[1:]) if self.batched and arr.ndim and not self.single else arr.shape
                st = self._streams[fname] = _Stream(self.dir / f"{TEMP_MARK}{os.getpid()}-{fname}", arr, shape)
            st.write(np.asarray(arr))
        except OSError as exc:
            raise _storage_error(self.dir / fname, exc) from exc

    def _name(self, kind: str, name: str, start: int) -> str:
        return _fname(kind, name) if self.batched else _fname(kind, name, start)

    def write_inputs(self, start: int, feeds: dict[str, np.ndarray]) -> None:
        for name, arr in feeds.items():
            fname = self._name("input", name, start)
            if fname not in self._streams:
                self.inputs.setdefault(name, []).append(fname)
            self._write(fname, start, arr)

    def write_outputs(self, runtime: str, start: int, outputs: dict[str, np.ndarray]) -> None:
        for name, arr in outputs.items():
            fname = self._name(runtime, name, start)
            if fname not in self._streams:
                self.outputs.setdefault(runtime, {}).setdefault(name, []).append(fname)
            self._write(fname, start, arr)

    def finish(self, baseline: str, infos: dict[str, Any], inputs_desc: str, model: bytes | None = None) -> Path:
        """Commit every array, then index.json. ``model``: the ONNX bytes the outputs came
        from, kept as ``model.onnx`` so that ``--locate`` against this set can re-run it."""
        files: dict[str, dict[str, Any]] = {}
        if model is not None:
            from irisonnx.guard import check_output
            from irisonnx.storage import atomic_write_bytes

            try:
                check_output(self.dir / "model.onnx", "--save-io")  # --save-io RUN must not replace the run's model
            except UsageError:
                self.abort()
                raise
            atomic_write_bytes(self.dir / "model.onnx", model)
        try:
            for fname, st in self._streams.items():
                shape, dtype = st.close()
                os.replace(st.tmp, self.dir / fname)
                files[fname] = {"file": fname, "sha256": sha256_file(self.dir / fname), "shape": shape, "dtype": dtype}
            self._streams.clear()
            fsync_dir(self.dir)
        except OSError as exc:
            self.abort()
            raise _storage_error(self.dir, exc) from exc
        rows_follow = all(files[f]["shape"][:1] == [self.n_rows] for outs in self.outputs.values() for fs in outs.values() for f in fs)
        index = {
            "format": FORMAT,
            "batched": self.batched and rows_follow,
            "inputs": {"description": inputs_desc, "tensors": {n: [files[f] for f in fs] for n, fs in self.inputs.items()}},
            "baseline": baseline,
            **({"model": {"file": "model.onnx", "sha256": sha256_file(self.dir / "model.onnx"), "size": len(model)}} if model is not None else {}),
            "runtimes": {rt: {"info": infos.get(rt, {}), "outputs": {o: [files[f] for f in fs] for o, fs in outs.items()}} for rt, outs in self.outputs.items()},
        }
        atomic_write_json(self.dir / "index.json", index)
        return self.dir / "index.json"

    def abort(self) -> None:
        for st in self._streams.values():
            try:
                st.fh.close()
            except OSError:
                pass
            try:
                st.tmp.unlink()
            except OSError:
                pass
        self._streams.clear()
        remove_made_dirs(self._made)


# --- reading -------------------------------------------------------------------------------


@dataclass
class GoldenSet:
    """A golden set in memory (arrays memory-mapped where the format allows). ``inputs`` and
    each runtime's outputs are lists of samples; a batched set has one sample holding all rows."""

    source: str
    description: str
    batched: bool
    inputs: list[dict[str, np.ndarray]]
    outputs: dict[str, list[dict[str, np.ndarray]]]
    baseline: str
    infos: dict[str, Any] = field(default_factory=dict)
    model: Path | None = None  # the model the outputs came from (irisonnx sets record it)

    @property
    def runtimes(self) -> list[str]:
        return list(self.outputs)


def read_index(folder: str | os.PathLike) -> dict[str, Any]:
    d = Path(folder)
    if not d.is_dir():
        raise UsageError("golden folder not found", str(d), "create it with: irisonnx compare ... --save-io DIR")
    idx = read_json(d / "index.json", "golden index.json")
    if not isinstance(idx, dict) or idx.get("format") not in (FORMAT, FORMAT_V1):
        raise ArtifactError("not an irisonnx golden set", str(d / "index.json"))
    runtimes = idx.get("runtimes")
    if not (isinstance(idx.get("inputs"), dict) and isinstance(idx.get("baseline"), str) and isinstance(runtimes, dict) and all(isinstance(r, dict) and isinstance(r.get("outputs"), dict) for r in runtimes.values())):
        raise ArtifactError("corrupt golden index.json", f"{d / 'index.json'}: inputs, baseline or runtimes missing or malformed")
    return idx


def _load(d: Path, entry: Any) -> np.ndarray:
    if not (isinstance(entry, dict) and isinstance(entry.get("file"), str) and isinstance(entry.get("sha256"), str) and isinstance(entry.get("shape"), list) and isinstance(entry.get("dtype"), str)):
        raise ArtifactError("corrupt golden index.json", f"{d}: an entry lacks file, sha256, shape or dtype")
    path = d / entry["file"]
    if Path(entry["file"]).name != entry["file"] or entry["file"] in ("", ".", ".."):
        raise ArtifactError("golden index points outside its folder", entry["file"])
    if not path.is_file():
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


def _samples(d: Path, table: Any, what: str) -> list[dict[str, np.ndarray]]:
    """{name: [entry per sample]} -> [{name: array} per sample]."""
    if not isinstance(table, dict) or not all(isinstance(v, list) for v in table.values()):
        raise ArtifactError("corrupt golden index.json", f"{d}: {what} is not a table of lists")
    counts = {len(v) for v in table.values()}
    if len(counts) > 1:
        raise ArtifactError("corrupt golden index.json", f"{d}: {what} have different numbers of samples")
    n = counts.pop() if counts else 0
    return [{name: _load(d, entries[k]) for name, entries in table.items()} for k in range(n)]


def _load_irisonnx(d: Path, input_names: list[str]) -> GoldenSet:
    idx = read_index(d)
    infos = {rt: r.get("info", {}) for rt, r in idx["runtimes"].items()}
    if idx["format"] == FORMAT_V1:  # one input, inputs.npy; one file per output
        name = input_names[0] if len(input_names) == 1 else "features"
        inputs = [{name: _load(d, idx["inputs"])}]
        outputs = {rt: [{o: _load(d, e) for o, e in r["outputs"].items()}] for rt, r in idx["runtimes"].items()}
        return GoldenSet(str(d), idx["inputs"].get("description", ""), True, inputs, outputs, idx["baseline"], infos)
    inputs = _samples(d, idx["inputs"].get("tensors"), "inputs")
    outputs = {rt: _samples(d, r["outputs"], f"outputs of {rt}") for rt, r in idx["runtimes"].items()}
    if any(len(o) != len(inputs) for o in outputs.values()):
        raise ArtifactError("corrupt golden index.json", f"{d}: runtimes have a different number of samples than the inputs")
    model = None
    m = idx.get("model")
    if isinstance(m, dict) and m.get("file") == "model.onnx" and (d / "model.onnx").is_file():
        if sha256_file(d / "model.onnx") != m.get("sha256"):
            raise ArtifactError("golden file is corrupt or was modified", str(d / "model.onnx"))
        model = d / "model.onnx"
    return GoldenSet(str(d), str(idx["inputs"].get("description", "")), bool(idx.get("batched", True)), inputs, outputs, idx["baseline"], infos, model)


def _by_position(items: list[tuple[str | None, np.ndarray]], names: list[str], what: str, where: str) -> dict[str, np.ndarray]:
    """Name unnamed tensors (``input_K.pb`` may carry no name) by position."""
    if len(items) > len(names):
        raise DataError(f"{where}: {len(items)} {what} tensors", f"the model has {len(names)} {what}s ({', '.join(names)})")
    out = {}
    for k, (name, arr) in enumerate(items):
        out[name if name else names[k]] = arr
    return out


def load_golden(path: str | os.PathLike, input_names: list[str], output_names: list[str], inputs_file: str | None = None) -> GoldenSet:
    """Any golden set ``--load-io`` takes: an irisonnx folder (index.json), the ONNX test-data
    layout (a folder with test_data_set_N/, or one such folder), or Polygraphy's saved outputs
    (``out.json``, whose inputs come from ``inputs_file``, Polygraphy's ``--save-inputs``)."""
    p = Path(path)
    if p.is_dir() and (p / "index.json").exists():
        return _load_irisonnx(p, input_names)
    from irisonnx.data import io_formats

    if p.is_dir():
        sets = io_formats.read_onnx_test_data(p)
        if not sets:
            raise UsageError("no golden set in folder", str(p), "give an irisonnx --save-io folder or an ONNX test-data folder (test_data_set_N/input_K.pb)")
        inputs = [_by_position(s.inputs, input_names, "input", s.source) for s in sets]
        missing = [s.source for s in sets if not s.outputs]
        if missing:
            raise DataError("ONNX test data without expected outputs", f"{missing[0]} has no output_K.pb")
        outs = [_by_position(s.outputs, output_names, "output", s.source) for s in sets]
        return GoldenSet(str(p), f"ONNX test data {p} ({len(sets)} set{'s' * (len(sets) != 1)})", False, inputs, {"expected": outs}, "expected")
    if p.is_file() and p.suffix == ".json":
        if inputs_file is None:
            raise UsageError("Polygraphy's outputs need their inputs", f"{p} holds outputs only", "give the --save-inputs file too: --inputs in.json")
        runs = io_formats.read_polygraphy_outputs(p)
        feeds = io_formats.read_polygraphy_inputs(inputs_file)
        if not runs:
            raise DataError("no runner results in Polygraphy outputs", str(p))
        for runner, results in runs.items():
            if len(results) != len(feeds):
                raise DataError(f"{p}: runner {runner!r} has {len(results)} iterations", f"{inputs_file} holds {len(feeds)} feeds")
        labels = {runner: re.sub(r"[^A-Za-z0-9_.-]", "_", runner) for runner in runs}
        outputs = {labels[r]: list(results) for r, results in runs.items()}
        first = next(iter(outputs))
        return GoldenSet(str(p), f"Polygraphy outputs {p} with inputs {inputs_file} ({len(feeds)} feeds)", False, list(feeds), outputs, first)
    if not p.exists():
        raise UsageError("golden set not found", str(p), "create one with: irisonnx compare ... --save-io DIR")
    raise UsageError("not a golden set", str(p), "give an irisonnx --save-io folder, an ONNX test-data folder or Polygraphy's --save-outputs JSON")


def write_onnx_layout(folder: str | os.PathLike, inputs: list[dict[str, np.ndarray]], outputs: list[dict[str, np.ndarray]]) -> None:
    """``--save-io-format onnx``: the baseline's outputs as expected outputs, one set per sample."""
    from irisonnx.data import io_formats

    try:
        io_formats.write_onnx_test_data(folder, [(dict(i), dict(o)) for i, o in zip(inputs, outputs)])
    except OSError as exc:
        raise StorageError(f"cannot write {folder}", exc.strerror or str(exc)) from exc
