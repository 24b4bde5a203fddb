"""The clinical-scale image encoders (issue 20, item 6): the ``resnet`` presets are the standard
ResNet-18/34 bodies (layer shapes and parameter counts checked against a hand calculation and
torchvision's published totals), give 49 tokens of width 512 at 224 px for the token fusions,
train and round-trip through a checkpoint; the small ``cnn`` presets are unchanged."""

from __future__ import annotations

import pytest
import torch

from mindkit.data.base import ModalitySpec
from mindkit.encoders import PRESETS, build_encoder, count_parameters, preset_table
from mindkit.encoders.image import ResNetCNN
from mindkit.fusion.bottleneck import BottleneckFusion
from mindkit.models.unimodal import UnimodalNet
from mindkit.train import load_model, save_model

CXR = ModalitySpec("cxr", "image", (1, 224, 224))
WIDTHS = (64, 128, 256, 512)
LAYOUTS = {"18": (2, 2, 2, 2), "34": (3, 4, 6, 3)}


def hand_count(in_channels: int, blocks: tuple[int, ...]) -> int:
    """Parameters of a standard ResNet body (no classifier), counted layer by layer: a 7x7 stem
    conv without bias + batch norm (weight and bias per channel); per basic block two 3x3 convs
    without bias, each followed by batch norm, plus a 1x1 projection + batch norm where the
    block changes stride or width (the first block of stages 2-4)."""
    n = in_channels * 64 * 7 * 7 + 2 * 64
    cin = 64
    for stage, (w, count) in enumerate(zip(WIDTHS, blocks)):
        for b in range(count):
            n += 9 * cin * w + 2 * w + 9 * w * w + 2 * w
            if (stage > 0 and b == 0) or cin != w:
                n += cin * w + 2 * w
            cin = w
    return n


def test_resnet_parameter_counts_match_the_standard_layouts():
    # torchvision's totals (3 channels, 1000-class head): resnet18 11,689,512 and resnet34
    # 21,797,672; without the head (512 * 1000 + 1000) and with one input channel instead of
    # three (the stem conv loses 2 * 64 * 7 * 7 = 6,272 weights)
    head, stem_diff = 512 * 1000 + 1000, 2 * 64 * 7 * 7
    assert hand_count(3, LAYOUTS["18"]) == 11_689_512 - head == 11_176_512
    assert hand_count(3, LAYOUTS["34"]) == 21_797_672 - head == 21_284_672
    expected = {"18": 11_689_512 - head - stem_diff, "34": 21_797_672 - head - stem_diff}
    assert expected == {"18": 11_170_240, "34": 21_278_400}
    for size, blocks in LAYOUTS.items():
        enc = build_encoder(CXR, size, "resnet")
        assert count_parameters(enc) == hand_count(1, blocks) == expected[size]
        assert enc.out_dim == 512 and enc.blocks_per_stage == blocks
        rgb = build_encoder(ModalitySpec("img", "image", (3, 224, 224)), size, "resnet")
        assert count_parameters(rgb) == hand_count(3, blocks)


def test_resnet_layer_shapes_follow_the_standard_layout():
    enc = build_encoder(CXR, "18", "resnet")
    convs = [m for m in enc.modules() if isinstance(m, torch.nn.Conv2d)]
    # ResNet-18: the stem, 16 block convs, 3 projections; ResNet-34: the stem, 32, 3
    assert len(convs) == 20
    assert len([m for m in build_encoder(CXR, "34", "resnet").modules()
                if isinstance(m, torch.nn.Conv2d)]) == 36
    stem = enc.stem[0]
    assert stem.weight.shape == (64, 1, 7, 7) and stem.stride == (2, 2) and stem.padding == (3, 3)
    assert stem.bias is None
    pool = enc.stem[3]
    assert isinstance(pool, torch.nn.MaxPool2d) and (pool.kernel_size, pool.stride) == (3, 2)
    # spatial sizes after the stem and after each stage at 224 px: 56, 56, 28, 14, 7
    sizes = []
    hooks = [enc.stem.register_forward_hook(lambda m, i, o: sizes.append(o.shape[1:]))]
    ends = [1, 3, 5, 7]  # the last block of each stage in the flat block list
    hooks += [enc.stages[k].register_forward_hook(lambda m, i, o: sizes.append(o.shape[1:]))
              for k in ends]
    with torch.no_grad():
        enc.eval()(torch.zeros(1, 1, 224, 224))
    for h in hooks:
        h.remove()
    assert sizes == [(64, 56, 56), (64, 56, 56), (128, 28, 28), (256, 14, 14), (512, 7, 7)]
    strides = [blk.conv1.stride[0] for blk in enc.stages]
    assert strides == [1, 1, 2, 1, 2, 1, 2, 1]


def test_resnet_tokens_feed_the_bottleneck_fusion():
    enc = build_encoder(CXR, "18", "resnet").eval()
    x = torch.rand(2, 1, 224, 224)
    with torch.no_grad():
        h, mask = enc.tokens(x)
        assert h.shape == (2, 49, 512) and mask.shape == (2, 49) and bool(mask.all())
        assert torch.allclose(enc(x), h.mean(1), atol=1e-6)
        ts = build_encoder(ModalitySpec("ts", "timeseries", (48, 76)), "xs").eval()
        fusion = BottleneckFusion({"cxr": enc.out_dim, "ts": ts.out_dim}).eval()
        present = {"cxr": torch.tensor([True, True]), "ts": torch.tensor([True, False])}
        fused = fusion({"cxr": (h, mask), "ts": ts.tokens(torch.randn(2, 48, 76))}, present)
    assert fused.shape == (2, fusion.out_dim) and bool(torch.isfinite(fused).all())


def test_resnet_teacher_trains_and_round_trips_through_a_checkpoint(tmp_path):
    torch.manual_seed(0)
    net = UnimodalNet(CXR, 1, size="18", arch="resnet")
    x, y = torch.rand(2, 1, 224, 224), torch.tensor([[0.0], [1.0]])
    loss = torch.nn.functional.binary_cross_entropy_with_logits(net(x), y)
    loss.backward()
    grads = [p.grad for p in net.parameters()]
    assert all(g is not None and bool(torch.isfinite(g).all()) for g in grads)
    assert any(float(g.abs().sum()) > 0 for g in grads)
    net.eval()
    path = save_model(net, tmp_path / "cxr_resnet18")
    back = load_model(path)
    assert type(back) is UnimodalNet and (back.size, back.arch) == ("18", "resnet")
    assert back.config == net.config
    assert list(back.state_dict()) == list(net.state_dict())
    with torch.no_grad():
        assert torch.equal(back(x), net(x))


def test_resnet_presets_are_listed_beside_not_inside_the_cnn_presets():
    assert sorted(PRESETS["resnet"]) == ["18", "34"]
    assert sorted(PRESETS["cnn"]) == ["l", "m", "s", "xs"]
    rows = preset_table(CXR, "resnet")
    assert [(r["size"], r["params"]) for r in rows] == [("18", 11_170_240), ("34", 21_278_400)]
    with pytest.raises(ValueError, match="unknown size 'xs' for resnet"):
        build_encoder(CXR, "xs", "resnet")
    with pytest.raises(ValueError, match="does not fit"):
        build_encoder(ModalitySpec("ts", "timeseries", (48, 76)), "18", "resnet")


def test_existing_cnn_presets_are_unchanged():
    # parameter counts and state-dict layout of the small presets as before the resnet arch
    # (checked then against the previous ResNetCNN: same keys, identical outputs)
    counts = {1: {"xs": 4952, "s": 19376, "m": 111240, "l": 480416},
              3: {"xs": 5096, "s": 19664, "m": 111672, "l": 480992}}
    for ch, want in counts.items():
        spec = ModalitySpec("img", "image", (ch, 28, 28))
        assert {s: count_parameters(build_encoder(spec, s)) for s in want} == want
    xs = build_encoder(ModalitySpec("img", "image", (1, 28, 28)), "xs")
    assert len(xs.stem) == 3 and xs.stem[0].kernel_size == (3, 3) and xs.stem[0].padding == (1, 1)
    keys = list(xs.state_dict())
    assert keys[:6] == ["stem.0.weight", "stem.1.weight", "stem.1.bias", "stem.1.running_mean",
                        "stem.1.running_var", "stem.1.num_batches_tracked"]
    assert keys[-1] == "stages.1.short.1.num_batches_tracked" and len(keys) == 36
    # an int block count and the same count per stage build the same network
    torch.manual_seed(0)
    a = ResNetCNN(1, (24, 48, 64), blocks=1, stem_stride=2).eval()
    torch.manual_seed(0)
    b = ResNetCNN(1, (24, 48, 64), blocks=(1, 1, 1), stem_stride=2).eval()
    assert list(a.state_dict()) == list(b.state_dict())
    x = torch.rand(2, 1, 28, 28)
    with torch.no_grad():
        assert torch.equal(a(x), b(x))
