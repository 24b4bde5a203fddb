"""The model store: each distinct model trained once, safe with concurrent and killed writers."""

from __future__ import annotations

import dataclasses
import json
import multiprocessing as mp
import os
import signal
import subprocess
import sys
import textwrap

import pytest
import torch

from mindkit.distill.methods import MethodContext, method_spec, run_method
from mindkit.distill.recipes import train_teachers
from mindkit.train import TrainConfig
from mindkit.train.store import ModelStore, StoreWarning, spec_key

CFG = TrainConfig(epochs=1, batch_size=32)


@pytest.fixture
def teachers(toy_dataset, tmp_path):
    nets, rows = train_teachers(toy_dataset, ["xs"], config=CFG, progress=False,
                                store=ModelStore(tmp_path / "store"))
    return nets, {m: [r["val_score"] for r in rows if r["modality"] == m] for m in nets}


def _ctx(ds, teachers, store, **kw):
    nets, scores = teachers
    return MethodContext(ds, nets, scores, CFG, store=store, **kw)


def test_a_model_is_trained_once_and_then_reused(toy_dataset, teachers, tmp_path):
    store = ModelStore(tmp_path / "store")
    st1, info1 = run_method("mind", _ctx(toy_dataset, teachers, store),
                            checkpoint=tmp_path / "run" / "students" / "mind")
    assert info1.source == "trained"
    st2, info2 = run_method("mind", _ctx(toy_dataset, teachers, store))
    assert info2.source == f"store:{info1.store_key}"
    for k, v in st1.state_dict().items():
        assert torch.equal(v, st2.state_dict()[k]), k
    assert info2.best_epoch == info1.best_epoch
    assert info2.history.records == info1.history.records
    # the run folder got links to the stored files, which load and vouch for themselves
    link = tmp_path / "run" / "students" / "mind.safetensors"
    assert os.path.samefile(link, store.entry_path(info1.store_key) / "model.safetensors")
    events = [(e["key"], e["event"]) for e in store.events() if "mind" in e["describe"]]
    assert events == [(info1.store_key, "trained"), (info1.store_key, "reused")]
    # the teachers went through the store too
    assert sum(e["event"] == "trained" for e in store.events()) == 3


def test_keys_follow_exactly_what_a_method_reads(toy_dataset, teachers, tmp_path):
    store = ModelStore(tmp_path / "store")
    base = _ctx(toy_dataset, teachers, store)

    def key(name, ctx=base):
        return spec_key(method_spec(name, ctx)[1])

    assert key("no_kd") == key("no_kd", base.with_(alpha=0.9, T=4.0))  # no_kd reads neither
    assert key("mind") != key("mind", base.with_(alpha=0.9))
    assert key("mind") == key("mind@alpha=0.5,T=2")  # the defaults spelled out: same model
    assert key("mind") != key("mind", base.with_(config=TrainConfig(epochs=2, batch_size=32)))
    cfg = base.config
    # where it trains and how the split reaches the device do not change the model
    placed = dataclasses.replace(cfg, device="cpu", max_split_bytes=0)
    assert placed != cfg and key("mind") == key("mind", base.with_(config=placed))
    assert key("mind") != key("mind", base.with_(config=dataclasses.replace(cfg, lr=cfg.lr / 2)))
    assert key("no_kd") != key("no_kd", base.with_(head_weights="softmax"))
    assert key("mind") != key("mind", base.with_(student_size="s"))
    other = type(toy_dataset)(**{**toy_dataset.__dict__, "options": {"noise": 0.5}})
    assert key("no_kd") != key("no_kd", base.with_(dataset=other))
    nets, scores = teachers
    moved = {m: [type(n)(n.spec, n.num_outputs, n.size, n.arch) for n in ns]
             for m, ns in nets.items()}
    assert key("mind") != key("mind", base.with_(teachers=moved))  # other teacher weights
    assert key("no_kd") == key("no_kd", base.with_(teachers=moved))
    spec = method_spec("mind", base)[1]
    assert {"alpha", "T", "teachers", "head_weights"} <= set(spec["context"])
    assert "gm_alpha" not in spec["context"] and "store" not in spec["context"]


def test_the_history_is_replayed_to_callbacks_on_reuse(toy_dataset, teachers, tmp_path):
    from mindkit.train.trainer import Callback

    class Rec(Callback):
        def __init__(self):
            self.epochs, self.ended = [], False

        def on_epoch_end(self, trainer, record):
            self.epochs.append(record["epoch"])

        def on_fit_end(self, trainer, history):
            self.ended = True

    store = ModelStore(tmp_path / "store")
    ctx = _ctx(toy_dataset, teachers, store).with_(config=TrainConfig(epochs=2, batch_size=32))
    first, again = Rec(), Rec()
    run_method("no_kd", ctx, callbacks=[first])
    _, info = run_method("no_kd", ctx, callbacks=[again])
    assert info.source.startswith("store:")
    assert again.epochs == first.epochs == [0, 1] and again.ended


def test_a_damaged_entry_is_reported_set_aside_and_retrained(toy_dataset, teachers, tmp_path):
    store = ModelStore(tmp_path / "store")
    ctx = _ctx(toy_dataset, teachers, store)
    _, info = run_method("no_kd", ctx)
    weights = store.entry_path(info.store_key) / "model.safetensors"
    raw = bytearray(weights.read_bytes())
    raw[-200:] = bytes(200)
    weights.write_bytes(bytes(raw))
    with pytest.warns(StoreWarning, match="damaged.*altered after saving"):
        _, again = run_method("no_kd", ctx)
    assert again.source == "trained" and again.store_key == info.store_key
    assert len(list((store.root / ".damaged").iterdir())) == 1


def _train_in_store(root: str, key_text: str, q) -> None:
    store = ModelStore(root)

    def train(ckpt):
        import time
        time.sleep(0.5)
        ckpt.with_suffix(".safetensors").write_bytes(b"w")
        return {"summary": {"n": 1}}

    st = store.get_or_train({"name": key_text}, train, describe=key_text)
    q.put(st.trained)


def test_two_processes_asking_for_one_key_train_it_once(tmp_path):
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    procs = [ctx.Process(target=_train_in_store, args=(str(tmp_path), "k", q)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    assert sorted(q.get() for _ in procs) == [False, False, False, True]
    events = [e["event"] for e in ModelStore(tmp_path).events()]
    assert events.count("trained") == 1 and events.count("reused") == 3


def test_a_writer_killed_mid_training_leaves_no_entry_and_the_key_is_retrained(tmp_path):
    script = textwrap.dedent(f"""
        import os, signal
        from mindkit.train.store import ModelStore
        def train(ckpt):
            ckpt.with_suffix(".safetensors").write_bytes(b"half")
            os.kill(os.getpid(), signal.SIGKILL)  # killed while holding the key's lock
        ModelStore({str(tmp_path)!r}).get_or_train({{"name": "k"}}, train, describe="k")
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL
    store = ModelStore(tmp_path)
    assert store.entries() == []  # nothing half-written is visible
    st = store.get_or_train({"name": "k"}, lambda ckpt: {"summary": {"ok": 1}}, describe="k")
    assert st.trained and json.loads((st.path / "entry.json").read_text())["summary"]["ok"] == 1


def test_ls_and_rm(toy_dataset, teachers, tmp_path):
    store = ModelStore(tmp_path / "store")
    _, info = run_method("no_kd", _ctx(toy_dataset, teachers, store))
    rows = store.entries()
    assert len(rows) == 3 and {r["dataset"] for r in rows} == {"toy"}
    assert any(r["describe"].startswith("no_kd on toy") for r in rows)
    assert store.remove([info.store_key[:8]]) == [info.store_key]
    assert len(store.entries()) == 2
    with pytest.raises(KeyError, match="matches 0 store entries"):
        store.remove(["zzz"])


def test_the_store_command_lists_and_removes(toy_dataset, teachers, tmp_path, capsys):
    from mindkit.cli import main

    store = ModelStore(tmp_path / "store")
    _, info = run_method("no_kd", _ctx(toy_dataset, teachers, store))
    run_method("no_kd", _ctx(toy_dataset, teachers, store))  # reused once
    capsys.readouterr()
    assert main(["store", "ls", str(tmp_path)]) == 0  # the run folder holding store/
    out = capsys.readouterr().out.splitlines()
    row = next(line for line in out if line.startswith(info.store_key[:12]))
    assert "no_kd on toy" in row and row.split()[-5] == "1"  # its reuse count
    assert out[-1].startswith(f"[mindkit] {store.root}: 3 entries")
    assert main(["store", "rm", str(store.root), info.store_key[:8]]) == 0
    assert [r["key"] for r in store.entries() if r["key"] == info.store_key] == []
    assert main(["store", "rm", str(store.root), "--dataset", "toy"]) == 0
    assert store.entries() == []
    # refused with one line: not a store (nothing created), a key matching nothing, ls with keys
    for argv, words in ((["store", "ls", str(tmp_path / "nope")], "is not a model store"),
                        (["store", "rm", str(store.root), "zzz"], "matches 0 store entries"),
                        (["store", "ls", str(store.root), "abc"], "takes no keys"),
                        (["store", "rm", str(store.root)], "name the entries")):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.startswith("mindkit: ") and words in err and err.count("\n") == 1, err
    assert not (tmp_path / "nope").exists()
