"""``irisonnx serve``: a model over the Open Inference Protocol (KServe v2), REST and gRPC.

protocol.py (datatypes, metadata, strict tensor decoding), models.py (what is served),
rest.py (Starlette app), grpc_server.py (grpcio service), server.py (start, stop, signals),
kserve.py (--emit-kserve). Needs the ``serve`` extra: starlette, uvicorn, grpcio, protobuf.
"""
