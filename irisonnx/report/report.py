"""``RUN/report.html``: one self-contained page (plots inline as PNG, no CDN) built from the
run folder alone. Each section says plainly what is missing when a part was not produced."""

from __future__ import annotations

import base64
import html
import io
import os
import platform
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from irisonnx.training.run import Run, library_versions
from irisonnx.storage import atomic_write_text, read_json

__all__ = ["Section", "ReportResult", "build_report", "COMPARE_JSON", "BENCH_JSON"]

COMPARE_JSON = "compare.json"
BENCH_JSON = "bench.json"
E = html.escape


@dataclass
class Section:
    key: str
    title: str
    body: str = ""
    missing: str = ""  # why the section has no content, when it has none
    images: int = 0


@dataclass
class ReportResult:
    path: Path
    sections: list[Section] = field(default_factory=list)

    @property
    def missing(self) -> dict[str, str]:
        return {s.key: s.missing for s in self.sections if s.missing}


# --- plotting helpers ------------------------------------------------------------------------


def _figure(w: float = 6.0, h: float = 3.2) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    return Figure(figsize=(w, h), dpi=100, layout="constrained")


def _img(fig: Any, alt: str) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    b64 = base64.b64encode(buf.getvalue()).decode("ascii")
    return f'<img alt="{E(alt)}" src="data:image/png;base64,{b64}">'


def _table(head: list[str], rows: list[list[Any]]) -> str:
    def cell(v: Any) -> str:
        if isinstance(v, float):
            return E("0" if v == 0 else f"{v:.4g}")
        return E("-" if v is None else str(v))

    th = "".join(f"<th>{E(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{cell(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><tr>{th}</tr>{body}</table>"


def _read(path: Path) -> Any | None:
    return read_json(path, path.name) if path.exists() else None


# --- sections --------------------------------------------------------------------------------


def _data(run: Run) -> Section:
    s = Section("data", "Data")
    ds = run.dataset()
    m = ds.meta
    names = ds.class_names
    counts = m["class_counts"]
    train_c = np.bincount(ds.labels[ds.train_idx], minlength=len(names))
    test_c = np.bincount(ds.labels[ds.test_idx], minlength=len(names))
    fig = _figure(6, 2.6)
    ax = fig.add_subplot()
    x = np.arange(len(names))
    ax.bar(x - 0.2, train_c, 0.4, label="train")
    ax.bar(x + 0.2, test_c, 0.4, label="test")
    ax.set_xticks(x, names)
    ax.set_ylabel("rows")
    ax.set_title("class balance and split")
    ax.legend()
    st = m["stats"]
    units = m.get("feature_units", {})
    rows = [[f + (f" ({units[f]})" if f in units else ""), st["min"][i], st["max"][i], st["mean"][i], st["std"][i]] for i, f in enumerate(ds.feature_names)]
    s.body = (
        f"<p>{E(ds.name)}: {m['n_rows']} rows, {m['n_features']} features, {m['n_classes']} classes "
        f"({', '.join(f'{E(c)} {n}' for c, n in zip(names, counts))}); stratified split seed {m['split']['seed']}: "
        f"{len(ds.train_idx)} train / {len(ds.test_idx)} test. Source sha256 <code>{E(m['source']['sha256'])}</code>.</p>"
        + _img(fig, "class balance")
        + "<h3>Feature ranges (mean and std over the training split)</h3>"
        + _table(["feature", "min", "max", "mean", "std"], rows)
    )
    s.images = 1
    return s


def _training(run: Run) -> Section:
    s = Section("training", "Training")
    metrics = _read(run.dir / "metrics.json")
    if not metrics:
        s.missing = "no metrics.json: the run has not finished training"
        return s
    ep = [r["epoch"] for r in metrics["epochs"]]
    tc = run.train_config
    ckpts = [e for e in ep if e % tc.checkpoint_every == 0 or e == ep[-1]]
    fig = _figure(7, 3)
    ax1, ax2 = fig.subplots(1, 2)
    ax1.plot(ep, [r["loss"] for r in metrics["epochs"]], label="train loss")
    if "test_loss" in metrics["epochs"][0]:
        ax1.plot(ep, [r["test_loss"] for r in metrics["epochs"]], label="test loss")
    ax1.set_yscale("log")
    ax2.plot(ep, [r["train_acc"] for r in metrics["epochs"]], label="train acc")
    ax2.plot(ep, [r["test_acc"] for r in metrics["epochs"]], label="test acc")
    for ax in (ax1, ax2):
        for c in ckpts:
            ax.axvline(c, color="#bbb", lw=0.6, zorder=0)
        ax.set_xlabel("epoch (grey lines: checkpoints)")
        ax.legend()
    final = metrics["final"]
    cfg = run.config
    s.body = (
        f"<p>MLP hidden {E(str(cfg['model']['hidden']))}, {E(cfg['model']['activation'])}; {E(tc.optimizer)} lr {tc.lr:g}, batch {tc.batch_size}, "
        f"{tc.epochs} epochs, seed {tc.seed}, checkpoint every {tc.checkpoint_every}. Final: loss {final['loss']:.4f}, "
        f"train acc {final['train_acc']:.3f}, <b>test acc {final['test_acc']:.3f}</b>.</p>" + _img(fig, "training curves")
    )
    s.images = 1
    return s


def _confusion(run: Run) -> Section:
    s = Section("confusion", "Confusion matrix (test split)")
    ds = run.dataset()
    x, y = ds.features[ds.test_idx], ds.labels[ds.test_idx]
    if run.onnx_path.exists():
        from irisonnx.runtimes.ort_engine import Predictor

        pred, _ = Predictor(run.dir).predict(x)
        how = "onnxruntime CPU on model.onnx"
    elif run.weights_path.exists():
        import torch

        with torch.inference_mode():
            pred = run.load_model()(torch.from_numpy(x)).argmax(1).numpy()
        how = "torch on model.safetensors (no model.onnx yet)"
    else:
        s.missing = "no trained weights"
        return s
    k = len(ds.class_names)
    cm = np.zeros((k, k), dtype=int)
    np.add.at(cm, (y, pred), 1)
    fig = _figure(4, 3.4)
    ax = fig.add_subplot()
    ax.imshow(cm, cmap="Blues")
    for i in range(k):
        for j in range(k):
            ax.text(j, i, str(cm[i, j]), ha="center", va="center", color="white" if cm[i, j] > cm.max() / 2 else "black")
    ax.set_xticks(range(k), ds.class_names, rotation=20)
    ax.set_yticks(range(k), ds.class_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    acc = float(np.trace(cm) / cm.sum())
    s.body = f"<p>{E(how)}: accuracy {acc:.3f} ({int(np.trace(cm))}/{int(cm.sum())}).</p>" + _img(fig, "confusion matrix")
    s.images = 1
    return s


def _export(run: Run) -> Section:
    s = Section("export", "Export")
    if not run.onnx_path.exists():
        s.missing = "no model.onnx: run irisonnx export"
        return s
    from collections import Counter

    from irisonnx.modelfile.onnx_io import resolve_model

    info = resolve_model(run.dir, allow_unvalidated=True)
    exp = run.manifest().data.get("export", {})
    ops = Counter(n.op_type if n.domain in ("", "ai.onnx") else f"{n.domain}::{n.op_type}" for n in info.proto.graph.node)
    params = sum(int(np.prod(i.dims)) for i in info.proto.graph.initializer)
    sig = ", ".join(f"{t.name} {t.dtype}{t.shape_str()}" for t in info.inputs) + " → " + ", ".join(f"{t.name} {t.dtype}{t.shape_str()}" for t in info.outputs)
    rows = [[k, v] for k, v in sorted(exp.items()) if not isinstance(v, (dict, list))]
    s.body = (
        f"<p>{E(sig)}; opsets {E(str(info.opset_imports))}; {params} parameters; {info.size} bytes; sha256 <code>{E(info.sha256)}</code>.</p>"
        f"<p>Operators: {E(', '.join(f'{k} ×{v}' for k, v in ops.most_common()))}</p>"
        + ("<h3>Validation against torch</h3>" + _table(["figure", "value"], rows) if rows else "<p>No validation figures in the manifest.</p>")
    )
    return s


def _compare(run: Run) -> Section:
    s = Section("compare", "Cross-runtime comparison")
    doc = _read(run.dir / COMPARE_JSON)
    if doc is None:
        s.missing = f"no {COMPARE_JSON}: run irisonnx pipeline (or irisonnx compare RUN --json > RUN/{COMPARE_JSON})"
        return s
    from irisonnx.compare.stats import HIST_LABELS

    rows, hists = [], []
    for p in doc["pairs"]:
        for o in p["outputs"]:
            rows.append([p["runtime"], o["output"], o["max_abs_error"], o["max_rel_error"], o["max_ulp"], f"{o['n_out_of_tolerance']}/{o['n_elements']}", "-" if o["argmax_agreement"] is None else f"{o['argmax_agreement']:.2%}", "yes" if o["exact"] else "no", "PASS" if o["passed"] else "FAIL"])
            hists.append((f"{p['runtime']} vs {doc['baseline']}: {o['output']}", [o["histogram"].get(lab, 0) for lab in HIST_LABELS]))
    fig = _figure(7, 0.4 + 1.6 * max(1, len(hists)))
    axes = fig.subplots(max(1, len(hists)), 1, squeeze=False)[:, 0]
    for ax, (title, counts) in zip(axes, hists):
        ax.bar(range(len(HIST_LABELS)), counts)
        ax.set_xticks(range(len(HIST_LABELS)), HIST_LABELS, fontsize=7)
        ax.set_title(title, fontsize=9)
        ax.set_ylabel("elements")
    from irisonnx.compare.render import describe_route

    rts = [[r["runtime"], "yes" if r["available"] else "no", r["reason"] or ", ".join(r["info"].get("providers", [])) or "", " ".join(f"{k} {v}" for k, v in r["info"].get("versions", {}).items()), "; ".join(describe_route(r["info"])) or "-"] for r in doc["runtimes"]]
    exact = [f"{r[0]} {r[1]}" for r in rows if r[7] == "yes"]
    s.body = (
        f"<p>Inputs: {E(doc['inputs'])}; baseline {E(doc['baseline'])}; tolerance {E(doc['tolerance']['description'])}. "
        f"Bitwise exact: {E(', '.join(exact) or 'none')}.</p>"
        + _table(["runtime", "output", "max abs", "max rel", "max ULP", "out of tol", "argmax", "exact", "result"], rows)
        + "<h3>Error histograms (|a − b| by decade)</h3>" + _img(fig, "error histograms")
        + "<h3>Runtimes</h3>" + _table(["runtime", "ran", "providers / why not", "versions", "precision, route"], rts)
    )
    s.images = 1
    return s


def _matrix(run: Run) -> Section:
    s = Section("matrix", "Runtime matrix")
    cmp_doc, bench_doc = _read(run.dir / COMPARE_JSON), _read(run.dir / BENCH_JSON)
    if cmp_doc is None and bench_doc is None:
        s.missing = f"no {COMPARE_JSON} or {BENCH_JSON}: run irisonnx pipeline"
        return s
    from irisonnx.report.matrix import runtime_matrix

    mrows = runtime_matrix(cmp_doc, bench_doc)
    rows = [
        [
            r.runtime,
            r.status if r.status != "unavailable" else f"unavailable: {r.reason}",
            r.max_abs_error,
            r.max_ulp,
            None if r.argmax_agreement is None else f"{r.argmax_agreement:.2%}",
            r.latency_p50_us,
            r.throughput_rows_s,
            ", ".join(x for x in (r.precision, r.route) if x) or None,
            r.version,
        ]
        for r in mrows
    ]
    base = cmp_doc.get("baseline") if cmp_doc else None
    s.body = (
        f"<p>Every runtime on the same inputs, against {E(str(base or 'the baseline'))} (compare.json), and timed side by side (bench.json): "
        "max abs error and max ULP over every output, the lowest argmax agreement, batch-1 latency (p50) and the best throughput. "
        "A runtime that could not run says why, and the command that enables it.</p>"
        + _table(["runtime", "status", "max abs", "max ULP", "argmax", "batch-1 µs", "rows/s", "precision, route", "versions"], rows)
    )
    return s


def _edge(run: Run) -> Section:
    s = Section("edge", "Edge variants")
    man = _read(run.dir / "edge" / "manifest.json")
    if man is None:
        s.missing = "no edge/manifest.json: run irisonnx edge"
        return s
    rows = []
    for v in man.get("variants", []):
        f = v.get("figures", {})
        b = v.get("bench", {})
        pct = lambda x: None if x is None else f"{x:.1%}"  # noqa: E731
        rows.append([v["variant"], v.get("bytes"), v.get("n_ops"), pct(f.get("accuracy")), pct(f.get("argmax_agreement")), f.get("max_abs_error"), b.get("batch1_latency_us"), b.get("throughput_rows_s"), v.get("gate")])
    body = _table(["variant", "bytes", "ops", "accuracy", "agreement", "max abs err", "batch-1 µs", "rows/s", "gate"], rows)
    shot = run.dir / "edge" / "web" / "screenshot.png"
    if shot.exists():
        body += "<h3>Web bundle (edge/web), in headless Chromium</h3>" + f'<img alt="web bundle screenshot" src="data:image/png;base64,{base64.b64encode(shot.read_bytes()).decode()}">'
        s.images = 1
    else:
        body += "<p>No web bundle screenshot (edge/web/screenshot.png): the browser runtime was not available or --web was not asked for.</p>"
    s.body = body
    return s


def _bench(run: Run) -> Section:
    s = Section("bench", "Benchmarks")
    doc = _read(run.dir / BENCH_JSON)
    if doc is None:
        s.missing = f"no {BENCH_JSON}: run irisonnx pipeline (or irisonnx bench RUN --json > RUN/{BENCH_JSON})"
        return s
    rts = [r for r in doc["runtimes"] if r.get("available") and r.get("throughput")]
    fig = _figure(7, 3)
    ax1, ax2 = fig.subplots(1, 2)
    for q, off, color in (("p50", -0.25, "#4c72b0"), ("p90", 0.0, "#8da0cb"), ("p99", 0.25, "#c7d0e6")):
        vals = [(r.get("latency_batch1") or {}).get(f"{q}_us", 0) for r in rts]
        ax1.bar([i + off for i in range(len(rts))], vals, 0.25, label=q, color=color)
    ax1.legend()
    for r in rts:
        pts = r["throughput"]
        ax2.plot([p["batch_size"] for p in pts], [p["rows_per_s"] for p in pts], marker="o", label=r["runtime"])
    ax1.set_xticks(range(len(rts)), [r["runtime"] for r in rts])
    ax1.set_ylabel("batch-1 latency, µs")
    ax2.set_xscale("log")
    ax2.set_yscale("log")
    ax2.set_xlabel("batch size")
    ax2.set_ylabel("rows / s (median)")
    ax2.legend()
    mach = doc.get("machine", {})
    cores = mach.get("usable_cores", mach.get("logical_cores", "?"))
    load = mach.get("load_average")
    rows = []
    for r in doc["runtimes"]:
        lat = r.get("latency_batch1") or {}
        best = max(r.get("throughput") or [{"rows_per_s": None, "batch_size": None}], key=lambda p: p["rows_per_s"] or 0)
        rows.append([r["runtime"], "yes" if r.get("available") else f"no: {r.get('reason', '')}", lat.get("p50_us"), lat.get("p90_us"), lat.get("p99_us"), best["rows_per_s"], best["batch_size"], r.get("threads", "")])
    s.body = (
        f"<p>Machine: {E(str(mach.get('cpu', '')))}, {E(str(cores))} cores" + (f", load average {E(str(load[0]))} at the time" if load else "")
        + f". {E(str(doc.get('settings', {}).get('statistic', '')))}.</p>"
        + _table(["runtime", "ran", "p50 µs", "p90 µs", "p99 µs", "best rows/s", "at batch", "threads"], rows)
        + _img(fig, "latency and throughput")
    )
    s.images = 1
    return s


def _provenance(run: Run) -> Section:
    s = Section("provenance", "Provenance")
    files = run.manifest().files
    rows = [[k, v.get("size"), v.get("sha256")] for k, v in sorted(files.items())]
    edge = _read(run.dir / "edge" / "manifest.json")
    if edge:
        for name, f in sorted(edge.get("files", {}).items()):
            rows.append([f"edge/{name}", f.get("bytes"), f.get("sha256")])
    vers = library_versions("torch", "onnx", "onnxruntime", "numpy", "safetensors", "click", "matplotlib")
    s.body = (
        _table(["file", "bytes", "sha256"], rows)
        + "<h3>Versions and machine</h3>"
        + _table(["what", "value"], [[k, v] for k, v in vers.items()] + [["machine", f"{platform.machine()} {platform.system()} {platform.release()}"], ["cpus", os.cpu_count()], ["training", " ".join(f"{k} {v}" for k, v in run.config.get("versions", {}).items())]])
    )
    return s


SECTIONS: list[Callable[[Run], Section]] = [_data, _training, _confusion, _export, _compare, _matrix, _edge, _bench, _provenance]

CSS = (
    "body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;color:#222;padding:0 1rem}"
    "table{border-collapse:collapse;margin:.5rem 0}td,th{border:1px solid #ddd;padding:3px 8px;font-size:.9rem}"
    "th{background:#f4f4f4}img{max-width:100%}code{font-size:.8rem}.missing{color:#a60}nav a{margin-right:1rem}"
    "section{border-top:1px solid #eee;margin-top:1.5rem}"
)


def build_report(run_dir: str | os.PathLike, out: str | os.PathLike | None = None) -> ReportResult:
    from irisonnx.guard import check_output
    from irisonnx.runlock import run_lock

    run = Run.open(run_dir)
    own = run.dir / "report.html"
    if out:
        check_output(out, "--out", allow=own)
    with run_lock(run.dir):
        res = _build_report(Run.open(run.dir), out)
        if res.path.resolve() == own.resolve():
            from irisonnx.guard import note_derived

            note_derived(run.dir, "report.html", record_file=True)
    return res


def _refuse_stale(run: Run) -> None:
    """A report must not mix the current training curves with results of older weights."""
    from irisonnx.guard import artifact_stale, stale_error

    if run.onnx_path.exists():
        from irisonnx.modelfile.onnx_io import resolve_model

        resolve_model(run.dir, allow_unvalidated=True)  # a stale model.onnx: exit 3, "irisonnx export RUN"
    for name, path, key in ((COMPARE_JSON, run.dir / COMPARE_JSON, "model_sha256"), (BENCH_JSON, run.dir / BENCH_JSON, "model_sha256"), ("edge", run.dir / "edge" / "manifest.json", None)):
        doc = _read(path)
        if not isinstance(doc, dict):
            continue
        made_from = doc.get("source", {}).get("sha256") if key is None and isinstance(doc.get("source"), dict) else doc.get(key) if key else None
        why = artifact_stale(run.dir, name, made_from)
        if why is not None:
            raise stale_error(run.dir, name, why)


def _build_report(run: Run, out: str | os.PathLike | None) -> ReportResult:
    from irisonnx.extras import require

    require("matplotlib")  # the [report] extra
    import matplotlib

    _refuse_stale(run)
    res = ReportResult(Path(out) if out else run.dir / "report.html")
    # Names are data, not markup: "$...$" in a class or feature name is plain text (mathtext
    # raised ValueError on "$\frac{a}{$": exit 70). Text reads this when it is created.
    with matplotlib.rc_context({"text.parse_math": False, "text.usetex": False}):
        for fn in SECTIONS:
            res.sections.append(fn(run))
    nav = "".join(f'<a href="#{s.key}">{E(s.title)}</a>' for s in res.sections)
    parts = [f"<!doctype html><html lang='en'><head><meta charset='utf-8'><link rel='icon' href='data:,'><title>irisonnx report: {E(run.dir.name)}</title><style>{CSS}</style></head><body>",
             f"<h1>irisonnx report: {E(str(run.dir))}</h1><nav>{nav}</nav>"]
    for s in res.sections:
        content = s.body if not s.missing else f"<p class='missing'>Not available: {E(s.missing)}.</p>"
        parts.append(f"<section id='{s.key}'><h2>{E(s.title)}</h2>{content}</section>")
    parts.append("</body></html>\n")
    atomic_write_text(res.path, "".join(parts))
    return res
