"""A plain KServe model server for an ONNX file through onnxruntime: the peer that irisonnx's
``remote:`` runtime is tested and benchmarked against (a server irisonnx did not write).

Run as a script, never imported by the tests: kserve and tritonclient.grpc register the same
protobuf messages and cannot live in one process.

    python tests/kserve_onnx_server.py HTTP_PORT GRPC_PORT NAME=MODEL.onnx [NAME=MODEL.onnx ...]

Written the way KServe's documentation writes a custom model (a ``kserve.Model`` whose
``predict`` takes an ``InferRequest``); outputs are set as raw bytes (``binary_data=True``)
because kserve's gRPC response fails with INTERNAL for multi-element arrays otherwise, and
as JSON on REST when the client did not ask for binary outputs.
"""

from __future__ import annotations

import logging
import sys

import numpy as np
import onnxruntime as ort

import kserve
from kserve import InferOutput, InferRequest, InferResponse

_DT = {"tensor(float)": "FP32", "tensor(double)": "FP64", "tensor(float16)": "FP16", "tensor(int64)": "INT64", "tensor(int32)": "INT32",
       "tensor(int16)": "INT16", "tensor(int8)": "INT8", "tensor(uint8)": "UINT8", "tensor(bool)": "BOOL"}
_NP = {np.dtype(np.float32): "FP32", np.dtype(np.float64): "FP64", np.dtype(np.float16): "FP16", np.dtype(np.int64): "INT64", np.dtype(np.int32): "INT32",
       np.dtype(np.int16): "INT16", np.dtype(np.int8): "INT8", np.dtype(np.uint8): "UINT8", np.dtype(np.bool_): "BOOL"}


def _meta(args):
    return [{"name": a.name, "datatype": _DT[a.type], "shape": [d if isinstance(d, int) else -1 for d in a.shape]} for a in args]


class OnnxModel(kserve.Model):
    def __init__(self, name: str, path: str) -> None:
        super().__init__(name)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        self.session = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
        self.ready = True

    def get_input_types(self):
        return _meta(self.session.get_inputs())

    def get_output_types(self):
        return _meta(self.session.get_outputs())

    def predict(self, payload: InferRequest, headers=None, response_headers=None) -> InferResponse:
        feeds = {i.name: i.as_numpy() for i in payload.inputs}
        names = [o.name for o in self.session.get_outputs()]
        outs = []
        binary = payload.from_grpc or payload.use_binary_outputs or any((r.parameters or {}).get("binary_data") for r in (payload.request_outputs or []))
        for name, arr in zip(names, self.session.run(None, feeds)):
            out = InferOutput(name=name, shape=list(arr.shape), datatype=_NP[arr.dtype])
            out.set_data_from_numpy(arr, binary_data=bool(binary))
            outs.append(out)
        return InferResponse(response_id=payload.id or "", model_name=self.name, infer_outputs=outs, from_grpc=payload.from_grpc)


if __name__ == "__main__":
    http_port, grpc_port = int(sys.argv[1]), int(sys.argv[2])
    models = [OnnxModel(*arg.split("=", 1)) for arg in sys.argv[3:]]
    logging.getLogger().setLevel(logging.WARNING)
    kserve.ModelServer(http_port=http_port, grpc_port=grpc_port, workers=1, enable_latency_logging=False).start(models)
