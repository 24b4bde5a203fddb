"""Scores under every availability pattern: same samples for every model and pattern, the model's
own missing path, paired differences per pattern and pooled over seeds."""

import numpy as np
import pytest
import torch

from mindkit.data.base import ModalitySpec, Split
from mindkit.evaluate.availability import (
    availability_differences,
    availability_patterns,
    availability_scores,
    pooled_availability_differences,
)
from mindkit.evaluate.metrics import compute_metrics
from mindkit.models import MultiHeadStudent, SingleHeadStudent

SPECS = {m: ModalitySpec(m, "tabular", (3,)) for m in ("a", "b", "c")}


def _split(n=60, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 3
    inputs = {m: torch.randn(n, 3, generator=g) + y[:, None].float() for m in SPECS}
    present = {m: torch.ones(n, dtype=torch.bool) for m in SPECS}
    present["c"][:10] = False  # 10 samples lack c: they are not scored
    return Split(inputs, present, y, torch.arange(100, 100 + n), {}, "test")


def test_patterns_in_order():
    assert availability_patterns(["c", "a", "b"]) == ["a+b+c", "a+b", "a+c", "b+c", "a", "b",
                                                      "c"]


def test_every_model_and_pattern_scored_on_the_complete_samples():
    torch.manual_seed(0)
    models = {"multi": MultiHeadStudent(SPECS, 3, "xs").eval(),
              "single": SingleHeadStudent(SPECS, 3, "xs", fusion="bottleneck",
                                          fusion_kwargs={"n_bottleneck": 2, "depth": 1}).eval()}
    split = _split()
    res = availability_scores(models, split, "multiclass", metrics=["accuracy"], n_boot=20,
                              dataset="toy", seed=0)
    assert len(res.records) == 2 * 7 and {r["n"] for r in res.records} == {50}
    assert res.ids.tolist() == list(range(110, 160))
    # the single-modality pattern of the multi-head student is its own unimodal head
    with torch.no_grad():
        out = models["multi"](split.inputs, split.present)
    head_a = torch.softmax(out.logits["a"][10:], -1).numpy()
    assert np.allclose(res.probs[("multi", "a")], head_a, atol=1e-6)
    rec = next(r for r in res.records if r["method"] == "multi" and r["pattern"] == "a")
    assert rec["value"] == pytest.approx(compute_metrics("multiclass", res.y, head_a,
                                                         ["accuracy"], from_probs=True)["accuracy"])
    assert rec["group"] == "complete" and rec["split"] == "test" and rec["seed"] == 0

    diffs = availability_differences(res, "single", ["multi"], metrics=["accuracy"], n_boot=50)
    assert len(diffs) == 7
    for d in diffs:
        a = next(r for r in res.records if r["method"] == "single" and r["pattern"] ==
                 d["pattern"])
        b = next(r for r in res.records if r["method"] == "multi" and r["pattern"] == d["pattern"])
        assert d["value"] == pytest.approx(a["value"] - b["value"])
        assert d["method"] == "single - multi" and d["n"] == 50
    res2 = availability_scores(models, _split(seed=1), "multiclass", metrics=["accuracy"],
                               n_boot=20)
    pooled = pooled_availability_differences([res, res2], "single", ["multi"], "accuracy",
                                             n_boot=50, seed="0,1")
    d2 = availability_differences(res2, "single", ["multi"], metrics=["accuracy"], n_boot=10)
    for p in pooled:
        per = [d["value"] for d in diffs + d2 if d["pattern"] == p["pattern"]]
        assert p["value"] == pytest.approx(np.mean(per)) and p["seed"] == "0,1"
        assert p["ci_low"] <= p["value"] <= p["ci_high"] and p["n_runs"] == 2


def test_a_model_that_reads_a_withheld_input_fails_loudly():
    from mindkit.models.student import StudentOutput

    class Peeker(torch.nn.Module):  # averages every input, present or not
        names = sorted(SPECS)

        def forward_batch(self, batch):
            x = sum(batch.inputs[m].mean(1, keepdim=True) for m in self.names)
            return StudentOutput({"mm": torch.cat([x, -x, x], 1)},
                                 {"mm": torch.ones(len(x), dtype=torch.bool)})

        def route(self, out, task):
            return out.logits["mm"].softmax(-1), ["mm"] * len(out.logits["mm"])

    with pytest.raises(ValueError, match="withheld"):
        availability_scores({"peek": Peeker()}, _split(), "multiclass", metrics=["accuracy"],
                            n_boot=0)
    with pytest.raises(ValueError, match="no sample with every modality"):
        s = _split()
        s.present["c"][:] = False
        availability_scores({"peek": Peeker()}, s, "multiclass")


def test_leaders_read_the_pair_in_either_order():
    from mindkit.studies.availability import leaders

    recs = [{"metric": "accuracy", "statistic": "availability", "method": m, "pattern": "a",
             "value": v, "ci_low": v - 0.1, "ci_high": v + 0.1, "seed": s}
            for s in (0, 1) for m, v in (("x", 0.8 + s / 100), ("y", 0.7), ("z", 0.5))]
    pooled = [{"metric": "accuracy", "method_a": "y", "method_b": "x", "pattern": "a",
               "value": -0.105, "ci_low": -0.15, "ci_high": -0.06}]
    row = leaders(recs, pooled, "accuracy").iloc[0]
    assert (row["best"], row["runner_up"]) == ("x", "y")
    assert row["lead"] == pytest.approx(0.105) and row["lead_ci_low"] == pytest.approx(0.06)
    assert row["clear_lead"]
    pooled[0].update(ci_high=0.01)  # the CI now reaches past 0: no clear lead
    assert not leaders(recs, pooled, "accuracy").iloc[0]["clear_lead"]
    with pytest.raises(ValueError, match="no pooled difference"):
        leaders(recs, [], "accuracy")
