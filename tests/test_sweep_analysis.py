"""mindkit.sweep.analysis: per-setting effects over seeds, their figures, records and the plan
of a sweep, checked against hand-computed numbers on a small synthetic collect() frame."""

import json
import math

import matplotlib
import numpy as np
import pandas as pd
import pytest

matplotlib.use("Agg")

from mindkit.sweep.analysis import (  # noqa: E402
    effect_heatmap,
    effect_plot,
    effect_records,
    expand_json_column,
    plan_sweep,
    significant_settings,
    sweep_effect,
    varied_factors,
)

T975 = {2: 4.302652729911275, 1: 12.706204736174698}  # Student t, 0.975 quantile, by df

# per (alpha, T): the paired difference of seeds 0, 1, 2 (None: that run failed)
DIFFS = {
    (0.2, 1.0): [0.01, 0.02, 0.03],     # mean 0.02, CI straddles 0 -> "no"
    (0.2, 4.0): [0.05, 0.06, 0.07],     # mean 0.06, CI [0.035, 0.085] -> "better"
    (0.8, 1.0): [-0.05, -0.06, -0.07],  # -> "worse"
    (0.8, 4.0): [0.1, -0.1, None],      # seed 2 failed: two seeds, mean 0
}


def _frame(metric="accuracy"):
    rows = []
    for (alpha, T), diffs in DIFFS.items():
        for seed, d in enumerate(diffs):
            run = f"T={T:g}_alpha={alpha:g}_seed={seed}-x"
            params = {"alpha": alpha, "T": T, "seed": seed, "run": run,
                      "teacher_sizes": '["xs", "s", "m"]',
                      "dataset_options": '{"difficulty": "hard"}' if alpha == 0.8 else "{}"}
            if d is None:
                rows.append({**params, "status": "failed", "error": "boom"})
                continue
            base = {**params, "status": "ok", "error": None, "dataset": "avdigits",
                    "split": "test", "model": "student_xs", "notebook": "02_mind_distillation"}
            for head, group in [("routed", "all"), ("mm", "paired"), ("audio", "has_audio")]:
                for m in (metric, "macro_f1") if metric == "accuracy" else (metric,):
                    shift = 0.0 if (head, m) == ("routed", metric) else 0.5
                    rows.append({**base, "head": head, "group": group, "metric": m,
                                 "method": "mind - no_kd", "statistic": "paired_difference",
                                 "method_a": "mind", "method_b": "no_kd", "value": d + shift,
                                 "ci_low": d - 0.04, "ci_high": d + 0.04, "value_a": 0.7 + d,
                                 "value_b": 0.7, "n": 450, "p_a_better": 0.5})
                    for meth, v in (("mind", 0.7 + d), ("no_kd", 0.7)):
                        rows.append({**base, "head": head, "group": group, "metric": m,
                                     "method": meth, "value": v, "ci_low": v - 0.05,
                                     "ci_high": v + 0.05, "n": 450})
    return pd.DataFrame(rows)


def _ci(values):
    k = len(values)
    mean = sum(values) / k
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (k - 1))
    half = T975[k - 1] * std / math.sqrt(k)
    return mean, mean - half, mean + half


def test_effect_per_setting_hand_computed():
    eff = sweep_effect(_frame(), ["alpha", "T"])
    assert list(zip(eff["alpha"], eff["T"])) == list(DIFFS)  # sorted settings
    row = eff.set_index(["alpha", "T"])
    # alpha 0.2, T 1: mean 0.02, std 0.01, half-width t(2) * 0.01 / sqrt(3) = 0.0248413
    r = row.loc[(0.2, 1.0)]
    assert r["mean_diff"] == pytest.approx(0.02)
    assert r["std"] == pytest.approx(0.01)
    assert r["ci_low"] == pytest.approx(0.02 - 0.024841377, abs=1e-8)
    assert r["ci_high"] == pytest.approx(0.02 + 0.024841377, abs=1e-8)
    assert r["n_seeds"] == 3 and r["seeds"] == [0, 1, 2]
    assert r["per_seed"] == pytest.approx([0.01, 0.02, 0.03])
    assert r["holds"] == "no" and r["n_failed"] == 0 and r["n_pooled"] == 1
    assert r["mean_a"] == pytest.approx(0.72) and r["mean_b"] == pytest.approx(0.7)
    assert r["run_ci_low"] == pytest.approx(0.02 - 0.04)  # mean per-run bootstrap bound
    assert r["metric"] == "accuracy" and r["head"] == "routed" and r["group"] == "all"
    assert len(r["runs"]) == 3 and r["model"] == "student_xs" and r["n"] == 450
    r = row.loc[(0.2, 4.0)]
    assert (r["mean_diff"], r["ci_low"], r["ci_high"]) == pytest.approx(
        (0.06, 0.06 - 0.024841377, 0.06 + 0.024841377), abs=1e-8)
    assert r["holds"] == "better"
    assert row.loc[(0.8, 1.0), "holds"] == "worse"
    assert row.loc[(0.8, 1.0), "ci_high"] == pytest.approx(-0.06 + 0.024841377, abs=1e-8)
    # two seeds left (seed 2 failed): std sqrt(0.02), half t(1) * 0.1 = 1.2706
    r = row.loc[(0.8, 4.0)]
    assert r["n_seeds"] == 2 and r["n_failed"] == 1 and r["seeds"] == [0, 1]
    assert r["mean_diff"] == pytest.approx(0.0, abs=1e-12)
    assert r["ci_high"] == pytest.approx(1.2706204736, rel=1e-8)
    assert r["holds"] == "no"
    for (a, t), d in DIFFS.items():  # every row agrees with the generic formula
        vals = [v for v in d if v is not None]
        assert (row.loc[(a, t), "mean_diff"], row.loc[(a, t), "ci_low"],
                row.loc[(a, t), "ci_high"]) == pytest.approx(_ci(vals), abs=1e-10)


def test_main_effect_averages_other_factors_within_each_seed():
    eff = sweep_effect(_frame(), "alpha").set_index("alpha")
    # alpha 0.2: per seed mean over T of (0.01, 0.05), (0.02, 0.06), (0.03, 0.07)
    per_seed = [0.03, 0.04, 0.05]
    assert eff.loc[0.2, "per_seed"] == pytest.approx(per_seed)
    assert (eff.loc[0.2, "mean_diff"], eff.loc[0.2, "ci_low"], eff.loc[0.2, "ci_high"]) == \
        pytest.approx(_ci(per_seed))
    assert eff.loc[0.2, "holds"] == "better" and eff.loc[0.2, "n_pooled"] == 2
    # alpha 0.8: seeds 0 and 1 average two settings, seed 2 only T=1 (T=4 failed)
    assert eff.loc[0.8, "per_seed"] == pytest.approx([0.025, -0.08, -0.07])
    assert eff.loc[0.8, "n_failed"] == 1
    overall = sweep_effect(_frame(), [])
    assert len(overall) == 1 and overall["n_seeds"].iloc[0] == 3


def test_head_group_metric_and_direction():
    f = _frame()
    mm = sweep_effect(f, ["alpha", "T"], head="mm", group="paired")
    assert mm["mean_diff"].iloc[0] == pytest.approx(0.52)  # the +0.5 shift of other heads
    f1 = sweep_effect(f, ["alpha", "T"], metric="macro_f1")
    assert f1["mean_diff"].iloc[0] == pytest.approx(0.52)
    # lower is better for nll: a CI above zero means MIND is worse
    nll = sweep_effect(_frame("nll"), ["alpha", "T"]).set_index(["alpha", "T"])
    assert nll.loc[(0.2, 4.0), "holds"] == "worse"
    assert nll.loc[(0.8, 1.0), "holds"] == "better"


def test_one_seed_has_no_interval():
    f = _frame()
    eff = sweep_effect(f[f["seed"] == 0], ["alpha", "T"])
    assert eff["ci_low"].isna().all() and (eff["holds"] == "no").all()
    assert (eff["n_seeds"] == 1).all()
    assert significant_settings(eff).empty


def test_significant_settings():
    sig = significant_settings(sweep_effect(_frame(), ["alpha", "T"]))
    assert list(zip(sig["alpha"], sig["T"], sig["holds"])) == [(0.2, 4.0, "better"),
                                                            (0.8, 1.0, "worse")]
    assert "runs" not in sig


def test_clear_errors():
    f = _frame()
    with pytest.raises(ValueError, match=r"cannot group by \['beta'\].*alpha"):
        sweep_effect(f, ["alpha", "beta"])
    with pytest.raises(ValueError, match="pools over"):
        sweep_effect(f, ["alpha", "seed"])
    with pytest.raises(ValueError, match=r"'mind - single_head'.*'mind - no_kd'"):
        sweep_effect(f, "alpha", method="mind - single_head")
    with pytest.raises(ValueError, match=r"head='image'.*audio/has_audio.*routed/all"):
        sweep_effect(f, "alpha", head="image", group="has_image")
    with pytest.raises(ValueError, match="metrics present: 'accuracy', 'macro_f1'"):
        sweep_effect(f, "alpha", metric="auroc")
    with pytest.raises(ValueError, match="no sweep records"):
        sweep_effect(pd.DataFrame(), "alpha")
    no_pairs = f[f["method"] != "mind - no_kd"]
    with pytest.raises(ValueError, match=r"paired methods present: none.*'mind', 'no_kd'"):
        sweep_effect(no_pairs, "alpha")
    # several metrics that are no task's defaults: say which, ask for metric=
    odd = f.assign(metric=f["metric"].replace({"macro_f1": "auroc"}))
    with pytest.raises(ValueError, match="pass metric="):
        sweep_effect(odd, "alpha")
    only_failed = f[f["status"] == "failed"]
    with pytest.raises(ValueError, match="lacks the columns"):
        sweep_effect(only_failed.drop(columns=["seed"]), "alpha")


def test_factors_and_json_options():
    f = _frame()
    assert varied_factors(f) == ["alpha", "T", "dataset_options"]
    x = expand_json_column(f)
    assert set(x["difficulty"]) == {"hard", "(default)"}
    eff = sweep_effect(x, "difficulty").set_index("difficulty")
    assert eff.loc["hard", "per_seed"] == pytest.approx([0.025, -0.08, -0.07])
    assert varied_factors(x) == ["alpha", "T", "difficulty"]  # the option, not the JSON text
    assert varied_factors(x, candidates=["alpha", "teacher_sizes", "seed"]) == ["alpha"]
    assert expand_json_column(f, "absent").equals(f)


def test_heatmap_and_plot():
    import matplotlib.pyplot as plt

    eff = sweep_effect(_frame(), ["alpha", "T"])
    fig = effect_heatmap(eff, "alpha", "T")
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert "+0.060\n[+0.035, +0.085] *" in texts
    assert "+0.020\n[-0.005, +0.045]" in texts
    assert len(texts) == 4
    plt.close(fig)
    with pytest.raises(ValueError, match="several rows"):
        effect_heatmap(pd.concat([eff, eff]), "alpha", "T")
    with pytest.raises(ValueError, match="no column 'beta'"):
        effect_heatmap(eff, "beta", "T")
    fig = effect_plot(sweep_effect(_frame(), "alpha"), "alpha")
    ax = fig.axes[0]
    assert any(np.allclose(line.get_ydata(), 0.0) for line in ax.get_lines())  # the zero line
    plt.close(fig)
    fig = effect_plot(eff, "alpha", hue="T")
    assert len(fig.axes[0].get_legend().get_texts()) == 2
    plt.close(fig)
    with pytest.raises(ValueError, match="pass hue"):
        effect_plot(eff, "alpha")
    # categorical factors (JSON strings) and one seed (open markers, no interval)
    f = _frame()
    one = sweep_effect(f[f["seed"] == 0], "dataset_options")
    fig = effect_plot(one, "dataset_options")
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == [
        '{"difficulty": "hard"}', "{}"]
    plt.close(fig)


def test_effect_records_are_tidy(tmp_path):
    from mindkit.run import REQUIRED_FIELDS, RunDir

    eff = sweep_effect(_frame(), ["alpha", "T"])
    recs = effect_records(eff, dataset="avdigits", notebook_run="x")
    assert len(recs) == 4
    r = recs[1]
    assert all(f in r for f in REQUIRED_FIELDS)
    assert r["statistic"] == "sweep_mean_paired_difference"
    assert (r["alpha"], r["T"], r["seed"], r["n_seeds"]) == (0.2, 4.0, "0,1,2", 3)
    assert r["value"] == pytest.approx(0.06) and r["method"] == "mind - no_kd"
    assert (r["method_a"], r["method_b"], r["model"]) == ("mind", "no_kd", "student_xs")
    assert recs[3]["seed"] == "0,1" and recs[3]["n_failed"] == 1
    one = sweep_effect(_frame().query("seed == 0"), ["alpha", "T"])
    assert effect_records(one, dataset="d")[0]["ci_low"] is None
    path = RunDir(tmp_path).write_metrics(recs, "08_sweep_analysis")
    assert len(json.loads(path.read_text())) == 4


def _pred_frame(n_right, n=20):
    from mindkit.evaluate.predictions import write_predictions  # noqa: F401

    y = np.arange(n) % 3
    probs = np.full((n, 3), 0.1)
    guess = np.where(np.arange(n) < n_right, y, (y + 1) % 3)
    probs[np.arange(n), guess] = 0.8
    cols = {"id": np.arange(n), "y": y, "present:a": np.ones(n, bool),
            "present:b": np.arange(n) % 2 == 0, "served:routed": np.ones(n, bool)}
    cols.update({f"p:routed:{j}": probs[:, j] for j in range(3)})
    return pd.DataFrame(cols)


def test_pooled_bootstrap_from_predictions(tmp_path):
    from mindkit.evaluate.metrics import paired_distribution, pooled_paired_difference
    from mindkit.evaluate.predictions import write_predictions

    f = _frame()
    f = f[(f["alpha"] == 0.2) & (f["T"] == 1.0)]
    prov = {"task": "multiclass"}
    for seed, run in enumerate(sorted(f["run"].unique())):
        write_predictions(_pred_frame(15 + seed), tmp_path / run / "predictions" / "mind", prov)
        write_predictions(_pred_frame(10), tmp_path / run / "predictions" / "no_kd", prov)
    eff = sweep_effect(f, ["alpha", "T"], sweep_dir=tmp_path, n_boot=200)
    r = eff.iloc[0]
    # accuracies 15/20, 16/20, 17/20 against 10/20: differences 0.25, 0.30, 0.35
    assert r["pooled_diff"] == pytest.approx(0.30)
    y = np.arange(20) % 3
    dists = [paired_distribution("multiclass", y, _pred_frame(15 + s)[[f"p:routed:{j}" for j in
                                                                         range(3)]].to_numpy(),
                                 _pred_frame(10)[[f"p:routed:{j}" for j in range(3)]].to_numpy(),
                                 "accuracy", 200, s, from_probs=True) for s in range(3)]
    ref = pooled_paired_difference([d[2] for d in dists], [d[3] for d in dists],
                                   [d[0] for d in dists], [d[1] for d in dists], metric="accuracy")
    assert (r["pooled_ci_low"], r["pooled_ci_high"], r["pooled_p_a_better"]) == pytest.approx(
        (ref["ci_low"], ref["ci_high"], ref["p_a_better"]))
    assert r["pooled_ci_low"] > 0
    # missing prediction files: NaN pooled columns and a warning, the t-interval still there
    with pytest.warns(UserWarning, match="no prediction file"):
        eff = sweep_effect(_frame(), ["alpha", "T"], sweep_dir=tmp_path / "none")
    assert eff["pooled_diff"].isna().all() and eff["ci_low"].notna().all()


def test_plan_sweep_reuses_teachers_only_for_their_seed():
    grid = {"alpha": [0.2, 0.8], "T": [1.0, 4.0]}
    fixed = {"dataset": "avdigits", "quick": True, "02_mind_distillation.epochs": 3,
             "01_teachers.epochs": 1}
    calls = plan_sweep("02_mind_distillation", grid, [0, 1, 2], fixed=fixed,
                       teacher_dir="/r/teachers", teacher_seed=0)
    assert calls == [
        {"notebooks": "02_mind_distillation", "grid": {**grid, "seed": [0]},
         "fixed": {"dataset": "avdigits", "quick": True, "02_mind_distillation.epochs": 3,
                   "teacher_dir": "/r/teachers"}},
        {"notebooks": ["01_teachers", "02_mind_distillation"], "grid": {**grid, "seed": [1, 2]},
         "fixed": fixed}]
    # no teachers, or a grid that changes the data the teachers were made on: chain every seed
    assert [c["notebooks"] for c in plan_sweep("02_mind_distillation", grid, [0, 1])] == [
        ["01_teachers", "02_mind_distillation"]]
    changed = plan_sweep("02_mind_distillation", {**grid, "dataset_options": [{}]}, [0],
                         teacher_dir="/r/teachers", teacher_seed=0)
    assert len(changed) == 1 and changed[0]["grid"]["seed"] == [0]
    assert changed[0]["notebooks"][0] == "01_teachers"
    only = plan_sweep("02_mind_distillation", grid, [0], teacher_dir="/t", teacher_seed=0)
    assert len(only) == 1 and only[0]["notebooks"] == "02_mind_distillation"
    with pytest.raises(ValueError, match="seeds="):
        plan_sweep("02_mind_distillation", {"seed": [0]}, [0])
    with pytest.raises(ValueError, match="no values"):
        plan_sweep("02_mind_distillation", {"alpha": []}, [0])


@pytest.mark.slow
def test_plan_is_accepted_by_the_runner(tmp_path):
    """Every planned call is a valid run_sweep call (dry run: nothing executes)."""
    from mindkit.sweep import run_sweep
    from mindkit.sweep.analysis import ensure_sweep, finished_runs

    grid = {"alpha": [0.2, 0.8], "T": [1.0]}
    fixed = {"dataset": "avdigits", "quick": True, "02_mind_distillation.epochs": 2}
    planned = []
    for call in plan_sweep("02_mind_distillation", grid, [0, 1], fixed=fixed,
                           teacher_dir=str(tmp_path / "teachers"), teacher_seed=0):
        s = run_sweep(call["notebooks"], call["grid"], tmp_path / "sweep", fixed=call["fixed"],
                      dry_run=True, progress=False)
        planned += [r["params"] for r in s.runs]
    assert sorted((p["seed"], p["alpha"]) for p in planned) == [(0, 0.2), (0, 0.8), (1, 0.2),
                                                                (1, 0.8)]
    assert [p.get("teacher_dir") for p in planned if p["seed"] == 0] == \
        [str(tmp_path / "teachers")] * 2
    assert finished_runs(tmp_path / "sweep") == 0
    # a folder with a finished run is analysed as it is: nothing runs
    done = tmp_path / "sweep" / "r"
    done.mkdir(parents=True)
    (done / "status.json").write_text(json.dumps({"status": "ok"}))
    assert finished_runs(tmp_path / "sweep") == 1
    assert ensure_sweep(tmp_path / "sweep", "02_mind_distillation", grid, [0]) == []


def test_baseline_rows_reads_a_one_factor_at_a_time_design(tmp_path):
    import json as _json

    import pandas as pd

    from mindkit.sweep.analysis import baseline_rows, expand_json_column

    (tmp_path / "sweep.json").write_text(_json.dumps({"fixed": {
        "alpha": 0.5, "teacher_sizes": ["xs", "s", "m"], "dataset_options": {}}}))
    rows = []
    for run, alpha, sizes, opts in [("a", 0.2, '["xs", "s", "m"]', "{}"),
                                    ("b", 0.5, '["xs", "s", "m"]', "{}"),
                                    ("c", 0.5, '["xs"]', "{}"),
                                    ("d", 0.5, '["xs", "s", "m"]', '{"difficulty": "hard"}'),
                                    ("e", 0.8, '["xs"]', "{}")]:
        rows.append({"run": run, "status": "ok", "alpha": alpha, "teacher_sizes": sizes,
                     "dataset_options": opts, "seed": 0})
    df = expand_json_column(pd.DataFrame(rows), "dataset_options")
    factors = ["alpha", "teacher_sizes", "difficulty"]
    assert sorted(baseline_rows(df, ["alpha"], tmp_path, factors)["run"]) == ["a", "b"]
    assert sorted(baseline_rows(df, ["teacher_sizes"], tmp_path, factors)["run"]) == ["b", "c"]
    assert sorted(baseline_rows(df, ["difficulty"], tmp_path, factors)["run"]) == ["b", "d"]
    (tmp_path / "sweep.json").write_text(_json.dumps({"fixed": {"alpha": 0.9}}))
    with pytest.raises(ValueError, match="fixed value"):
        baseline_rows(df, ["teacher_sizes"], tmp_path, factors)
