"""The one nn.Module: an MLP with input standardisation inside, so graphs take raw measurements."""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from irisonnx.config import ModelConfig

__all__ = ["MLP"]

_ACT = {"relu": nn.ReLU, "tanh": nn.Tanh, "gelu": nn.GELU, "silu": nn.SiLU, "sigmoid": nn.Sigmoid}


class MLP(nn.Module):
    """``(x - mean) / std`` then Linear-act-...-Linear; returns logits."""

    def __init__(self, cfg: ModelConfig, mean: Sequence[float] | None = None, std: Sequence[float] | None = None) -> None:
        super().__init__()
        self.cfg = cfg
        mean_t = torch.zeros(cfg.n_features) if mean is None else torch.tensor(mean, dtype=torch.float32)
        std_t = torch.ones(cfg.n_features) if std is None else torch.tensor(std, dtype=torch.float32)
        # A constant feature has std 0; dividing by 1 keeps it finite (it is then just centred).
        std_t = torch.where(std_t > 0, std_t, torch.ones_like(std_t))
        self.register_buffer("mean", mean_t)  # (n_features,)
        self.register_buffer("std", std_t)  # (n_features,)
        layers: list[nn.Module] = []
        width = cfg.n_features
        for h in cfg.hidden:
            layers += [nn.Linear(width, h), _ACT[cfg.activation]()]
            width = h
        layers.append(nn.Linear(width, cfg.n_classes))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (batch, n_features) -> (batch, n_classes)
        return self.net((x - self.mean) / self.std)
