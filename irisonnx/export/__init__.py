"""The export stage: torch -> ONNX (export: a trained run; export_module: any torch module),
then the parity check (runs runtimes and uses compare's stats)."""
