"""The pipeline's stages as objects: data -> train -> verify -> export -> compare -> edge ->
bench -> report. Each :class:`Stage` says what it reads, writes and which checksums make it
"up to date", and runs on a :class:`Context` (the config, the run folder, and what earlier
stages found: the dataset, the model's sha256) to a :class:`StageResult`. The runner
(:mod:`irisonnx.pipeline.runner`) runs them in order under the run's lock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from irisonnx.errors import IrisOnnxError

if TYPE_CHECKING:
    from irisonnx.pipeline.runner import PipelineConfig

__all__ = ["Context", "Stage", "StageResult", "STAGES", "STAGE_NAMES", "RUNTIME_FAMILIES"]

# Runtime families beyond onnxruntime that compare and bench include where they can run.
RUNTIME_FAMILIES: tuple[str, ...] = ("openvino", "litert", "executorch")

Event = Callable[[str, str], None]  # (stage, message)


@dataclass
class StageResult:
    stage: str
    status: str  # "done" | "up to date" | "skipped"
    seconds: float
    summary: str
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class Context:
    """What the stages share: the config, the run folder, progress events, and what earlier
    stages established (the dataset; the sha256 of the model export wrote or vouched for)."""

    cfg: PipelineConfig
    run_dir: Path
    emit: Event = lambda stage, msg: None  # noqa: E731
    ds: Any = None
    model_sha: str | None = None
    report: Path | None = None


class Stage:
    """One pipeline stage. ``inputs``/``outputs`` name what it reads and writes (run-relative
    paths, or what they are); ``checksums`` says what makes it "up to date" (skipped)."""

    name: str = ""
    description: str = ""
    inputs: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()
    checksums: str = ""

    def run(self, ctx: Context) -> StageResult:
        raise NotImplementedError

    def result(self, status: str, summary: str, detail: dict[str, Any] | None = None) -> StageResult:
        """``seconds`` is filled in by the runner."""
        return StageResult(self.name, status, 0.0, summary, detail or {})

    def __repr__(self) -> str:
        return f"<pipeline stage {self.name}>"


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


class Data(Stage):
    name = "data"
    description = "the processed dataset (from the bundled Iris CSV or --csv)"
    inputs = ("--csv FILE or the bundled iris.csv",)
    outputs = ("DATASTORE/processed/NAME/",)
    checksums = "the source CSV's sha256 and the target column in meta.json"

    def run(self, ctx: Context) -> StageResult:
        from irisonnx.data import datastore as D
        from irisonnx.errors import UsageError

        if ctx.cfg.csv:
            if not ctx.cfg.target:
                raise UsageError("--csv needs --target", "name the label column")
            text = D.read_source_csv(ctx.cfg.csv)
            try:
                ds = D.load_dataset(ctx.cfg.dataset_name, prepare_iris=False)
                if ds.meta["source"]["sha256"] == D.sha256_bytes(text.encode("utf-8")) and ds.meta.get("target") == ctx.cfg.target:
                    ctx.ds = ds
                    return self.result("up to date", f"{ds.name}: {ds.meta['n_rows']} rows (checksums match)")
            except IrisOnnxError:
                pass
            ds = D.convert(text, name=ctx.cfg.dataset_name, target=ctx.cfg.target, source_name=Path(ctx.cfg.csv).name, force=ctx.cfg.force)
            status = "done"
        else:
            existed = (D.resolve_dataset_dir(ctx.cfg.dataset_name) / "meta.json").exists()
            ds = D.load_dataset(ctx.cfg.dataset_name)
            status = "up to date" if existed else "done"
        ctx.ds = ds
        return self.result(status, f"{ds.name}: {ds.meta['n_rows']} rows, {len(ds.train_idx)} train / {len(ds.test_idx)} test", {"meta_sha256": ds.sha256})


class Train(Stage):
    name = "train"
    description = "train the MLP (resumes from the last checkpoint)"
    inputs = ("the dataset",)
    outputs = ("config.json", "checkpoints/", "model.safetensors", "metrics.csv", "manifest.json")
    checksums = "the run's checkpoints: a run trained to the epochs asked for is complete"

    def run(self, ctx: Context) -> StageResult:
        from irisonnx.config import ModelConfig, TrainConfig
        from irisonnx.training.train import train as do_train

        from irisonnx.training.checkpoint import list_checkpoints

        ds = ctx.ds
        mc = ModelConfig(n_features=ds.meta["n_features"], n_classes=ds.meta["n_classes"], hidden=ctx.cfg.hidden)
        # A run already trained further (`irisonnx train --epochs 150` after the demo's 100)
        # is continued as it is, not refused for having more epochs than asked for.
        have = list_checkpoints(ctx.run_dir / "checkpoints")[-1][0] if (ctx.run_dir / "config.json").exists() and list_checkpoints(ctx.run_dir / "checkpoints") else 0
        epochs = max(ctx.cfg.epochs, have)
        tc = TrainConfig(epochs=epochs, seed=ctx.cfg.seed)
        r = do_train(ds, mc, tc, ctx.run_dir, resume=True, on_epoch=lambda row: ctx.emit("train", f"epoch {row['epoch']}/{epochs} loss {row['loss']:.4f} test acc {row['test_acc']:.3f}"))
        f = r.final
        status = "up to date" if r.already_complete else "done"
        how = f" (resumed from epoch {r.resumed_from})" if r.resumed_from and not r.already_complete else ""
        if epochs > ctx.cfg.epochs:
            how += f" (the run is already at epoch {have}, beyond the {ctx.cfg.epochs} asked for; continued it as it is)"
        return self.result(status, f"test acc {f['test_acc']:.3f}, loss {f['loss']:.4f}{how}", {"final": f, "epochs": epochs})


class Verify(Stage):
    name = "verify"
    description = "the weights reload bit-identically"
    inputs = ("model.safetensors", "checkpoints/")
    outputs = ()
    checksums = ""

    def run(self, ctx: Context) -> StageResult:
        from irisonnx.errors import CheckFailed
        from irisonnx.training.verify import verify_run

        v = verify_run(ctx.run_dir)
        if not v.passed:
            raise CheckFailed("weights do not reload bit-identically", f"{v.n_rows_identical}/{v.n_rows} rows identical")
        return self.result("done", f"{len(v.params)} tensors and {v.n_rows}/{v.n_rows} outputs bit-identical")


class Export(Stage):
    name = "export"
    description = "torch -> ONNX, then the parity check against torch"
    inputs = ("model.safetensors", "config.json")
    outputs = ("model.onnx",)
    checksums = "model.onnx's sha256 against the manifest, and export.validated with this exporter"

    def run(self, ctx: Context) -> StageResult:
        from irisonnx.export.export import export_run
        from irisonnx.modelfile.onnx_io import resolve_model
        from irisonnx.storage import Manifest

        onnx_path = ctx.run_dir / "model.onnx"
        if onnx_path.exists():
            try:
                info = resolve_model(ctx.run_dir)  # sha256 vs manifest, validated flag
                exp = Manifest.load(ctx.run_dir).data.get("export", {})
                if exp.get("validated") and exp.get("exporter") == ctx.cfg.exporter:
                    ctx.model_sha = info.sha256
                    return self.result("up to date", f"{ctx.cfg.exporter}, validated (sha256 {info.sha256[:12]}…)")
            except IrisOnnxError:
                pass  # stale, modified or unvalidated: export again
        r = export_run(ctx.run_dir, exporter=ctx.cfg.exporter)
        info = resolve_model(ctx.run_dir)
        ctx.model_sha = info.sha256
        return self.result("done", f"{ctx.cfg.exporter} opset {r.opset if hasattr(r, 'opset') else ''}, parity vs torch passed")


class Compare(Stage):
    name = "compare"
    description = "every runtime against torch on all rows"
    inputs = ("model.onnx", "the dataset")
    outputs = ("compare.json",)
    checksums = "compare.json listed in the manifest and made from this model.onnx (model_sha256)"

    def run(self, ctx: Context) -> StageResult:
        from irisonnx.compare.runner import run_compare
        from irisonnx.errors import CheckFailed
        from irisonnx.browser.session import browser_available

        old = _fresh(ctx.run_dir, "compare.json", ctx.model_sha)
        if old is not None and old.get("passed"):
            return self.result("up to date", _compare_summary(old))
        use_web = browser_available()[0] if ctx.cfg.web is None else ctx.cfg.web
        explicit = ["torch", "ort-cpu", "reference"] + (["web"] if use_web else [])
        # ort-cuda and the other runtime families: compared where they can run, listed as
        # unavailable (with the command that enables them) where they cannot.
        optional = ["ort-cuda", *(RUNTIME_FAMILIES if ctx.cfg.families else ())]
        r = run_compare(ctx.run_dir, runtimes=explicit, optional=optional, inputs="all")
        doc = r.to_dict()
        _record(ctx.run_dir, "compare.json", doc)
        if not r.passed:
            raise CheckFailed("runtimes disagree", ", ".join(p.runtime for p in r.pairs if not p.passed) + f" vs {r.baseline}")
        return self.result("done", _compare_summary(doc))


class Edge(Stage):
    name = "edge"
    description = "the edge bundle: variants that pass their gates (+ the web page)"
    inputs = ("model.onnx", "the dataset")
    outputs = ("edge/",)
    checksums = "edge/manifest.json's source sha256 is this model.onnx's"

    def run(self, ctx: Context) -> StageResult:
        from irisonnx.edge.build import build_edge, parse_variants
        from irisonnx.storage import read_json

        man_path = ctx.run_dir / "edge" / "manifest.json"
        if man_path.exists() and ctx.model_sha:
            man = read_json(man_path, "edge manifest")
            if man.get("source", {}).get("sha256") == ctx.model_sha:
                # The bundle is current. Its web page may not be: `irisonnx edge` without --web
                # replaces the bundle and drops edge/web; add it back rather than rebuild all.
                from irisonnx.browser.bundle import web_bundle_current

                if ctx.cfg.web is not False and not web_bundle_current(ctx.run_dir / "edge"):
                    web = _web_bundle(ctx.run_dir, ctx.cfg)
                    return self.result("done" if web.startswith("; web bundle") else "up to date", _edge_summary(man) + web)
                return self.result("up to date", _edge_summary(man))
        variants = parse_variants(None)
        r = build_edge(ctx.run_dir, variants=variants)
        failed = [v.variant for v in r.variants if not v.passed]
        note = ""
        if failed:
            # Keep what passes: rebuild the bundle without the variants that missed their gates.
            keep = [v for v in variants if v not in failed]
            r = build_edge(ctx.run_dir, variants=keep)
            note = f"; left out (gate not met): {', '.join(failed)}"
        man = read_json(man_path, "edge manifest")
        from irisonnx.guard import note_derived

        note_derived(ctx.run_dir, "edge")
        web = _web_bundle(ctx.run_dir, ctx.cfg)
        return self.result("done", _edge_summary(man) + note + web, {"failed": failed})


class Bench(Stage):
    name = "bench"
    description = "latency and throughput, torch vs onnxruntime (and the other runtime families)"
    inputs = ("model.onnx",)
    outputs = ("bench.json",)
    checksums = "bench.json listed in the manifest and made from this model.onnx (model_sha256)"

    def run(self, ctx: Context) -> StageResult:
        from irisonnx.bench import BenchSettings, run_bench

        if not ctx.cfg.bench:
            return self.result("skipped", "--no-bench")
        old = _fresh(ctx.run_dir, "bench.json", ctx.model_sha)
        if old is not None:
            return self.result("up to date", _bench_summary(old))
        r = run_bench(ctx.run_dir, runtimes=["torch", "ort-cpu"], optional=list(RUNTIME_FAMILIES) if ctx.cfg.families else None, settings=BenchSettings.make(quick=True))
        doc = r.to_dict()
        _record(ctx.run_dir, "bench.json", doc)
        return self.result("done", _bench_summary(doc))


class Report(Stage):
    name = "report"
    description = "the HTML report of the run"
    inputs = ("every file above",)
    outputs = ("report.html",)
    checksums = ""

    def run(self, ctx: Context) -> StageResult:
        from irisonnx.report.report import build_report

        r = build_report(ctx.run_dir)
        ctx.report = r.path
        missing = ", ".join(r.missing) or "nothing"
        return self.result("done", f"{r.path} (missing: {missing})")


# The pipeline's order; a new stage is one class above and one entry here.
STAGES: tuple[Stage, ...] = (Data(), Train(), Verify(), Export(), Compare(), Edge(), Bench(), Report())
STAGE_NAMES: tuple[str, ...] = tuple(s.name for s in STAGES)

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
    from irisonnx.browser.bundle import add_web_bundle

    shot = add_web_bundle(run_dir / "edge")
    return f"; web bundle with screenshot {shot}"


