"""Frozen configuration dataclasses, stored as JSON next to the weights. Stdlib only."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from irisonnx.errors import UsageError

__all__ = ["DataConfig", "ModelConfig", "TrainConfig", "ACTIVATIONS", "OPTIMIZERS", "from_dict", "to_dict"]

ACTIVATIONS = ("relu", "tanh", "gelu", "silu", "sigmoid")
OPTIMIZERS = ("adam", "sgd")


@dataclass(frozen=True)
class DataConfig:
    """Where the dataset comes from and how it is split."""

    name: str = "iris"
    test_fraction: float = 0.2
    split_seed: int = 42

    def __post_init__(self) -> None:
        if not 0.0 < self.test_fraction < 1.0:
            raise UsageError("bad test fraction", f"{self.test_fraction!r}", "use a value strictly between 0 and 1")


@dataclass(frozen=True)
class ModelConfig:
    """The MLP's shape. The model is rebuilt from this: ``MLP(ModelConfig(**d))``."""

    n_features: int
    n_classes: int
    hidden: tuple[int, ...] = (16,)
    activation: str = "relu"

    def __post_init__(self) -> None:
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))
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
        for name in ("epochs", "batch_size", "checkpoint_every", "keep_checkpoints"):
            if getattr(self, name) < 1:
                raise UsageError(f"bad {name.replace('_', ' ')}", repr(getattr(self, name)), "use a positive integer")
        if not self.lr > 0:
            raise UsageError("bad learning rate", repr(self.lr), "use a positive number")


def to_dict(cfg: Any) -> dict[str, Any]:
    d = dataclasses.asdict(cfg)
    return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}


def from_dict(cls: type, d: dict[str, Any]) -> Any:
    """Build a config from JSON, ignoring keys a newer version may have added."""
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in d.items() if k in names})


def diff(a: Any, b: Any, ignore: tuple[str, ...] = ()) -> list[str]:
    """Human-readable differences between two configs of the same class."""
    da, db = to_dict(a), to_dict(b)
    return [f"{k}: {da[k]!r} -> {db[k]!r}" for k in da if k not in ignore and da[k] != db.get(k)]


