"""A small ResNet-style CNN for single- or few-channel images (no torchvision)."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with batch norm and an identity (or 1x1 projected) shortcut."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.short = (
            nn.Identity()
            if stride == 1 and cin == cout
            else nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
        )

    def forward(self, x: Tensor) -> Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return torch.relu(out + self.short(x))


class ResNetCNN(nn.Module):
    """Stem conv (stride ``stem_stride``), then one stage per entry of ``widths`` (stride 2
    after the first), each of ``blocks`` basic blocks, then global average pooling to
    ``out_dim = widths[-1]``. A stride-2 stem quarters the cost of the full-resolution layers,
    which dominate on small images such as 28x28 digits."""

    def __init__(self, in_channels: int, widths: tuple[int, ...] = (16, 32), blocks: int = 1,
                 dropout: float = 0.0, stem_stride: int = 1) -> None:
        super().__init__()
        if not widths:
            raise ValueError("ResNetCNN needs at least one stage width")
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, widths[0], 3, stem_stride, 1, bias=False),
            nn.BatchNorm2d(widths[0]),
            nn.ReLU(),
        )
        layers, cin = [], widths[0]
        for i, w in enumerate(widths):
            for b in range(blocks):
                layers.append(BasicBlock(cin, w, stride=2 if (i > 0 and b == 0) else 1))
                cin = w
        self.stages = nn.Sequential(*layers)
        self.drop = nn.Dropout(dropout)
        self.out_dim = cin

    def tokens(self, x: Tensor, lengths: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """The last feature map as tokens ``[B, H'*W', out_dim]`` (row-major positions) and an
        all-True mask: the input of token fusions (pooled bottlenecks)."""
        if x.dim() != 4:
            raise ValueError(f"ResNetCNN expects images [B, C, H, W], got shape {tuple(x.shape)}")
        h = self.stages(self.stem(x))
        h = h.flatten(2).transpose(1, 2)
        return h, torch.ones(h.shape[:2], dtype=torch.bool, device=h.device)

    def pool(self, h: Tensor, mask: Tensor) -> Tensor:
        """Features from :meth:`tokens`: global average pooling, then dropout."""
        return self.drop(h.mean(dim=1))

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        return self.pool(*self.tokens(x, lengths))
