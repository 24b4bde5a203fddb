"""Chest X-rays: reading one JPG into a small greyscale array, the train-time augmentation, and
finding ``<dicom_id>.jpg`` below the CXR root."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import torch

from mindkit.data.mimic.layout import CXR_LAYOUT


def default_resize(image_size: int) -> int:
    return int(round(image_size * 256 / 224))


def load_cxr_image(path: str | os.PathLike, image_size: int = 64,
                   resize: int | None = None) -> np.ndarray:
    """One chest X-ray as uint8 ``[S, S]``: greyscale, shorter side to ``resize``, centre crop."""
    from PIL import Image, UnidentifiedImageError

    resize = default_resize(image_size) if resize is None else int(resize)
    if resize < image_size:
        raise ValueError(f"resize ({resize}) must be >= image_size ({image_size})")
    try:
        with Image.open(path) as im:
            im.draft("L", (resize, resize))  # JPEG: decode at a reduced scale (>= the request)
            im = im.convert("L")
            w, h = im.size
            r = resize / min(w, h)
            size = (max(resize, round(w * r)), max(resize, round(h * r)))
            im = im.resize(size, Image.Resampling.BILINEAR)
            left, top = (size[0] - image_size) // 2, (size[1] - image_size) // 2
            im = im.crop((left, top, left + image_size, top + image_size))
            return np.asarray(im, dtype=np.uint8)
    except FileNotFoundError:
        raise FileNotFoundError(
            f"image {path} does not exist; expected layout:\n{CXR_LAYOUT}") from None
    except (UnidentifiedImageError, OSError) as e:
        raise ValueError(f"{path}: not a readable image ({e})") from None


def augment_cxr(
    x: torch.Tensor,
    generator: torch.Generator | None = None,
    present: torch.Tensor | None = None,
    degrees: float = 10.0,
    translate: float = 0.1,
    scale: tuple[float, float] = (0.9, 1.1),
    brightness: float = 0.1,
    contrast: float = 0.1,
) -> torch.Tensor:
    """Train-time augmentation of a batch of images ``[B, C, H, W]`` in ``[0, 1]`` (new tensor).

    A random affine per image (rotation in ``+-degrees``, shift up to ``translate`` of the
    size, zoom in ``scale``; zero fill, bilinear) then brightness / contrast jitter, clipped to
    ``[0, 1]``. No flips (the heart's side matters). MedFuse trains with ``degrees=45,
    translate=0.15, scale=(0.85, 1.15)`` and no jitter. Rows where ``present`` is False are
    returned unchanged (absent images stay zero).
    """
    if x.dim() != 4:
        raise ValueError(f"augment_cxr expects [B, C, H, W], got shape {tuple(x.shape)}")
    b = x.shape[0]
    dev = x.device

    def u(lo: float, hi: float) -> torch.Tensor:
        return (lo + (hi - lo) * torch.rand(b, generator=generator)).to(dev)

    ang = u(-degrees, degrees) * math.pi / 180
    s = u(scale[0], scale[1])
    tx, ty = u(-translate, translate) * 2, u(-translate, translate) * 2
    cos, sin = torch.cos(ang) / s, torch.sin(ang) / s
    theta = torch.stack([torch.stack([cos, -sin, tx], 1), torch.stack([sin, cos, ty], 1)], 1)
    grid = torch.nn.functional.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
    out = torch.nn.functional.grid_sample(x, grid, mode="bilinear", padding_mode="zeros",
                                          align_corners=False)
    c = u(1 - contrast, 1 + contrast).view(-1, 1, 1, 1)
    br = u(-brightness, brightness).view(-1, 1, 1, 1)
    mean = out.mean(dim=(1, 2, 3), keepdim=True)
    out = ((out - mean) * c + mean + br).clamp(0.0, 1.0)
    if present is not None:
        keep = present.to(dev).view(-1, 1, 1, 1)
        out = torch.where(keep, out, x)
    return out


class ImageFinder:
    """Locates ``<dicom_id>.jpg`` below the CXR root: common places first, then a full walk."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._index: dict[str, Path] | None = None

    def find(self, dicom: str, subject: int, study: int) -> Path | None:
        if self._index is None:
            sub = str(subject)
            for p in (
                self.root / "resized" / f"{dicom}.jpg",
                self.root / f"{dicom}.jpg",
                self.root / "files" / f"p{sub[:2]}" / f"p{sub}" / f"s{study}" / f"{dicom}.jpg",
            ):
                if p.is_file():
                    return p
            self._index = {}
            for dirpath, _dirs, files in os.walk(self.root):
                for f in files:
                    if f.endswith(".jpg"):
                        self._index.setdefault(f[:-4], Path(dirpath) / f)
        return self._index.get(dicom)
