"""data -> train -> verify -> export -> compare -> edge -> bench -> report, resumable.

Each stage first checks whether its output already exists and is valid (checksums against the
manifest, the model's sha256 recorded in compare.json / bench.json / edge/manifest.json); if
so it is skipped, so re-running continues from what is done rather than from scratch. A stage
that fails stops the pipeline with the stage named and the error's own exit code.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from irisonnx.errors import IrisOnnxError

__all__ = ["PipelineConfig", "StageResult", "PipelineResult", "STAGES", "run_pipeline"]

STAGES = ("data", "train", "verify", "export", "compare", "edge", "bench", "report")


@dataclass(frozen=True)
class PipelineConfig:
    name: str | None = None  # None: the CSV's stem, or iris
    csv: str | None = None
    target: str | None = None
    run: str | None = None
    hidden: tuple[int, ...] = (16,)
    epochs: int = 100
    seed: int = 0
    exporter: str = "dynamo"
    web: bool | None = None  # None: use the browser runtime when it is available
    bench: bool = True
    force: bool = False  # replace a processed dataset of this name made from another source

    @property
    def dataset_name(self) -> str:
        """``name``, or the CSV's stem (as ``irisonnx data`` names it), or iris."""
        if self.name:
            return self.name
        return Path(self.csv).stem if self.csv else "iris"


@dataclass
class StageResult:
    stage: str
    status: str  # "done" | "up to date" | "skipped"
    seconds: float
    summary: str
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class PipelineResult:
    run_dir: Path
    stages: list[StageResult] = field(default_factory=list)
    report: Path | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"run": str(self.run_dir), "report": str(self.report) if self.report else None, "stages": [s.__dict__ for s in self.stages]}


Event = Callable[[str, str], None]  # (stage, message)


def _fail(stage: str, exc: IrisOnnxError) -> IrisOnnxError:
    """The same error class (so the same exit code), with the stage named first."""
    new = type(exc)(f"pipeline stage {stage!r} failed: {exc.what}", exc.why, exc.hint)
    for k, v in vars(exc).items():
        if k not in ("what", "why", "hint"):
            setattr(new, k, v)
    return new


def _record(run_dir: Path, name: str, doc: dict[str, Any]) -> None:
    from irisonnx.guard import note_derived
    from irisonnx.storage import atomic_write_json

    atomic_write_json(run_dir / name, doc)
    note_derived(run_dir, name, record_file=True)  # listed, with the weights it was made from


def _fresh(run_dir: Path, name: str, model_sha: str | None) -> dict[str, Any] | None:
    """A JSON result that the manifest vouches for and that was made from this very model."""
    from irisonnx.storage import Manifest, read_json, sha256_file

    p = run_dir / name
    if not p.exists() or model_sha is None:
        return None
    entry = Manifest.load(run_dir).entry(p)
    if entry is None or entry.get("sha256") != sha256_file(p):
        return None
    doc = read_json(p, name)
    return doc if isinstance(doc, dict) and doc.get("model_sha256") == model_sha else None


def run_pipeline(cfg: PipelineConfig, on_event: Event | None = None) -> PipelineResult:
    emit = on_event or (lambda stage, msg: None)
    from irisonnx.training.train import default_run_dir

    from irisonnx.guard import check_not_foreign, check_run_links
    from irisonnx.runlock import run_lock

    ds_name = cfg.dataset_name
    run_dir = Path(cfg.run) if cfg.run else default_run_dir(ds_name)
    # Before anything is written: someone else's folder is not made a run, a run whose files
    # link elsewhere is not touched, and one writer at a time (every stage under this lock).
    check_not_foreign(run_dir)
    check_run_links(run_dir)
    with run_lock(run_dir):
        return _run_pipeline(cfg, ds_name, run_dir, emit)


def _run_pipeline(cfg: PipelineConfig, ds_name: str, run_dir: Path, emit: Event) -> PipelineResult:
    res = PipelineResult(run_dir)
    state: dict[str, Any] = {}

    def stage(name: str, fn: Callable[[], tuple[str, str, dict[str, Any]]]) -> None:
        emit(name, "start")
        t = time.perf_counter()
        try:
            status, summary, detail = fn()
        except IrisOnnxError as exc:
            raise _fail(name, exc) from exc
        res.stages.append(StageResult(name, status, round(time.perf_counter() - t, 2), summary, detail))
        emit(name, f"{status}: {summary}")

    # --- data ----------------------------------------------------------------------------
    def data() -> tuple[str, str, dict[str, Any]]:
        from irisonnx.data import datastore as D
        from irisonnx.errors import UsageError

        if cfg.csv:
            if not cfg.target:
                raise UsageError("--csv needs --target", "name the label column")
            text = D.read_source_csv(cfg.csv)
            try:
                ds = D.load_dataset(ds_name, prepare_iris=False)
                if ds.meta["source"]["sha256"] == D.sha256_bytes(text.encode("utf-8")) and ds.meta.get("target") == cfg.target:
                    state["ds"] = ds
                    return "up to date", f"{ds.name}: {ds.meta['n_rows']} rows (checksums match)", {}
            except IrisOnnxError:
                pass
            ds = D.convert(text, name=ds_name, target=cfg.target, source_name=Path(cfg.csv).name, force=cfg.force)
            status = "done"
        else:
            existed = (D.resolve_dataset_dir(ds_name) / "meta.json").exists()
            ds = D.load_dataset(ds_name)
            status = "up to date" if existed else "done"
        state["ds"] = ds
        return status, f"{ds.name}: {ds.meta['n_rows']} rows, {len(ds.train_idx)} train / {len(ds.test_idx)} test", {"meta_sha256": ds.sha256}

    # --- train, verify -------------------------------------------------------------------
    def train() -> tuple[str, str, dict[str, Any]]:
        from irisonnx.config import ModelConfig, TrainConfig
        from irisonnx.training.train import train as do_train

        from irisonnx.training.checkpoint import list_checkpoints

        ds = state["ds"]
        mc = ModelConfig(n_features=ds.meta["n_features"], n_classes=ds.meta["n_classes"], hidden=cfg.hidden)
        # A run already trained further (`irisonnx train --epochs 150` after the demo's 100)
        # is continued as it is, not refused for having more epochs than asked for.
        have = list_checkpoints(run_dir / "checkpoints")[-1][0] if (run_dir / "config.json").exists() and list_checkpoints(run_dir / "checkpoints") else 0
        epochs = max(cfg.epochs, have)
        tc = TrainConfig(epochs=epochs, seed=cfg.seed)
        r = do_train(ds, mc, tc, run_dir, resume=True, on_epoch=lambda row: emit("train", f"epoch {row['epoch']}/{epochs} loss {row['loss']:.4f} test acc {row['test_acc']:.3f}"))
        f = r.final
        status = "up to date" if r.already_complete else "done"
        how = f" (resumed from epoch {r.resumed_from})" if r.resumed_from and not r.already_complete else ""
        if epochs > cfg.epochs:
            how += f" (the run is already at epoch {have}, beyond the {cfg.epochs} asked for; continued it as it is)"
        return status, f"test acc {f['test_acc']:.3f}, loss {f['loss']:.4f}{how}", {"final": f, "epochs": epochs}

    def verify() -> tuple[str, str, dict[str, Any]]:
        from irisonnx.errors import CheckFailed
        from irisonnx.training.verify import verify_run

        v = verify_run(run_dir)
        if not v.passed:
            raise CheckFailed("weights do not reload bit-identically", f"{v.n_rows_identical}/{v.n_rows} rows identical")
        return "done", f"{len(v.params)} tensors and {v.n_rows}/{v.n_rows} outputs bit-identical", {}

    # --- export ----------------------------------------------------------------------------
    def export() -> tuple[str, str, dict[str, Any]]:
        from irisonnx.export.export import export_run
        from irisonnx.modelfile.onnx_io import resolve_model
        from irisonnx.storage import Manifest

        onnx_path = run_dir / "model.onnx"
        if onnx_path.exists():
            try:
                info = resolve_model(run_dir)  # sha256 vs manifest, validated flag
                exp = Manifest.load(run_dir).data.get("export", {})
                if exp.get("validated") and exp.get("exporter") == cfg.exporter:
                    state["model_sha"] = info.sha256
                    return "up to date", f"{cfg.exporter}, validated (sha256 {info.sha256[:12]}…)", {}
            except IrisOnnxError:
                pass  # stale, modified or unvalidated: export again
        r = export_run(run_dir, exporter=cfg.exporter)
        info = resolve_model(run_dir)
        state["model_sha"] = info.sha256
        return "done", f"{cfg.exporter} opset {r.opset if hasattr(r, 'opset') else ''}, parity vs torch passed", {}

    # --- compare ---------------------------------------------------------------------------
    def compare() -> tuple[str, str, dict[str, Any]]:
        from irisonnx.compare.runner import run_compare
        from irisonnx.errors import CheckFailed
        from irisonnx.browser.session import browser_available

        old = _fresh(run_dir, "compare.json", state.get("model_sha"))
        if old is not None and old.get("passed"):
            return "up to date", _compare_summary(old), {}
        runtimes = ["torch", "ort-cpu", "reference", "ort-cuda"]
        use_web = browser_available()[0] if cfg.web is None else cfg.web
        if use_web:
            runtimes.insert(3, "web")
        explicit = ["torch", "ort-cpu", "reference"] + (["web"] if use_web else [])
        r = run_compare(run_dir, runtimes=explicit, inputs="all")
        doc = r.to_dict()
        from irisonnx.runtimes.ort_engine import cuda_available

        if "ort-cuda" in runtimes and not cuda_available()[0]:
            doc["runtimes"].append({"runtime": "ort-cuda", "available": False, "reason": cuda_available()[1], "requested": False, "info": {}, "seconds": 0.0, "setup_seconds": 0.0})
        _record(run_dir, "compare.json", doc)
        if not r.passed:
            raise CheckFailed("runtimes disagree", ", ".join(p.runtime for p in r.pairs if not p.passed) + f" vs {r.baseline}")
        return "done", _compare_summary(doc), {}

    # --- edge --------------------------------------------------------------------------------
    def edge() -> tuple[str, str, dict[str, Any]]:
        from irisonnx.edge.build import build_edge, parse_variants
        from irisonnx.storage import read_json

        man_path = run_dir / "edge" / "manifest.json"
        if man_path.exists() and state.get("model_sha"):
            man = read_json(man_path, "edge manifest")
            if man.get("source", {}).get("sha256") == state["model_sha"]:
                # The bundle is current. Its web page may not be: `irisonnx edge` without --web
                # replaces the bundle and drops edge/web; add it back rather than rebuild all.
                from irisonnx.browser.session import web_bundle_current

                if cfg.web is not False and not web_bundle_current(run_dir / "edge"):
                    web = _web_bundle(run_dir, cfg)
                    return ("done" if web.startswith("; web bundle") else "up to date"), _edge_summary(man) + web, {}
                return "up to date", _edge_summary(man), {}
        variants = parse_variants(None)
        r = build_edge(run_dir, variants=variants)
        failed = [v.variant for v in r.variants if not v.passed]
        note = ""
        if failed:
            # Keep what passes: rebuild the bundle without the variants that missed their gates.
            keep = [v for v in variants if v not in failed]
            r = build_edge(run_dir, variants=keep)
            note = f"; left out (gate not met): {', '.join(failed)}"
        man = read_json(man_path, "edge manifest")
        from irisonnx.guard import note_derived

        note_derived(run_dir, "edge")
        web = _web_bundle(run_dir, cfg)
        return "done", _edge_summary(man) + note + web, {"failed": failed}

    # --- bench ---------------------------------------------------------------------------------
    def bench() -> tuple[str, str, dict[str, Any]]:
        from irisonnx.bench import BenchSettings, run_bench

        if not cfg.bench:
            return "skipped", "--no-bench", {}
        old = _fresh(run_dir, "bench.json", state.get("model_sha"))
        if old is not None:
            return "up to date", _bench_summary(old), {}
        r = run_bench(run_dir, runtimes=["torch", "ort-cpu"], settings=BenchSettings.make(quick=True))
        doc = r.to_dict()
        _record(run_dir, "bench.json", doc)
        return "done", _bench_summary(doc), {}

    def report() -> tuple[str, str, dict[str, Any]]:
        from irisonnx.report.report import build_report

        r = build_report(run_dir)
        res.report = r.path
        missing = ", ".join(r.missing) or "nothing"
        return "done", f"{r.path} (missing: {missing})", {}

    for name, fn in zip(STAGES, (data, train, verify, export, compare, edge, bench, report)):
        stage(name, fn)
    return res


def _compare_summary(doc: dict[str, Any]) -> str:
    parts = []
    for p in doc["pairs"]:
        o = p["outputs"][0]
        parts.append(f"{p['runtime']} {'exact' if o['exact'] else 'max abs ' + format(o['max_abs_error'], '.2g')}")
    return f"vs {doc['baseline']} on {doc['n_rows']} rows: " + ", ".join(parts)


def _edge_summary(man: dict[str, Any]) -> str:
    return f"{len(man.get('variants', []))} variants in the bundle: " + ", ".join(v["variant"] for v in man.get("variants", []))


def _bench_summary(doc: dict[str, Any]) -> str:
    parts = []
    for r in doc["runtimes"]:
        lat = (r.get("latency_batch1") or {}).get("p50_us")
        if lat is not None:
            parts.append(f"{r['runtime']} p50 {lat:.1f} µs")
    return ", ".join(parts) or "no runtime measured"


def _web_bundle(run_dir: Path, cfg: PipelineConfig) -> str:
    """edge/web with a screenshot, when the browser runtime is present (or asked for)."""
    from irisonnx.browser.session import browser_available

    ok, why = browser_available()
    if cfg.web is False:
        return ""
    if not ok:
        if cfg.web:
            from irisonnx.errors import RuntimeUnavailable

            raise RuntimeUnavailable("web bundle asked for", why)
        return f"; no web bundle ({why})"
    from irisonnx.browser.session import add_web_bundle

    shot = add_web_bundle(run_dir / "edge")
    return f"; web bundle with screenshot {shot}"


