"""Names full of markup stay text in every page, and the tool's own browser reaches nothing but
the bundle's local server (issue 15, item 1); a failed ``edge --web`` leaves the previous bundle
(item 10).

A "canary" HTTP server on another local port counts every request it gets: the markup in the
names would call it if a page ever parsed a name as HTML. These run for real in Chromium where
it is installed; with IRISONNX_REQUIRE_BROWSER set they fail instead of skipping.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from conftest import IRIS_CSV, run_cli
from irisonnx.browser.session import browser_available

ok, why = browser_available()
if not ok and not os.environ.get("IRISONNX_REQUIRE_BROWSER"):
    pytest.skip(f"browser runtime unavailable: {why}", allow_module_level=True)


class Canary:
    """An HTTP server on 127.0.0.1 that records the path of every request it gets."""

    def __init__(self) -> None:
        hits = self.hits = []

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                hits.append(self.path)
                self.send_response(200)
                self.send_header("Access-Control-Allow-Origin", "*")
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_POST = do_GET  # noqa: N815

            def log_message(self, *a: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def canary():
    c = Canary()
    yield c
    c.close()


def evil_names(url: str) -> tuple[list[str], list[str], str]:
    """Feature names, class names and a dataset name, each markup that calls ``url`` when a
    page parses it as HTML (an attribute handler, a closed-and-reopened script, an SVG)."""
    features = [
        f"<img src=x onerror=fetch('{url}/pwn-feature-img')>",
        f"</script><script>fetch('{url}/pwn-feature-script')</script>",
        f"<svg onload=fetch('{url}/pwn-feature-svg')>",
        "petal & <b>width</b>",
    ]
    classes = [
        f"<img src=x onerror=fetch('{url}/pwn-class-img')>",
        f"</script><script>fetch('{url}/pwn-class-script')</script>",
        f"<iframe src='{url}/pwn-class-iframe'></iframe>",
    ]
    # A dataset name may not hold '/': the URL is spelled with String.fromCharCode.
    codes = ",".join(str(ord(c)) for c in f"{url}/pwn-dataset")
    dataset = f"<img src=x onerror=fetch(String.fromCharCode({codes}))>"
    return features, classes, dataset


@pytest.fixture(scope="module")
def evil_run(canary: Canary, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str], list[str], str]:
    """Iris with every name replaced by markup: converted, trained briefly, exported."""
    from irisonnx.data import datastore as data
    from irisonnx.config import ModelConfig, TrainConfig
    from irisonnx.export.export import export_run
    from irisonnx.training.train import train

    features, classes, dataset = evil_names(canary.url)
    rows = list(csv.reader(io.StringIO(IRIS_CSV.read_text())))
    species = sorted({r[4] for r in rows[1:]})
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(features + ["target"])
    for r in rows[1:]:
        w.writerow(r[:4] + [classes[species.index(r[4])]])
    root = tmp_path_factory.mktemp("evil")
    ds = data.convert(buf.getvalue(), name=dataset, target="target", source_name="evil.csv", out_dir=root / "processed")
    assert ds.class_names == sorted(classes) and ds.feature_names == features
    run = root / "run"
    train(ds, ModelConfig(n_features=4, n_classes=3, hidden=(8,)), TrainConfig(epochs=5, checkpoint_every=5), run)
    export_run(run, exporter="torchscript")
    return run, features, sorted(classes), dataset


def test_edge_web_shows_markup_names_as_text(evil_run, canary: Canary, tmp_path: Path) -> None:
    """``edge --web`` on a model whose names are markup: exit 0, no request to the canary, and
    the page shows every name literally (no element made from a name). Before, app.mjs built
    its result with innerHTML: the class name's <img onerror> ran inside the build's Chromium."""
    from irisonnx.browser.session import BrowserSession

    run, features, classes, dataset = evil_run
    out = tmp_path / "edge"
    before = len(canary.hits)
    r = run_cli("edge", str(run), "--variants", "fp32", "--out", str(out), "--web", "--bench-rounds", "0", "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    shot = Path(doc["web"]["screenshot"])
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    tried = json.loads((out / "manifest.json").read_text())["web"]["tried"]
    assert tried["label"] in classes and tried["label"] in tried["text"]

    # The same page again, every class shown once: the literal names are its text.
    with BrowserSession(out / "web", "index.html") as s:
        for i, row in enumerate([[5.1, 3.5, 1.4, 0.2], [6.0, 2.7, 4.5, 1.5], [7.7, 3.0, 6.1, 2.3]]):
            ans = s.call({"cmd": "form", "values": {f"feature-{j}": v for j, v in enumerate(row)}})
            assert ans["label"] in classes and ans["text"].startswith(ans["label"]), ans
            assert all(c in ans["text"] for c in classes), ans["text"]  # the probability table
        text = s.evaluate("document.body.innerText")
        made = s.evaluate("Array.from(document.querySelectorAll('img, svg, iframe, script:not([src]), b')).map(e => e.outerHTML)")
        title = s.evaluate("document.getElementById('title').textContent")
        log = s.requests()
    assert made == [], made  # no element came from a name
    assert all(f in text for f in features), text
    assert title == f"{dataset} classifier"
    assert all(line.startswith("127.0.0.1 ") for line in log)
    assert canary.hits[before:] == []


def test_report_escapes_markup_names(evil_run, canary: Canary) -> None:
    """report.html holds every name escaped (never the raw markup) and, opened in Chromium,
    shows the names literally without one request leaving the page."""
    from irisonnx.report.report import build_report
    from irisonnx.browser.session import BrowserSession

    run, features, classes, dataset = evil_run
    before = len(canary.hits)
    page = build_report(run).path
    html = Path(page).read_text()
    for name in features + classes + [dataset]:
        assert name not in html
    assert "&lt;img src=x onerror=fetch(" in html and "&lt;/script&gt;&lt;script&gt;" in html
    with BrowserSession(run, Path(page).name, wait_ready=False) as s:
        text = s.evaluate("document.body.innerText")
        made = s.evaluate("Array.from(document.querySelectorAll('svg, iframe, script, img[src=x]')).map(e => e.outerHTML)")
    assert made == [], made
    for name in classes + [dataset]:
        assert name in text, name
    assert canary.hits[before:] == []


def _web_copy(tmp_path: Path, edit: dict[str, tuple[str, str]]) -> Path:
    """A copy of web/ (its node_modules linked) with ``edit``: file -> (old, new) text."""
    from irisonnx.browser.session import web_dir

    src = web_dir()
    dst = tmp_path / "webcopy"
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("node_modules"))
    (dst / "node_modules").symlink_to((src / "node_modules").resolve())
    for name, (old, new) in edit.items():
        text = (dst / name).read_text()
        assert old in text, name
        (dst / name).write_text(text.replace(old, new, 1))
    return dst


def _tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_page_that_reaches_outside_fails_edge_web_and_keeps_the_previous_bundle(evil_run, canary: Canary, tmp_path: Path) -> None:
    """A bundle page that requests another port: ``edge --web`` exits 3 with one line naming
    the blocked URL, the request never leaves the browser, and the previous bundle (models,
    manifest, web page) is byte for byte what it was. Before, the build exited 0, and a
    failing --web had already replaced the bundle."""
    run, *_ = evil_run
    out = tmp_path / "edge"
    r = run_cli("edge", str(run), "--variants", "fp32", "--out", str(out), "--web", "--bench-rounds", "0")
    assert r.returncode == 0, r.stderr
    previous = _tree(out)
    bad = _web_copy(tmp_path, {"bundle/app.mjs": ("window.irisonnxReady = true;", f"fetch('{canary.url}/outside').catch(() => {{}});\n  window.irisonnxReady = true;")})
    before = len(canary.hits)
    r = run_cli("edge", str(run), "--variants", "fp32,int8-dynamic", "--out", str(out), "--web", "--bench-rounds", "0", env={"IRISONNX_WEB_DIR": str(bad)})
    assert r.returncode == 3, (r.returncode, r.stderr)
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("irisonnx: error: the web page tried to reach outside its local server"), r.stderr
    assert f"{canary.url}/outside" in r.stderr
    assert canary.hits[before:] == []
    assert _tree(out) == previous
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".irisonnx-tmp")]


def test_runner_page_that_reaches_outside_fails_compare(evil_run, canary: Canary, tmp_path: Path) -> None:
    """The same for the browser runtime of ``compare``: exit 3, one line, nothing sent."""
    run, *_ = evil_run
    bad = _web_copy(tmp_path, {"runner.html": ("status.textContent = 'ready';", f"await fetch('{canary.url}/runner').catch(() => {{}});\n  status.textContent = 'ready';")})
    before = len(canary.hits)
    r = run_cli("compare", str(run), "--runtimes", "ort-cpu,web", "--inputs", "random:50", env={"IRISONNX_WEB_DIR": str(bad)})
    assert r.returncode == 3, (r.returncode, r.stderr)
    assert r.stderr.count("\n") == 1 and f"blocked {canary.url}/runner" in r.stderr, r.stderr
    assert canary.hits[before:] == []


def test_websocket_to_another_port_does_not_leave_the_browser(evil_run, canary: Canary, tmp_path: Path) -> None:
    """Routes do not see WebSockets; the dead proxy stops them (the canary gets no connection)
    and the driver lists them, so the session fails as for any other outside request."""
    from irisonnx.browser.session import BrowserSession, UnsafePage

    (tmp_path / "ws.html").write_text(
        "<!doctype html><meta charset='utf-8'><script>"
        f"const ws = new WebSocket('ws://127.0.0.1:{canary.port}/ws');"
        "ws.onerror = () => { window.irisonnxReady = true; }; ws.onopen = () => { window.irisonnxReady = 'opened'; };"
        "</script>"
    )
    before = len(canary.hits)
    with pytest.raises(UnsafePage, match=f"blocked ws://127.0.0.1:{canary.port}/ws"):
        with BrowserSession(tmp_path, "ws.html") as s:
            s.evaluate("1 + 1")
    assert canary.hits[before:] == []
