"""A small CNN for the README's "Your own model" walk-through: ``build`` is the FACTORY of
``irisonnx export --module examples/tiny_cnn.py:build`` and ``compare --module``.

A real factory loads its trained weights (``model.load_state_dict(safetensors.torch.load_file(...))``);
this one seeds its initialisation, so every run builds the same weights without a weights file.
"""

import torch
from torch import nn


class TinyCNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, kernel_size=3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.fc = nn.Linear(4 * 14 * 14, 10)

    def forward(self, image: torch.Tensor) -> torch.Tensor:  # image: (batch, 1, 28, 28)
        x = self.pool(torch.relu(self.conv(image)))  # (batch, 4, 14, 14)
        return self.fc(x.flatten(1))  # (batch, 10)


def build() -> nn.Module:
    torch.manual_seed(0)
    return TinyCNN().eval()
