"""The ONNX model file: load it safely, its metadata schema (onnx_io), its description for
inspect (describe), its signature (inputs/outputs: name, type, shape) and graph surgery
(graph: expose intermediates)."""
