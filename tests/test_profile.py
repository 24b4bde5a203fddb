"""mindkit.evaluate.profile: parameters, on-disk size, FLOPs, peak memory and latency."""

import pytest
import torch
from torch import nn

from mindkit.data.base import ModalitySpec, Split
from mindkit.encoders import count_parameters
from mindkit.evaluate.profile import profile_model, profile_models, profile_ratios
from mindkit.models import MultiHeadStudent, TeacherEnsemble, UnimodalNet

FAST = {"min_run_time": 1e-3}  # latency is not what most tests look at
SPECS = {  # those of the toy_dataset fixture (tests/conftest.py)
    "image": ModalitySpec("image", "image", (1, 8, 8)),
    "audio": ModalitySpec("audio", "sequence", (6, 4), variable_length=True),
}


class PassThrough(nn.Module):
    """An encoder that hands its input on unchanged (so the head is the model's only layer)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.out_dim = dim

    def forward(self, x, lengths=None):
        return x


def tabular_split(n: int = 3, features: int = 7) -> tuple[ModalitySpec, Split]:
    spec = ModalitySpec("tab", "tabular", (features,))
    g = torch.Generator().manual_seed(0)
    split = Split({"tab": torch.randn(n, features, generator=g)},
                  {"tab": torch.ones(n, dtype=torch.bool)}, torch.zeros(n, dtype=torch.long),
                  torch.arange(n), name="tab")
    return spec, split


def linear_net(in_f: int, out_f: int) -> tuple[UnimodalNet, Split]:
    """A UnimodalNet whose only layer is one nn.Linear(in_f, out_f)."""
    spec, split = tabular_split(features=in_f)
    net = UnimodalNet(spec, out_f, "xs")
    net.encoder, net.head = PassThrough(in_f), nn.Linear(in_f, out_f)
    return net, split


@pytest.fixture
def split(toy_dataset) -> Split:
    assert toy_dataset.modalities == SPECS
    return toy_dataset["test"]  # image always present, audio for about 70%


@pytest.fixture
def ensembles() -> dict[str, TeacherEnsemble]:
    torch.manual_seed(0)
    return {m: TeacherEnsemble([UnimodalNet(SPECS[m], 3, s) for s in ("xs", "s")])
            for m in SPECS}


@pytest.mark.parametrize("in_f,out_f", [(7, 5), (13, 1)])
def test_flops_of_one_linear_layer_are_2_in_out(in_f, out_f):
    net, split = linear_net(in_f, out_f)
    # batch 5 > the 3 samples: repeated cyclically, still per sample
    row = profile_model(net, split, batch_sizes=(1, 5), **FAST)
    assert row["flops_per_sample"] == 2 * in_f * out_f
    assert row["flops_uncounted"] == ""
    assert row["samples"] == 3
    # exactly the linear layer's output is the forward's tensor working set (input excluded)
    assert row["peak_memory_bytes_b1"] == out_f * 4
    assert row["peak_memory_bytes_b5"] == 5 * out_f * 4


def test_peak_memory_counts_freed_temporaries_once():
    class BigTemporary(PassThrough):
        def forward(self, x, lengths=None):
            big = x.repeat(1, 10)  # [B, 10 F], freed before the head runs
            small = big.sum(1, keepdim=True)  # [B, 1]
            del big
            return x * small  # [B, F]

    spec, split = tabular_split(features=7)
    net = UnimodalNet(spec, 5, "xs")
    net.encoder, net.head = BigTemporary(7), nn.Linear(7, 5)
    row = profile_model(net, split, batch_sizes=(5,), **FAST)
    # the peak is while `big` and `small` live: 5 x (70 + 1) floats; had the freed temporary
    # been kept, x * small and the head's output would come on top of it
    assert row["peak_memory_bytes_b5"] == 5 * (70 + 1) * 4


def test_flops_of_a_real_tabular_teacher_count_its_two_linear_layers():
    spec, split = tabular_split(features=7)
    net = UnimodalNet(spec, 5, "xs")  # Linear(7, 32), LayerNorm, ReLU -> head Linear(32, 5)
    row = profile_model(net, split, batch_sizes=(4,), **FAST)
    assert row["flops_per_sample"] == 2 * (7 * 32 + 32 * 5)  # norms and activations: not counted


def test_params_and_on_disk_size_of_a_unimodal_net(split):
    net = UnimodalNet(SPECS["image"], 3, "s")
    row = profile_model(net, split, name="img", batch_sizes=(1, 2), **FAST)
    assert row["model"] == "img" and row["kind"] == "unimodal" and row["modalities"] == "image"
    assert row["params"] == count_parameters(net) == sum(p.numel() for p in net.parameters())
    assert row["size_bytes"] >= 4 * row["params"]  # float32 weights plus the pickle's overhead
    buffers = sum(b.numel() * b.element_size() for b in net.buffers())
    assert row["param_bytes"] == 4 * row["params"] + buffers
    assert row["flops_per_sample"] > 0


def test_ensemble_and_all_ensembles_are_sums(split, ensembles):
    models = {"audio": ensembles["audio"], "image": ensembles["image"], "all": ensembles}
    for m, ens in ensembles.items():
        for i, member in enumerate(ens.members):
            models[f"{m}_{i}"] = member
    df = profile_models(models, split, batch_sizes=(1, 3), rounds=1, **FAST).set_index("model")
    for m in ("audio", "image"):
        members = [f"{m}_{i}" for i in range(2)]
        assert df.loc[m, "kind"] == "ensemble"
        assert df.loc[m, "params"] == df.loc[members, "params"].sum()
        assert df.loc[m, "flops_per_sample"] == df.loc[members, "flops_per_sample"].sum()
    assert df.loc["all", "kind"] == "ensembles"
    assert df.loc["all", "modalities"] == "audio+image"
    for col in ("params", "flops_per_sample"):
        assert df.loc["all", col] == df.loc["audio", col] + df.loc["image", col]
    assert df.loc["all", "size_bytes"] >= df.loc["audio", "size_bytes"]
    # every model saw the same samples: those with both modalities
    paired = int((split.present["audio"] & split.present["image"]).sum())
    assert set(df["samples"]) == {paired}


def test_latency_and_peak_memory_at_both_batch_sizes(split, ensembles):
    torch.manual_seed(0)
    student = MultiHeadStudent(SPECS, 3, "xs")
    student.train()
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        df = profile_models({"student": student, "all": ensembles}, split, batch_sizes=(1, 64),
                            threads=1, min_run_time=0.01, rounds=2)
        assert torch.get_num_threads() == 2  # restored
    finally:
        torch.set_num_threads(before)
    assert student.training  # its mode is restored too
    for _, row in df.iterrows():
        for b in (1, 64):
            assert row[f"latency_median_s_b{b}"] > 0
            assert row[f"latency_iqr_s_b{b}"] >= 0
            assert row[f"latency_blocks_b{b}"] >= 2  # at least one block per round
        assert row["peak_memory_bytes_b64"] > row["peak_memory_bytes_b1"] > 0
        assert row["threads"] == 1
    ratios = profile_ratios(df, "student").set_index("model")
    s, a = df.set_index("model").loc["student"], df.set_index("model").loc["all"]
    assert ratios.loc["all", "params_ratio"] == pytest.approx(s["params"] / a["params"])
    for b in (1, 64):
        assert ratios.loc["all", f"speedup_b{b}"] == pytest.approx(
            a[f"latency_median_s_b{b}"] / s[f"latency_median_s_b{b}"])


@pytest.mark.filterwarnings("ignore:TF32 acceleration:UserWarning")
@pytest.mark.parametrize("arch", ["lstm", "transformer"])
def test_fused_cpu_kernels_are_counted_like_their_unfused_ops(split, arch):
    """An LSTM (oneDNN's fused layer on CPU) and a transformer layer (its eval fast path) have
    no torch FLOP formula; ours must give what the unfused ops count."""
    torch.manual_seed(0)
    net = UnimodalNet(SPECS["audio"], 3, "s", arch=arch)
    fused = profile_model(net, split, batch_sizes=(4,), **FAST)
    if arch == "lstm":
        with torch.backends.mkldnn.flags(enabled=False):
            unfused = profile_model(net, split, batch_sizes=(4,), **FAST)
    else:
        torch.backends.mha.set_fastpath_enabled(False)
        try:
            unfused = profile_model(net, split, batch_sizes=(4,), **FAST)
        finally:
            torch.backends.mha.set_fastpath_enabled(True)
    assert fused["flops_uncounted"] == unfused["flops_uncounted"] == ""
    assert fused["flops_per_sample"] == unfused["flops_per_sample"] > 0


def test_an_op_without_a_flop_formula_is_named():
    class MatVec(PassThrough):
        def forward(self, x, lengths=None):  # matrix-vector products: no torch formula
            return torch.stack([torch.mv(torch.eye(x.shape[1]), row) for row in x])

    spec, split = tabular_split(features=4)
    net = UnimodalNet(spec, 2, "xs")
    net.encoder, net.head = MatVec(4), nn.Linear(4, 2)
    row = profile_model(net, split, batch_sizes=(2,), **FAST)
    assert "aten.mv" in row["flops_uncounted"]
    assert row["flops_per_sample"] == 2 * 4 * 2  # only the head is counted


def test_bad_input_is_refused_with_the_fix(split, ensembles):
    net = UnimodalNet(SPECS["image"], 3, "xs")
    with pytest.raises(TypeError, match="cannot profile a Linear"):
        profile_model(nn.Linear(3, 2), split, **FAST)
    with pytest.raises(TypeError, match="cannot profile a str"):
        profile_model("student", split, **FAST)
    for bad in (0, -1, 2.5):
        with pytest.raises(ValueError, match="batch sizes must be whole numbers >= 1"):
            profile_model(net, split, batch_sizes=(1, bad), **FAST)
    with pytest.raises(ValueError, match="threads"):
        profile_model(net, split, threads=0, **FAST)
    with pytest.raises(ValueError, match="min_run_time"):
        profile_model(net, split, min_run_time=0)
    with pytest.raises(ValueError, match="non-empty dict"):
        profile_models({}, split, **FAST)
    with pytest.raises(ValueError, match="key each ensemble by its own modality"):
        profile_model({"image": ensembles["audio"]}, split, **FAST)
    with pytest.raises(TypeError, match="entry 'audio' is a Linear"):
        profile_model({"audio": nn.Linear(2, 2)}, split, **FAST)
    image_only = split.only_modalities(["image"])
    with pytest.raises(KeyError, match=r"has no modality \['audio'\].*dataset the models"):
        profile_model(ensembles, image_only, **FAST)
    no_audio = split.subset(~split.present["audio"])
    with pytest.raises(ValueError, match="no sample of split 'test'.*has all of"):
        profile_model(ensembles["audio"], no_audio, **FAST)
