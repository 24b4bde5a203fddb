"""The faster training step computes what the earlier one computed (issue 20, item 3).

Each fast path is compared with the earlier code path, which stays reachable: the GRU
(``RNNEncoder(impl="torch")``: ``nn.GRU`` over the whole padded input), the bottleneck fusion
(``BottleneckFusion.impl = "torch"``) and gradient modulation's single-modality passes
(``merged_passes = False``); the teacher-output memo against no memo. Outputs and gradients must
agree to float rounding (tight in float64), checkpoints keep their keys and load either way.
"""

import copy

import pytest
import torch
from torch import nn

from mindkit.distill.cache import TEACHER_MEMO, EnsembleTargets, TeacherCache, TeacherMemo
from mindkit.distill.gradmod import GradModConfig, GradModulator
from mindkit.encoders import RNNEncoder, build_encoder, set_conv_layout, set_rnn_impl
from mindkit.encoders.sequence import GRUSequence
from mindkit.fusion.bottleneck import BottleneckFusion, encoder_layer
from mindkit.models import MultiHeadStudent, SingleHeadStudent, TeacherEnsemble, UnimodalNet
from mindkit.train import load_model, save_model

TOL = {torch.float64: dict(rtol=1e-10, atol=1e-12), torch.float32: dict(rtol=1e-4, atol=1e-5)}


def _run_encoder(enc, x, lengths, weight):
    """Outputs at valid steps, and the gradients of a weighted sum of them with respect to the
    input and every parameter."""
    enc.zero_grad()
    x = x.clone().requires_grad_()
    h, mask = enc.tokens(x, lengths)
    out = h * mask.unsqueeze(-1).to(h.dtype)
    (out * weight).sum().backward()
    return out.detach(), x.grad, [p.grad.clone() for p in enc.parameters()]


def _assert_same(a, b, dtype):
    (oa, xa, pa), (ob, xb, pb) = a, b
    assert torch.allclose(oa, ob, **TOL[dtype])
    assert torch.allclose(xa, xb, **TOL[dtype])
    for ga, gb in zip(pa, pb):
        assert torch.allclose(ga, gb, **TOL[dtype])


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("lengths", [
    [11, 3, 1, 7, 5, 2],  # mixed lengths, the longest fills the padding
    [4, 1, 2, 4, 3, 1],  # every sequence shorter than the padding (trimmed to 4 steps)
    [1, 1, 1, 1, 1, 1],  # single steps
    None,  # no lengths: every step is real
])
def test_fast_gru_equals_nn_gru(dtype, layers, lengths):
    torch.manual_seed(0)
    enc = RNNEncoder(5, 8, layers).to(dtype)
    x = torch.randn(6, 11, 5, dtype=dtype)
    lens = None if lengths is None else torch.tensor(lengths)
    weight = torch.randn(6, 11, 8, dtype=dtype)
    enc.impl = "torch"
    ref = _run_encoder(enc, x, lens, weight)
    for impl in ("auto", "fast"):
        enc.impl = impl
        _assert_same(ref, _run_encoder(enc, x, lens, weight), dtype)


def test_gru_function_against_nn_gru_directly():
    """GRUSequence alone, time-major, with nn.GRU's weights: outputs and all five gradients."""
    torch.manual_seed(1)
    gru = nn.GRU(4, 6).double()
    x = torch.randn(9, 3, 4, dtype=torch.float64, requires_grad=True)
    ref, _ = gru(x)
    g = torch.randn_like(ref)
    want = torch.autograd.grad(ref, [x, *gru.parameters()], g)
    out = GRUSequence.apply(x, *gru.parameters())
    got = torch.autograd.grad(out, [x, *gru.parameters()], g)
    assert torch.allclose(out, ref, rtol=1e-12, atol=1e-13)
    for a, b in zip(want, got):
        assert torch.allclose(a, b, rtol=1e-10, atol=1e-12)


def test_inference_lstm_and_bidirectional_paths_match():
    torch.manual_seed(2)
    x = torch.randn(5, 10, 3)
    lens = torch.tensor([10, 2, 6, 1, 4])
    for kw in ({"cell": "gru"}, {"cell": "lstm"}, {"cell": "gru", "bidirectional": True}):
        enc = RNNEncoder(3, 6, **kw).eval()
        with torch.no_grad():
            a = enc(x, lens)
            enc.impl = "torch"
            b = enc(x, lens)
        assert torch.allclose(a, b, atol=1e-6), kw
        enc.impl = "auto"
        # training path (gradients) too
        a = _run_encoder(enc.train(), x, lens, torch.ones(5, 10, enc.out_dim))
        enc.impl = "torch"
        _assert_same(_run_encoder(enc, x, lens, torch.ones(5, 10, enc.out_dim)), a, torch.float32)


def test_trimming_keeps_shapes_and_zero_fills_padding():
    enc = RNNEncoder(3, 4)
    h, mask = enc.tokens(torch.randn(3, 9, 3), torch.tensor([2, 5, 3]))
    assert h.shape == (3, 9, 4) and mask.shape == (3, 9)
    assert torch.count_nonzero(h[:, 5:]) == 0  # trimmed steps: padding, zeros
    with pytest.raises(ValueError, match="impl"):
        RNNEncoder(3, 4, impl="cuda")


def test_padding_trimming_leaves_the_students_logits_unchanged(toy_dataset):
    """The MIND student (GRU + CNN) on a batch with absent audio rows and mixed lengths: the fast
    step (trimmed GRU) gives the earlier step's logits and gradients, in training mode with one
    seed (the same dropout masks) and in eval mode."""
    split = toy_dataset["train"]
    batch = split.batch(torch.arange(40))
    assert not bool(batch.present["audio"].all())  # some rows lack audio
    # at most 4 real steps of 6: the last steps become padding (holding non-zero values)
    batch.lengths["audio"] = batch.lengths["audio"].clamp(max=4)
    torch.manual_seed(0)
    new = MultiHeadStudent(toy_dataset.modalities, 3, "xs").double()
    old = set_rnn_impl(copy.deepcopy(new), "torch")
    inputs = {m: v.double() if v.is_floating_point() else v for m, v in batch.inputs.items()}
    for train in (True, False):
        outs = []
        for model in (new, old):
            model.train(train)
            model.zero_grad()
            torch.manual_seed(3)
            out = model(inputs, batch.present, batch.lengths)
            sum(v.sum() for v in out.logits.values()).backward()
            outs.append((out, [p.grad.clone() for p in model.parameters()]))
        (a, ga), (b, gb) = outs
        for h in a.logits:
            assert torch.equal(a.mask[h], b.mask[h])
            assert torch.allclose(a.logits[h], b.logits[h], rtol=1e-10, atol=1e-12), h
        for x, y in zip(ga, gb):
            assert torch.allclose(x, y, rtol=1e-9, atol=1e-11)


def test_convolutions_stay_nchw_and_a_channels_last_checkpoint_loads(tmp_path, toy_dataset):
    """Channels-last convolutions are not used (torch 2.13 corrupts memory in some of their
    backward passes); set_conv_layout keeps values and keys, and a checkpoint of a model stored
    channels-last is written contiguous and loads into a plain one."""
    spec = toy_dataset.modalities["image"]
    torch.manual_seed(0)
    net = UnimodalNet(spec, 3, "xs")
    x = toy_dataset["test"].inputs["image"][:8]
    net(x).sum().backward()
    assert all(m.weight.is_contiguous() for m in net.modules() if isinstance(m, nn.Conv2d))
    net.eval()
    cl = set_conv_layout(copy.deepcopy(net), "channels_last")
    assert list(cl.state_dict()) == list(net.state_dict())
    assert all(m.weight.is_contiguous(memory_format=torch.channels_last)
               for m in cl.modules() if isinstance(m, nn.Conv2d))
    save_model(cl, tmp_path / "cl")
    again = load_model(tmp_path / "cl").eval()
    assert all(m.weight.is_contiguous() for m in again.modules() if isinstance(m, nn.Conv2d))
    assert torch.allclose(again(x), net(x), atol=1e-6)
    with pytest.raises(ValueError, match="layout"):
        set_conv_layout(net, "nhwc")


def test_old_state_dict_keys_still_load(toy_dataset):
    """The parameters and their names are those of before: the GRU's rnn.*, the fusion layers'
    nn.TransformerEncoderLayer names; a state_dict of a model run on the earlier code paths
    loads strictly into one on the new paths."""
    enc = build_encoder(toy_dataset.modalities["audio"], "m")
    assert sorted(enc.state_dict()) == sorted(
        f"rnn.{k}_l{i}" for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh") for i in (0, 1))
    torch.manual_seed(0)
    a = SingleHeadStudent(toy_dataset.modalities, 3, "xs", fusion="bottleneck",
                          fusion_hidden=16, fusion_kwargs={"pool_len": 3, "n_bottleneck": 2})
    old = copy.deepcopy(a)
    old.fusion.impl = "torch"
    set_rnn_impl(old, "torch")
    b = SingleHeadStudent(toy_dataset.modalities, 3, "xs", fusion="bottleneck",
                          fusion_hidden=16, fusion_kwargs={"pool_len": 3, "n_bottleneck": 2})
    assert list(a.state_dict()) == list(old.state_dict()) == list(b.state_dict())
    b.load_state_dict(old.state_dict(), strict=True)
    batch = toy_dataset["test"].batch(torch.arange(20))
    a.eval(), b.eval()
    with torch.no_grad():
        assert torch.allclose(a.forward_batch(batch).logits["mm"],
                              b.forward_batch(batch).logits["mm"], atol=1e-6)


@pytest.mark.parametrize("absent", ["exclude", "include"])
def test_fast_bottleneck_equals_the_earlier_code_in_training(absent):
    """Same outputs and gradients, dropout included (one seed: the same masks), with rows
    missing modalities, a modality every row has, and short and long token sequences."""
    torch.manual_seed(0)
    dims = {"a": 5, "b": 7, "c": 3}
    new = BottleneckFusion(dims, hidden=8, n_bottleneck=3, depth=2, heads=2, pool_len=4,
                           absent=absent).double()
    old = copy.deepcopy(new)
    old.impl = "torch"
    n = 9
    g = torch.Generator().manual_seed(1)
    tokens = {}
    for m, d in dims.items():
        length = {"a": 11, "b": 3, "c": 6}[m]
        lens = torch.randint(1, length + 1, (n,), generator=g)
        tokens[m] = (torch.randn(n, length, d, generator=g, dtype=torch.float64),
                     torch.arange(length)[None] < lens[:, None])
    present = {"a": torch.tensor([1, 1, 0, 1, 0, 1, 1, 1, 0]).bool(),
               "b": torch.ones(n, dtype=torch.bool),
               "c": torch.tensor([1, 1, 1, 0, 1, 1, 0, 1, 1]).bool()}
    weight = torch.randn(n, 3, 8, generator=g, dtype=torch.float64)
    for train in (True, False):
        got = []
        for f in (new, old):
            f.train(train)
            f.zero_grad()
            toks = {m: (h.clone().requires_grad_(), mk) for m, (h, mk) in tokens.items()}
            torch.manual_seed(5)
            out = f.bottleneck(toks, present)
            (out * weight).sum().backward()
            got.append((out.detach(), [toks[m][0].grad for m in toks],
                        [p.grad for p in f.parameters()]))
        (oa, xa, pa), (ob, xb, pb) = got
        assert torch.allclose(oa, ob, rtol=1e-10, atol=1e-12)
        for u, v in zip(xa, xb):
            assert torch.allclose(u, v, rtol=1e-10, atol=1e-12)
        for u, v in zip(pa, pb):
            assert (u is None) == (v is None)
            if u is not None:
                assert torch.allclose(u, v, rtol=1e-9, atol=1e-11)
    with torch.no_grad():  # evaluation: the old code took nn.TransformerEncoderLayer's fast path
        new.eval(), old.eval()
        assert torch.allclose(new.bottleneck(tokens, present), old.bottleneck(tokens, present),
                              atol=1e-10)


def test_encoder_layer_is_the_torch_layer():
    torch.manual_seed(0)
    layer = nn.TransformerEncoderLayer(8, 2, 16, 0.1, batch_first=True, norm_first=True)
    x = torch.randn(4, 6, 8)
    pad = torch.tensor([[False] * 6, [False] * 4 + [True] * 2, [False] + [True] * 5, [False] * 6])
    bias = torch.zeros(4, 6).masked_fill(pad, float("-inf"))[:, None, None].expand(-1, 2, 1, -1)
    for train in (True, False):
        layer.train(train)
        torch.manual_seed(1)
        a = encoder_layer(layer, x, bias)
        torch.manual_seed(1)
        b = layer(x, src_key_padding_mask=pad)
        assert torch.allclose(a, b, atol=1e-6)


def _mm_student(toy_dataset, dropout=0.1):
    torch.manual_seed(0)
    return SingleHeadStudent(toy_dataset.modalities, 3, "xs", fusion="bottleneck",
                             fusion_hidden=16, dropout=dropout,
                             fusion_kwargs={"pool_len": 3, "n_bottleneck": 2})


def test_merged_modulation_passes_give_the_same_coefficients(toy_dataset):
    student = _mm_student(toy_dataset).train()
    batch = toy_dataset["train"].batch(torch.arange(48))
    gm = GradModulator(GradModConfig(alpha=0.5, noise=False), student, "multiclass")
    merged = gm.coefficients(student, batch)
    gm.merged_passes = False
    one_by_one = gm.coefficients(student, batch)
    assert student.training  # restored
    for kind in ("coeff", "rho", "score"):
        for m in merged[kind]:
            assert merged[kind][m] == pytest.approx(one_by_one[kind][m], rel=1e-5), (kind, m)


def _ensembles(ds, seed=0, sizes=("xs", "s")):
    torch.manual_seed(seed)
    return {m: TeacherEnsemble([UnimodalNet(ds.modalities[m], 3, s) for s in sizes])
            for m in ds.modality_names}


def test_teacher_memo_returns_identical_targets_and_is_keyed_by_weights_and_split(toy_dataset):
    memo = TeacherMemo()
    train, val = toy_dataset["train"], toy_dataset["val"]
    ens = _ensembles(toy_dataset)
    direct = TeacherCache.build(ens, train, "multiclass", memo=None).soft_targets(2.0)
    first = TeacherCache.build(ens, train, "multiclass", memo=memo).soft_targets(2.0)
    assert (memo.hits, memo.misses) == (0, 4)  # 2 modalities x 2 teachers
    again = TeacherCache.build(ens, train, "multiclass", memo=memo).soft_targets(2.0)
    assert (memo.hits, memo.misses) == (4, 4)
    for h in direct:
        assert torch.equal(direct[h].isnan(), again[h].isnan())
        assert torch.allclose(direct[h].nan_to_num(), again[h].nan_to_num(), atol=0, rtol=0)
        assert torch.equal(first[h].nan_to_num(), again[h].nan_to_num())
    # other teachers (other weights, the same architecture): not shared
    other = _ensembles(toy_dataset, seed=1)
    TeacherCache.build(other, train, "multiclass", memo=memo)
    assert memo.misses == 8
    # another split: not shared
    TeacherCache.build(ens, val, "multiclass", memo=memo)
    assert memo.misses == 12
    # the same teacher object after a training step: its weights changed, so a miss
    net = ens["image"].members[0]
    with torch.no_grad():
        next(net.parameters()).add_(0.01)
    changed = TeacherCache.build(ens, train, "multiclass", memo=memo).soft_targets(2.0)
    assert memo.misses == 13
    assert not torch.allclose(changed["image"], again["image"])
    # the split's data changed in place: a miss too
    train.inputs["audio"].mul_(1.0001)
    TeacherCache.build(ens, train, "multiclass", memo=memo)
    assert memo.misses == 15


def test_every_teacher_method_reuses_the_teacher_outputs(toy_dataset):
    """Across the registered methods that distil from the context's teacher ensembles, on the
    same training split, each teacher runs over the split once: later methods only hit."""
    from mindkit.distill.methods import METHODS, MethodContext, build_method
    from mindkit.train import TrainConfig

    torch.manual_seed(0)
    teachers = {m: [UnimodalNet(toy_dataset.modalities[m], 3, s) for s in ("xs", "s", "m")]
                for m in toy_dataset.modality_names}
    ctx = MethodContext(toy_dataset, teachers, {m: [0.5, 0.7, 0.6] for m in teachers},
                        TrainConfig(epochs=1, batch_size=32))
    TEACHER_MEMO.clear()
    train = toy_dataset["train"]
    seen = 0
    for name in METHODS.names():
        method = build_method(name, ctx)
        if not isinstance(getattr(method, "teacher", None), EnsembleTargets):
            continue
        before = TEACHER_MEMO.misses
        method.prepare(train)
        new = TEACHER_MEMO.misses - before
        if name == "mind_paired_only":  # its own split: the paired samples
            assert new == 6, name
        else:
            assert new == (6 if seen == 0 else 0), name
            seen += 1
    assert seen >= 10 and TEACHER_MEMO.hits > 0
    TEACHER_MEMO.clear()


def test_targets_follow_the_students_device(toy_dataset):
    from mindkit.distill import MindDistiller

    ens = _ensembles(toy_dataset)
    student = MultiHeadStudent(toy_dataset.modalities, 3, "xs")
    method = MindDistiller(student, "multiclass", EnsembleTargets(ens), 0.5, 2.0)
    method.prepare(toy_dataset["train"])
    dev = next(student.parameters()).device
    assert all(t.device == dev for t in method.targets.values())
    out = method.forward_train(toy_dataset["train"].batch(torch.arange(8)))
    assert torch.isfinite(out["total"])
