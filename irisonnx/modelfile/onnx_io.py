"""Load an ONNX model safely and read irisonnx's metadata from it. Needs onnx, never torch.

Nothing here trusts the file. :func:`load_model_safely` reads at most ``max_bytes``, parses
without touching external data, refuses external data that points outside the model's
folder (absolute paths, ``..``, symlinks) *before* any onnxruntime session could read it,
runs ``onnx.checker``, and checks that the graph's signature is what the metadata claims.
The bytes it checked are the bytes handed to onnxruntime, so nothing can change in between.

Metadata keys irisonnx writes into ``metadata_props`` (all values are strings; lists and
tables are JSON): ``format``, ``class_names``, ``feature_names``, ``feature_units``,
``n_features``, ``n_classes``, ``dataset``, ``weights_sha256``, ``data_sha256``,
``irisonnx_version``, ``torch_version``, ``onnx_version``, ``training_config``, ``exporter``,
``opset``.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from irisonnx.errors import ArtifactError, UsageError
from irisonnx.modelfile.signature import Signature, TensorSpec, spec_from_ort, spec_from_value_info
from irisonnx.storage import MANIFEST_NAME, read_json, sha256_bytes

__all__ = [
    "MODEL_FORMAT",
    "MAX_MODEL_BYTES",
    "TensorSpec",
    "ModelInfo",
    "load_model_safely",
    "resolve_model",
    "read_model_bytes",
    "check_external_data",
    "VouchedModel",
    "vouched_model",
]

MODEL_FORMAT = "irisonnx-model/1"
# An Iris MLP is ~2 KB and a wide one a few MB; a model near this size is not one of ours,
# and reading it whole (we hash and parse in memory) should be a deliberate choice.
MAX_MODEL_BYTES = 256 << 20

_LOGITS, _PROBS, _LABEL = "logits", "probabilities", "label"
# Far beyond any tabular classifier. The bound keeps a declared shape that lies (1e12 features)
# from making us build a name per feature or a buffer per class: refused, in bounded memory.
MAX_FEATURES = MAX_CLASSES = 1 << 16
# Operator domains a model may use: standard ONNX, ONNX-ML, and onnxruntime's contrib ops (its
# own optimiser writes them), plus the model's local functions. Any other domain needs a
# custom-op library, which irisonnx never loads: refused here, so inspect, predict and compare agree.
_KNOWN_DOMAINS = frozenset({"", "ai.onnx", "ai.onnx.ml", "com.microsoft"})
# What irisonnx export always writes. Protobuf has no end marker, so a model cut short between
# two metadata entries (or before them) still parses: a model that says it is ours (format key,
# or the doc string, which precedes the graph) and lacks one of these was truncated or edited.
_REQUIRED_METADATA = ("format", "dataset", "class_names", "feature_names", "feature_units", "n_features", "n_classes", "weights_sha256", "data_sha256", "irisonnx_version", "torch_version", "onnx_version", "training_config", "exporter", "opset")
_DOC_MARK = "irisonnx MLP classifier"


@dataclass
class ModelInfo:
    """A checked model: its bytes, signature and metadata. ``proto`` is the parsed ModelProto,
    or None when the Predictor read a :func:`vouched_model` without onnx (see there)."""

    path: Path
    data: bytes
    sha256: str
    proto: Any
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]
    metadata: dict[str, str]
    # The classifier view (irisonnx's own kind: one float32 [batch, n_features] input, a float32
    # [batch, n_classes] logits output). None / empty for any other model, which every command
    # still takes through its signature.
    n_features: int | None
    n_classes: int | None
    feature_names: list[str]
    class_names: list[str]
    feature_units: dict[str, str] = field(default_factory=dict)
    has_external_data: bool = False
    has_irisonnx_metadata: bool = False
    manifest_entry: dict[str, Any] | None = None  # set by resolve_model for a run's model
    export_record: dict[str, Any] | None = None  # the manifest's export section, when it is about this file

    @property
    def size(self) -> int:
        return len(self.data)

    @property
    def input(self) -> TensorSpec:
        return self.inputs[0]

    @property
    def is_classifier(self) -> bool:
        """One float32 [batch, n_features] input and a float32 [batch, n_classes] logits output."""
        return self.n_features is not None

    @property
    def signature(self) -> Signature:
        return Signature(tuple(self.inputs), tuple(self.outputs))

    @property
    def input_names(self) -> list[str]:
        return [i.name for i in self.inputs]

    @property
    def output_names(self) -> list[str]:
        return [o.name for o in self.outputs]

    @property
    def logits_name(self) -> str:
        return _LOGITS if _LOGITS in self.output_names else self.outputs[0].name if self.outputs else ""

    @property
    def probabilities_name(self) -> str | None:
        return _PROBS if _PROBS in self.output_names else None

    @property
    def label_name(self) -> str | None:
        return _LABEL if _LABEL in self.output_names else None

    @property
    def opset_imports(self) -> dict[str, int]:
        return {(o.domain or "ai.onnx"): int(o.version) for o in self.proto.opset_import}

    def proto_with_data(self) -> Any:
        """The ModelProto with any external data read in (a copy; its locations were checked
        to stay inside the model's folder, and their total size is bounded): for consumers
        that take a proto but cannot follow external data (the reference evaluator, locate)."""
        if not self.has_external_data:
            return self.proto
        import onnx
        from onnx.external_data_helper import load_external_data_for_model

        m = onnx.ModelProto()
        m.CopyFrom(self.proto)
        load_external_data_for_model(m, os.fspath(self.path.absolute().parent))
        return m

    def session_source(self) -> bytes | str:
        """What onnxruntime should load: the checked bytes, or the path when external data
        must be found beside the file (its locations were checked to stay inside the folder)."""
        return os.fspath(self.path) if self.has_external_data else self.data

    def parsed_metadata(self) -> dict[str, Any]:
        """Metadata with JSON values decoded, for display."""
        out: dict[str, Any] = {}
        for k, v in self.metadata.items():
            if k in _JSON_KEYS:
                try:
                    out[k] = json.loads(v)
                    continue
                except json.JSONDecodeError:
                    pass
            out[k] = v
        return out


_JSON_KEYS = ("class_names", "feature_names", "feature_units", "training_config")


# --- reading -----------------------------------------------------------------------------


def read_model_bytes(path: str | os.PathLike, max_bytes: int = MAX_MODEL_BYTES) -> bytes:
    """The file's bytes, refusing folders, missing files and files over ``max_bytes``."""
    p = Path(path)
    if not p.exists():
        raise UsageError("model not found", str(p), "pass a run folder or an .onnx file")
    if p.is_dir():
        raise UsageError("model path is a folder", str(p), "pass a run folder (with config.json) or an .onnx file")
    if not p.is_file():
        raise UsageError("model is not a regular file", str(p), "give a file on disk: pipes and devices can block or never end")
    size = p.stat().st_size
    if size > max_bytes:
        raise ArtifactError("model file too large", f"{p} is {size:,} bytes, the limit is {max_bytes:,}", "an irisonnx model is a few KB; check the path")
    if size == 0:
        raise ArtifactError("not an ONNX model", f"{p} is empty")
    with open(p, "rb") as fh:
        # read(n) allocates n bytes up front: ask for the stat'd size (+1 to notice a file
        # that grew since), not the 256 MiB limit, which every model load used to request.
        data = fh.read(size + 1)
        if len(data) > size:  # it grew: read on, still bounded by the limit
            data += fh.read(max_bytes + 1 - len(data))
    if len(data) > max_bytes:
        raise ArtifactError("model file too large", f"{p} grew past {max_bytes:,} bytes while being read", "an irisonnx model is a few KB; check the path")
    return data


def _iter_graph_tensors(graph: Any) -> Any:
    """Every TensorProto a graph can hold, subgraphs included (If/Loop/Scan bodies)."""
    yield from graph.initializer
    for sp in graph.sparse_initializer:
        yield sp.values
        yield sp.indices
    for node in graph.node:
        yield from _iter_attr_tensors(node.attribute)


def _iter_attr_tensors(attrs: Any) -> Any:
    for a in attrs:
        if a.HasField("t"):
            yield a.t
        yield from a.tensors
        if a.HasField("sparse_tensor"):
            yield a.sparse_tensor.values
            yield a.sparse_tensor.indices
        for st in a.sparse_tensors:
            yield st.values
            yield st.indices
        if a.HasField("g"):
            yield from _iter_graph_tensors(a.g)
        for g in a.graphs:
            yield from _iter_graph_tensors(g)


def _all_tensors(model: Any) -> Any:
    yield from _iter_graph_tensors(model.graph)
    for fn in model.functions:
        for node in fn.node:
            yield from _iter_attr_tensors(node.attribute)
    for ti in model.training_info:
        yield from _iter_graph_tensors(ti.initialization)
        yield from _iter_graph_tensors(ti.algorithm)


_WINDOWS_DRIVE = re.compile(r"^[A-Za-z]:")


def check_external_data(model: Any, model_path: str | os.PathLike, max_bytes: int = MAX_MODEL_BYTES) -> bool:
    """Refuse external data that could make a runtime read outside the model's folder.

    Checks locations only by their names and by resolving links; it never opens a file
    outside the folder. Returns True when the model has (safe) external data.
    """
    from onnx import TensorProto

    folder = Path(model_path).absolute().parent
    real_folder = Path(os.path.realpath(folder))
    found = False
    total = 0
    for t in _all_tensors(model):
        if t.data_location != TensorProto.EXTERNAL:
            continue
        found = True
        entries = {e.key: e.value for e in t.external_data}
        loc = entries.get("location", "")
        where = f"tensor {t.name!r} in {model_path}"
        if not loc:
            raise ArtifactError("unsafe ONNX model", f"{where} is stored externally but names no location")
        parts = re.split(r"[\\/]", loc)
        if loc.startswith(("/", "\\")) or _WINDOWS_DRIVE.match(loc) or os.path.isabs(loc):
            raise ArtifactError("unsafe ONNX model", f"{where} points to external data at an absolute path {loc!r}", "external data must sit in the model's folder")
        if ".." in parts or "\x00" in loc:
            raise ArtifactError("unsafe ONNX model", f"{where} points to external data outside its folder ({loc!r})", "external data must sit in the model's folder")
        real = Path(os.path.realpath(folder / loc))
        if not real.is_relative_to(real_folder):
            raise ArtifactError("unsafe ONNX model", f"{where}: external data {loc!r} resolves to {real}, outside {real_folder} (a symlink?)", "external data must sit in the model's folder")
        if not real.is_file():
            raise ArtifactError("incomplete ONNX model", f"{where}: external data file {loc!r} is missing")
        try:
            offset = int(entries.get("offset", "0"))
            length = int(entries["length"]) if "length" in entries else real.stat().st_size - offset
        except ValueError:
            raise ArtifactError("corrupt ONNX model", f"{where}: bad offset/length in its external data entry") from None
        if offset < 0 or length < 0 or offset + length > real.stat().st_size:
            raise ArtifactError("corrupt ONNX model", f"{where}: external data range {offset}+{length} exceeds {loc!r} ({real.stat().st_size} bytes)")
        total += length
        if total > max_bytes:
            raise ArtifactError("model too large", f"{model_path}: external data exceeds {max_bytes:,} bytes")
    return found


# --- signature and metadata --------------------------------------------------------------


def _json_list(meta: dict[str, str], key: str, path: Path) -> list[str] | None:
    if key not in meta:
        return None
    try:
        val = json.loads(meta[key])
    except json.JSONDecodeError:
        raise ArtifactError("corrupt model metadata", f"{path}: {key} is not JSON") from None
    if not isinstance(val, list) or not all(isinstance(v, str) for v in val):
        raise ArtifactError("corrupt model metadata", f"{path}: {key} is not a list of names")
    return val


def _meta_int(meta: dict[str, str], key: str, path: Path) -> int | None:
    if key not in meta:
        return None
    try:
        return int(meta[key])
    except ValueError:
        raise ArtifactError("corrupt model metadata", f"{path}: {key}={meta[key]!r} is not an integer") from None


class _NotClassifier(ArtifactError):
    """The graph is not irisonnx's classifier shape: fine for a foreign model, fatal for one
    that says it is ours."""


def _classifier_view(path: Path, inputs: list[TensorSpec], outputs: list[TensorSpec], meta: dict[str, str]) -> tuple[int | None, int | None, list[str], list[str]]:
    """(n_features, n_classes, features, classes) of a classifier, or (None, None, [], []) for
    any other model. A model that carries irisonnx's format key must be a classifier (exit 3);
    a classifier must agree with every count and name list its metadata claims (exit 3)."""
    try:
        return _check_signature(path, inputs, outputs, meta)
    except _NotClassifier:
        if meta.get("format") == MODEL_FORMAT:
            raise
        return None, None, [], []


def _check_signature(path: Path, inputs: list[TensorSpec], outputs: list[TensorSpec], meta: dict[str, str]) -> tuple[int, int, list[str], list[str]]:
    """The graph must be a classifier over one float32 [batch, n_features] input, and agree
    with every count and name list the metadata claims. Returns (n_features, n_classes, features, classes)."""
    bad = "model does not match its metadata"
    if len(inputs) != 1:
        raise _NotClassifier("unsupported model", f"{path} has {len(inputs)} inputs ({', '.join(i.name for i in inputs)}); irisonnx models have one, 'features'")
    x = inputs[0]
    if x.dtype != "float32" or len(x.shape) != 2:
        raise _NotClassifier("unsupported model", f"{path}: input {x.name!r} is {x.dtype} {x.shape_str()}, expected float32 [batch, n_features]")
    if isinstance(x.shape[0], int):
        raise _NotClassifier("unsupported model", f"{path}: input {x.name!r} has a fixed batch size {x.shape[0]}", "export it with a symbolic batch dimension (irisonnx export does)")
    if not isinstance(x.shape[1], int) or x.shape[1] < 1:
        raise _NotClassifier("unsupported model", f"{path}: input {x.name!r} has no fixed number of features ({x.shape_str()})")
    if not outputs:
        raise _NotClassifier("unsupported model", f"{path} has no outputs")
    by_name = {o.name: o for o in outputs}
    logits = by_name.get(_LOGITS, outputs[0])
    if logits.dtype != "float32" or len(logits.shape) != 2 or not isinstance(logits.shape[1], int):
        raise _NotClassifier("unsupported model", f"{path}: output {logits.name!r} is {logits.dtype} {logits.shape_str()}, expected float32 [batch, n_classes]")
    n_features, n_classes = x.shape[1], logits.shape[1]
    rows = x.shape[0]
    for o in outputs:
        # The Predictor pre-binds every output as [rows, n_classes] (label: [rows]): any other
        # output, or one whose first dimension is not the input's rows, takes the general path.
        want = (1,) if o.name == _LABEL else (2,)
        if not o.is_tensor or len(o.shape) not in want or isinstance(o.shape[0], int) or (isinstance(o.shape[0], str) and isinstance(rows, str) and o.shape[0] != rows):
            raise _NotClassifier("unsupported model", f"{path}: output {o.describe()} does not follow the input's rows")
        if o.name not in (_LABEL, _PROBS) and (o.dtype != "float32" or o.shape[1] != n_classes):
            raise _NotClassifier("unsupported model", f"{path}: output {o.describe()} is not float32 [batch, {n_classes}]")
    if n_features > MAX_FEATURES or n_classes > MAX_CLASSES:
        raise _NotClassifier("unsupported model", f"{path} declares {n_features:,} features and {n_classes:,} classes", f"irisonnx handles at most {MAX_FEATURES:,} of each")
    if _PROBS in by_name:
        p = by_name[_PROBS]
        if p.dtype != "float32" or len(p.shape) != 2 or p.shape[1] != n_classes:
            raise _NotClassifier(bad, f"{path}: output 'probabilities' is {p.dtype} {p.shape_str()}, expected float32 [batch, {n_classes}]")
    if _LABEL in by_name:
        lab = by_name[_LABEL]
        if lab.dtype != "int64" or len(lab.shape) != 1:
            raise _NotClassifier(bad, f"{path}: output 'label' is {lab.dtype} {lab.shape_str()}, expected int64 [batch]")

    claimed_f, claimed_c = _meta_int(meta, "n_features", path), _meta_int(meta, "n_classes", path)
    features = _json_list(meta, "feature_names", path)
    classes = _json_list(meta, "class_names", path)
    if claimed_f is not None and claimed_f != n_features:
        raise ArtifactError(bad, f"{path}: metadata says n_features={claimed_f}, input {x.name!r} takes {n_features}")
    if claimed_c is not None and claimed_c != n_classes:
        raise ArtifactError(bad, f"{path}: metadata says n_classes={claimed_c}, output {logits.name!r} gives {n_classes}")
    if features is not None and len(features) != n_features:
        raise ArtifactError(bad, f"{path}: metadata names {len(features)} features, input {x.name!r} takes {n_features}")
    if classes is not None and len(classes) != n_classes:
        raise ArtifactError(bad, f"{path}: metadata names {len(classes)} classes, output {logits.name!r} gives {n_classes}")
    for what, names in (("feature", features), ("class", classes)):
        if names is not None and len(set(names)) != len(names):
            raise ArtifactError("corrupt model metadata", f"{path}: duplicate {what} names {names}")
    features = features or [f"x{i}" for i in range(n_features)]
    classes = classes or [str(i) for i in range(n_classes)]
    return n_features, n_classes, features, classes


def load_model_safely(path: str | os.PathLike, max_bytes: int = MAX_MODEL_BYTES, check: bool = True) -> ModelInfo:
    """Read, parse and check an ONNX model without trusting it. Bad or unsafe: ArtifactError (3)."""
    import onnx

    p = Path(path)
    data = read_model_bytes(p, max_bytes)
    try:
        model = onnx.load_model_from_string(data)  # never loads external data
    except Exception as exc:  # protobuf raises DecodeError, RuntimeWarning-ish errors vary by version
        raise ArtifactError("not an ONNX model, or a truncated one", f"{p}: {_first_line(exc)}", "re-export it with irisonnx export") from None
    if model.ir_version < 3 or not model.HasField("graph") or not model.opset_import:
        raise ArtifactError("not an ONNX model, or a truncated one", f"{p}: no graph, IR version or opset imports")
    has_external = check_external_data(model, p, max_bytes)
    if check:
        try:
            # With external data the checker must see the folder; its locations were checked above.
            # full_check adds strict shape inference: declared shapes that contradict the
            # weights (an input of 5 features into a Gemm over 4) are refused here, not at run time.
            onnx.checker.check_model(os.fspath(p) if has_external else model, full_check=True)
        except Exception as exc:  # onnx.checker.ValidationError and friends
            raise ArtifactError("invalid ONNX model", f"{p}: {_first_line(exc)}") from None
    inits = {t.name for t in model.graph.initializer}
    inputs = [spec_from_value_info(i) for i in model.graph.input if i.name not in inits]
    outputs = [spec_from_value_info(o) for o in model.graph.output]
    meta = {m.key: m.value for m in model.metadata_props}
    # proto2 strings are not checked for UTF-8: invalid bytes come back as bytes, not str
    if not all(isinstance(s, str) for s in [*meta, *meta.values(), *(t.name for t in inputs + outputs)]):
        raise ArtifactError("corrupt ONNX model", f"{p}: a metadata entry or a graph input/output name is not UTF-8 text")
    _check_domains(model, p)
    _check_complete(model, meta, p)
    return _model_info(p, data, sha256_bytes(data), model, inputs, outputs, meta, has_external_data=has_external)


def _model_info(path: Path, data: bytes, sha256: str, proto: Any, inputs: list[TensorSpec], outputs: list[TensorSpec], meta: dict[str, str], **extra: Any) -> ModelInfo:
    """A ModelInfo once the signature has passed the checks against the metadata (both the
    full path, from the parsed proto, and the vouched path, from an onnxruntime session)."""
    n_features, n_classes, features, classes = _classifier_view(path, inputs, outputs, meta)
    return ModelInfo(
        path=path,
        data=data,
        sha256=sha256,
        proto=proto,
        inputs=inputs,
        outputs=outputs,
        metadata=meta,
        n_features=n_features,
        n_classes=n_classes,
        feature_names=features,
        class_names=classes,
        feature_units=_feature_units(meta, path),
        has_irisonnx_metadata=meta.get("format") == MODEL_FORMAT,
        **extra,
    )


def _feature_units(meta: dict[str, str], path: Path) -> dict[str, str]:
    if "feature_units" not in meta:
        return {}
    try:
        loaded = json.loads(meta["feature_units"])
    except json.JSONDecodeError:
        raise ArtifactError("corrupt model metadata", f"{path}: feature_units is not JSON") from None
    return {str(k): str(v) for k, v in loaded.items()} if isinstance(loaded, dict) else {}


def _check_domains(model: Any, path: Path) -> None:
    allowed = _KNOWN_DOMAINS | {f.domain for f in model.functions}
    # Only domains that nodes use: optimisers (onnxruntime's among them) declare opset imports
    # for domains a model never calls, and an unused declaration needs no custom-op library.
    used = {n.domain for n in _iter_nodes(model.graph)}
    used |= {n.domain for f in model.functions for n in f.node}
    unknown = sorted(used - allowed, key=repr)  # repr: a non-UTF-8 domain comes back as bytes
    if unknown:
        raise ArtifactError("unsupported model", f"{path} uses operator domain(s) {', '.join(map(repr, unknown))}", "irisonnx runs standard ONNX, ai.onnx.ml and com.microsoft operators only and never loads custom-op libraries")


def _check_complete(model: Any, meta: dict[str, str], path: Path) -> None:
    if meta.get("format") != MODEL_FORMAT and not (isinstance(model.doc_string, str) and model.doc_string.startswith(_DOC_MARK)):
        return  # not ours: foreign models need no irisonnx metadata
    required = _REQUIRED_METADATA + (("onnxscript_version",) if meta.get("exporter") == "dynamo" else ())  # export's last key then
    missing = [k for k in required if k not in meta]
    if missing:
        raise ArtifactError("incomplete irisonnx model", f"{path}: metadata lacks {', '.join(missing)}", "the file was cut short or edited; re-export it with irisonnx export")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


# --- run folders -------------------------------------------------------------------------


def _manifest_entry(folder: Path, name: str) -> tuple[dict[str, Any], dict[str, Any] | None]:
    mpath = folder / MANIFEST_NAME
    data = read_json(mpath, "manifest")
    if not isinstance(data, dict) or not isinstance(data.get("files"), dict):
        raise ArtifactError("corrupt manifest", f"{mpath}: no 'files' table")
    entry = data["files"].get(name)
    if entry is not None and not isinstance(entry, dict):
        raise ArtifactError("corrupt manifest", f"{mpath}: the entry of {name!r} is not a table")
    return data, entry


def _refuse_stale(folder: Path, manifest: dict[str, Any], made_from: Any) -> None:
    """A run's model.onnx made from weights the run no longer has is stale (exit 3), however
    well it passed its parity check then: predict would serve the old model as the run's."""
    from irisonnx.guard import stale_error, stale_reason
    from irisonnx.runlock import holder

    why = stale_reason(manifest, "model.onnx", made_from if isinstance(made_from, str) else None)
    if why is None:
        return
    who = holder(folder)
    err = stale_error(folder, "model.onnx", why + (f"; {who} is writing the run now" if who else ""))
    err.stale = True  # type: ignore[attr-defined]
    raise err


def _refuse_changed(p: Path, max_bytes: int) -> None:
    """A model its folder's manifest lists is checked against its sha256 before it is parsed,
    so a tampered file never reaches the parsers (a flipped bit once crashed one, exit 70)."""
    if not (p.parent / MANIFEST_NAME).is_file() or not p.is_file():
        return
    _, entry = _manifest_entry(p.parent, p.name)
    if entry is None:
        return
    digest = sha256_bytes(read_model_bytes(p, max_bytes))
    if digest != entry.get("sha256"):
        raise ArtifactError("model is corrupt or was modified", f"{p}: sha256 {digest[:12]}… differs from the manifest's {str(entry.get('sha256'))[:12]}…", f"re-export it: irisonnx export {p.parent}")


def resolve_model(model_or_run: str | os.PathLike, max_bytes: int = MAX_MODEL_BYTES, allow_unvalidated: bool = False) -> ModelInfo:
    """A run folder (its ``model.onnx``, checked against ``manifest.json``) or an .onnx file.

    An .onnx file inside a folder whose manifest lists it is checked against it too, so a
    tampered model fails the same way however it is named. The sha256 is of the very bytes
    that were parsed and will be run. A run whose export failed its parity check is refused
    unless ``allow_unvalidated``.
    """
    p = Path(model_or_run)
    if p.is_dir():
        if not (p / "config.json").exists():
            raise UsageError("not a run folder", f"{p} has no config.json", "pass a run folder or an .onnx file")
        if not (p / "model.onnx").exists():
            raise UsageError("run has no model.onnx", str(p), f"export it first: irisonnx export {p}")
        p = p / "model.onnx"
    folder = p.parent
    in_run = p.name == "model.onnx" and (folder / "config.json").exists()
    if in_run:
        from irisonnx.guard import check_run_links

        check_run_links(folder)
    try:
        return _resolve_file(p, folder, in_run, max_bytes, allow_unvalidated)
    except ArtifactError as exc:
        if in_run and not getattr(exc, "stale", False):
            from irisonnx.runlock import busy_error

            busy = busy_error(folder)  # mid-write by another process, not corrupt
            if busy is not None:
                raise busy from exc
        raise


def _resolve_file(p: Path, folder: Path, in_run: bool, max_bytes: int, allow_unvalidated: bool) -> ModelInfo:
    _refuse_changed(p, max_bytes)
    info = load_model_safely(p, max_bytes)
    if (folder / MANIFEST_NAME).is_file():
        manifest, entry = _manifest_entry(folder, p.name)
        if entry is None and p.name == "model.onnx" and (folder / "config.json").exists():
            raise ArtifactError("model.onnx is not in the run's manifest", str(p), f"it was not written by irisonnx export; re-export: irisonnx export {folder}")
        if entry is not None:
            if entry.get("sha256") != info.sha256:
                raise ArtifactError(
                    "model is corrupt or was modified",
                    f"{p}: sha256 {info.sha256[:12]}… differs from the manifest's {str(entry.get('sha256'))[:12]}…",
                    f"re-export it: irisonnx export {folder}",
                )
            if entry.get("validated") is False and not allow_unvalidated:
                exp = manifest.get("export", {})
                raise ArtifactError(
                    "model failed its parity check at export",
                    f"{p}: max abs err {exp.get('max_abs_err', '?')} beyond atol {exp.get('atol', '?')}, rtol {exp.get('rtol', '?')}",
                    f"fix the model or loosen --atol/--rtol, then re-export: irisonnx export {folder}",
                )
            if in_run:
                _refuse_stale(folder, manifest, info.metadata.get("weights_sha256"))
            info.manifest_entry = entry
            exp = manifest.get("export")
            if isinstance(exp, dict) and exp.get("path") == p.name and exp.get("sha256") == info.sha256:
                info.export_record = exp
    return info


# --- the fast path for predict ------------------------------------------------------------

@dataclass
class VouchedModel:
    """A model whose bytes ``irisonnx export`` already checked; see :func:`vouched_model`."""

    path: Path
    data: bytes
    sha256: str
    entry: dict[str, Any]
    export_record: dict[str, Any] | None

    def info_from_session(self, sess: Any) -> ModelInfo:
        """The ModelInfo, with signature and metadata read from an onnxruntime session made
        from :attr:`data`, put through the same signature-vs-metadata checks as the full path."""

        inputs = [spec_from_ort(a) for a in sess.get_inputs()]
        outputs = [spec_from_ort(a) for a in sess.get_outputs()]
        meta = dict(sess.get_modelmeta().custom_metadata_map)
        return _model_info(self.path, self.data, self.sha256, None, inputs, outputs, meta, has_external_data=False, manifest_entry=self.entry, export_record=self.export_record)


def vouched_model(model_or_run: str | os.PathLike, max_bytes: int = MAX_MODEL_BYTES) -> VouchedModel | None:
    """The model's bytes when its folder's manifest lists exactly these bytes (sha256) as
    exported and validated, and they cannot refer to external data; otherwise None, and the
    caller uses :func:`resolve_model`, which raises the right error for every other case.

    Why: ``import onnx`` is about a third of ``predict``'s start-up, and for such a model it
    buys nothing. ``onnx.checker`` and the parity check ran on these very bytes at export; the
    signature and metadata can be read from the onnxruntime session and are checked the same
    way (:meth:`VouchedModel.info_from_session`). External data is ruled out from the bytes
    alone: onnxruntime reads a tensor from another file only through an ``external_data``
    entry keyed ``location``, and protobuf stores strings verbatim, so bytes that do not
    contain ``b"location"`` have none. (Bytes that do, say in a doc string, take the full path.)
    """
    p = Path(model_or_run)
    if p.is_dir():
        if not (p / "config.json").is_file():
            return None
        p = p / "model.onnx"
    mpath = p.parent / MANIFEST_NAME
    if not p.is_file() or not mpath.is_file():
        return None
    try:
        manifest, entry = _manifest_entry(p.parent, p.name)
    except ArtifactError:
        return None
    if not isinstance(entry, dict) or entry.get("validated") is not True:
        return None
    if p.name == "model.onnx" and (p.parent / "config.json").exists():
        from irisonnx.guard import stale_reason

        derived = manifest.get("derived")
        if not (isinstance(derived, dict) and "model.onnx" in derived) or stale_reason(manifest, "model.onnx") is not None:
            return None  # stale, or made before irisonnx recorded it: resolve_model decides
        from irisonnx.guard import check_run_links

        check_run_links(p.parent)
    data = read_model_bytes(p, max_bytes)
    if b"location" in data:
        return None
    sha = sha256_bytes(data)
    if sha != entry.get("sha256"):
        return None  # resolve_model reports the tampering (exit 3)
    exp = manifest.get("export")
    record = exp if isinstance(exp, dict) and exp.get("path") == p.name and exp.get("sha256") == sha else None
    return VouchedModel(p, data, sha, entry, record)


def _iter_nodes(graph: Any) -> Any:
    for node in graph.node:
        yield node
        for a in node.attribute:
            if a.HasField("g"):
                yield from _iter_nodes(a.g)
            for g in a.graphs:
                yield from _iter_nodes(g)


# Bits per element of ONNX's fixed-size element types (TensorProto.DataType); sub-byte types are packed.
_ITEM_BITS = {1: 32, 2: 8, 3: 8, 4: 16, 5: 16, 6: 32, 7: 64, 9: 8, 10: 16, 11: 64, 12: 32, 13: 64, 14: 64, 15: 128, 16: 16, 17: 8, 18: 8, 19: 8, 20: 8, 21: 4, 22: 4, 23: 4, 24: 8, 25: 2, 26: 2, 27: 6, 28: 6}
