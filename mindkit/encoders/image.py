"""ResNet-style CNNs for single- or few-channel images (no torchvision): the kit's small
``cnn`` presets and the standard ResNet-18/34 layouts of the clinical literature (``resnet``)
share one block and one network class."""

from __future__ import annotations

from typing import Sequence

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
    """Stem, then one stage per entry of ``widths``, then global average pooling to
    ``out_dim = widths[-1]``.

    - **Stem**: a ``stem_kernel`` x ``stem_kernel`` conv (stride ``stem_stride``, padding
      ``stem_kernel // 2``) + batch norm + ReLU, then, with ``stem_pool``, a 3x3 stride-2 max
      pool. A stride-2 stem quarters the cost of the full-resolution layers, which dominate on
      small images such as 28x28 digits; the ResNet-18/34 stem is ``stem_kernel=7,
      stem_stride=2, stem_pool=True`` (224 px in, 56 px out).
    - **Stages**: stage ``i`` holds ``blocks[i]`` basic blocks of width ``widths[i]`` (an int
      ``blocks`` gives every stage that many), the first block of every stage after the first
      with stride 2. ResNet-18 is widths ``(64, 128, 256, 512)`` with blocks ``(2, 2, 2, 2)``,
      ResNet-34 the same widths with ``(3, 4, 6, 3)``.

    The blocks are kept in one flat ``stages`` sequence whatever the per-stage counts, so the
    state-dict keys (``stem.0``, ``stages.<k>``) of the small presets do not depend on how their
    block counts are written."""

    def __init__(self, in_channels: int, widths: tuple[int, ...] = (16, 32),
                 blocks: int | Sequence[int] = 1, dropout: float = 0.0, stem_stride: int = 1,
                 stem_kernel: int = 3, stem_pool: bool = False) -> None:
        super().__init__()
        widths = tuple(int(w) for w in widths)
        if not widths:
            raise ValueError("ResNetCNN needs at least one stage width")
        per_stage = ((int(blocks),) * len(widths) if isinstance(blocks, int)
                     else tuple(int(b) for b in blocks))
        if len(per_stage) != len(widths) or min(per_stage) < 1:
            raise ValueError(f"blocks must be a positive int or one positive count per stage "
                             f"({len(widths)} stages for widths {widths}), got {blocks!r}")
        if stem_kernel < 1 or stem_kernel % 2 == 0:
            raise ValueError(f"stem_kernel must be a positive odd number, got {stem_kernel}")
        stem: list[nn.Module] = [
            nn.Conv2d(in_channels, widths[0], stem_kernel, stem_stride, stem_kernel // 2,
                      bias=False),
            nn.BatchNorm2d(widths[0]),
            nn.ReLU(),
        ]
        if stem_pool:
            stem.append(nn.MaxPool2d(3, 2, 1))
        self.stem = nn.Sequential(*stem)
        layers, cin = [], widths[0]
        for i, (w, n) in enumerate(zip(widths, per_stage)):
            for b in range(n):
                layers.append(BasicBlock(cin, w, stride=2 if (i > 0 and b == 0) else 1))
                cin = w
        self.stages = nn.Sequential(*layers)
        self.drop = nn.Dropout(dropout)
        self.out_dim = cin
        self.blocks_per_stage = per_stage

    def tokens(self, x: Tensor, lengths: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """The last feature map as tokens ``[B, H'*W', out_dim]`` (row-major positions) and an
        all-True mask: the input of token fusions (pooled bottlenecks). ResNet-18/34 at 224 px:
        a 7x7 map, 49 tokens of width 512."""
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
