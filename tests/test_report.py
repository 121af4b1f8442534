"""RUN/report.html: self-contained, every section has content or says what is missing."""

from __future__ import annotations

import base64
import os
import re
import shutil
from pathlib import Path

import pytest

from conftest import run_cli
from irisonnx.report.report import build_report


@pytest.fixture(scope="module")
def exported(tiny_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from irisonnx.compare.runner import run_compare
    from irisonnx.export.export import export_run
    from irisonnx.storage import atomic_write_json

    run = tmp_path_factory.mktemp("report") / "run"
    shutil.copytree(tiny_run, run)
    export_run(run, exporter="torchscript")
    atomic_write_json(run / "compare.json", run_compare(run, runtimes=["torch", "ort-cpu", "reference"]).to_dict())
    return run


def _images(html: str) -> list[bytes]:
    return [base64.b64decode(m) for m in re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)]


def test_report_from_a_run_without_optional_parts(tiny_run: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    res = build_report(run)
    html = res.path.read_text()
    assert set(res.missing) == {"export", "compare", "matrix", "edge", "bench"}
    assert "no model.onnx" in res.missing["export"]
    for key in ("data", "training", "confusion", "export", "compare", "matrix", "edge", "bench", "provenance"):
        assert f"id='{key}'" in html
    assert html.count("Not available:") == 5
    imgs = _images(html)
    assert len(imgs) == 3 and all(i.startswith(b"\x89PNG") for i in imgs)  # balance, curves, confusion
    assert "http://" not in html and "https://" not in html  # nothing to fetch: readable offline


def test_report_with_export_and_compare(exported: Path) -> None:
    r = run_cli("report", str(exported), "--json")
    assert r.returncode == 0, r.stderr
    import json

    doc = json.loads(r.stdout)
    missing = {s["key"] for s in doc["sections"] if s["missing"]}
    assert missing == {"edge", "bench"}
    html = (exported / "report.html").read_text()
    assert "Cross-runtime comparison" in html and "ort-cpu" in html and "reference" in html
    assert len(_images(html)) == 4  # + the error histograms


@pytest.mark.skipif(not os.environ.get("IRISONNX_REQUIRE_BROWSER") and not __import__("irisonnx.browser.session", fromlist=["x"]).browser_available()[0], reason="Chromium/Node/web packages absent")
def test_report_renders_in_chromium(exported: Path) -> None:
    from irisonnx.browser.session import BrowserSession

    build_report(exported)
    with BrowserSession(exported, "report.html", wait_ready=False) as s:
        imgs = s.evaluate("Array.from(document.images).map(i => [i.alt, i.complete && i.naturalWidth > 0])")
        sections = s.evaluate("Array.from(document.querySelectorAll('section')).map(x => [x.id, x.innerText.trim().length])")
        log = s.requests()
    assert imgs and all(ok for _, ok in imgs), imgs
    assert len(sections) == 9 and all(n > 20 for _, n in sections), sections
    assert all(line.startswith("127.0.0.1 ") for line in log) and len(log) == 1, log  # the page alone


def test_names_with_dollars_are_plotted_as_plain_text(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """Class and feature names with '$...$' went to matplotlib's mathtext: report and pipeline
    died with exit 70 (a ValueError from the parser). They are plain text, and nothing but the
    report's own lines reaches the terminal: no matplotlib or numpy warnings on stderr."""
    from irisonnx.data import datastore as data
    from irisonnx.config import ModelConfig, TrainConfig
    from irisonnx.training.train import train
    from onnx_helpers import cli

    classes = ["$\\frac{a}{$", "$x^2$", "cost $5 or $6"]
    rows = [f"{i % 7 + 0.5 * k},{(i * 3) % 5 - k},{classes[k]}" for k in range(3) for i in range(12)]
    text = "$mass$,len $\\alpha,species\n" + "\n".join(rows) + "\n"
    ds = data.convert(text, name="dollars", target="species", source_name="d.csv", datastore=tmp_path / "ds")
    run = tmp_path / "run"
    train(ds, ModelConfig(n_features=2, n_classes=3, hidden=(4,)), TrainConfig(epochs=2, checkpoint_every=1), run)
    rc, out, err = cli(capsys, "report", str(run))
    assert rc == 0 and err == "", err
    html = (run / "report.html").read_text()
    assert len(_images(html)) == 3
