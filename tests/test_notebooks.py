"""Every notebook executes top to bottom through papermill with quick=True.

A notebook execution costs mostly a fresh kernel importing torch, pandas and scikit-learn, and
takes one core. So that two cores are used, the longest job (AV-Digits: the series, then
notebooks 04, 05 and 08 on its run_dir) and notebook 03 run in child processes from a background
thread, started when the first test of this module runs, while the other tests execute their
notebooks here; the two tests wait for their job and then check what they always checked. Each
notebook is executed exactly as before, and a failed background job fails its test with the end
of its log.
"""

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from mindkit.cli import SERIES, execute_notebook
from mindkit.run import REQUIRED_FIELDS
from mindkit.train.checkpoint import WEIGHTS_EXT

ROOT = Path(__file__).resolve().parents[1]
NB_DIR = ROOT / "notebooks"


def test_stored_notebooks_are_clean_and_parameterised():
    for path in sorted(NB_DIR.glob("*.ipynb")):
        nb = json.loads(path.read_text())
        code = [c for c in nb["cells"] if c["cell_type"] == "code"]
        assert not any(c.get("outputs") or c.get("execution_count") for c in code), path.name
        tagged = [c for c in code if "parameters" in c.get("metadata", {}).get("tags", [])]
        assert len(tagged) == 1, f"{path.name}: exactly one cell tagged 'parameters'"
        src = "".join(tagged[0]["source"])
        for name in ("dataset", "seed", "quick", "run_dir"):
            assert f"\n{name} =" in f"\n{src}", f"{path.name}: parameter {name} missing"
        for line in src.splitlines():
            if "=" in line:
                assert "#" in line, f"{path.name}: parameter line without a comment: {line}"
                # papermill skips a parameter line whose comment holds another "="
                assert "=" not in line.split("#", 1)[1], f"{path.name}: '=' in comment: {line}"


MODALITIES = {"avdigits": {"image", "audio"}, "synthetic_ihm": {"ts", "cxr"},
              "synthetic_pheno": {"ts", "cxr"}, "pbc": {"tab", "labs"}, "mimic_ihm": {"ts", "cxr"}}
# notebooks run after the series on the series' run_dir (reusing its teachers and students)
EXTRAS = {"avdigits": ("04_missing_modalities", "05_explain", "08_sweep_analysis"),
          "synthetic_pheno": ("05_explain",)}  # pheno: multilabel explanations
SERIES_TEST = "test_series_runs_quick[{}]"


def _options(dataset: str, tmp_path: Path) -> dict:
    if dataset != "mimic_ihm":
        return {}
    from mindkit.data.mimic_fake import make_fake_mimic_tree

    # 400 stays: the quick subsample's validation images then hold both outcomes (AUROC defined)
    fake = make_fake_mimic_tree(tmp_path / "fake_mimic", n_stays=400, seed=0)
    return {**fake.options, "cache_dir": str(tmp_path / "cache"), "progress": False}


def _series_steps(dataset: str, tmp_path: Path) -> list[tuple[str, str, dict]]:
    """(notebook, run_dir, parameters) of the series on ``dataset`` and the notebooks after it."""
    run = tmp_path / dataset
    params = {"dataset": dataset, "seed": 0, "quick": True, "run_dir": str(run),
              "dataset_options": _options(dataset, tmp_path)}
    extra = {"08_sweep_analysis": {"workers": 2}}  # 2x2 alpha x T grid on 2 Dask workers
    return [(name, str(run), {**params, **extra.get(name, {})})
            for name in SERIES + EXTRAS.get(dataset, ())]


def _baselines_steps(tmp_path: Path) -> list[tuple[str, str, dict]]:
    # the full 22-method design (every method's training and scoring path), in quick mode
    params = {"dataset": "avdigits", "seed": 0, "quick": True, "run_dir": str(tmp_path),
              "full_design": True}
    return [("03_baselines_and_ablations", str(tmp_path), params)]


def _execute(steps) -> None:
    for name, run, params in steps:
        out = execute_notebook(name, Path(run), params)
        assert out.exists()


# the child process: the steps one after another, as _execute does
CHILD = ("import json, sys\nfrom pathlib import Path\nfrom mindkit.cli import execute_notebook\n"
         "for name, run, params in json.loads(sys.argv[1]):\n"
         "    assert execute_notebook(name, Path(run), params).exists()\n")


# the background's jobs (about as long as the other tests' notebooks together): test -> steps
BACKGROUND = {SERIES_TEST.format("avdigits"): lambda tmp: _series_steps("avdigits", tmp),
              "test_baselines_notebook_runs_quick": _baselines_steps}


class Background:
    """Jobs (lists of notebook steps) executed one after another, each in a child process, from
    a thread of this process; :meth:`wait` blocks until a job ended and fails with the end of its
    log when it failed."""

    def __init__(self, jobs: dict[str, list], log_dir: Path):
        self.jobs = jobs
        self.logs = {key: log_dir / f"{i}.log" for i, key in enumerate(jobs)}
        self.done = {key: threading.Event() for key in jobs}
        self.rc: dict[str, int] = {}
        self.proc: subprocess.Popen | None = None
        self.stopped = False
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        for key, steps in self.jobs.items():
            try:
                with open(self.logs[key], "w") as log:
                    with self.lock:
                        if self.stopped:
                            continue
                        self.proc = subprocess.Popen(
                            [sys.executable, "-c", CHILD, json.dumps(steps)], cwd=ROOT,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
                    self.rc[key] = self.proc.wait()
            finally:
                self.done[key].set()

    def wait(self, key: str) -> list:
        """The job's steps, once they all ran."""
        self.done[key].wait()
        log = self.logs[key]
        tail = log.read_text(errors="replace")[-12000:] if log.exists() else "(no log)"
        assert self.rc.get(key) == 0, f"background job {key} failed:\n{tail}"
        return self.jobs[key]

    def stop(self) -> None:
        """Kill a job still running (its test did not wait for it: the session stopped early)
        and end the thread."""
        with self.lock:
            self.stopped = True
            if self.proc is not None and self.proc.poll() is None:
                os.killpg(self.proc.pid, signal.SIGKILL)
        self.thread.join()


@pytest.fixture(scope="module", autouse=True)
def background(request, tmp_path_factory):
    """Starts the background jobs of the selected tests when the first test of this module
    runs; at the module's end, kills a job still running (one whose test never ran)."""
    selected = {item.name for item in request.session.items if item.module is request.module}
    jobs = {key: steps(tmp_path_factory.mktemp("background")) for key, steps in BACKGROUND.items()
            if key in selected}
    bg = Background(jobs, tmp_path_factory.mktemp("background_logs"))
    yield bg
    bg.stop()


def _run_steps(key: str, steps, background: Background) -> list:
    """Executes ``steps`` here, or waits for the background's steps of the same test; returns
    the steps that ran."""
    if key in background.jobs:
        return background.wait(key)
    _execute(steps)
    return steps


@pytest.mark.notebook
# AV-Digits last: it runs in the background meanwhile
@pytest.mark.parametrize("dataset", sorted(MODALITIES, key=lambda d: (d == "avdigits", d)))
def test_series_runs_quick(tmp_path, dataset, background):
    steps = _run_steps(SERIES_TEST.format(dataset), _series_steps(dataset, tmp_path), background)
    run = Path(steps[0][1])
    records = json.loads((run / "metrics.json").read_text())
    assert {r["notebook"] for r in records} == set(SERIES) | set(EXTRAS.get(dataset, ()))
    for r in records:
        assert all(f in r for f in REQUIRED_FIELDS), r
    heads = {r["head"] for r in records if r["notebook"] == "02_mind_distillation"}
    assert {"mm", "routed"} | MODALITIES[dataset] <= heads
    assert {r["method"] for r in records} >= {"teacher", "teacher_ensemble", "mind", "no_kd"}
    assert len(list((run / "teachers").glob(f"*{WEIGHTS_EXT}"))) == 6
    assert (run / "students" / f"mind{WEIGHTS_EXT}").exists() and (run / "splits.json").exists()
    assert {"01_teachers.png", "01b_temperature.png",
            "02_mind_vs_nokd.png"} <= {p.name for p in run.glob("*.png")}
    _kd_in_ten_minutes_ran_quick(records)
    # notebook 00's counts keep the group in `group`; KD settings only on the KD student
    counts = [r for r in records if r["notebook"] == "00_data_tour"]
    assert counts and {r["head"] for r in counts} == {"-"}
    assert {"all", "paired"} <= {r["group"] for r in counts}
    nb02 = [r for r in records if r["notebook"] == "02_mind_distillation"]
    assert all(("alpha" in r) == (r["method"] == "mind") for r in nb02
               if r.get("statistic") != "paired_difference")
    # MIND minus no-KD as paired records, and the predictions they came from
    paired = [r for r in nb02 if r.get("statistic") == "paired_difference"]
    assert {(r["head"], r["group"]) for r in paired} >= {("mm", "paired"), ("routed", "all")}
    assert all(r["ci_low"] <= r["ci_high"] for r in paired if r["ci_low"] is not None)
    assert {"mind.parquet", "no_kd.parquet"} <= {p.name for p in (run / "predictions").iterdir()}
    _each_model_trained_once(run, reuse=dataset in EXTRAS)
    if dataset == "avdigits":
        _missing_modalities_ran_quick(run)
        _explain_ran_quick(run)
        _sweep_analysis_ran_quick(run)
    if dataset == "synthetic_pheno":  # multilabel explanations
        _explain_ran_quick(run)


def _kd_in_ten_minutes_ran_quick(records: list[dict]) -> None:
    """Notebook 01b: one of 01's teachers, the KD student and the same student without KD, each
    on the test samples with the teacher's modality, and KD minus no-KD paired on those."""
    nb01b = [r for r in records if r["notebook"] == "01b_kd_in_ten_minutes"]
    assert {r["method"] for r in nb01b} == {"teacher", "kd", "no_kd", "kd - no_kd"}
    (head,) = {r["head"] for r in nb01b}  # one modality: the teacher's
    assert {r["group"] for r in nb01b} == {f"has_{head}"}
    plain = [r for r in nb01b if r.get("statistic") != "paired_difference"]
    assert all(("alpha" in r and "T" in r) == (r["method"] == "kd") for r in plain)
    assert len({r["n"] for r in nb01b}) == 1  # every model on the same samples
    paired = [r for r in nb01b if r.get("statistic") == "paired_difference"]
    assert paired and all(r["method_a"] == "kd" and r["method_b"] == "no_kd" for r in paired)
    assert all(r["ci_low"] <= r["ci_high"] for r in paired if r["ci_low"] is not None)
    students = {(r["method"], r["metric"]): r["value"] for r in plain}
    for r in paired:  # the paired point estimate is the two students' difference
        a, b = students["kd", r["metric"]], students["no_kd", r["metric"]]
        if None not in (a, b, r["value"]):
            assert r["value"] == pytest.approx(a - b)


def _store_events_of(run: Path, checkpoint: Path) -> list[str]:
    """The store events of the entry that ``checkpoint`` (a run-folder link) points to."""
    import os

    from mindkit.train.store import ModelStore

    store = ModelStore(run / "store")
    key = next(e["key"] for e in store.entries()
               if os.path.samefile(store.entry_path(e["key"]) / f"model{WEIGHTS_EXT}", checkpoint))
    return [e["event"] for e in store.events() if e["key"] == key]


def _each_model_trained_once(run: Path, reuse: bool) -> None:
    """The series shares one model store: no key is trained twice, whichever notebook (or, for
    AV-Digits, whichever of notebook 08's sweep runs, which differ only in alpha and T) asks;
    with ``reuse`` (notebooks after the series ran) some notebook took a stored model."""
    from collections import Counter

    from mindkit.train.store import ModelStore

    events = ModelStore(run / "store").events()
    trained = Counter(e["key"] for e in events if e["event"] == "trained")
    assert trained and max(trained.values()) == 1, trained.most_common(3)
    assert any(e["event"] == "reused" for e in events) == reuse
    # the same no-KD student for every alpha and T: one key per training data (notebook 04's
    # scarcity curve trains it again on fewer paired samples, data of another fingerprint)
    keys = {e["key"] for e in events if e["describe"].startswith("no_kd on")}
    data = [e["fingerprint"] for e in ModelStore(run / "store").entries() if e["key"] in keys]
    assert data and len(data) == len(set(data)), data


def _missing_modalities_ran_quick(run: Path) -> None:
    """Notebook 04 in quick mode on the series' run: it reuses 01's teachers and 02's students
    (and trains only the single-head baselines), and its curves start at 02's plain scores."""
    records = json.loads((run / "metrics.json").read_text())
    nb04 = [r for r in records if r["notebook"] == "04_missing_modalities"]
    for r in nb04:
        assert all(f in r for f in REQUIRED_FIELDS), r
    stats = {r.get("statistic") for r in nb04}
    assert {"robustness_curve", "robustness_auc", "effective_robustness", "auc_difference",
            "scarcity_curve", "profile"} <= stats
    assert {"ece"} <= {r["metric"] for r in nb04}
    # notebook 02's students reused through the store, not retrained; the baselines trained here
    for m in ("mind", "no_kd"):
        events = _store_events_of(run, run / "students" / f"{m}{WEIGHTS_EXT}")
        assert events[0] == "trained" and events.count("trained") == 1 and "reused" in events
    own = run / "04" / "seed0" / "students"
    assert (own / f"single_head_zero{WEIGHTS_EXT}").exists()
    # the curves' rate-0 points are notebook 02's plain scores of the same students
    plain = {r["method"]: r["value"] for r in records
             if r["notebook"] == "02_mind_distillation" and r["head"] == "routed"
             and r["group"] == "all" and r["metric"] == "accuracy" and "statistic" not in r}
    start = {r["method"]: r["value"] for r in nb04 if r.get("statistic") == "robustness_curve"
             and r["condition"] == "drop" and r["level"] == 0.0 and r["group"] == "all"}
    for m in ("mind", "no_kd"):
        assert start[m] == pytest.approx(plain[m])
    assert {"mind", "no_kd", "single_head_zero", "single_head_learned", "teachers"} <= set(start)
    for fig in ("04_missing_curves", "04_noise_curves", "04_reliability", "04_scarcity",
                "04_size_latency"):
        assert (run / f"{fig}.png").exists(), fig


def _explain_ran_quick(run: Path) -> None:
    """Notebook 05 in quick mode on the series' run: it explains notebook 02's students (not
    retrained), its Shapley values are efficient, and it writes its figures and records."""
    records = json.loads((run / "metrics.json").read_text())
    nb05 = [r for r in records if r["notebook"] == "05_explain"]
    for r in nb05:
        assert all(f in r for f in REQUIRED_FIELDS), r
    assert {"mean_abs_attribution", "spearman_attribution_vs_drop",
            "ig_rank_agreement"} <= {r["metric"] for r in nb05}
    assert {"mind", "no_kd", "mind - no_kd"} <= {r["method"] for r in nb05}
    events = _store_events_of(run, run / "students" / f"mind{WEIGHTS_EXT}")
    assert events.count("trained") == 1 and "reused" in events  # trained by 02, reused by 05
    for fig in ("05_modality_attributions", "05_teacher_agreement", "05_kd_explorer",
                "05_attribution_viewer"):
        assert (run / f"{fig}.png").exists(), fig
    assert list(run.glob("05_ig_*.png"))
    import pandas as pd

    vals = pd.read_csv(run / "05_modality_attributions.csv")
    assert (vals.loc[~vals["present"], "value"] == 0).all()
    # the executed notebook holds the widgets' first state as static pictures
    executed = json.loads((run / "notebooks" / "05_explain.ipynb").read_text())
    pngs = [o for c in executed["cells"] if c["cell_type"] == "code" for o in c.get("outputs", [])
            if "image/png" in o.get("data", {})]
    assert len(pngs) >= 2


def _sweep_analysis_ran_quick(run: Path) -> None:
    """Notebook 08 in quick mode: notebook 02 over a 2x2 alpha x T grid on 2 Dask workers,
    reusing the series' teachers, then the analysis of that sweep."""
    from mindkit.sweep import collect

    runs = collect(run / "sweep").drop_duplicates("run")
    assert len(runs) == 4 and runs["status"].eq("ok").all()
    assert sorted(zip(runs["alpha"], runs["T"])) == [(0.2, 1.0), (0.2, 4.0), (0.8, 1.0),
                                                     (0.8, 4.0)]
    records = [r for r in json.loads((run / "metrics.json").read_text())
               if r["notebook"] == "08_sweep_analysis"]
    assert len(records) == 4 and {r["statistic"] for r in records} == {
        "sweep_mean_paired_difference"}
    assert (run / "08_effect.csv").exists() and (run / "08_heatmap.png").exists()


@pytest.mark.notebook
def test_baselines_notebook_runs_quick(tmp_path, background):
    steps = _run_steps("test_baselines_notebook_runs_quick", _baselines_steps(tmp_path),
                       background)
    run = Path(steps[0][1])
    records = json.loads((run / "metrics.json").read_text())
    methods = {r["method"] for r in records}
    from mindkit.studies.compare import FULL_DESIGN

    assert set(FULL_DESIGN) <= methods
    assert (run / "03_claims.csv").exists() and (run / "03_methods.png").exists()
    import pandas as pd

    claims = pd.read_csv(run / "03_claims.csv")
    assert {"pooled_diff", "pooled_ci_low", "pooled_ci_high"} <= set(claims.columns)
    single = [r for r in records if r["method"] == "single_head_zero" and r["head"] == "mm"]
    assert single and {r["group"] for r in single} == {"paired"}
