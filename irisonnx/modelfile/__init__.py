"""The ONNX model file: load it safely, its metadata schema and description (onnx_io),
its signature (inputs/outputs: name, type, shape) and graph surgery (graph: expose intermediates)."""
