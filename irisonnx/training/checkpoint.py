"""Checkpoints as safetensors files: weights, optimizer state, and (as string metadata) the
epoch, RNG states, config and metrics so far. Nothing here ever unpickles anything.

Layout of ``checkpoints/epoch-0005.safetensors``:
  tensors   ``model.<name>`` (the state_dict), ``optimizer.state.<i>.<key>``
  metadata  format, epoch, config (JSON), rng (JSON), optimizer_param_groups (JSON), metrics (JSON)
"""

from __future__ import annotations

import base64
import json
import os
import random
import re
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from irisonnx.errors import ArtifactError, UsageError
from irisonnx.storage import atomic_write_bytes, sha256_bytes

__all__ = [
    "CHECKPOINT_FORMAT",
    "WEIGHTS_FORMAT",
    "Checkpoint",
    "checkpoint_name",
    "list_checkpoints",
    "save_checkpoint",
    "load_checkpoint",
    "save_weights",
    "load_weights_torch",
    "capture_rng",
    "restore_rng",
]

CHECKPOINT_FORMAT = "irisonnx-checkpoint/1"
WEIGHTS_FORMAT = "irisonnx-weights/1"
_NAME_RE = re.compile(r"^epoch-(\d{4,})\.safetensors$")


def checkpoint_name(epoch: int) -> str:
    return f"epoch-{epoch:04d}.safetensors"


def list_checkpoints(folder: str | os.PathLike) -> list[tuple[int, Path]]:
    """(epoch, path) of every checkpoint file, oldest first. Temp files never match."""
    d = Path(folder)
    if not d.is_dir():
        return []
    found = []
    for p in d.iterdir():
        m = _NAME_RE.match(p.name)
        if m and p.is_file():
            found.append((int(m.group(1)), p))
    return sorted(found)


@dataclass
class Checkpoint:
    epoch: int
    model_state: dict[str, Any]  # name -> torch.Tensor
    optimizer_state: dict[str, Any]  # torch optimizer state_dict
    rng: dict[str, Any]
    config: dict[str, Any]
    metrics: list[dict[str, Any]]


def _b64(t: Any) -> str:
    return base64.b64encode(t.numpy().tobytes()).decode("ascii")


def capture_rng(shuffle_gen: Any) -> dict[str, Any]:
    """Every RNG that can influence training: torch global, the shuffling generator, numpy, python."""
    import torch

    np_state = np.random.get_state()
    py_state = random.getstate()
    return {
        "torch": _b64(torch.get_rng_state()),
        "shuffle": _b64(shuffle_gen.get_state()),
        "numpy": [np_state[0], np_state[1].tolist(), int(np_state[2]), int(np_state[3]), float(np_state[4])],
        "python": [py_state[0], list(py_state[1]), py_state[2]],
    }


def restore_rng(rng: dict[str, Any], shuffle_gen: Any) -> None:
    import torch

    def tensor(s: str) -> Any:
        return torch.frombuffer(bytearray(base64.b64decode(s)), dtype=torch.uint8)

    torch.set_rng_state(tensor(rng["torch"]))
    shuffle_gen.set_state(tensor(rng["shuffle"]))
    name, keys, pos, has_gauss, cached = rng["numpy"]
    np.random.set_state((name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
    version, internal, gauss = rng["python"]
    random.setstate((version, tuple(internal), gauss))


def _flatten_optimizer(state_dict: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    tensors, scalars = {}, []
    for idx, st in state_dict["state"].items():
        for key, val in st.items():
            if hasattr(val, "detach"):
                tensors[f"optimizer.state.{idx}.{key}"] = val
            else:
                scalars.append({"index": idx, "key": key, "value": val})
    groups = [dict(g) for g in state_dict["param_groups"]]
    return tensors, [{"param_groups": groups, "scalars": scalars}]


def _unflatten_optimizer(tensors: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {}
    for name, val in tensors.items():
        _, _, idx, key = name.split(".", 3)
        state.setdefault(int(idx), {})[key] = val
    for s in extra.get("scalars", []):
        state.setdefault(int(s["index"]), {})[s["key"]] = s["value"]
    return {"state": state, "param_groups": extra["param_groups"]}


def _canonical(data: bytes) -> bytes:
    """The safetensors bytes with the header's keys sorted, so equal content gives equal bytes.

    safetensors (Rust) serialises the string metadata as a hash map whose order changes from
    one call to the next, so two saves of the same weights and metadata differed in their
    header bytes, and "bit-identical model.safetensors after resume" held only by luck. The
    header keeps its length (space padding is allowed by the format), so data offsets stay.
    """
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    new = json.dumps(header, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    if len(new) > n:  # cannot happen for what we write; keep the valid bytes as they are
        return data
    return data[:8] + new.ljust(n, b" ") + data[8 + n :]


def save_checkpoint(path: str | os.PathLike, ckpt: Checkpoint) -> tuple[str, int]:
    """Write one checkpoint atomically; returns (sha256, size) of the bytes written.

    The tensors are serialised as they are at the call (safetensors copies them into its
    bytes), so no copies are made here; a caller on another thread passes a snapshot.
    """
    tensors = {f"model.{k}": v for k, v in ckpt.model_state.items()}
    opt_tensors, opt_extra = _flatten_optimizer(ckpt.optimizer_state)
    tensors.update(opt_tensors)
    metadata = {
        "format": CHECKPOINT_FORMAT,
        "epoch": str(ckpt.epoch),
        "config": json.dumps(ckpt.config, sort_keys=True),
        "rng": json.dumps(ckpt.rng),
        "optimizer": json.dumps(opt_extra[0], sort_keys=True),
        "metrics": json.dumps(ckpt.metrics),
    }
    return _write_safetensors(path, tensors, metadata)


_ST_DTYPES = {np.dtype(np.float32): "F32", np.dtype(np.float64): "F64", np.dtype(np.int64): "I64"}


def _safetensors_bytes(tensors: dict[str, Any], metadata: dict[str, str] | None) -> bytes:
    """The bytes of a safetensors file, header keys sorted (see _canonical).

    For what irisonnx saves (tensors of one dtype, float32 in practice) the file is laid out
    here directly: tensors in name order, the compact sorted JSON header padded with spaces
    to a multiple of 8, which is byte for byte what safetensors' own serialiser followed by
    _canonical gives (tests/test_train.py compares the two), at a third of the cost on
    the training path. Anything else takes safetensors' serialiser.
    """
    arrays = {k: v.detach().contiguous().numpy() if hasattr(v, "detach") else np.ascontiguousarray(v) for k, v in tensors.items()}
    dtypes = {a.dtype for a in arrays.values()}
    if len(dtypes) != 1 or next(iter(dtypes)) not in _ST_DTYPES or not all(a.dtype.isnative for a in arrays.values()):
        from safetensors.numpy import save

        return _canonical(save(arrays, metadata=metadata))
    code = _ST_DTYPES[next(iter(dtypes))]
    header: dict[str, Any] = {} if metadata is None else {"__metadata__": metadata}
    offset = 0
    for name in sorted(arrays):
        a = arrays[name]
        header[name] = {"dtype": code, "shape": list(a.shape), "data_offsets": [offset, offset + a.nbytes]}
        offset += a.nbytes
    text = json.dumps(header, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    text = text.ljust(-(-len(text) // 8) * 8, b" ")
    return b"".join([struct.pack("<Q", len(text)), text, *(arrays[name].tobytes() for name in sorted(arrays))])


def _write_safetensors(path: str | os.PathLike, tensors: dict[str, Any], metadata: dict[str, str]) -> tuple[str, int]:
    """Serialise in memory, write the bytes atomically; return (sha256, size).

    safetensors' ``save_file`` writes a ``.tmpXXXXXX`` file of its own next to the target
    and renames it: a kill inside that window left a stray file in checkpoints/ that no
    start removed (found by 200 SIGKILLs), and its I/O errors came as SafetensorError, not
    OSError (a full disk was exit 70). Written here, a failed write is an OSError (exit 4)
    and a killed one leaves only our temp file, which the next start removes. One write of
    bytes already in memory: no re-read to hash.
    """
    data = _safetensors_bytes(tensors, metadata)
    atomic_write_bytes(path, data)
    return sha256_bytes(data), len(data)


def _open_safetensors(path: Path, what: str) -> tuple[dict[str, Any], dict[str, str]]:
    """Read every tensor and the metadata; any parse failure is an ArtifactError (exit 3)."""
    from safetensors import SafetensorError, safe_open

    if not path.exists():
        raise UsageError(f"{what} missing", str(path))
    try:
        with safe_open(str(path), framework="pt") as fh:
            meta = fh.metadata() or {}
            tensors = {k: fh.get_tensor(k) for k in fh.keys()}
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise ArtifactError(f"{what} is corrupt or not a safetensors file", f"{path}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from exc
    return tensors, meta


def load_checkpoint(path: str | os.PathLike) -> Checkpoint:
    p = Path(path)
    tensors, meta = _open_safetensors(p, "checkpoint")
    if meta.get("format") != CHECKPOINT_FORMAT:
        raise ArtifactError("not an irisonnx checkpoint", f"{p}: format {meta.get('format')!r}")
    try:
        model_state = {k[len("model.") :]: v for k, v in tensors.items() if k.startswith("model.")}
        opt_tensors = {k: v for k, v in tensors.items() if k.startswith("optimizer.state.")}
        optimizer_state = _unflatten_optimizer(opt_tensors, json.loads(meta["optimizer"]))
        return Checkpoint(
            epoch=int(meta["epoch"]),
            model_state=model_state,
            optimizer_state=optimizer_state,
            rng=json.loads(meta["rng"]),
            config=json.loads(meta["config"]),
            metrics=json.loads(meta["metrics"]),
        )
    except (KeyError, ValueError, TypeError, AttributeError) as exc:  # AttributeError: JSON of the wrong shape
        raise ArtifactError("checkpoint metadata is incomplete", f"{p}: {exc}") from exc


def save_weights(path: str | os.PathLike, model_state: dict[str, Any], config: dict[str, Any]) -> tuple[str, int]:
    """Final weights: keys ``model.<name>`` exactly as ``state_dict()`` names them. Returns (sha256, size)."""
    tensors = {f"model.{k}": v for k, v in model_state.items()}
    return _write_safetensors(path, tensors, {"format": WEIGHTS_FORMAT, "config": json.dumps(config, sort_keys=True)})


def load_weights_torch(path: str | os.PathLike) -> dict[str, Any]:
    """Final weights as torch tensors, keys without the ``model.`` prefix."""
    tensors, meta = _open_safetensors(Path(path), "weights file")
    if meta.get("format") not in (WEIGHTS_FORMAT, CHECKPOINT_FORMAT):
        raise ArtifactError("not an irisonnx weights file", f"{path}: format {meta.get('format')!r}")
    return {k[len("model.") :]: v for k, v in tensors.items() if k.startswith("model.")}
