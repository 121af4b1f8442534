"""``irisonnx serve``: Open Inference Protocol round trips with tritonclient, bitwise against
local onnxruntime, and the security behaviour of issue 18 (loopback by default, token,
no unload, 4xx for every bad request, clean SIGTERM).

The server always runs as a subprocess (``python -m irisonnx serve``) on ports it picks
itself (``--port 0``), so tritonclient.grpc in this process never meets irisonnx's stubs.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pytest

from onnx_helpers import exported_run

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")
pytest.importorskip("grpc")
th = pytest.importorskip("tritonclient.http")
tg = pytest.importorskip("tritonclient.grpc")

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "s3cret-token-for-the-serve-tests-0123456789"


class Served:
    def __init__(self, proc: subprocess.Popen, http_hostport: str, grpc_target: str | None, stderr_path: Path) -> None:
        self.proc, self.http, self.grpc, self.stderr_path = proc, http_hostport, grpc_target, stderr_path

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None) -> tuple[int, bytes, dict]:
        host, port = self.http.rsplit(":", 1)
        c = http.client.HTTPConnection(host, int(port), timeout=10)
        try:
            c.request(method, path, body=body, headers=headers or {})
            r = c.getresponse()
            return r.status, r.read(), {k.lower(): v for k, v in r.getheaders()}
        finally:
            c.close()

    def stderr(self) -> str:
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")


@contextmanager
def serving(target: Path, *args: str, tmp: Path, grpc: bool = True) -> Iterator[Served]:
    err = tmp / f"serve-{time.monotonic_ns()}.err"
    cmd = [sys.executable, "-m", "irisonnx", "serve", str(target), "--port", "0", *(["--grpc-port", "0"] if grpc else ["--no-grpc"]), *args]
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    with open(err, "wb") as ferr:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=ferr, env=env, text=True)
    try:
        line = proc.stdout.readline()  # the announcement, once both servers accept requests
        m = re.search(r"http://(\S+?)/v2/models/", line)
        if not m:
            proc.wait(timeout=10)
            raise AssertionError(f"server did not start: {line!r} {err.read_text()}")
        g = re.search(r"grpc://(\S+?);", line)
        yield Served(proc, m.group(1), g.group(1) if g else None, err)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        proc.stdout.close()


# --- models -----------------------------------------------------------------------------------


def _two_input(path: Path) -> Path:
    """ids int64 [N, 3], mask bool [N, 3] -> total int64 [N] (masked sum), prob float32 [N, 3]."""
    import onnx
    from onnx import TensorProto as T
    from onnx import helper as h

    g = h.make_graph(
        [
            h.make_node("Constant", [], ["zero"], value=h.make_tensor("z", T.INT64, [], [0])),
            h.make_node("Constant", [], ["ax"], value=h.make_tensor("a", T.INT64, [1], [1])),
            h.make_node("Where", ["mask", "ids", "zero"], ["w"]),
            h.make_node("ReduceSum", ["w", "ax"], ["total"], keepdims=0),
            h.make_node("Cast", ["w"], ["wf"], to=T.FLOAT),
            h.make_node("Sigmoid", ["wf"], ["prob"]),
        ],
        "two",
        [h.make_tensor_value_info("ids", T.INT64, ["N", 3]), h.make_tensor_value_info("mask", T.BOOL, ["N", 3])],
        [h.make_tensor_value_info("total", T.INT64, ["N"]), h.make_tensor_value_info("prob", T.FLOAT, ["N", 3])],
    )
    m = h.make_model(g, opset_imports=[h.make_opsetid("", 18)])
    m.ir_version = 9
    onnx.checker.check_model(m)
    onnx.save(m, path)
    return path


def _cnn(path: Path) -> Path:
    """A small CNN: image float32 [N, 3, 8, 8] -> Conv 3x3 (4 filters), Relu, MaxPool 2, Conv, GlobalAveragePool, Gemm -> logits [N, 5]."""
    import onnx
    from onnx import TensorProto as T
    from onnx import helper as h
    from onnx import numpy_helper as nh

    rng = np.random.default_rng(7)
    inits = [
        nh.from_array(rng.normal(size=(4, 3, 3, 3)).astype(np.float32), "w1"),
        nh.from_array(rng.normal(size=(4,)).astype(np.float32), "b1"),
        nh.from_array(rng.normal(size=(6, 4, 3, 3)).astype(np.float32), "w2"),
        nh.from_array(rng.normal(size=(5, 6)).astype(np.float32), "wf"),
        nh.from_array(rng.normal(size=(5,)).astype(np.float32), "bf"),
    ]
    g = h.make_graph(
        [
            h.make_node("Conv", ["image", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
            h.make_node("Relu", ["c1"], ["r1"]),
            h.make_node("MaxPool", ["r1"], ["p1"], kernel_shape=[2, 2], strides=[2, 2]),
            h.make_node("Conv", ["p1", "w2"], ["c2"]),
            h.make_node("GlobalAveragePool", ["c2"], ["gp"]),
            h.make_node("Flatten", ["gp"], ["fl"]),
            h.make_node("Gemm", ["fl", "wf", "bf"], ["logits"], transB=1),
        ],
        "cnn",
        [h.make_tensor_value_info("image", T.FLOAT, ["N", 3, 8, 8])],
        [h.make_tensor_value_info("logits", T.FLOAT, ["N", 5])],
        initializer=inits,
    )
    m = h.make_model(g, opset_imports=[h.make_opsetid("", 18)])
    m.ir_version = 9
    onnx.checker.check_model(m)
    onnx.save(m, path)
    return path


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory, tiny_run: Path) -> dict[str, tuple[Path, Path, dict[str, np.ndarray]]]:
    """name -> (target to serve, .onnx file, feeds)."""
    d = tmp_path_factory.mktemp("serve-models")
    run, _ = exported_run(tmp_path_factory, tiny_run)
    rng = np.random.default_rng(3)
    return {
        "run": (run, run / "model.onnx", {"features": rng.normal(size=(5, 4)).astype(np.float32)}),
        "cnn": (_cnn(d / "cnn.onnx"), d / "cnn.onnx", {"image": rng.normal(size=(2, 3, 8, 8)).astype(np.float32)}),
        "two": (_two_input(d / "two.onnx"), d / "two.onnx", {"ids": rng.integers(-1000, 1000, size=(4, 3)).astype(np.int64), "mask": rng.random((4, 3)) < 0.5}),
    }


def _local(onnx_file: Path, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    import onnxruntime as ort

    s = ort.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
    names = [o.name for o in s.get_outputs()]
    return dict(zip(names, s.run(names, feeds)))


_DT = {np.dtype(np.float32): "FP32", np.dtype(np.int64): "INT64", np.dtype(bool): "BOOL"}


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


# --- round trips ------------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["run", "cnn", "two"])
def test_tritonclient_round_trips_are_bitwise_equal_to_local_onnxruntime(models: Any, which: str, tmp_path: Path) -> None:
    target, onnx_file, feeds = models[which]
    want = _local(onnx_file, feeds)
    with serving(target, "--name", which, tmp=tmp_path) as srv:
        meta = th.InferenceServerClient(srv.http).get_model_metadata(which)
        assert [i["name"] for i in meta["inputs"]] == list(feeds)
        assert len(meta["irisonnx"]["sha256"]) == 64
        if which == "run":
            assert meta["irisonnx"]["validated"] is True  # export's parity check passed
        for binary in (False, True):  # HTTP JSON (no extra headers, no Content-Type) and the binary extension
            c = th.InferenceServerClient(srv.http)
            ins = []
            for k, v in feeds.items():
                t = th.InferInput(k, list(v.shape), _DT[v.dtype])
                t.set_data_from_numpy(v, binary_data=binary)
                ins.append(t)
            outs = [th.InferRequestedOutput(n, binary_data=binary) for n in want]
            r = c.infer(which, ins, outputs=outs)
            for n, ref in want.items():
                assert _same(r.as_numpy(n), ref), (which, binary, n)
        c = tg.InferenceServerClient(srv.grpc)
        ins = []
        for k, v in feeds.items():
            t = tg.InferInput(k, list(v.shape), _DT[v.dtype])
            t.set_data_from_numpy(v)  # raw_input_contents
            ins.append(t)
        r = c.infer(which, ins)
        for n, ref in want.items():
            assert _same(r.as_numpy(n), ref), (which, "grpc", n)
        # typed contents instead of raw_input_contents, through the protocol's own stub
        import grpc
        from tritonclient.grpc import service_pb2, service_pb2_grpc

        req = service_pb2.ModelInferRequest(model_name=which)
        field = {"FP32": "fp32_contents", "INT64": "int64_contents", "BOOL": "bool_contents"}
        for k, v in feeds.items():
            t = req.inputs.add(name=k, datatype=_DT[v.dtype], shape=list(v.shape))
            getattr(t.contents, field[_DT[v.dtype]]).extend(v.ravel().tolist())
        with grpc.insecure_channel(srv.grpc) as ch:
            resp = service_pb2_grpc.GRPCInferenceServiceStub(ch).ModelInfer(req, timeout=10)
        got = {o.name: (o, raw) for o, raw in zip(resp.outputs, resp.raw_output_contents)}
        for n, ref in want.items():
            o, raw = got[n]
            assert list(o.shape) == list(ref.shape) and raw == ref.tobytes(), (which, "typed", n)
        assert "Traceback" not in srv.stderr()


def test_http_responses_are_not_held_back_by_nagle(models: Any, tmp_path: Path) -> None:
    """uvicorn writes headers and body apart; without TCP_NODELAY on the accepted socket (asyncio
    sets it only when the listening socket's proto says TCP) every response waited out the
    client's delayed ACK: 44 ms per request instead of about 1."""
    target, _, feeds = models["two"]
    with serving(target, tmp=tmp_path, grpc=False) as srv:
        c = th.InferenceServerClient(srv.http)
        ins = [th.InferInput("ids", [4, 3], "INT64"), th.InferInput("mask", [4, 3], "BOOL")]
        ins[0].set_data_from_numpy(feeds["ids"], binary_data=False)
        ins[1].set_data_from_numpy(feeds["mask"], binary_data=False)
        times = []
        for _ in range(8):
            t0 = time.perf_counter()
            c.infer("two", ins)
            times.append(time.perf_counter() - t0)
        assert min(times) < 0.02, times


# --- security ---------------------------------------------------------------------------------


def _listening(pid: int) -> list[tuple[str, int]]:
    """(address, port) of every TCP socket ``pid`` listens on, from /proc's socket table."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes.add(link[8:-1])
    found = []
    for table, v6 in (("/proc/net/tcp", False), ("/proc/net/tcp6", True)):
        if not os.path.exists(table):
            continue
        for line in open(table).read().splitlines()[1:]:
            f = line.split()
            if f[3] != "0A" or f[9] not in inodes:  # 0A: LISTEN
                continue
            hexaddr, hexport = f[1].split(":")
            raw = bytes.fromhex(hexaddr)
            if v6:
                addr = socket.inet_ntop(socket.AF_INET6, b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4)))
            else:
                addr = socket.inet_ntop(socket.AF_INET, raw[::-1])
            found.append((addr, int(hexport, 16)))
    return found


def test_listens_on_loopback_only_by_default(models: Any, tmp_path: Path) -> None:
    target, _, _ = models["two"]
    with serving(target, tmp=tmp_path) as srv:
        socks = _listening(srv.proc.pid)
        ports = {int(srv.http.rsplit(":", 1)[1]), int(srv.grpc.rsplit(":", 1)[1])}
        assert {p for _, p in socks} == ports, socks  # REST and gRPC, nothing else
        import ipaddress

        def loopback(a: str) -> bool:
            ip = ipaddress.ip_address(a)
            return bool(ip.is_loopback or (ip.version == 6 and ip.ipv4_mapped and ip.ipv4_mapped.is_loopback))

        assert all(loopback(a) for a, _ in socks), socks


def test_non_loopback_host_needs_a_token_file(models: Any, tmp_path: Path) -> None:
    from conftest import run_cli

    target, _, _ = models["two"]
    t0 = time.monotonic()
    r = run_cli("serve", str(target), "--host", "0.0.0.0", "--port", "0", "--grpc-port", "0", timeout=60)
    assert r.returncode == 2, r.stderr
    assert r.stderr.count("\n") == 1 and "--token-file" in r.stderr and "Traceback" not in r.stderr
    assert time.monotonic() - t0 < 30


def test_token_is_enforced_on_rest_and_grpc(models: Any, tmp_path: Path) -> None:
    import grpc
    from tritonclient.grpc import service_pb2, service_pb2_grpc

    target, _, _ = models["two"]
    tok = tmp_path / "token"
    tok.write_text(TOKEN + "\n")
    tok.chmod(0o600)
    with serving(target, "--token-file", str(tok), tmp=tmp_path) as srv:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
            status, body, h = srv.request("GET", "/v2/models/two", headers=headers)
            assert status == 401 and "error" in json.loads(body) and h.get("www-authenticate") == "Bearer"
        status, body, _ = srv.request("POST", "/v2/models/two/infer", b'{"inputs": []}')
        assert status == 401
        assert srv.request("GET", "/v2/models/two", headers={"Authorization": f"Bearer {TOKEN}"})[0] == 200
        assert srv.request("GET", "/v2/health/ready")[0] == 200  # health is open (probes); it reveals nothing else
        with grpc.insecure_channel(srv.grpc) as ch:
            stub = service_pb2_grpc.GRPCInferenceServiceStub(ch)
            with pytest.raises(grpc.RpcError) as e:
                stub.ModelMetadata(service_pb2.ModelMetadataRequest(name="two"), timeout=10)
            assert e.value.code() == grpc.StatusCode.UNAUTHENTICATED
            ok = stub.ModelMetadata(service_pb2.ModelMetadataRequest(name="two"), metadata=[("authorization", f"Bearer {TOKEN}")], timeout=10)
            assert ok.name == "two"
            assert stub.ServerReady(service_pb2.ServerReadyRequest(), timeout=10).ready


def test_repository_endpoints_are_off(models: Any, tmp_path: Path) -> None:
    target, onnx_file, feeds = models["two"]
    with serving(target, tmp=tmp_path) as srv:
        for path in ("/v2/repository/models/two/unload", "/v2/repository/models/two/load", "/v2/repository/index"):
            status, body, _ = srv.request("POST", path, b"{}")
            assert status == 404 and "repository" in json.loads(body)["error"]
        c = th.InferenceServerClient(srv.http)
        ins = [th.InferInput("ids", [4, 3], "INT64"), th.InferInput("mask", [4, 3], "BOOL")]
        ins[0].set_data_from_numpy(feeds["ids"])
        ins[1].set_data_from_numpy(feeds["mask"])
        assert _same(c.infer("two", ins).as_numpy("total"), _local(onnx_file, feeds)["total"])


def _binary(header: dict, *blobs: bytes) -> tuple[bytes, dict]:
    h = json.dumps(header).encode()
    return h + b"".join(blobs), {"Inference-Header-Content-Length": str(len(h))}


def _bad_requests() -> list[tuple[str, str, str, bytes, dict, int, str]]:
    ids = np.arange(6, dtype=np.int64).reshape(2, 3)
    mask = np.ones((2, 3), bool)
    good_ids = {"name": "ids", "datatype": "INT64", "shape": [2, 3], "data": ids.ravel().tolist()}
    good_mask = {"name": "mask", "datatype": "BOOL", "shape": [2, 3], "data": [True] * 6}

    def j(*inputs: dict) -> bytes:
        return json.dumps({"inputs": list(inputs)}).encode()

    b_ids = {"name": "ids", "datatype": "INT64", "shape": [2, 3], "parameters": {"binary_data_size": 48}}
    b_mask = {"name": "mask", "datatype": "BOOL", "shape": [2, 3], "parameters": {"binary_data_size": 6}}
    cases = [
        ("wrong datatype", "/v2/models/two/infer", j({**good_ids, "datatype": "FP32"}, good_mask), {}, 400, "'ids'"),
        ("float data for INT64", "/v2/models/two/infer", j({**good_ids, "data": [0.5] * 6}, good_mask), {}, 400, "INT64"),
        ("wrong rank", "/v2/models/two/infer", j({**good_ids, "shape": [6]}, good_mask), {}, 400, "INT64 [-1, 3]"),
        ("wrong fixed dim", "/v2/models/two/infer", j({**good_ids, "shape": [3, 2]}, good_mask), {}, 400, "axis 1"),
        ("missing input", "/v2/models/two/infer", j(good_ids), {}, 400, "'mask'"),
        ("extra input", "/v2/models/two/infer", j(good_ids, good_mask, {"name": "bogus", "datatype": "FP32", "shape": [1], "data": [1]}), {}, 400, "'bogus'"),
        ("malformed JSON", "/v2/models/two/infer", b'{"inputs": [', {}, 400, "JSON"),
        ("JSON shape vs data", "/v2/models/two/infer", j({**good_ids, "shape": [4, 3]}, good_mask), {}, 400, "12 elements"),
        ("symbolic dims disagree", "/v2/models/two/infer", j(good_ids, {**good_mask, "shape": [1, 3], "data": [True] * 3}), {}, 400, "'N'"),
        ("binary shape vs data", "/v2/models/two/infer", *_binary({"inputs": [{**b_ids, "shape": [4, 3]}, b_mask]}, ids.tobytes(), mask.tobytes()), 400, "needs 96 bytes"),
        ("binary sizes short", "/v2/models/two/infer", *_binary({"inputs": [b_ids, b_mask]}, ids.tobytes(), mask.tobytes()[:3]), 400, "runs past"),
        ("binary sizes long", "/v2/models/two/infer", *_binary({"inputs": [b_ids, b_mask]}, ids.tobytes(), mask.tobytes(), b"xx"), 400, "add up"),
        ("huge declared shape", "/v2/models/two/infer", *_binary({"inputs": [{**b_ids, "shape": [10**12, 3]}, b_mask]}, ids.tobytes(), mask.tobytes()), 413, "limit"),
        ("header length past body", "/v2/models/two/infer", b'{"inputs": []}', {"Inference-Header-Content-Length": "9999"}, 400, "Inference-Header-Content-Length"),
        ("body over the limit", "/v2/models/two/infer", b" " * (2 * 1024 * 1024), {}, 413, "limit"),
        ("unknown model", "/v2/models/nope/infer", j(good_ids, good_mask), {}, 404, "'nope'"),
        ("unknown version", "/v2/models/two/versions/7/infer", j(good_ids, good_mask), {}, 404, "'7'"),
        ("unknown model metadata", "/v2/models/nope", b"", {}, 404, "'nope'"),
        ("not an object", "/v2/models/two/infer", b"[1, 2]", {}, 400, "inputs"),
        ("bool data for BOOL as ints", "/v2/models/two/infer", j(good_ids, {**good_mask, "data": [1] * 6}), {}, 400, "BOOL"),
    ]
    return [(name, "GET" if path == "/v2/models/nope" else "POST", path, body, headers, code, needle) for name, path, body, headers, code, needle in cases]


def test_every_bad_request_is_a_4xx_json_line_and_the_server_stays_ready(models: Any, tmp_path: Path) -> None:
    target, _, _ = models["two"]
    with serving(target, "--max-request-bytes", str(1024 * 1024), tmp=tmp_path) as srv:
        for name, method, path, body, headers, code, needle in _bad_requests():
            status, resp, h = srv.request(method, path, body or None, headers)
            assert status == code, (name, status, resp)
            assert resp.endswith(b"\n") and resp.count(b"\n") == 1, (name, resp)
            msg = json.loads(resp)
            assert list(msg) == ["error"] and needle in msg["error"], (name, msg)
            assert srv.request("GET", "/v2/health/ready")[0] == 200, name
        # gRPC: the same kinds of faults are INVALID_ARGUMENT / NOT_FOUND, never INTERNAL
        import grpc
        from tritonclient.grpc import service_pb2, service_pb2_grpc

        def req(**kw: Any) -> Any:
            r = service_pb2.ModelInferRequest(model_name=kw.pop("model", "two"))
            r.inputs.add(name="ids", datatype=kw.get("dt", "INT64"), shape=kw.get("shape", [2, 3]))
            r.inputs.add(name="mask", datatype="BOOL", shape=[2, 3])
            r.raw_input_contents.extend([kw.get("raw", bytes(48)), bytes(6)])
            return r

        with grpc.insecure_channel(srv.grpc) as ch:
            stub = service_pb2_grpc.GRPCInferenceServiceStub(ch)
            for kw, code in (({"dt": "FP32"}, "INVALID_ARGUMENT"), ({"shape": [3, 3]}, "INVALID_ARGUMENT"), ({"raw": bytes(40)}, "INVALID_ARGUMENT"), ({"model": "nope"}, "NOT_FOUND"), ({"shape": [10**12, 3]}, "RESOURCE_EXHAUSTED")):
                with pytest.raises(grpc.RpcError) as e:
                    stub.ModelInfer(req(**kw), timeout=10)
                assert e.value.code().name == code, (kw, e.value.details())
            assert stub.ServerReady(service_pb2.ServerReadyRequest(), timeout=10).ready
        err = srv.stderr()
    assert "Traceback" not in err
    n_http = len(_bad_requests()) * 2
    assert err.count(" POST ") + err.count(" GET ") >= n_http  # one access-log line per request


def test_quiet_turns_the_access_log_off(models: Any, tmp_path: Path) -> None:
    target, _, _ = models["two"]
    with serving(target, "--quiet", tmp=tmp_path, grpc=False) as srv:
        assert srv.request("GET", "/v2/health/ready")[0] == 200
        assert srv.request("GET", "/v2/models/nope")[0] == 404
        srv.proc.send_signal(signal.SIGTERM)
        srv.proc.wait(timeout=5)
        assert "/v2/" not in srv.stderr()


@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_stop_signal_ends_the_process_and_frees_both_ports_within_2s(models: Any, tmp_path: Path, sig: int, code: int) -> None:
    target, _, _ = models["two"]
    with serving(target, tmp=tmp_path) as srv:
        # an idle keep-alive connection must not hold the shutdown up
        host, port = srv.http.rsplit(":", 1)
        keep = http.client.HTTPConnection(host, int(port), timeout=10)
        keep.request("GET", "/v2/health/live")
        keep.getresponse().read()
        t0 = time.monotonic()
        srv.proc.send_signal(sig)
        assert srv.proc.wait(timeout=5) == code
        took = time.monotonic() - t0
        keep.close()
        assert took < 2.0, took
        for hp in (srv.http, srv.grpc):
            h, p = hp.rsplit(":", 1)
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((h, int(p)))  # the port is free again
            s.close()
        assert "Traceback" not in srv.stderr() and "stopped by" in srv.stderr()


def test_serve_stubs_coexist_with_tritonclient_grpc_in_one_process() -> None:
    code = "import tritonclient.grpc, irisonnx.serve.grpc_predict_v2_pb2 as p; print(p.ModelInferRequest.DESCRIPTOR.full_name)"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 0 and r.stdout.strip() == "irisonnx.oip.ModelInferRequest", r.stderr


def test_emit_kserve_writes_a_valid_inferenceservice_and_a_pinned_dockerfile(models: Any, tmp_path: Path) -> None:
    yaml = pytest.importorskip("yaml")
    from conftest import run_cli

    target, _, _ = models["run"]
    out = tmp_path / "deploy"
    r = run_cli("serve", str(target), "--name", "Iris_Model", "--emit-kserve", str(out), timeout=120)
    assert r.returncode == 0, r.stderr
    doc = yaml.safe_load((out / "inferenceservice.yaml").read_text())
    assert doc["apiVersion"] == "serving.kserve.io/v1beta1" and doc["kind"] == "InferenceService"
    assert re.fullmatch(r"[a-z]([-a-z0-9]*[a-z0-9])?", doc["metadata"]["name"])  # DNS-1123
    (c,) = doc["spec"]["predictor"]["containers"]
    assert c["name"] == "kserve-container" and c["ports"][0]["containerPort"] == 8080
    assert c["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
    args = c["args"]
    assert args[args.index("--host") + 1] == "0.0.0.0" and "--token-file" in args  # non-loopback needs the token
    assert doc["spec"]["predictor"]["volumes"][0]["secret"]["secretName"] == doc["metadata"]["name"] + "-token"
    sha = json.loads((target / "manifest.json").read_text())["files"]["model.onnx"]["sha256"]
    assert doc["metadata"]["annotations"]["irisonnx/model-sha256"] == sha
    assert yaml.safe_load(yaml.safe_dump(doc)) == doc  # round trip
    reqs = (out / "requirements.txt").read_text().split()
    assert reqs and all(re.fullmatch(r"[A-Za-z0-9_.-]+==[0-9][0-9A-Za-z.+-]*", x) for x in reqs)
    assert {x.split("==")[0] for x in reqs} >= {"onnxruntime", "numpy", "starlette", "uvicorn"} and not any(x.startswith("torch") for x in reqs)
    docker = (out / "Dockerfile").read_text()
    assert re.search(r"^FROM python:\d+\.\d+\.\d+-slim$", docker, re.M) and "USER 10001" in docker
    assert (out / "irisonnx" / "serve" / "rest.py").is_file() and (out / "model" / "model.onnx").read_bytes() == (target / "model.onnx").read_bytes()
    # the emitted model folder is servable as the container would serve it (sha256 checked from its manifest)
    model_arg = Path(args[0]).name
    with serving(out / "model" / model_arg, "--name", "iris", tmp=tmp_path, grpc=False) as srv:
        meta = json.loads(srv.request("GET", "/v2/models/iris")[1])
        assert meta["irisonnx"]["sha256"] == sha and meta["irisonnx"]["validated"] is True


# --- irisonnx serve checked by irisonnx compare (remote: runtime) --------------------------------


@pytest.mark.parametrize("proto", ["http", "grpc"])
def test_compare_passes_against_irisonnx_serve_and_fails_against_an_edited_model(models: Any, proto: str, tmp_path: Path) -> None:
    """The issue's proof: compare RUN --runtimes torch,ort-cpu,remote:URL passes against
    `irisonnx serve RUN`; a server serving an edited copy (one weight moved by 0.5) fails
    with exit 1 and the max abs error, equal to what plain onnxruntime computes."""
    import json

    import onnx
    from onnx import numpy_helper

    run, onnx_file, feeds = models["run"]

    def url(s: Served) -> str:
        return f"remote:http://{s.http}/v2/models/model" if proto == "http" else f"remote:grpc://{s.grpc}/model"

    with serving(run, "--name", "model", "--quiet", tmp=tmp_path) as s:
        r = subprocess.run([sys.executable, "-m", "irisonnx", "compare", str(run), "--runtimes", f"torch,ort-cpu,{url(s)}", "--json", "-q"], capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr
        doc = json.loads(r.stdout)
        remote = next(p for p in doc["pairs"] if p["runtime"].startswith("remote"))
        assert remote["passed"] and all(o["max_abs_error"] <= 1e-5 for o in remote["outputs"])
        r = subprocess.run([sys.executable, "-m", "irisonnx", "compare", str(onnx_file), "--runtimes", f"ort-cpu,{url(s)}", "--exact", "-q"], capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr  # the served bytes are the local bytes: bitwise

    m = onnx.load(str(onnx_file))
    init = max(m.graph.initializer, key=lambda t: int(np.prod(t.dims)))
    w = numpy_helper.to_array(init).copy()
    w.flat[0] += 0.5
    init.CopyFrom(numpy_helper.from_array(w, init.name))
    edited = tmp_path / "edited.onnx"
    onnx.save(m, str(edited))
    with serving(edited, "--name", "model", "--quiet", tmp=tmp_path) as s:
        r = subprocess.run([sys.executable, "-m", "irisonnx", "compare", str(onnx_file), "--runtimes", f"ort-cpu,{url(s)}", "--inputs", "random:200", "--json", "-q"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 1, r.stderr
    doc = json.loads(r.stdout)
    (pair,) = doc["pairs"]
    from irisonnx.compare.inputs import make_feeds
    from irisonnx.modelfile.onnx_io import load_model_safely

    info = load_model_safely(onnx_file)
    feeds200 = make_feeds("random:200", info.signature, seed=0, classifier=True, feature_names=info.feature_names).samples[0]
    worst = max(float(np.max(np.abs(_local(edited, feeds200)[o].astype(np.float64) - _local(onnx_file, feeds200)[o].astype(np.float64)))) for o in ("logits",))
    logits = next(o for o in pair["outputs"] if o["output"] == "logits")
    assert logits["max_abs_error"] == pytest.approx(worst, rel=1e-12) and not logits["passed"]


def test_an_edge_bundle_is_served_with_every_variant_as_a_version(models: Any, tmp_path: Path) -> None:
    """serve BUNDLE: each gated variant is a version; each answers what plain onnxruntime
    computes on that very file, and compare --exact over remote: agrees."""
    run, _, feeds = models["run"]
    bundle = tmp_path / "edge"
    r = subprocess.run([sys.executable, "-m", "irisonnx", "edge", str(run), "--out", str(bundle), "--variants", "fp32,int8-dynamic,fp16", "--bench-rounds", "0"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    with serving(bundle, "--name", "iris", "--no-grpc", "--quiet", tmp=tmp_path, grpc=False) as s:
        status, body, _ = s.request("GET", "/v2/models/iris")
        meta = json.loads(body)
        assert status == 200 and meta["versions"] == ["fp32", "int8-dynamic", "fp16"]
        x = feeds["features"]
        for v in meta["versions"]:
            req = {"inputs": [{"name": "features", "datatype": "FP32", "shape": list(x.shape), "data": x.ravel().tolist()}]}
            status, body, _ = s.request("POST", f"/v2/models/iris/versions/{v}/infer", json.dumps(req).encode(), {"Content-Type": "application/json"})
            assert status == 200, body
            (out,) = json.loads(body)["outputs"]
            got = np.asarray(out["data"], dtype=np.float32).reshape(out["shape"])
            assert np.array_equal(got, _local(bundle / f"model.{v}.onnx", feeds)["logits"]), v
        r = subprocess.run([sys.executable, "-m", "irisonnx", "compare", str(bundle / "model.int8-dynamic.onnx"), "--runtimes", f"ort-cpu,remote:http://{s.http}/v2/models/iris/versions/int8-dynamic", "--exact", "-q"], capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stdout + r.stderr
