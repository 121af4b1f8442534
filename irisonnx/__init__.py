"""irisonnx: from PyTorch training to edge deployment, with numbers that prove parity."""

__all__ = ["__version__"]

__version__ = "0.1.0"
