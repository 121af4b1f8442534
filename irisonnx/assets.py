"""Files irisonnx ships besides its code: the bundled Iris CSV and the browser runtime's page,
driver and npm lock file.

An installed wheel has them in ``irisonnx/_assets/`` (setup.py copies them there at build
time); a checkout has them at their home, ``datastore/raw/iris.csv`` and ``web/``. The
packaged copy wins when both exist.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["asset", "checkout_root", "default_datastore"]

_PKG = Path(__file__).resolve().parent
_HOME = {"iris.csv": "datastore/raw/iris.csv", "web": "web"}


def checkout_root() -> Path | None:
    """The source tree this package runs from, or None for an installed package."""
    root = _PKG.parent
    return root if (root / "pyproject.toml").is_file() and (root / "web" / "driver.mjs").is_file() else None


def asset(name: str) -> Path:
    """``iris.csv`` or ``web`` (a folder): the packaged copy, else the checkout's. The path
    may not exist (a checkout with the file deleted); callers say what is missing."""
    packaged = _PKG / "_assets" / name
    if packaged.exists():
        return packaged
    root = checkout_root()
    return root / _HOME[name] if root is not None else packaged


def default_datastore() -> Path:
    """``$IRISONNX_DATASTORE``, else ``./datastore``, else (run from a checkout) the one beside
    the source tree. An installed package uses ``./datastore`` in the current folder (made on
    first use); the Iris CSV then comes from the package (:func:`iris_text`)."""
    env = os.environ.get("IRISONNX_DATASTORE")
    if env:
        return Path(env)
    local = Path("datastore")
    if local.is_dir():
        return local
    root = checkout_root()
    beside = root / "datastore" if root is not None else None
    return beside if beside is not None and beside.is_dir() else local
