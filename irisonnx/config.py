"""Frozen configuration dataclasses, stored as JSON next to the weights, and the one table of
limits every numeric setting is checked against (the CLI's flags and the library's configs
alike: :data:`LIMITS`, :func:`check_number`). Stdlib only."""

from __future__ import annotations

import dataclasses
import math
import numbers
import re
from dataclasses import dataclass
from typing import Any

from irisonnx.errors import ArtifactError, UsageError

__all__ = ["ModelConfig", "TrainConfig", "ACTIVATIONS", "OPTIMIZERS", "LIMITS", "Limit", "check_number", "parse_number", "parse_int", "from_dict", "to_dict"]

ACTIVATIONS = ("relu", "tanh", "gelu", "silu", "sigmoid")
OPTIMIZERS = ("adam", "sgd")

SEED_MAX = 2**32 - 1  # numpy's seeds are 32-bit
MAX_LAYERS = 64
MAX_PARAMETERS = 50_000_000  # weights and biases of the MLP: 200 MB of float32, 3x that with Adam


# What a number looks like in a CSV cell, in --values and in a numeric flag: ASCII digits, an
# optional sign, point and exponent, or nan/inf (refused later as not finite, by name).
# Python's float() and int() also take "1_000" and full-width or other Unicode digits ("１２"):
# a spreadsheet or another reader would not, so neither does irisonnx.
_NUMBER = re.compile(r"[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|nan|inf|infinity)", re.IGNORECASE | re.ASCII)
_INT = re.compile(r"[+-]?[0-9]+", re.ASCII)


def parse_number(text: str) -> float:
    """``float(text)`` for the syntax above (surrounding whitespace allowed); ValueError otherwise."""
    t = text.strip()
    if not _NUMBER.fullmatch(t):
        raise ValueError(f"not a number: {text!r}")
    return float(t)


def parse_pair(text: str) -> tuple[float, float] | None:
    """``A,B`` -> two finite numbers (the syntax above), or None: the one parser behind
    ``--input-range NAME=LO,HI``, ``--output-tol OUTPUT=ATOL,RTOL`` and ``--int8-tol ATOL,RTOL``;
    each caller names its flag and checks its own range."""
    a_s, comma, b_s = text.partition(",")
    try:
        a, b = parse_number(a_s), parse_number(b_s)
    except ValueError:
        return None
    return (a, b) if comma and math.isfinite(a) and math.isfinite(b) else None


def parse_named_pair(text: str) -> tuple[str, tuple[float, float]] | None:
    """``NAME=A,B`` -> (NAME, (A, B)), or None when malformed."""
    name, eq, rest = text.rpartition("=")
    pair = parse_pair(rest) if eq and name.strip() else None
    return (name.strip(), pair) if pair is not None else None


def parse_int(text: str) -> int:
    """``int(text)`` for ASCII digits with an optional sign; ValueError otherwise."""
    t = text.strip()
    if not _INT.fullmatch(t) or len(t) > 40:
        raise ValueError(f"not an integer: {text!r}")
    return int(t)


@dataclass(frozen=True)
class Limit:
    """What a numeric setting may be: an int or a finite float within [lo, hi] (open ends
    where ``lo_open``/``hi_open``)."""

    kind: type
    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False

    def problem(self, v: Any) -> str | None:
        if isinstance(v, bool) or not isinstance(v, numbers.Real if self.kind is float else numbers.Integral):
            return f"is not {'a number' if self.kind is float else 'an integer'}"
        if isinstance(v, float) and not math.isfinite(v):
            return "is not finite"
        low = self.lo is not None and (v <= self.lo if self.lo_open else v < self.lo)
        high = self.hi is not None and (v >= self.hi if self.hi_open else v > self.hi)
        if low or high:
            if self.hi is None:
                return f"must be {'>' if self.lo_open else '>='} {self.lo:g}"
            if self.lo is None:
                return f"must be {'<' if self.hi_open else '<='} {self.hi:g}"
            lo_s, hi_s = (f"{self.lo:g}", f"{self.hi:g}") if self.kind is float else (str(int(self.lo)), str(int(self.hi)))
            return f"must be {'over' if self.lo_open else 'at least'} {lo_s} and {'under' if self.hi_open else 'at most'} {hi_s}"
        return None


# Every numeric setting, by name. The CLI's flags use these through irisonnx.cli.number().
LIMITS: dict[str, Limit] = {
    "seed": Limit(int, 0, SEED_MAX),
    "epochs": Limit(int, 1, 1_000_000),
    "batch_size": Limit(int, 1, 2**24),
    "lr": Limit(float, 0, None, lo_open=True),
    "momentum": Limit(float, 0, 1, hi_open=True),
    "weight_decay": Limit(float, 0),
    "checkpoint_every": Limit(int, 1, 1_000_000),
    "keep_checkpoints": Limit(int, 1, 10_000),
    "test_fraction": Limit(float, 0, 1, lo_open=True, hi_open=True),
    "hidden": Limit(int, 1, 65_536),  # units of one hidden layer
    "tolerance": Limit(float, 0),  # atol, rtol
    "fraction": Limit(float, 0, 1),  # accuracy drops
    "agreement": Limit(float, 0),  # edge gates; above 1 is a gate no variant meets (exit 1), not an error
    "rows": Limit(int, 1, 2**31 - 1),  # rows per chunk, batch sizes of other commands
    "random_rows": Limit(int, 1, 100_000_000),  # compare --inputs random:N, made in memory (1.6 GB at 4 features)
    "count": Limit(int, 0, 1_000_000_000),  # random rows, rounds, warm-up calls
    "positive_count": Limit(int, 1, 1_000_000_000),  # repeats, timed calls
    "threads": Limit(int, 0, 4096),
    "clients": Limit(int, 1, 1024),  # bench --clients: concurrent client threads for remote: runtimes
    "ulp": Limit(int, 0, 2**32),
    "opset": Limit(int, 1, 1000),
    "input_mb": Limit(int, 1, 1 << 20),  # --max-input-mb
    "port": Limit(int, 0, 65535),  # serve --port/--grpc-port (0: any free port)
    "request_bytes": Limit(int, 1024, 1 << 34),  # serve --max-request-bytes
    "serve_threads": Limit(int, 1, 1024),  # serve --threads
}


def check_number(name: str, value: Any, label: str | None = None) -> Any:
    """``value`` if it is within ``LIMITS[name]``, else a UsageError naming ``label`` (a flag)."""
    why = LIMITS[name].problem(value)
    if why:
        raise UsageError(f"bad {label or name.replace('_', ' ')}", f"{value!r} {why}")
    return value


@dataclass(frozen=True)
class ModelConfig:
    """The MLP's shape. The model is rebuilt from this: ``MLP(ModelConfig(**d))``."""

    n_features: int
    n_classes: int
    hidden: tuple[int, ...] = (16,)
    activation: str = "relu"

    def __post_init__(self) -> None:
        if not isinstance(self.hidden, (list, tuple)) or not 1 <= len(self.hidden) <= MAX_LAYERS:
            raise UsageError("bad hidden sizes", repr(self.hidden), f"give 1 to {MAX_LAYERS} layer sizes")
        for h in self.hidden:
            check_number("hidden", h, "hidden size")
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))
        check_number("hidden", self.n_features, "number of features")
        check_number("hidden", self.n_classes, "number of classes")
        sizes = [self.n_features, *self.hidden, self.n_classes]
        n_params = sum((a + 1) * b for a, b in zip(sizes, sizes[1:]))
        if n_params > MAX_PARAMETERS:
            raise UsageError("bad hidden sizes", f"{list(self.hidden)} make {n_params:,} parameters", f"at most {MAX_PARAMETERS:,}")
        if self.activation not in ACTIVATIONS:
            raise UsageError("unknown activation", repr(self.activation), f"choose one of {', '.join(ACTIVATIONS)}")
        if self.n_features < 1 or self.n_classes < 2:
            raise UsageError("bad model shape", f"n_features={self.n_features}, n_classes={self.n_classes}")
        if any(h < 1 for h in self.hidden):
            raise UsageError("bad hidden sizes", repr(self.hidden), "every layer needs at least one unit")


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings. ``epochs`` and checkpoint cadence may change on resume; the rest may not."""

    epochs: int = 100
    batch_size: int = 16
    lr: float = 0.01
    optimizer: str = "adam"
    momentum: float = 0.9
    weight_decay: float = 0.0
    seed: int = 0
    checkpoint_every: int = 5
    keep_checkpoints: int = 3

    # Fields that may differ between a stopped run and its resumption.
    RESUMABLE_CHANGES = ("epochs", "checkpoint_every", "keep_checkpoints")

    def __post_init__(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise UsageError("unknown optimizer", repr(self.optimizer), f"choose one of {', '.join(OPTIMIZERS)}")
        for name in ("epochs", "batch_size", "lr", "momentum", "weight_decay", "seed", "checkpoint_every", "keep_checkpoints"):
            check_number(name, getattr(self, name))


def to_dict(cfg: Any) -> dict[str, Any]:
    d = dataclasses.asdict(cfg)
    return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}


def from_dict(cls: type, d: dict[str, Any]) -> Any:
    """Build a config from stored JSON, ignoring keys a newer version may have added. A value
    out of its limits there (a tampered ``hidden: [2147483648]``) is a bad artifact (exit 3)."""
    if not isinstance(d, dict):
        raise ArtifactError(f"stored {cls.__name__} is not a JSON object", repr(d)[:80])
    names = {f.name for f in dataclasses.fields(cls)}
    try:
        return cls(**{k: v for k, v in d.items() if k in names})
    except UsageError as exc:
        raise ArtifactError(f"stored {cls.__name__} is invalid", str(exc), "the file was modified or is not irisonnx's") from None
    except TypeError as exc:  # a required field missing
        raise ArtifactError(f"stored {cls.__name__} is incomplete", str(exc)) from None


def diff(a: Any, b: Any, ignore: tuple[str, ...] = ()) -> list[str]:
    """Human-readable differences between two configs of the same class."""
    da, db = to_dict(a), to_dict(b)
    return [f"{k}: {da[k]!r} -> {db[k]!r}" for k in da if k not in ignore and da[k] != db.get(k)]


