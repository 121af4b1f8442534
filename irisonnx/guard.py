"""Guards for what a run folder holds and what may be written where.

* :func:`check_run_links`: a run's files and folders that are symlinks leading outside the
  run are refused (exit 3) before anything is read or pruned: a ``checkpoints/`` linked into
  another run made training prune that run's checkpoints.
* :func:`check_output`: an output flag (``predict --output``, ``export --out``, ...) never
  lands on a file a run's (or edge bundle's) manifest lists, nor inside a processed dataset
  (exit 2, nothing written).
* :func:`check_not_foreign`: a folder that exists, holds files and is not an irisonnx run is
  not used as one (exit 2) before anything is written into it.
* Staleness: every artifact derived from a run's weights (model.onnx, compare.json, the edge
  bundle, bench.json, report.html) is recorded in the manifest's ``derived`` section with
  the weights' sha256 it was made from. When training moves the weights, :func:`refresh_stale`
  marks them ``stale``; :func:`stale_error` is the exit-3 error for using one, naming the
  command that refreshes it.

Stdlib only (used by predict's torch- and onnx-free path).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from irisonnx.errors import ArtifactError, UsageError

__all__ = [
    "check_run_links",
    "check_output",
    "check_not_foreign",
    "current_weights_sha",
    "record_derived",
    "refresh_stale",
    "stale_reason",
    "stale_error",
    "REFRESH",
]

RUN_MANIFEST_FORMAT = "irisonnx-manifest/1"
EDGE_MANIFEST_FORMAT = "irisonnx-edge/1"
DATASET_FORMAT = "irisonnx-dataset/1"
_IGNORED = (".irisonnx.lock",)  # see irisonnx.runlock
_TEMP_MARK = ".irisonnx-tmp-"

# The command that re-creates each derived artifact (RUN is replaced by the run folder).
REFRESH = {
    "model.onnx": "irisonnx export {run}",
    "compare.json": "irisonnx pipeline --run {run}",
    "bench.json": "irisonnx pipeline --run {run}",
    "edge": "irisonnx edge {run}",
    "report.html": "irisonnx report {run}",
}


# --- symlinks ----------------------------------------------------------------------------


def check_run_links(run_dir: str | os.PathLike) -> None:
    """Refuse (exit 3) a run holding a symlink whose target is outside the run folder.

    Walks the whole run without following links (a run is a few dozen files); a link that
    stays inside the run is allowed. The run folder itself may be a link (resolved first).
    """
    root = Path(run_dir)
    if not root.is_dir():
        return
    real = Path(os.path.realpath(root))
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            if not p.is_symlink():
                continue
            target = Path(os.path.realpath(p))
            if target != real and not target.is_relative_to(real):
                raise ArtifactError(
                    "run holds a symlink that leads outside it",
                    f"{p} -> {os.readlink(p)}",
                    "irisonnx reads and prunes only files of the run itself; replace the link with the real files",
                )


# --- outputs -----------------------------------------------------------------------------


def _read_doc(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _listed_by(folder: Path, rel: str) -> str | None:
    """What in ``folder`` claims the file ``rel`` (relative, forward slashes), if anything."""
    man = _read_doc(folder / "manifest.json") if (folder / "manifest.json").is_file() else None
    if isinstance(man, dict) and man.get("format") in (RUN_MANIFEST_FORMAT, EDGE_MANIFEST_FORMAT):
        files = man.get("files")
        kind = "run" if man.get("format") == RUN_MANIFEST_FORMAT else "edge bundle"
        if rel == "manifest.json" or (isinstance(files, dict) and rel in files):
            return f"a file of the {kind} {folder}"
    if (folder / "config.json").is_file() and rel in ("config.json", "manifest.json"):
        return f"a file of the run {folder}"
    meta = _read_doc(folder / "meta.json") if (folder / "meta.json").is_file() else None
    if isinstance(meta, dict) and meta.get("format") == DATASET_FORMAT:
        return f"inside the processed dataset {folder}"
    return None


def _processed_root() -> Path | None:
    from irisonnx.assets import default_datastore

    try:
        return Path(os.path.realpath(default_datastore() / "processed"))
    except OSError:
        return None


def check_output(path: str | os.PathLike, flag: str, allow: str | os.PathLike | None = None) -> None:
    """Refuse (exit 2) to write ``path`` when it is a file some run's manifest lists, lies in a
    run's or edge bundle's files, or is inside a processed dataset. ``allow``: the command's
    own default target (``RUN/model.onnx`` for export), which it may replace."""
    p = Path(path)
    real = Path(os.path.realpath(p))
    if allow is not None and real == Path(os.path.realpath(allow)):
        return
    processed = _processed_root()
    if processed is not None and (real == processed or real.is_relative_to(processed)):
        raise UsageError(f"{flag} would write inside the datastore's processed datasets", str(p), "write it somewhere else")
    folder = real.parent
    while True:
        claim = _listed_by(folder, real.relative_to(folder).as_posix())
        if claim is not None:
            raise UsageError(f"{flag} would overwrite {claim}", str(p), "write it somewhere else")
        if folder.parent == folder:
            return
        folder = folder.parent


def check_output_dir(folder: str | os.PathLike, flag: str, names: tuple[str, ...]) -> None:
    """check_output for each file ``names`` that a writer will put into ``folder``."""
    for n in names:
        check_output(Path(folder) / n, flag)


def check_not_foreign(run_dir: str | os.PathLike, what: str = "--run") -> None:
    """Refuse (exit 2) an existing, non-empty folder that is not an irisonnx run."""
    d = Path(run_dir)
    if not d.exists():
        return
    if not d.is_dir():
        raise UsageError(f"{what} is not a folder", str(d))
    if (d / "config.json").exists():
        cfg = _read_doc(d / "config.json")
        if isinstance(cfg, dict) and cfg.get("format") == "irisonnx-run/1":
            return
        raise UsageError(f"{what} is not an irisonnx run", f"{d}/config.json is not a run config", "pass a new folder, or an irisonnx run folder")
    others = [p.name for p in d.iterdir() if p.name not in _IGNORED and not p.name.startswith(_TEMP_MARK)]
    if others:
        shown = ", ".join(sorted(others)[:3]) + (", ..." if len(others) > 3 else "")
        raise UsageError(f"{what} is an existing folder that is not an irisonnx run", f"{d} holds {shown}", "pass a new or empty folder; nothing was written")


# --- staleness -----------------------------------------------------------------------------


def current_weights_sha(manifest_data: dict[str, Any]) -> str | None:
    """The sha256 of the run's final weights as the manifest lists them (None mid-training)."""
    entry = manifest_data.get("files", {}).get("model.safetensors")
    return entry.get("sha256") if isinstance(entry, dict) else None


def record_derived(manifest: Any, name: str, weights_sha: str | None, **extra: Any) -> None:
    """Note in the manifest that ``name`` was made from the weights ``weights_sha``."""
    derived = manifest.data.setdefault("derived", {})
    if not isinstance(derived, dict):
        derived = manifest.data["derived"] = {}
    derived[name] = {"weights_sha256": weights_sha, "stale": weights_sha is None or weights_sha != current_weights_sha(manifest.data), **extra}


def refresh_stale(manifest: Any) -> list[str]:
    """Mark every derived artifact made from other weights than the current ones (all of
    them, while training has unlisted the weights) ``stale``; return the stale names."""
    current = current_weights_sha(manifest.data)
    derived = manifest.data.get("derived")
    stale = []
    if isinstance(derived, dict):
        for name, rec in derived.items():
            if isinstance(rec, dict):
                rec["stale"] = current is None or rec.get("weights_sha256") != current
                if rec["stale"]:
                    stale.append(name)
    exp = manifest.data.get("export")
    if isinstance(exp, dict) and "weights_sha256" in exp:
        exp["stale"] = current is None or exp.get("weights_sha256") != current
    return stale


def stale_reason(manifest_data: dict[str, Any], name: str, made_from: str | None = None) -> str | None:
    """Why ``name`` is stale, or None when it was made from the current weights.

    ``made_from``: the weights sha256 the artifact itself records (model.onnx's metadata),
    used when the manifest has no ``derived`` record for it (made by an older irisonnx)."""
    current = current_weights_sha(manifest_data)
    derived = manifest_data.get("derived")
    rec = derived.get(name) if isinstance(derived, dict) else None
    if isinstance(rec, dict):
        made_from = rec.get("weights_sha256")
        if not rec.get("stale") and made_from is not None and made_from == current:
            return None
    elif made_from is None:
        return None  # nothing says what it was made from; the caller checks by other means
    elif made_from == current:
        return None
    if current is None:
        return "the run's weights are being replaced or were never finished (train has not completed)"
    return f"it was made from weights {str(made_from)[:12]}…, the run's weights are now {current[:12]}… (trained since)"


def stale_error(run_dir: str | os.PathLike, name: str, why: str) -> ArtifactError:
    cmd = REFRESH.get(name, "irisonnx pipeline --run {run}").format(run=run_dir)
    return ArtifactError(f"{Path(run_dir) / name} is stale", why, f"refresh it: {cmd}")


def _manifest_data(run_dir: Path) -> dict[str, Any]:
    doc = _read_doc(Path(run_dir) / "manifest.json")
    return doc if isinstance(doc, dict) and isinstance(doc.get("files"), dict) else {"files": {}}


def artifact_stale(run_dir: str | os.PathLike, name: str, model_sha: Any) -> str | None:
    """Why a result derived from the run's model (compare.json, bench.json: their
    ``model_sha256``; the edge bundle: its source sha256) is stale, or None.

    Stale when its ``derived`` record says so, or when it was made from another model.onnx
    than the run's current one, or when that model.onnx is itself stale."""
    data = _manifest_data(Path(run_dir))
    derived = data.get("derived")
    if isinstance(derived, dict) and isinstance(derived.get(name), dict):
        why = stale_reason(data, name)
        if why is not None:
            return why
    onnx = data["files"].get("model.onnx")
    onnx_sha = onnx.get("sha256") if isinstance(onnx, dict) else None
    if isinstance(model_sha, str) and model_sha != onnx_sha:
        return f"it was made from model {model_sha[:12]}…, the run's model.onnx is " + (f"now {onnx_sha[:12]}…" if onnx_sha else "gone")
    if onnx_sha is not None and isinstance(model_sha, str):
        why = stale_reason(data, "model.onnx")
        if why is not None:
            return "its model.onnx is stale: " + why
    return None


def note_derived(run_dir: str | os.PathLike, name: str, record_file: bool = False) -> None:
    """Record in the run's manifest that ``name`` was just made from the current weights
    (``record_file``: also list the file's sha256). The caller holds the run's lock."""
    from irisonnx.storage import Manifest

    m = Manifest.load(run_dir)
    if record_file:
        m.record([Path(run_dir) / name])
    record_derived(m, name, current_weights_sha(m.data))
    m.save()


def is_run_folder(path: str | os.PathLike) -> Path | None:
    """The run folder ``path`` is, or whose model.onnx it is; None otherwise."""
    p = Path(path)
    if p.is_dir() and (p / "config.json").exists():
        return p
    if p.name == "model.onnx" and (p.parent / "config.json").exists():
        return p.parent
    return None
