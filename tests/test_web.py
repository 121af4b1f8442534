"""The browser as a runtime: onnxruntime-web (WASM, one thread) in headless Chromium.

These run for real where Chromium, Node.js and web/node_modules are present; elsewhere they
skip, unless IRISONNX_REQUIRE_BROWSER is set (CI sets it), in which case they fail.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from irisonnx.errors import RuntimeUnavailable
from irisonnx.browser.session import browser_available

ok, why = browser_available()
if not ok and not os.environ.get("IRISONNX_REQUIRE_BROWSER"):
    pytest.skip(f"browser runtime unavailable: {why}", allow_module_level=True)


def test_browser_is_installed_when_required() -> None:
    assert ok, why


@pytest.fixture(scope="module")
def exported(tiny_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from irisonnx.export.export import export_run

    run = tmp_path_factory.mktemp("web") / "run"
    shutil.copytree(tiny_run, run)
    export_run(run, exporter="torchscript")
    return run


def _local_only(server_log: list[str], browser_requests: list[str]) -> None:
    assert server_log, "the server saw no request"
    assert all(line.startswith("127.0.0.1 ") for line in server_log), server_log
    assert browser_requests and all(u.startswith("http://127.0.0.1:") for u in browser_requests), browser_requests


def test_web_vs_ort_cpu_fp32(exported: Path) -> None:
    from irisonnx.compare.runner import run_compare

    res = run_compare(exported, runtimes=["ort-cpu", "web"], inputs="random:3000")
    pair = res.pairs[0]
    s = pair.outputs["logits"]
    assert pair.runtime == "web" and res.baseline == "ort-cpu"
    assert res.passed, s.to_dict()  # the documented default: atol 1e-5, rtol 1e-5
    assert s.argmax_agreement == 1.0
    web = [r for r in res.runtimes if r.spec == "web"][0]
    assert web.info["versions"]["onnxruntime-web"] == "1.30.0"
    assert "not bitwise" in web.info["note"]
    _local_only(["127.0.0.1 -"], web.info["browser_requests"])
    # What we found, kept visible in the test log: fp32 is close, not necessarily bitwise.
    print(f"web vs ort-cpu fp32: exact={s.exact} max_abs={s.max_abs:.3g} max_ulp={s.max_ulp:.0f}")


def test_web_int8_is_bitwise_equal_to_the_onnx_reference(exported: Path, tmp_path: Path) -> None:
    """int8 (dynamic quantisation): WASM computes exactly what the ONNX spec says; onnxruntime
    CPU on AVX2 machines without VNNI may not (u8s8 products saturate in VPMADDUBSW), which is
    reported, not hidden."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from irisonnx.compare.runner import run_compare

    q = tmp_path / "model.int8.onnx"
    quantize_dynamic(str(exported / "model.onnx"), str(q), weight_type=QuantType.QInt8)
    res = run_compare(exported, model=q, runtimes=["reference", "web", "ort-cpu"], inputs="all")
    by = {p.runtime: p.outputs["logits"] for p in res.pairs}
    assert by["web"].exact, by["web"].to_dict()
    assert by["web"].n_elements == 150 * 3
    notes = {st.spec: st.info.get("note", "") for st in res.runtimes}
    assert notes["web"].startswith("quantised model"), notes  # not the fp32 "use atol/rtol" advice
    cpu = by["ort-cpu"]
    print(f"int8 on 150 Iris rows vs the ONNX reference: web exact; ort-cpu exact={cpu.exact} max_abs={cpu.max_abs:.3g} argmax={cpu.argmax_agreement:.2%}")


def test_web_bundle_form_and_screenshot(exported: Path, tmp_path: Path) -> None:
    from irisonnx.modelfile.onnx_io import resolve_model
    from irisonnx.runtimes.ort_engine import Predictor
    from irisonnx.browser.bundle import build_web_bundle, try_bundle

    info = resolve_model(exported)
    bundle = tmp_path / "web"
    build_web_bundle(info, bundle, "iris")
    assert sorted(p.name for p in (bundle / "ort").iterdir()) == sorted(["ort.wasm.min.mjs", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm"])
    row = [6.7, 3.0, 5.2, 2.3]
    shot = bundle / "screenshot.png"
    ans = try_bundle(bundle, row, shot)
    labels, _ = Predictor(info).predict(np.array([row], np.float32))
    assert ans["label"] == info.class_names[int(labels[0])]
    assert ans["label"] in ans["text"]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 5000
    _local_only(ans["server_log"], ans["browser_requests"])
    # nothing outside the bundle was fetched: every path the server served is a bundle file
    served = {line.split()[2].split("?")[0] for line in ans["server_log"]}
    assert served <= {"/index.html", "/app.mjs", "/labels.json", "/model.onnx", "/ort/ort.wasm.min.mjs", "/ort/ort-wasm-simd-threaded.mjs", "/ort/ort-wasm-simd-threaded.wasm"}, served


def test_page_that_cannot_load_the_model_fails_fast(tmp_path: Path) -> None:
    from irisonnx.browser.session import BrowserSession, web_dir

    shutil.copyfile(web_dir() / "runner.html", tmp_path / "runner.html")
    t = time.monotonic()
    with pytest.raises(RuntimeUnavailable, match="HTTP 404"):
        with BrowserSession(tmp_path, "runner.html?model=missing.onnx", timeout=15):
            pass
    assert time.monotonic() - t < 90  # a clear error, not a hang (the step limit is 15 s)


def test_edge_web_flag_adds_a_tried_bundle(exported: Path, tmp_path: Path) -> None:
    from conftest import run_cli

    out = tmp_path / "edge"
    r = run_cli("edge", str(exported), "--variants", "fp32", "--out", str(out), "--web", "--bench-rounds", "0", "--json")
    assert r.returncode == 0, r.stderr
    import json

    doc = json.loads(r.stdout)
    shot = Path(doc["web"]["screenshot"])
    assert shot == out / "web" / "screenshot.png" and shot.read_bytes()[:4] == b"\x89PNG"
    assert {p.name for p in (out / "web").iterdir()} == {"index.html", "app.mjs", "labels.json", "model.fp32.onnx", "ort", "screenshot.png"}
    assert not [p for p in out.iterdir() if p.name.startswith(".irisonnx-tmp-")]


def test_session_ends_when_its_work_ends(exported: Path, tmp_path: Path) -> None:
    """The driver exits by itself once told to close. Before, node stayed alive on its open
    stdin after closing Chromium, and close() waited its 10 s timeout and then killed it."""
    from irisonnx.browser.session import BrowserSession, web_dir

    shutil.copyfile(web_dir() / "runner.html", tmp_path / "runner.html")
    shutil.copyfile(exported / "model.onnx", tmp_path / "model.onnx")
    s = BrowserSession(tmp_path, "runner.html?model=model.onnx").__enter__()
    driver, server = s.driver, s.server
    t = time.monotonic()
    s.close()
    took = time.monotonic() - t
    assert driver.returncode == 0, driver.returncode  # exited on its own, not killed (-15 / -9)
    assert server.returncode is not None
    assert took < 3.0, f"close took {took:.1f} s"
