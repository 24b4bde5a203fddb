"""mindkit.common: option checks, the progress bar, seeded random streams; torch-free import."""

from __future__ import annotations

import io
import subprocess
import sys

import numpy as np
import pytest

from mindkit.common import TASKS, check_choice, check_share, progress, rng_stream


def test_tasks():
    assert TASKS == ("binary", "multilabel", "multiclass")


def test_check_choice_returns_the_value_and_names_option_value_and_choices():
    assert check_choice("mode", "paired", ("all", "paired")) == "paired"
    assert check_choice("task", "ihm", {"ihm": 1, "pheno": 2}) == "ihm"  # a dict: its keys
    with pytest.raises(ValueError) as err:
        check_choice("leakage", "ignore", ("raise", "drop"))
    msg = str(err.value)
    assert "leakage" in msg and "'ignore'" in msg and "'raise'" in msg and "'drop'" in msg


def test_check_share():
    assert check_share("unpaired", 0) == 0.0 and check_share("unpaired", "0.5") == 0.5
    for bad in (-0.1, 1.5):
        with pytest.raises(ValueError, match=r"frame_mask must be in \[0, 1\]"):
            check_share("frame_mask", bad)


def test_progress_disabled_returns_the_iterable_unchanged():
    it = iter([1, 2, 3])
    assert progress(it, "x", enabled=False) is it
    data = [1, 2]
    assert progress(data, "x", False, total=2) is data


def test_progress_enabled_is_a_text_bar_on_stdout(capsys):
    assert list(progress(range(3), "steps", True)) == [0, 1, 2]
    out, err = capsys.readouterr()
    assert "steps" in out and "3/3" in out and err == ""
    buf = io.StringIO()
    bar = progress(iter(range(4)), "other", True, total=4, leave=False, file=buf,
                   mininterval=0.5)
    assert list(bar) == [0, 1, 2, 3] and "other" in buf.getvalue()


def test_rng_stream_reproducible_independent_and_compatible():
    a = rng_stream(3, "split").random(5)
    np.testing.assert_array_equal(a, rng_stream(3, "split").random(5))
    assert not np.array_equal(a, rng_stream(3, "noise").random(5))  # another name
    assert not np.array_equal(a, rng_stream(4, "split").random(5))  # another seed
    assert not np.array_equal(rng_stream(0, 1, 2).random(3), rng_stream(0, 2, 1).random(3))
    # integer parts are used as they are: the datasets' streams stayed bit-identical
    np.testing.assert_array_equal(rng_stream(7, 7919, 2).random(4),
                                  np.random.default_rng([7, 7919, 2]).random(4))
    with pytest.raises(ValueError, match="name"):
        rng_stream(0)
    with pytest.raises(ValueError, match="integer >= 0"):
        rng_stream(0, -1)


def test_import_without_torch():
    code = ("import sys; sys.modules['torch'] = None; import mindkit.common as c; "
            "print(c.check_choice('a', 1, [1]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "1"


def test_with_ext_keeps_dots_in_method_names(tmp_path):
    from mindkit.common import with_ext
    from mindkit.data.base import ModalitySpec
    from mindkit.models import UnimodalNet
    from mindkit.train import load_model, save_model

    assert with_ext("a/mind@alpha=0.8", ".pt").name == "mind@alpha=0.8.pt"
    assert with_ext("a/mind@alpha=0.8.pt", ".json").name == "mind@alpha=0.8.json"
    assert with_ext("a/p.parquet", ".parquet", (".parquet",)).name == "p.parquet"
    net = UnimodalNet(ModalitySpec("x", "tabular", (3,)), 2, "xs")
    path = save_model(net, tmp_path / "mckd@mckd_lambda_kd=0.2")
    assert path.name == "mckd@mckd_lambda_kd=0.2.safetensors" and path.with_name(
        "mckd@mckd_lambda_kd=0.2.json").exists()
    assert isinstance(load_model(tmp_path / "mckd@mckd_lambda_kd=0.2"), UnimodalNet)
