"""Golden input/output sets written by other tools, read without executing anything from them.

Two foreign formats, so that a golden set recorded elsewhere needs no conversion:

* **ONNX test data** (as the ONNX model zoo and the ONNX backend tests ship it)::

      ROOT/[model.onnx]
      ROOT/test_data_set_0/input_0.pb, input_1.pb, ..., output_0.pb, ...
      ROOT/test_data_set_1/...

  Each ``.pb`` is one serialized ``onnx.TensorProto`` (its ``name`` may be empty). ``ROOT`` may
  also be one ``test_data_set_N`` folder, or a folder of ``input_K.pb``/``output_K.pb`` files.
  Sequences, maps and optionals (the backend tests store some inputs as ``SequenceProto`` /
  ``OptionalProto``) are refused by name: irisonnx compares tensors. Tensors whose data lives
  in an external file are refused too: a test set is read only from its own ``.pb`` files.
  String tensors come back as numpy object arrays of ``str`` (and are written from them).

* **Polygraphy's saved JSON** (``polygraphy run --save-inputs in.json --save-outputs out.json``,
  or an extensionless path: a folder of per-iteration ``0000000000.json`` files). Arrays are
  objects ``{"array": <base64 of np.save bytes>, "polygraphy_class": "ndarray"}``; outputs are
  a ``RunResults`` (``{"lst": [[runner, [IterationResult, ...]], ...]}``) whose
  ``IterationResult`` maps output names to ``LazyArray`` objects wrapping those arrays. This
  module decodes them with ``json.loads`` and :func:`numpy.load` with ``allow_pickle=False``
  after checking each ``.npy`` header itself (no object dtype, the declared shape matches the
  bytes present); big-endian arrays come back in native order, str arrays as object arrays of
  str: polygraphy is never imported, nothing is unpickled, and an object of any
  other ``polygraphy_class`` (``Tensor`` is a ``torch.save`` pickle) is refused by name.

Errors are one line: :class:`UsageError` for a missing or wrong path, :class:`ArtifactError`
for a corrupt or hostile file, :class:`DataError` for well-formed data irisonnx cannot use.
Needs numpy and onnx only.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import math
import os
import re
import shutil
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np

from irisonnx.errors import ArtifactError, DataError, UsageError
from irisonnx.storage import TEMP_MARK, fsync_dir

__all__ = [
    "MAX_FILE_BYTES",
    "IOSet",
    "read_onnx_test_data",
    "write_onnx_test_data",
    "is_onnx_test_data",
    "read_polygraphy_inputs",
    "read_polygraphy_outputs",
    "polygraphy_json_kind",
]

# One .pb or .json file; a golden set near this size should be split, and we read files whole.
MAX_FILE_BYTES = 256 << 20
MAX_SETS = 100_000
MAX_TENSORS_PER_SET = 10_000
MAX_RANK = 32

_SET_DIR = re.compile(r"test_data_set_(0|[1-9][0-9]*)")
_PB_FILE = re.compile(r"(input|output)_(0|[1-9][0-9]*)\.pb")


@dataclass
class IOSet:
    """One test set: inputs and outputs in file order (``input_0.pb``, ``input_1.pb``, ...).

    A name is the TensorProto's ``name``, or None where the file left it empty (map it to the
    model's inputs/outputs by position). ``source`` is the folder the set was read from.
    """

    inputs: list[tuple[str | None, np.ndarray]] = field(default_factory=list)
    outputs: list[tuple[str | None, np.ndarray]] = field(default_factory=list)
    source: str = ""


# --------------------------------------------------------------------------------------------
# Shared: bounded reads of regular files
# --------------------------------------------------------------------------------------------


def _read_bounded(path: Path, max_bytes: int, what: str) -> bytes:
    """Read a regular file whole, refusing one over ``max_bytes`` without reading it all."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise UsageError(f"{what} {path} does not exist", "", "check the path") from None
    except OSError as exc:
        raise UsageError(f"cannot read {what} {path}", exc.strerror or str(exc)) from None
    if not stat.S_ISREG(st.st_mode):
        raise UsageError(f"{what} {path} is not a regular file", "", "point at the file itself")
    if st.st_size > max_bytes:
        raise ArtifactError(f"{what} {path} is too large", f"{st.st_size} bytes, over the {max_bytes}-byte limit", "split the set into smaller files")
    try:
        with open(path, "rb") as fh:
            data = fh.read(max_bytes + 1)
    except OSError as exc:
        raise UsageError(f"cannot read {what} {path}", exc.strerror or str(exc)) from None
    if len(data) > max_bytes:  # grew after the stat
        raise ArtifactError(f"{what} {path} is too large", f"over the {max_bytes}-byte limit", "split the set into smaller files")
    return data


# --------------------------------------------------------------------------------------------
# ONNX test-data layout
# --------------------------------------------------------------------------------------------


def _set_dirs(root: Path) -> list[Path]:
    found: dict[int, Path] = {}
    try:
        entries = list(os.scandir(root))
    except OSError as exc:
        raise UsageError(f"cannot list {root}", exc.strerror or str(exc)) from None
    for entry in entries:
        m = _SET_DIR.fullmatch(entry.name)
        if m and entry.is_dir():
            found[int(m.group(1))] = Path(entry.path)
    if len(found) > MAX_SETS:
        raise DataError(f"{root} holds {len(found)} test_data_set folders", f"more than {MAX_SETS}", "split it")
    return [found[k] for k in sorted(found)]


def _pb_files(folder: Path) -> tuple[list[Path], list[Path]]:
    """input_K.pb and output_K.pb of one set, each numbered 0..n-1 without gaps."""
    by_kind: dict[str, dict[int, Path]] = {"input": {}, "output": {}}
    try:
        entries = list(os.scandir(folder))
    except OSError as exc:
        raise UsageError(f"cannot list {folder}", exc.strerror or str(exc)) from None
    for entry in entries:
        m = _PB_FILE.fullmatch(entry.name)
        if m:
            by_kind[m.group(1)][int(m.group(2))] = Path(entry.path)
    result = []
    for kind in ("input", "output"):
        got = by_kind[kind]
        if len(got) > MAX_TENSORS_PER_SET:
            raise DataError(f"{folder} holds {len(got)} {kind} files", f"more than {MAX_TENSORS_PER_SET}")
        missing = [k for k in range(len(got)) if k not in got]
        if missing:
            raise DataError(f"{folder / f'{kind}_{missing[0]}.pb'} is missing", f"found {', '.join(p.name for _, p in sorted(got.items()))}", f"{kind} files are numbered from 0 without gaps")
        result.append([got[k] for k in range(len(got))])
    return result[0], result[1]


def _model_value_kinds(model_path: Path, max_bytes: int) -> tuple[list[str], list[str]]:
    """'tensor', 'sequence', 'map', 'optional' or 'sparse' per graph input/output of a model
    that sits beside the test sets (a backend-test case folder): how to parse each file."""
    import onnx

    data = _read_bounded(model_path, max_bytes, "model")
    try:
        model = onnx.ModelProto.FromString(data)
    except Exception as exc:  # google.protobuf DecodeError and friends
        raise ArtifactError(f"model {model_path} is not a valid ONNX file", type(exc).__name__, "fix or remove it; the test sets can be read without it") from None

    def kind(vi: Any) -> str:
        which = vi.type.WhichOneof("value")
        return {"tensor_type": "tensor", "sequence_type": "sequence", "map_type": "map", "optional_type": "optional", "sparse_tensor_type": "sparse"}.get(which or "", "unknown")

    inits = {t.name for t in model.graph.initializer}
    return [kind(vi) for vi in model.graph.input if vi.name not in inits], [kind(vi) for vi in model.graph.output]


_NON_TENSOR = {"sequence": "an ONNX sequence (SequenceProto)", "optional": "an ONNX optional (OptionalProto)", "map": "an ONNX map (MapProto)", "sparse": "a sparse tensor (SparseTensorProto)"}


def _non_tensor_kind(data: bytes) -> str | None:
    """Which non-tensor protos ``data`` parses as and re-serializes to byte for byte. A one-element
    sequence and an optional share their wire format: without the model both are named."""
    import onnx

    kinds = []
    for kind, cls in (("sequence", onnx.SequenceProto), ("optional", onnx.OptionalProto), ("map", onnx.MapProto), ("sparse", onnx.SparseTensorProto)):
        try:
            msg = cls.FromString(data)
        except Exception:
            continue
        if msg.SerializeToString() == data and msg.ListFields():
            kinds.append(kind)
    return " or ".join(kinds) or None


def _tensor_from_pb(data: bytes, path: Path, hint: str | None) -> tuple[str | None, np.ndarray]:
    import onnx
    from onnx import numpy_helper

    def refuse_non_tensor(kind: str) -> DataError:
        what = " or ".join(_NON_TENSOR[k] for k in kind.split(" or ")).replace(" or an ONNX ", " or ")
        return DataError(f"{path} holds {what}, not a tensor", "irisonnx compares tensors only", "export the model with tensor inputs and outputs")

    if hint in _NON_TENSOR:
        raise refuse_non_tensor(hint)
    try:
        t = onnx.TensorProto.FromString(data)
        parsed = True
    except Exception:
        parsed = False
    # A SequenceProto/OptionalProto read as a TensorProto "parses": its name becomes dims and its
    # first element a segment. Nothing writes segmented tensors in test data, so a segment or an
    # undefined type means: look at what else it could be.
    if not parsed or t.HasField("segment") or t.data_type == 0:
        kind = None if hint == "tensor" else _non_tensor_kind(data)
        if kind is not None:
            raise refuse_non_tensor(kind)
        if not parsed:
            raise ArtifactError(f"{path} is not a serialized ONNX TensorProto", "protobuf could not parse it", "regenerate the test set")
        if t.HasField("segment"):
            raise ArtifactError(f"{path} holds a segmented TensorProto", "segments are not supported", "save the tensor whole")
        raise ArtifactError(f"{path} holds a TensorProto of undefined element type", "data_type is 0", "regenerate the test set")
    if t.data_location == onnx.TensorProto.EXTERNAL or len(t.external_data):
        raise ArtifactError(f"{path} keeps its data in an external file", "test data is read only from the .pb itself", "save the tensor with its data inline (numpy_helper.from_array)")
    dims = list(t.dims)
    if len(dims) > MAX_RANK or any(d < 0 for d in dims):
        raise ArtifactError(f"{path} declares an impossible shape {dims}", "negative dimension or rank over " + str(MAX_RANK), "regenerate the test set")
    count = math.prod(dims)
    # Every element takes at least half a byte in the file (4-bit types pack two per byte), so a
    # shape claiming more elements than that lies: refused before numpy allocates anything.
    if count > 2 * len(data) + 16:
        raise ArtifactError(f"{path} declares shape {dims} ({count} elements)", f"but the file holds {len(data)} bytes", "the file is truncated or forged")
    try:
        arr = numpy_helper.to_array(t)
    except Exception as exc:
        raise ArtifactError(f"{path} does not decode to an array", f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}", "the file is truncated or forged") from None
    if arr.dtype == object:
        try:
            arr = np.array([v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in arr.ravel()], dtype=object).reshape(arr.shape)
        except UnicodeDecodeError:
            raise DataError(f"{path} holds strings that are not UTF-8", "irisonnx reads string tensors as str", "store UTF-8 text") from None
    return (t.name or None), arr


def _resolve_test_data_root(path: str | os.PathLike) -> tuple[list[Path], Path | None]:
    """The set folders to read, in numeric order, and a model.onnx beside them if any."""
    p = Path(path)
    if not p.exists():
        raise UsageError(f"{p} does not exist", "", "point at a folder of test_data_set_N folders, one test_data_set_N folder, or a backend-test case folder")
    if p.is_file():
        if p.name == "model.onnx" or p.suffix == ".onnx":
            p = p.parent
        else:
            raise UsageError(f"{p} is a file", "ONNX test data is a folder", "point at the folder holding test_data_set_0/")
    sets = _set_dirs(p)
    if sets:
        model = p / "model.onnx"
        return sets, model if model.is_file() else None
    if any(_PB_FILE.fullmatch(name) for name in os.listdir(p)):
        model = p.parent / "model.onnx"
        return [p], model if _SET_DIR.fullmatch(p.name) and model.is_file() else None
    raise UsageError(f"{p} holds no ONNX test data", "no test_data_set_N folders and no input_K.pb/output_K.pb files", "point at the folder holding test_data_set_0/")


def is_onnx_test_data(path: str | os.PathLike) -> bool:
    """True when ``path`` looks like ONNX test data (what :func:`read_onnx_test_data` accepts)."""
    try:
        _resolve_test_data_root(path)
    except (UsageError, OSError):
        return False
    return True


def read_onnx_test_data(path: str | os.PathLike, max_file_bytes: int = MAX_FILE_BYTES) -> list[IOSet]:
    """Read every test set under ``path`` (0, 1, 2, ..., 10: numeric order).

    ``path`` is a folder of ``test_data_set_N`` folders (optionally with ``model.onnx``: a
    backend-test case, whose graph then says which files hold sequences or optionals), one
    ``test_data_set_N`` folder, or a ``model.onnx`` inside such a case folder.
    """
    set_dirs, model_path = _resolve_test_data_root(path)
    in_kinds: list[str] = []
    out_kinds: list[str] = []
    if model_path is not None:
        in_kinds, out_kinds = _model_value_kinds(model_path, max_file_bytes)
    result = []
    for folder in set_dirs:
        ins, outs = _pb_files(folder)
        if not ins and not outs:
            raise DataError(f"{folder} holds no input_K.pb or output_K.pb files", "an empty test set", "remove it or fill it")
        s = IOSet(source=str(folder))
        for files, kinds, target in ((ins, in_kinds, s.inputs), (outs, out_kinds, s.outputs)):
            for k, f in enumerate(files):
                hint = kinds[k] if k < len(kinds) else None
                target.append(_tensor_from_pb(_read_bounded(f, max_file_bytes, "test data file"), f, hint))
        result.append(s)
    return result


def _tensor_proto(name: str, value: Any, where: str) -> Any:
    from onnx import numpy_helper

    if not isinstance(name, str) or not name:
        raise DataError(f"{where}: tensor name {name!r} is not a non-empty string", "", "name every array")
    arr = np.asarray(value)
    if arr.dtype.kind == "U":
        arr = arr.astype(object)
    if arr.dtype == object:
        if not all(isinstance(v, str) for v in arr.ravel()):
            raise DataError(f"{where}: {name} is an object array that is not all str", "ONNX string tensors are written from object arrays of str only", "convert it to a numeric or str array")
    elif arr.dtype.kind not in "biufc" and arr.dtype.name not in ("bfloat16", "float8_e4m3fn", "float8_e4m3fnuz", "float8_e5m2", "float8_e5m2fnuz", "int4", "uint4", "float4_e2m1fn"):
        raise DataError(f"{where}: {name} has dtype {arr.dtype}", "no ONNX tensor type for it", "convert it to a numeric, bool or str array")
    try:
        return numpy_helper.from_array(arr, name)
    except Exception as exc:
        raise DataError(f"{where}: {name} cannot be stored as an ONNX tensor", f"{type(exc).__name__}: {exc}"[:200]) from None


def _write_synced(path: Path, data: bytes) -> None:
    with open(path, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def write_onnx_test_data(folder: str | os.PathLike, sets: Iterable[tuple[Mapping[str, np.ndarray], Mapping[str, np.ndarray]]]) -> None:
    """Write ``sets`` (each ``(inputs, outputs)``, dicts name -> array in model order) as
    ``folder/test_data_set_N/input_K.pb`` / ``output_K.pb`` with named tensors.

    Atomic: everything is built in a temp folder beside ``folder``, fsynced, and renamed into
    place. An existing ``folder`` is replaced only when it is empty or holds nothing but
    ``test_data_set_N`` folders (an earlier save); anything else in it is never deleted.
    """
    from irisonnx.storage import _storage_error  # one message format for every failed write

    target = Path(folder)
    if target.exists() and not target.is_dir():
        raise UsageError(f"{target} exists and is not a folder", "", "choose a folder path for the test sets")
    if target.is_dir():
        others = [n for n in os.listdir(target) if not (_SET_DIR.fullmatch(n) and (target / n).is_dir())]
        if others:
            raise UsageError(f"{target} already holds other files ({', '.join(sorted(others)[:3])})", "only an empty folder or an earlier ONNX test-data save is replaced", "choose a new folder")
    # Serialize everything first: bad data fails before anything touches the disk.
    payload: list[list[tuple[str, bytes]]] = []
    for i, pair in enumerate(sets):
        try:
            inputs, outputs = pair
        except (TypeError, ValueError):
            raise DataError(f"test set {i} is not an (inputs, outputs) pair", "", "pass a list of (dict, dict)") from None
        files = []
        for kind, tensors in (("input", inputs), ("output", outputs)):
            if not isinstance(tensors, Mapping):
                raise DataError(f"test set {i}: {kind}s are a {type(tensors).__name__}, not a dict name -> array")
            for k, (name, value) in enumerate(tensors.items()):
                files.append((f"{kind}_{k}.pb", _tensor_proto(name, value, f"test set {i}").SerializeToString()))
        if not files:
            raise DataError(f"test set {i} has no inputs and no outputs", "", "drop it")
        payload.append(files)
    if not payload:
        raise DataError("no test sets to write", "", "record at least one set")
    parent = target.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _storage_error(target, exc) from exc
    tmp = parent / f"{TEMP_MARK}{os.getpid()}-{os.urandom(4).hex()}-{target.name}"
    old = parent / f"{TEMP_MARK}{os.getpid()}-{os.urandom(4).hex()}-old-{target.name}"
    try:
        tmp.mkdir()
        for i, files in enumerate(payload):
            d = tmp / f"test_data_set_{i}"
            d.mkdir()
            for fname, data in files:
                _write_synced(d / fname, data)
            fsync_dir(d)
        fsync_dir(tmp)
        if target.is_dir() and os.listdir(target):
            os.rename(target, old)  # an earlier save: moved aside, removed once the new one is in
        os.replace(tmp, target)  # rename(2) replaces an empty folder atomically
        fsync_dir(parent)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if old.exists() and not target.exists():
            os.rename(old, target)
        raise _storage_error(target, exc) from exc
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if old.exists() and not target.exists():
            os.rename(old, target)
        raise
    shutil.rmtree(old, ignore_errors=True)


# --------------------------------------------------------------------------------------------
# Polygraphy JSON
# --------------------------------------------------------------------------------------------

_TYPE_MARKER = "polygraphy_class"
_LEGACY_MARKER = "polygraphy_serialized_json_type"
_LEGACY_PREFIX = "__polygraphy_encoded_"
_NPY_MAGIC = b"\x93NUMPY"
_NPY_KINDS = "biufcU"


class _Lazy:
    __slots__ = ("array",)

    def __init__(self, array: np.ndarray) -> None:
        self.array = array


class _IterResult:
    __slots__ = ("outputs", "runner_name")

    def __init__(self, outputs: dict[str, np.ndarray], runner_name: str) -> None:
        self.outputs, self.runner_name = outputs, runner_name


class _RunResults:
    __slots__ = ("lst",)

    def __init__(self, lst: list[Any]) -> None:
        self.lst = lst


def _decode_npy(text: Any, where: str) -> np.ndarray:
    if not isinstance(text, str):
        raise ArtifactError(f"{where}: an ndarray's 'array' is a {type(text).__name__}, not a string", "", "regenerate the file with polygraphy")
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        if not text.startswith(_NPY_MAGIC.decode("latin-1")):
            raise ArtifactError(f"{where}: an ndarray is not valid base64", "", "the file is corrupt; regenerate it") from None
        try:  # polygraphy's oldest files stored the .npy bytes as a latin-1 string
            raw = text.encode("latin-1")
        except UnicodeEncodeError:
            raise ArtifactError(f"{where}: an ndarray is neither base64 nor latin-1 .npy bytes", "", "the file is corrupt; regenerate it") from None
    if raw[:2] == b"PK":
        raise ArtifactError(f"{where}: an ndarray is stored as an NPZ archive (old polygraphy)", "irisonnx reads .npy payloads only", "re-save the data with a current polygraphy")
    if raw[:6] != _NPY_MAGIC:
        raise ArtifactError(f"{where}: an ndarray does not hold .npy bytes", "no NUMPY magic", "the file is corrupt; regenerate it")
    fmt = np.lib.format
    f = io.BytesIO(raw)
    try:
        version = fmt.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = fmt.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, fortran, dtype = fmt.read_array_header_2_0(f)
        else:
            raise ValueError(f"unsupported .npy version {version}")
    except Exception as exc:
        raise ArtifactError(f"{where}: an ndarray has a bad .npy header", str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__, "the file is corrupt; regenerate it") from None
    if dtype.hasobject:
        raise ArtifactError(f"{where}: an ndarray holds Python objects (dtype {dtype})", "loading it would unpickle code from the file, which irisonnx never does", "save plain numeric or str arrays")
    if dtype.fields is not None or dtype.kind not in _NPY_KINDS:
        raise ArtifactError(f"{where}: an ndarray has unsupported dtype {dtype}", "irisonnx reads numeric, bool and str arrays", "save plain arrays")
    if len(shape) > MAX_RANK or any((not isinstance(d, int)) or d < 0 for d in shape):
        raise ArtifactError(f"{where}: an ndarray declares an impossible shape {shape}", "", "the file is corrupt; regenerate it")
    need = math.prod(shape) * dtype.itemsize
    have = len(raw) - f.tell()
    if need != have:
        raise ArtifactError(f"{where}: an ndarray declares shape {tuple(shape)} {dtype} ({need} bytes)", f"but holds {have} bytes", "the file is truncated or forged")
    try:
        arr = np.load(io.BytesIO(raw), allow_pickle=False)
    except Exception as exc:  # checked above; kept so that no numpy surprise becomes a traceback
        raise ArtifactError(f"{where}: an ndarray does not load", f"{type(exc).__name__}", "the file is corrupt; regenerate it") from None
    if not isinstance(arr, np.ndarray):
        raise ArtifactError(f"{where}: an ndarray does not load as an array", "", "the file is corrupt; regenerate it")
    if arr.dtype.kind == "U":  # strings as object arrays of str, as the ONNX reader and onnxruntime give them
        return arr.astype(object)
    if not arr.dtype.isnative:
        arr = arr.astype(arr.dtype.newbyteorder("="))
    return arr


def _hook(where: str):
    def hook(pairs: list[tuple[str, Any]]) -> Any:
        d: dict[str, Any] = {}
        for k, v in pairs:
            if k in d:
                raise ArtifactError(f"{where}: key {k!r} appears twice in one object", "", "the file is corrupt or forged")
            d[k] = v
        cls = d.get(_TYPE_MARKER)
        if cls is None:
            for k, v in d.items():
                if k.startswith(_LEGACY_PREFIX) and v == _LEGACY_MARKER:
                    cls = k[len(_LEGACY_PREFIX):]
                    break
            else:
                return d
        if cls == "ndarray":
            return _decode_npy(d.get("array"), where)
        if cls in ("LazyArray", "LazyNumpyArray"):
            arr = d.get("values")
            if not isinstance(arr, np.ndarray):
                raise ArtifactError(f"{where}: a {cls} does not wrap an ndarray", "", "the file is corrupt; regenerate it")
            return _Lazy(arr)
        if cls == "IterationResult":
            outs = d.get("outputs")
            if not isinstance(outs, dict):
                raise ArtifactError(f"{where}: an IterationResult has no 'outputs' object", "", "the file is corrupt; regenerate it")
            arrays = {}
            for name, v in outs.items():
                if isinstance(v, _Lazy):
                    v = v.array
                if not isinstance(v, np.ndarray):
                    raise ArtifactError(f"{where}: output {name!r} is a {type(v).__name__}, not an array", "", "the file is corrupt; regenerate it")
                arrays[name] = v
            return _IterResult(arrays, str(d.get("runner_name", "")))
        if cls == "RunResults":
            lst = d.get("lst")
            if not isinstance(lst, list):
                raise ArtifactError(f"{where}: a RunResults has no 'lst' list", "", "the file is corrupt; regenerate it")
            return _RunResults(lst)
        if cls == "Tensor":
            raise ArtifactError(f"{where}: holds a torch.Tensor (polygraphy_class 'Tensor')", "those are torch.save pickles, which irisonnx never loads", "save numpy arrays instead (the default)")
        raise ArtifactError(f"{where}: unknown polygraphy_class {str(cls)[:80]!r}", "irisonnx reads ndarray, LazyArray, IterationResult and RunResults only", "save plain inputs/outputs with polygraphy run")

    return hook


def _json_files(path: str | os.PathLike, what: str) -> list[Path]:
    p = Path(path)
    if not p.exists():
        raise UsageError(f"{what} {p} does not exist", "", "check the path")
    if p.is_dir():
        files = sorted((q for q in p.glob("*.json") if q.is_file()), key=lambda q: (int(q.stem) if q.stem.isdigit() else math.inf, q.name))
        if not files:
            raise UsageError(f"{what} {p} is a folder without .json files", "", "point at polygraphy's saved .json file or per-iteration folder")
        return files
    return [p]


def _load_pg_json(path: Path, max_bytes: int, what: str) -> Any:
    data = _read_bounded(path, max_bytes, what)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ArtifactError(f"{what} {path} is not UTF-8 JSON", "", "point at polygraphy's saved .json file") from None
    try:
        return json.loads(text, object_pairs_hook=_hook(str(path)))
    except json.JSONDecodeError as exc:
        raise ArtifactError(f"{what} {path} is not valid JSON", f"{exc.msg} at line {exc.lineno} column {exc.colno}", "the file is truncated or corrupt; save it again") from None
    except RecursionError:
        raise ArtifactError(f"{what} {path} nests too deeply", "", "the file is corrupt or forged") from None
    except ValueError as exc:  # e.g. an integer literal with too many digits
        raise ArtifactError(f"{what} {path} is not valid JSON", str(exc).splitlines()[0][:200], "the file is corrupt or forged") from None


def _feed(obj: Any, where: str) -> dict[str, np.ndarray]:
    if isinstance(obj, _RunResults):
        raise DataError(f"{where} holds Polygraphy outputs (RunResults), not inputs", "", "pass it where outputs are read (--load-io)")
    if not isinstance(obj, dict):
        raise DataError(f"{where}: an iteration is a {type(obj).__name__}, not a dict of input name -> array", "", "save inputs with polygraphy run --save-inputs")
    for name, arr in obj.items():
        if not isinstance(arr, np.ndarray):
            raise DataError(f"{where}: input {name!r} is a {type(arr).__name__}, not an encoded array", "", "save inputs with polygraphy run --save-inputs")
    return dict(obj)


def read_polygraphy_inputs(path: str | os.PathLike, max_file_bytes: int = MAX_FILE_BYTES) -> list[dict[str, np.ndarray]]:
    """Polygraphy's ``--save-inputs`` (one .json list of feed dicts, or a folder of per-iteration
    .json files): one dict input name -> array per iteration, in order."""
    feeds: list[dict[str, np.ndarray]] = []
    for f in _json_files(path, "Polygraphy inputs"):
        obj = _load_pg_json(f, max_file_bytes, "Polygraphy inputs")
        items = obj if isinstance(obj, list) else [obj]
        feeds.extend(_feed(it, str(f)) for it in items)
    if not feeds:
        raise DataError(f"Polygraphy inputs {path} hold no iterations", "", "save at least one iteration")
    return feeds


def read_polygraphy_outputs(path: str | os.PathLike, max_file_bytes: int = MAX_FILE_BYTES) -> dict[str, list[dict[str, np.ndarray]]]:
    """Polygraphy's ``--save-outputs`` (a RunResults .json, or a folder of per-iteration ones):
    runner name -> one dict output name -> array per iteration, runners in file order."""
    runs: dict[str, list[dict[str, np.ndarray]]] = {}
    for f in _json_files(path, "Polygraphy outputs"):
        obj = _load_pg_json(f, max_file_bytes, "Polygraphy outputs")
        if not isinstance(obj, _RunResults):
            if isinstance(obj, (list, dict)):
                raise DataError(f"{f} holds no Polygraphy RunResults", "it looks like saved inputs (--save-inputs)" if isinstance(obj, list) else "", "pass the file written by --save-outputs")
            raise DataError(f"{f} holds no Polygraphy RunResults", "", "pass the file written by --save-outputs")
        seen: set[str] = set()
        for entry in obj.lst:
            if not (isinstance(entry, list) and len(entry) == 2 and isinstance(entry[0], str) and isinstance(entry[1], list)):
                raise ArtifactError(f"{f}: a RunResults entry is not [runner name, [iterations]]", "", "the file is corrupt; regenerate it")
            runner, iters = entry
            if runner in seen:
                raise DataError(f"{f}: runner {runner!r} appears twice", "", "save each runner once")
            seen.add(runner)
            bad = [type(it).__name__ for it in iters if not isinstance(it, _IterResult)]
            if bad:
                raise ArtifactError(f"{f}: runner {runner!r} has an iteration that is a {bad[0]}, not an IterationResult", "", "the file is corrupt; regenerate it")
            runs.setdefault(runner, []).extend(it.outputs for it in iters)
    if not runs:
        raise DataError(f"Polygraphy outputs {path} hold no runners", "", "save outputs of at least one runner")
    return runs


def polygraphy_json_kind(path: str | os.PathLike) -> str | None:
    """'outputs', 'inputs' or None: a cheap look at the start of a Polygraphy .json file (or the
    first file of a per-iteration folder), for choosing a reader. Reads at most 4 KiB."""
    try:
        files = _json_files(path, "Polygraphy file")
        with open(files[0], "rb") as fh:
            head = fh.read(4096).decode("utf-8", "replace")
    except (UsageError, OSError):
        return None
    m = re.match(r'\s*(\[|\{)\s*(?:"([^"]*)")?', head)
    if not m:
        return None
    if m.group(1) == "{" and m.group(2) == "lst":
        return "outputs"
    if m.group(1) == "[" or (m.group(2) is not None and '"array"' in head):
        return "inputs"
    return None
