"""The browser bundle: a page that runs an edge bundle's model with onnxruntime-web
(build_web_bundle), tried in headless Chromium with a screenshot (try_bundle), added to an
edge bundle as edge/web (add_web_bundle). The Chromium/Node session itself is
:mod:`irisonnx.browser.session`."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from irisonnx.browser.session import ORT_WEB_FILES, STEP_TIMEOUT, BrowserSession, browser_available, ort_dist, web_dir
from irisonnx.errors import ArtifactError, RuntimeUnavailable

__all__ = ["build_web_bundle", "try_bundle", "add_web_bundle", "web_bundle_current"]


def build_web_bundle(model: Any, out_dir: str | os.PathLike, dataset: str | None = None, model_name: str = "model.onnx") -> list[Path]:
    """Write a static web bundle: index.html, app.mjs, the model, labels.json, ort/ (3 files).

    ``model`` is a checked :class:`irisonnx.modelfile.onnx_io.ModelInfo`; feature and class names come
    from its metadata. Open ``index.html`` from any static file server.
    """
    from irisonnx.storage import atomic_write_bytes, atomic_write_json

    ok, why = browser_available() if not all((ort_dist() / f).is_file() for f in ORT_WEB_FILES) else (True, "")
    if not ok:
        raise RuntimeUnavailable("cannot build the web bundle", why)
    out = Path(out_dir)
    files = []
    for name in ("index.html", "app.mjs"):
        atomic_write_bytes(out / name, (web_dir() / "bundle" / name).read_bytes())
        files.append(out / name)
    atomic_write_bytes(out / model_name, model.data)
    labels = {
        "model": model_name,
        "dataset": dataset,
        "input": model.input.name,
        "logits": model.logits_name,
        "feature_names": model.feature_names,
        "feature_units": model.feature_units,
        "class_names": model.class_names,
    }
    atomic_write_json(out / "labels.json", labels)
    files += [out / model_name, out / "labels.json"]
    for f in ORT_WEB_FILES:
        atomic_write_bytes(out / "ort" / f, (ort_dist() / f).read_bytes())
        files.append(out / "ort" / f)
    return files


def try_bundle(bundle_dir: str | os.PathLike, values: list[float], screenshot: str | os.PathLike | None = None, timeout: float = STEP_TIMEOUT) -> dict[str, Any]:
    """Open a web bundle in Chromium, type ``values`` into its form, click Classify, and read
    the predicted class from the page; optionally save a screenshot. Returns the page's
    answer plus every request the server and the browser saw."""
    with BrowserSession(bundle_dir, "index.html", timeout) as s:
        ans = s.call({"cmd": "form", "values": {f"feature-{i}": v for i, v in enumerate(values)}})
        if screenshot is not None:
            shot = Path(screenshot).resolve()
            tmp = shot.with_name(f".irisonnx-tmp-{os.getpid()}-{shot.name}")
            s.call({"cmd": "screenshot", "path": str(tmp)})
            os.replace(tmp, shot)
        info = s.info()
        return {"label": ans.get("label"), "text": ans.get("text"), "server_log": s.requests(), "browser_requests": info.get("requests", [])}


def _example_row(dataset: str | None, n_features: int) -> list[float]:
    """The row the page is tried on: the dataset's first test row (a real row of this very
    model's data), else zeros when the dataset is not at hand."""
    from irisonnx.errors import IrisOnnxError

    if dataset:
        try:
            from irisonnx.data.datastore import load_dataset

            ds = load_dataset(dataset, prepare_iris=False)
            row = ds.features[ds.test_idx[0] if len(ds.test_idx) else 0]
            if len(row) == n_features:
                return [float(v) for v in row]
        except (IrisOnnxError, OSError, IndexError):
            pass
    return [0.0] * n_features


def add_web_bundle(edge_dir: str | os.PathLike, values: list[float] | None = None, timeout: float = STEP_TIMEOUT) -> Path:
    """Add ``edge/web/`` (the fp32 model of an edge bundle as a static web page), try it in
    Chromium with ``values`` typed into the form, and save ``edge/web/screenshot.png``.

    Built beside the target and swapped in only after the page has classified the row, so a
    page that fails leaves the previous ``edge/web`` as it was. ``edge --web`` calls this on
    the new bundle's staging folder, before that replaces the previous bundle (see
    ``build_edge(before_commit=...)``); the pipeline calls it on a current bundle. Then the bundle's manifest
    gets a ``web`` section: the sha256 and size of every file of the page, the variant it
    serves, and the row tried with the class the page gave (see :func:`web_bundle_current`).
    Returns the screenshot path.
    """
    from irisonnx.errors import ArtifactError
    from irisonnx.modelfile.onnx_io import load_model_safely
    from irisonnx.storage import TEMP_MARK, atomic_write_json, fsync_dir, read_json, sha256_file

    edge = Path(edge_dir)
    man = read_json(edge / "manifest.json", "edge manifest")
    entries = {v["variant"]: v for v in man.get("variants", [])}
    entry = entries.get("fp32") or entries.get(man.get("default_variant", ""))
    if entry is None:
        raise ArtifactError("edge bundle has no fp32 model for the web page", str(edge))
    model_path = edge / entry["file"]
    if sha256_file(model_path) != entry["sha256"]:
        raise ArtifactError("edge model is corrupt or was modified", str(model_path))
    info = load_model_safely(model_path)
    if values is None:
        values = _example_row(man.get("source", {}).get("dataset"), info.n_features)
    staging = edge / f"{TEMP_MARK}web-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        build_web_bundle(info, staging, man.get("source", {}).get("dataset"), model_name=Path(entry["file"]).name)
        ans = try_bundle(staging, values, staging / "screenshot.png", timeout)
        if not ans.get("label"):
            raise RuntimeUnavailable("the web page did not classify the row", ans.get("text") or "empty result")
        target = edge / "web"
        old = edge / f"{TEMP_MARK}web-old-{os.getpid()}"
        if target.exists():
            os.replace(target, old)
        os.replace(staging, target)
        fsync_dir(edge)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    files = {p.relative_to(edge).as_posix(): {"sha256": sha256_file(p), "size": p.stat().st_size} for p in sorted((edge / "web").rglob("*")) if p.is_file()}
    man["web"] = {"variant": entry["variant"], "files": files, "tried": {"values": values, "label": ans["label"], "text": ans.get("text")}}
    atomic_write_json(edge / "manifest.json", man)  # a kill before this line leaves a page the manifest does not list: re-added
    return edge / "web" / "screenshot.png"


def web_bundle_current(edge_dir: str | os.PathLike) -> bool:
    """True when ``edge/web`` is the page the bundle's manifest lists: every file there with its
    sha256, and nothing else (a bundle rebuilt without --web has no ``web`` section)."""
    from irisonnx.storage import read_json, sha256_file

    edge = Path(edge_dir)
    try:
        listed = read_json(edge / "manifest.json", "edge manifest").get("web", {}).get("files", {})
    except Exception:  # noqa: BLE001 - a missing or unreadable manifest: not current
        return False
    present = {p.relative_to(edge).as_posix() for p in (edge / "web").rglob("*") if p.is_file()} if (edge / "web").is_dir() else set()
    return bool(listed) and present == set(listed) and all(sha256_file(edge / f) == e.get("sha256") for f, e in listed.items())
