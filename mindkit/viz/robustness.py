"""Figures of notebook 04: robustness curves, the paired-data scarcity curve, size vs latency."""

from __future__ import annotations

BAND_NOTE = {True: "band: 95% CI across seeds", False: "band: 95% bootstrap CI (one seed)"}


def _curve_frame(records, x: str, by: list[str]):
    """Mean over seeds per (by..., x) with a band: the across-seed t-interval when there are
    several seeds, else the run's bootstrap CI."""
    import pandas as pd

    from mindkit.evaluate.aggregate import seed_aggregate

    df = pd.DataFrame(list(records)) if not isinstance(records, pd.DataFrame) else records
    agg = seed_aggregate(df, by=by + [x])
    several = bool((agg["n_seeds"] > 1).any())
    agg["lo"] = agg["seed_ci_low"] if several else agg["boot_low_mean"]
    agg["hi"] = agg["seed_ci_high"] if several else agg["boot_high_mean"]
    return agg, several


_OTHERS = ("C1", "C2", "C4", "C5", "C6", "C8", "C9")


def method_color(method: str, i: int) -> str:
    """MIND red, no-KD blue, the teachers black, the others from the rest of the palette."""
    fixed = {"mind": "C3", "no_kd": "C0", "teachers": "k"}
    return fixed.get(method, _OTHERS[i % len(_OTHERS)])


def plot_robustness_curves(records, metric: str, condition: str | tuple = ("drop", "drop_random"),
                           group: str = "paired", title: str = "",
                           xlabel: str | None = None):
    """One panel per target modality (or ``random``): the metric of each method's routed
    prediction against the rate (or noise level), mean over seeds with a CI band.
    ``condition``: one kind or several (e.g. ``("drop", "drop_random")``)."""
    import matplotlib.pyplot as plt
    import pandas as pd

    df = pd.DataFrame(list(records)) if not isinstance(records, pd.DataFrame) else records
    conds = (condition,) if isinstance(condition, str) else tuple(condition)
    condition = conds[0]
    d = df[df["condition"].isin(conds) & (df["group"] == group) & (df["metric"] == metric)]
    if d.empty:
        raise ValueError(f"no {condition!r} curve records for metric {metric!r} and group "
                         f"{group!r}; have conditions {sorted(df['condition'].unique())}")
    agg, several = _curve_frame(d, "level", ["method", "target"])
    targets = list(dict.fromkeys(agg["target"]))
    methods = list(dict.fromkeys(agg["method"]))
    fig, axes = plt.subplots(1, len(targets), figsize=(3.6 * len(targets) + 0.6, 3.3),
                             sharey=True, squeeze=False)
    for ax, t in zip(axes[0], targets):
        for i, m in enumerate(methods):
            s = agg[(agg["target"] == t) & (agg["method"] == m)].sort_values("level")
            if s.empty:
                continue
            c = method_color(m, i)
            ax.plot(s["level"], s["mean"], marker="o", ms=3, color=c, label=m,
                    ls="--" if m == "teachers" else "-")
            ax.fill_between(s["level"], s["lo"], s["hi"], color=c, alpha=0.15, lw=0)
        what = "dropped" if condition.startswith("drop") else "noised"
        ax.set_title(f"{t} {what}" if t != "random" else "a random modality dropped",
                     fontsize=9)
        ax.set_xlabel(xlabel or ("share of samples that lose it" if condition.startswith(
            "drop") else "noise SD (train-set SDs)"))
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel(f"{metric} ({group} samples)")
    axes[0][-1].legend(fontsize=7, loc="best")
    fig.suptitle(f"{title}  [{BAND_NOTE[several]}]".strip(), fontsize=10)
    fig.tight_layout()
    return fig


def plot_scarcity(records, metric: str, views: list[tuple[str, str]], title: str = ""):
    """The metric against the share of paired training samples, one panel per (head, group)
    view, mean over seeds with a CI band."""
    import matplotlib.pyplot as plt
    import pandas as pd

    df = pd.DataFrame(list(records)) if not isinstance(records, pd.DataFrame) else records
    d = df[df["metric"] == metric]
    fig, axes = plt.subplots(1, len(views), figsize=(3.6 * len(views) + 0.6, 3.3),
                             squeeze=False)
    several = False
    for ax, (head, group) in zip(axes[0], views):
        sub = d[(d["head"] == head) & (d["group"] == group)]
        if sub.empty:
            ax.set_visible(False)
            continue
        agg, several = _curve_frame(sub, "paired_share", ["method"])
        for i, m in enumerate(dict.fromkeys(agg["method"])):
            s = agg[agg["method"] == m].sort_values("paired_share")
            c = method_color(m, i)
            ax.plot(s["paired_share"], s["mean"], marker="o", color=c, label=m)
            ax.fill_between(s["paired_share"], s["lo"], s["hi"], color=c, alpha=0.15, lw=0)
        ax.set_xscale("log")
        ax.set_xticks(sorted(agg["paired_share"].unique()),
                      [f"{v:g}" for v in sorted(agg["paired_share"].unique())])
        ax.set_title(f"{head} / {group}", fontsize=9)
        ax.set_xlabel("share of paired training samples")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel(metric)
    axes[0][0].legend(fontsize=7)
    fig.suptitle(f"{title}  [{BAND_NOTE[several]}]".strip(), fontsize=10)
    fig.tight_layout()
    return fig


def plot_size_latency(profile, student: str, batch_size: int = 1, title: str = ""):
    """Parameters (x, log) against median CPU latency at ``batch_size`` (y, log) for every row
    of a :func:`mindkit.evaluate.profile.profile_models` table, with the student's parameter
    ratio and speed-up against each ensemble (rows named ``...ensemble...``) written on it."""
    import matplotlib.pyplot as plt
    import pandas as pd

    df = pd.DataFrame(profile) if not isinstance(profile, pd.DataFrame) else profile.copy()
    col = f"latency_median_s_b{batch_size}"
    if col not in df:
        have = [c for c in df.columns if c.startswith("latency_median_s_b")]
        raise ValueError(f"no latency at batch {batch_size} in the profile (it has {have}); "
                         "profile with that batch size")
    df = df.drop_duplicates("model").set_index("model")
    if student not in df.index:
        raise ValueError(f"no profile row for the student {student!r}; have {list(df.index)}")
    fig, ax = plt.subplots(figsize=(7.0, 4.4))
    s = df.loc[student]
    lines = []
    for name, r in df.iterrows():
        is_s = name == student
        ens = "ensemble" in name
        ax.scatter(r["params"], r[col] * 1e3, s=110 if is_s else 45 if ens else 25,
                   color="C3" if is_s else "C0" if ens else "C7", marker="*" if is_s else "o",
                   zorder=3)
        ax.annotate(name, (r["params"], r[col] * 1e3), fontsize=7, xytext=(4, 3),
                    textcoords="offset points")
        if ens:
            lines.append(f"vs {name}: {s['params'] / r['params']:.2g}x the parameters, "
                         f"{r[col] / s[col]:.2g}x faster")
    ax.text(0.01, 0.98, "student " + "\n".join(lines), transform=ax.transAxes, ha="left",
            va="top", fontsize=7, bbox={"boxstyle": "round", "fc": "white", "alpha": 0.85})
    ax.margins(x=0.25, y=0.15)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("parameters")
    ax.set_ylabel(f"median CPU latency at batch {batch_size} (ms, 1 thread)")
    ax.grid(alpha=0.3, which="both")
    ax.set_title(title or f"size and latency: {student} against the teachers", fontsize=10)
    fig.tight_layout()
    return fig


__all__ = ["plot_robustness_curves", "plot_scarcity", "plot_size_latency"]
