"""Size presets per input kind and the encoder factory.

The kit's own presets (``xs``/``s``/``m``/``l`` of every arch) are sized for a laptop CPU. The
``resnet`` arch holds the image encoders of the clinical literature instead (MedFuse trains
ResNet-34 on 224-pixel chest X-rays): sizes ``"18"`` and ``"34"`` are the standard ResNet-18/34
bodies (torchvision's layout without its classifier, ``in_channels`` from the modality spec), so
``UnimodalNet(spec, n, size="34", arch="resnet")`` is a MedFuse-sized image teacher and saves
and reloads through its config like any other model."""

from __future__ import annotations

from torch import nn

from mindkit.data.base import ModalitySpec
from mindkit.encoders.image import ResNetCNN
from mindkit.encoders.sequence import RNNEncoder, TokenEncoder, TransformerEncoder
from mindkit.encoders.tabular import TabularMLP

SIZES = ("xs", "s", "m", "l")

# Per architecture, the constructor keywords of each size. Teachers of "several sizes" pick
# three of these; the student uses a small one.
PRESETS: dict[str, dict[str, dict]] = {
    "cnn": {
        "xs": {"widths": (8, 16), "blocks": 1, "stem_stride": 2},
        "s": {"widths": (16, 32), "blocks": 1, "stem_stride": 2},
        "m": {"widths": (24, 48, 64), "blocks": 1, "stem_stride": 2},
        "l": {"widths": (32, 64, 96), "blocks": 2, "stem_stride": 1},
    },
    # standard ResNet bodies: 7x7 stride-2 stem + 3x3 stride-2 max pool, four stages of basic
    # blocks (stride 2 at the first block of stages 2-4), global average pooling; at 224 px the
    # last feature map is 7x7 (49 tokens of width 512). A separate arch rather than more "cnn"
    # sizes, so the cnn sizes (and their preset table) stay the small, growing series they are.
    "resnet": {
        "18": {"widths": (64, 128, 256, 512), "blocks": (2, 2, 2, 2), "stem_stride": 2,
               "stem_kernel": 7, "stem_pool": True},
        "34": {"widths": (64, 128, 256, 512), "blocks": (3, 4, 6, 3), "stem_stride": 2,
               "stem_kernel": 7, "stem_pool": True},
    },
    "gru": {
        "xs": {"hidden": 32, "layers": 1},
        "s": {"hidden": 64, "layers": 1},
        "m": {"hidden": 96, "layers": 2},
        "l": {"hidden": 128, "layers": 2},
    },
    "lstm": {
        "xs": {"hidden": 32, "layers": 1},
        "s": {"hidden": 64, "layers": 1},
        "m": {"hidden": 96, "layers": 2},
        "l": {"hidden": 128, "layers": 2},
    },
    "transformer": {
        "xs": {"d_model": 32, "layers": 1, "heads": 2},
        "s": {"d_model": 64, "layers": 2, "heads": 4},
        "m": {"d_model": 96, "layers": 3, "heads": 4},
        "l": {"d_model": 128, "layers": 4, "heads": 8},
    },
    "mlp": {
        "xs": {"hidden": 32, "layers": 1},
        "s": {"hidden": 64, "layers": 2},
        "m": {"hidden": 128, "layers": 2},
        "l": {"hidden": 256, "layers": 3},
    },
}

DEFAULT_ARCH = {"image": "cnn", "sequence": "gru", "timeseries": "gru", "tabular": "mlp",
                "tokens": "transformer"}
ARCHS_FOR_KIND = {
    "image": ("cnn", "resnet"),
    "sequence": ("gru", "lstm", "transformer"),
    "timeseries": ("gru", "lstm", "transformer"),
    "tabular": ("mlp",),
    "tokens": ("transformer", "gru", "lstm"),
}


def build_encoder(spec: ModalitySpec, size: str = "s", arch: str | None = None,
                  dropout: float = 0.0) -> nn.Module:
    """An encoder for modality ``spec`` at preset ``size``; ``arch`` defaults by kind (images:
    ``cnn``; ``arch="resnet"`` with ``size="18"``/``"34"`` for the ResNet-18/34 bodies)."""
    arch = arch or DEFAULT_ARCH[spec.kind]
    if arch not in ARCHS_FOR_KIND[spec.kind]:
        raise ValueError(
            f"modality {spec.name!r} is of kind {spec.kind!r}; arch {arch!r} does not fit it, "
            f"use one of {ARCHS_FOR_KIND[spec.kind]}"
        )
    if size not in PRESETS[arch]:
        raise ValueError(f"unknown size {size!r} for {arch}; use one of {sorted(PRESETS[arch])}")
    kw = dict(PRESETS[arch][size])
    if spec.kind == "tokens":
        # embeddings as wide as the body's input, then the sequence body over them
        embed = kw.get("d_model", kw.get("hidden", 32))
        inner = ModalitySpec(spec.name, "sequence", (spec.shape[0], embed), True)
        return TokenEncoder(spec.vocab_size, embed, build_encoder(inner, size, arch, dropout))
    if arch in ("cnn", "resnet"):
        return ResNetCNN(spec.channels, dropout=dropout, **kw)
    if arch in ("gru", "lstm"):
        return RNNEncoder(spec.channels, cell=arch, dropout=dropout, **kw)
    if arch == "transformer":
        return TransformerEncoder(spec.channels, max_len=max(512, spec.shape[0]),
                                  dropout=dropout, **kw)
    return TabularMLP(spec.channels, dropout=dropout, **kw)


def count_parameters(module: nn.Module, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


def preset_table(spec: ModalitySpec, arch: str | None = None) -> list[dict]:
    """One row per size: the preset's keywords and its encoder's parameter count."""
    arch = arch or DEFAULT_ARCH[spec.kind]
    return [
        {"modality": spec.name, "arch": arch, "size": size, "params": count_parameters(
            build_encoder(spec, size, arch)), **{k: str(v) for k, v in PRESETS[arch][size].items()}}
        for size in PRESETS[arch]
    ]
