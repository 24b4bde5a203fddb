"""Size and cost of a model: parameters, on-disk size, FLOPs, peak memory and latency.

The kit compares the size and CPU inference latency of the student against the teacher
ensembles. :func:`profile_models` measures every model on the *same real samples* in one
run and returns one row per model; :func:`profile_ratios` turns the rows into the student's
parameter ratio and speed-up against the others.

**What can be profiled.** A multimodal model (``MultiHeadStudent``, ``SingleHeadStudent``, or any
module with ``names`` and ``forward_batch(batch)``: it runs on every modality it has), a
``UnimodalNet`` or ``TeacherEnsemble`` (its ``modality``), or a dict ``{modality: ensemble or
UnimodalNet}``: "all ensembles together", where each one runs on its own modality's inputs of the
same samples, one after the other: parameters, sizes, FLOPs and latency are sums, and peak
memory is the peak over the whole sequence (an earlier ensemble's outputs stay alive meanwhile).

**Inputs.** Real samples of the given split that have every modality needed: by
:func:`profile_models`, the modalities of *all* the models it is given (so a student and the
teachers see exactly the same samples), plus any in ``samples_with``. A batch of size ``b`` is the
first ``b`` of those samples in split order, repeated cyclically when fewer than ``b`` exist (the
row's ``samples`` says how many distinct ones there were). Batches are gathered as the kit's own
loops gather them (:meth:`Split.batch`): sequences keep the split's padding and their lengths.
Every model runs in eval mode under ``torch.no_grad()`` (its train/eval flags are restored
afterwards); an ensemble's cost is its ``forward`` (the members' logits), not counting the
probability average of ``predict_proba`` (one softmax and a mean). Batch gathering is done before
any timing and is never timed.

**The measures** (columns of a row; ``{b}`` is each batch size):

- ``params``: number of parameters; ``param_bytes``: bytes of parameters *and buffers*
  (batch-norm statistics, ensemble weights) held in memory.
- ``size_bytes``: the on-disk size, i.e. the bytes of ``torch.save(state_dict)`` (into memory).
- ``flops_per_sample``: :class:`torch.utils.flop_counter.FlopCounterMode` over one forward pass
  at the largest batch size, divided by that size. A multiply-add counts 2 FLOPs. The counter
  covers matrix products (``mm``, ``addmm``, ``bmm``, ``baddbmm``: linear layers, a GRU on CPU,
  which decomposes into them), convolutions and attention kernels; it does not count elementwise
  work (activations, RNN gate nonlinearities, normalisation, pooling, softmax, bias adds in
  convolutions). Two fused CPU kernels that the kit reaches and torch has no formula for get one
  here (:data:`EXTRA_FLOP_FORMULAS`), computed from their weight shapes exactly as the
  unfused ops would be counted: ``mkldnn_rnn_layer`` (an LSTM on CPU runs through it, otherwise
  counted as 0) and ``_transformer_encoder_layer_fwd`` (the fast path of
  ``nn.TransformerEncoderLayer`` in eval mode, otherwise counted as 0 apart from the input
  projection), plus ``_scaled_dot_product_flash_attention_for_cpu``. ``flops_uncounted`` names
  any other matrix-, convolution-, recurrent- or attention-like op that ran without a formula
  (empty when none): when it is not empty, ``flops_per_sample`` is an undercount.
- ``peak_memory_bytes_b{b}``: the peak, over one forward pass at batch ``b``, of the bytes of
  live tensor storages returned by ATen ops during that pass (tracked by a
  ``TorchDispatchMode``; a storage is counted when an op returns it and released when it is
  freed). It *excludes* the parameters and buffers (``param_bytes``) and the input batch, and
  *includes* the outputs. It is deterministic. It misses scratch memory that kernels allocate
  and free inside themselves (im2col buffers, oneDNN workspaces of a fused LSTM or transformer
  layer), allocator overhead and caching, and the Python interpreter: it is the tensor working
  set of the forward pass, not the process's resident memory.
- ``latency_median_s_b{b}``, ``latency_iqr_s_b{b}``: the median and interquartile range, in
  seconds per forward pass, of :meth:`torch.utils.benchmark.Timer.blocked_autorange` blocks with
  ``num_threads=threads`` (one by default; the thread count is restored afterwards);
  ``latency_blocks_b{b}`` is the number of blocks. :func:`profile_models` times the models in
  ``rounds`` interleaved rounds (model 1, model 2, ..., then again) and merges each model's
  blocks (:meth:`Measurement.merge`), so noise from other processes falls on every model alike.

**Devices.** Each model runs where it is, or on ``device=`` (a device option,
:func:`mindkit.device.resolve_device`: every model is moved there, in place); its batches
are moved to its device before anything is measured, and the row's ``device`` says where it ran.
On CUDA (and MPS) each timed forward pass ends with a device synchronisation, so a latency is
the time until the outputs exist, not the time to queue the kernels; ``threads`` then only
affects host-side work. The FLOP formulas above are for the CPU's fused kernels: a GPU's fused
kernels (cuDNN's RNNs, for one) are named in ``flops_uncounted`` when torch has no formula.

Example::

    df = profile_models({"student": student, "audio ensemble": ens["audio"],
                         "image ensemble": ens["image"], "all ensembles": ens}, ds["test"])
    profile_ratios(df, "student")
"""

from __future__ import annotations

import io
import math
import re
import weakref
from contextlib import contextmanager
from dataclasses import dataclass
from numbers import Integral
from typing import TYPE_CHECKING, Any, Callable, Iterator, Mapping, Sequence

import torch
from torch import Tensor, nn
from torch.utils import benchmark
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves
from torch.utils.flop_counter import FlopCounterMode, flop_registry, sdpa_flop_count
from torch.utils.weak import WeakIdKeyDictionary

from mindkit.data.base import Batch, Split
from mindkit.device import module_device, move_model
from mindkit.models.student import MultiHeadStudent, SingleHeadStudent
from mindkit.models.unimodal import TeacherEnsemble

if TYPE_CHECKING:
    import pandas as pd

PROFILE_BATCH_SIZES = (1, 256)

MODEL_KINDS = (
    "a multimodal model (MultiHeadStudent, SingleHeadStudent, or a module with `names` and "
    "`forward_batch`)",
    "a UnimodalNet or TeacherEnsemble (a module with a `modality`)",
    "a dict {modality: TeacherEnsemble or UnimodalNet} (all ensembles together)",
)


# --------------------------------------------------------------------------------------------
# FLOP formulas for fused CPU kernels that torch.utils.flop_counter does not know
# (called by FlopCounterMode with tensor shapes in place of tensors)


def _mkldnn_rnn_layer_flop(input_shape, w_ih, w_hh, *args, out_shape=None, **kwargs) -> int:
    """One layer (one direction) of a fused oneDNN RNN: the input-to-hidden and hidden-to-hidden
    products at every step, 2 FLOPs per multiply-add, as ``mm``/``addmm`` would count them.
    ``input`` is ``[steps, batch, features]`` (either order, or packed ``[sum(lengths), F]``)."""
    rows = math.prod(input_shape[:-1])
    return 2 * rows * (w_ih[0] * w_ih[1] + w_hh[0] * w_hh[1])


def _encoder_layer_flop(src, embed_dim, num_heads, qkv_weight, qkv_bias, proj_weight, proj_bias,
                        use_gelu, norm_first, eps, norm_weight_1, norm_bias_1, norm_weight_2,
                        norm_bias_2, ffn_weight_1, ffn_bias_1, ffn_weight_2, ffn_bias_2,
                        *args, out_shape=None, **kwargs) -> int:
    """The fused transformer encoder layer: its four linear maps (q/k/v, output projection, two
    feed-forward layers) on every token, plus attention over all padded positions of a dense
    ``[B, T, E]`` input (the padding mask is applied to scores, so nothing is skipped)."""
    b, t, e = src
    linear = 2 * b * t * sum(w[0] * w[1] for w in (qkv_weight, proj_weight, ffn_weight_1,
                                                   ffn_weight_2))
    head = (b, num_heads, t, e // num_heads)
    return linear + sdpa_flop_count(head, head, head)


def _sdpa_cpu_flop(query, key, value, *args, out_shape=None, **kwargs) -> int:
    return sdpa_flop_count(query, key, value)


EXTRA_FLOP_FORMULAS: dict[Any, Callable[..., int]] = {
    torch.ops.aten.mkldnn_rnn_layer: _mkldnn_rnn_layer_flop,
    torch.ops.aten._transformer_encoder_layer_fwd: _encoder_layer_flop,
    torch.ops.aten._scaled_dot_product_flash_attention_for_cpu: _sdpa_cpu_flop,
}
"""FLOP formulas added to :class:`FlopCounterMode` (``custom_mapping``) for fused CPU kernels."""

_COUNTED = set(flop_registry) | set(EXTRA_FLOP_FORMULAS)
_COMPUTE_OP = re.compile(r"(^|_)(mm|bmm|addmm|addbmm|baddbmm|matmul|linear|einsum|addmv|mv)"
                         r"($|_)|conv|rnn|lstm|gru|attention|transformer|mkldnn")


# --------------------------------------------------------------------------------------------
# the adapter: every kind of model -> one module (parameters, state) + fn(batch)


@dataclass
class _Profiled:
    kind: str
    modalities: tuple[str, ...]
    module: nn.Module
    call: Callable[[Batch], Any]


def _unimodal_call(model: nn.Module) -> Callable[[Batch], Any]:
    m = model.modality
    return lambda batch: model(batch.inputs[m], batch.lengths.get(m))


def _as_profiled(model: Any) -> _Profiled:
    if isinstance(model, Mapping):
        if not model:
            raise ValueError("an empty dict of ensembles has nothing to profile; give "
                             "{modality: TeacherEnsemble} with at least one entry")
        for key, ens in model.items():
            if not (isinstance(ens, nn.Module) and isinstance(getattr(ens, "modality", None),
                                                                str)):
                raise TypeError(
                    f"all ensembles together: the entry {key!r} is a {type(ens).__name__}, not "
                    "a TeacherEnsemble or UnimodalNet; give {modality: TeacherEnsemble}")
            if ens.modality != key:
                raise ValueError(
                    f"all ensembles together: the entry {key!r} holds a model of modality "
                    f"{ens.modality!r}; key each ensemble by its own modality")
        names = sorted(model)
        calls = [_unimodal_call(model[m]) for m in names]

        def call_all(batch: Batch) -> list:
            return [c(batch) for c in calls]

        return _Profiled("ensembles", tuple(names), nn.ModuleDict({m: model[m] for m in names}),
                         call_all)
    if isinstance(model, nn.Module):
        if isinstance(model, (MultiHeadStudent, SingleHeadStudent)) or (
                hasattr(model, "forward_batch") and isinstance(getattr(model, "names", None),
                                                               (list, tuple))):
            kind = "student" if isinstance(model, (MultiHeadStudent, SingleHeadStudent)) \
                else "multimodal"
            return _Profiled(kind, tuple(sorted(model.names)), model, model.forward_batch)
        if isinstance(getattr(model, "modality", None), str):
            kind = "ensemble" if isinstance(model, TeacherEnsemble) else "unimodal"
            return _Profiled(kind, (model.modality,), model, _unimodal_call(model))
    raise TypeError(
        f"cannot profile a {type(model).__name__}: give " + "; or ".join(MODEL_KINDS)
        + ". To profile a plain module, wrap it in a UnimodalNet (its encoder and head) or a "
        "student.")


# --------------------------------------------------------------------------------------------
# inputs


def _check_batch_sizes(batch_sizes: Sequence[int]) -> tuple[int, ...]:
    sizes = tuple(batch_sizes) if not isinstance(batch_sizes, int) else (batch_sizes,)
    bad = [b for b in sizes if isinstance(b, bool) or not isinstance(b, Integral) or b < 1]
    if not sizes or bad:
        raise ValueError(f"batch sizes must be whole numbers >= 1, got {list(sizes)}; e.g. "
                         f"batch_sizes={PROFILE_BATCH_SIZES}")
    return tuple(dict.fromkeys(int(b) for b in sizes))  # unique, order kept


def _sample_pool(split: Split, modalities: Sequence[str]) -> Tensor:
    """Positions of the samples of ``split`` having every modality in ``modalities``."""
    lacking = [m for m in modalities if m not in split.inputs]
    if lacking:
        raise KeyError(
            f"split {split.name!r} has no modality {lacking} (it has {split.modalities}); profile "
            "on a split of the dataset the models were built for")
    keep = torch.ones(len(split), dtype=torch.bool, device=split.device)
    for m in modalities:
        keep &= split.present[m]
    pool = keep.nonzero().flatten()
    if pool.numel() == 0:
        raise ValueError(
            f"no sample of split {split.name!r} ({len(split)} samples) has all of "
            f"{list(modalities)}; profile on a split with such samples (e.g. a test split with "
            "paired samples), or profile the models that need fewer modalities separately")
    return pool


def _batches(split: Split, pool: Tensor, sizes: Sequence[int]) -> dict[int, Batch]:
    """The first ``b`` samples of ``pool``, repeated cyclically when it holds fewer."""
    return {b: split.batch(pool[torch.arange(b, device=pool.device) % pool.numel()])
            for b in sizes}


# --------------------------------------------------------------------------------------------
# measures


def _state_bytes(module: nn.Module) -> int:
    return sum(t.numel() * t.element_size() for t in (*module.parameters(), *module.buffers()))


def _saved_bytes(module: nn.Module) -> int:
    buf = io.BytesIO()
    torch.save(module.state_dict(), buf)
    return buf.getbuffer().nbytes


class _LiveTensorBytes(TorchDispatchMode):
    """Peak bytes of live tensor storages returned by ATen ops while this mode is active.

    Storages of ``exclude`` (parameters, buffers, inputs) and views of them are not counted. A
    storage is counted once, with its size when first returned, and subtracted when freed.
    Also records the op packets that ran (for the FLOP coverage check).
    """

    def __init__(self, exclude: Sequence[Tensor]) -> None:
        super().__init__()
        self.live = 0
        self.peak = 0
        self.ops: set = set()
        self._seen = WeakIdKeyDictionary()
        for t in exclude:
            self._seen[t.untyped_storage()] = None

    def _free(self, nbytes: int, _ref: Any) -> None:
        self.live -= nbytes

    def _track(self, t: Tensor) -> None:
        try:
            st = t.untyped_storage()
        except (RuntimeError, NotImplementedError):  # no plain storage (mkldnn/sparse layouts)
            st, nbytes = t, t.numel() * t.element_size()
        else:
            nbytes = st.nbytes()
        if st in self._seen:
            return
        self._seen[st] = weakref.ref(st, lambda r, n=nbytes: self._free(n, r))
        self.live += nbytes
        self.peak = max(self.peak, self.live)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        self.ops.add(func.overloadpacket)
        for t in tree_leaves(out):
            if isinstance(t, Tensor):
                self._track(t)
        return out


def _tensors(batch: Batch) -> list[Tensor]:
    return [*batch.inputs.values(), *batch.present.values(), *batch.lengths.values(), batch.y,
            batch.idx, *([] if batch.ids is None else [batch.ids])]


def _peak_memory(p: _Profiled, batch: Batch) -> tuple[int, set]:
    exclude = [*p.module.parameters(), *p.module.buffers(), *_tensors(batch)]
    tracker = _LiveTensorBytes(exclude)
    with torch.no_grad(), tracker:
        out = p.call(batch)
    del out
    return tracker.peak, tracker.ops


def _flops(p: _Profiled, batch: Batch) -> int:
    with torch.no_grad(), FlopCounterMode(display=False,
                                          custom_mapping=EXTRA_FLOP_FORMULAS) as counter:
        p.call(batch)
    return int(counter.get_total_flops())


def _uncounted(ops: set) -> str:
    names = sorted({str(op) for op in ops
                    if op not in _COUNTED and _COMPUTE_OP.search(op.__name__)})
    return ", ".join(names)


def _synchronizer(device: torch.device) -> Callable[[], None]:
    """What waits for ``device`` to finish its queued work (nothing on the CPU)."""
    if device.type == "cuda":
        return lambda: torch.cuda.synchronize(device)
    if device.type == "mps":
        return torch.mps.synchronize
    return lambda: None


def _timer(p: _Profiled, batch: Batch, name: str, threads: int) -> benchmark.Timer:
    sync = _synchronizer(module_device(p.module))

    def run() -> None:
        with torch.no_grad():
            p.call(batch)
        sync()

    return benchmark.Timer(stmt="run()", globals={"run": run}, num_threads=threads,
                           label="mindkit.evaluate.profile", sub_label=name,
                           description=f"batch {len(batch)}")


@contextmanager
def _eval_and_threads(modules: Sequence[nn.Module], threads: int) -> Iterator[None]:
    """Every module in eval mode and torch at ``threads`` threads; both restored on exit."""
    flags = [(m, m.training) for mod in modules for m in mod.modules()]
    old_threads = torch.get_num_threads()
    try:
        for mod in modules:
            mod.eval()
        torch.set_num_threads(threads)
        yield
    finally:
        torch.set_num_threads(old_threads)
        for m, flag in flags:
            m.training = flag


# --------------------------------------------------------------------------------------------
# public API


def profile_models(models: Mapping[str, Any], split: Split, *,
                   batch_sizes: Sequence[int] = PROFILE_BATCH_SIZES, threads: int = 1,
                   min_run_time: float = 0.2, rounds: int = 3,
                   samples_with: Sequence[str] = (), device=None) -> "pd.DataFrame":
    """Profile every model of ``models`` (name -> model) on the same samples of ``split``.

    One row per model (columns in the module docstring): ``model``, ``kind``, ``device``,
    ``modalities``,
    ``samples`` (distinct samples behind the batches), ``params``, ``param_bytes``,
    ``size_bytes``, ``flops_per_sample``, ``flops_uncounted``, ``threads``, and per batch size
    ``b``: ``peak_memory_bytes_b{b}``, ``latency_median_s_b{b}``, ``latency_iqr_s_b{b}``,
    ``latency_blocks_b{b}``.

    The samples are those of ``split`` having every modality that any of the models needs (plus
    ``samples_with``), so all models see the same inputs. Latency is measured in ``rounds``
    interleaved rounds, each a ``blocked_autorange(min_run_time=min_run_time)`` per model and
    batch size (which first spends up to about as long again estimating its block size, as a
    warm-up). ``device``: where the models run (module docstring; ``None``: where each one is).
    """
    import pandas as pd

    if not isinstance(models, Mapping) or not models:
        raise ValueError("give the models as a non-empty dict {name: model}")
    sizes = _check_batch_sizes(batch_sizes)
    if isinstance(threads, bool) or not isinstance(threads, Integral) or threads < 1:
        raise ValueError(f"threads must be a whole number >= 1, got {threads!r}")
    threads = int(threads)
    if not min_run_time > 0:
        raise ValueError(f"min_run_time must be a positive number of seconds, got "
                         f"{min_run_time!r}")
    if isinstance(rounds, bool) or not isinstance(rounds, Integral) or rounds < 1:
        raise ValueError(f"rounds must be a whole number >= 1, got {rounds!r}")
    profiled = {}
    for name, model in models.items():
        try:
            profiled[str(name)] = _as_profiled(model)
        except (TypeError, ValueError) as err:
            raise type(err)(f"model {name!r}: {err}") from None
    for model in models.values():
        move_model(model, device)
    needed = sorted({m for p in profiled.values() for m in p.modalities} | set(samples_with))
    split = split.to("cpu")
    pool = _sample_pool(split, needed)
    cpu_batches = _batches(split, pool, sizes)
    devices = {name: module_device(p.module) for name, p in profiled.items()}
    on_device = {dev: {b: bt.to(dev) for b, bt in cpu_batches.items()}
                 for dev in set(devices.values())}
    largest = max(sizes)

    rows: dict[str, dict] = {}
    measurements: dict[tuple[str, int], list] = {(n, b): [] for n in profiled for b in sizes}
    with _eval_and_threads([p.module for p in profiled.values()], threads):
        for name, p in profiled.items():
            batches = on_device[devices[name]]
            with torch.no_grad():
                p.call(batches[min(sizes)])  # warm-up (lazy initialisation, first-call caches)
            row = {"model": name, "kind": p.kind, "device": str(devices[name]),
                   "modalities": "+".join(p.modalities),
                   "samples": int(pool.numel()),
                   "params": sum(t.numel() for t in p.module.parameters()),
                   "param_bytes": _state_bytes(p.module), "size_bytes": _saved_bytes(p.module),
                   "flops_per_sample": _flops(p, batches[largest]) / largest}
            ops: set = set()
            for b in sizes:
                peak, seen = _peak_memory(p, batches[b])
                row[f"peak_memory_bytes_b{b}"] = peak
                ops |= seen
            row["flops_uncounted"] = _uncounted(ops)
            row["threads"] = threads
            rows[name] = row
        timers = {(n, b): _timer(p, on_device[devices[n]][b], n, threads)
                  for n, p in profiled.items() for b in sizes}
        for _ in range(rounds):
            for key, timer in timers.items():
                measurements[key].append(timer.blocked_autorange(min_run_time=min_run_time))

    for (name, b), ms in measurements.items():
        merged = benchmark.Measurement.merge(ms)
        if len(merged) != 1:  # same Timer every round: one task spec
            raise RuntimeError(f"could not merge the latency rounds of {name!r} at batch {b}")
        m = merged[0]
        rows[name][f"latency_median_s_b{b}"] = float(m.median)
        rows[name][f"latency_iqr_s_b{b}"] = float(m.iqr)
        rows[name][f"latency_blocks_b{b}"] = len(m.times)
    return pd.DataFrame(list(rows.values()))


def profile_model(model: Any, split: Split, *, name: str | None = None,
                  batch_sizes: Sequence[int] = PROFILE_BATCH_SIZES, threads: int = 1,
                  min_run_time: float = 0.2, rounds: int = 1,
                  samples_with: Sequence[str] = (), device=None) -> dict:
    """Profile one model on the samples of ``split`` that have every modality it needs (plus
    ``samples_with``: pass all the dataset's modalities to use the same samples as a student
    would). Returns one row as a dict (the columns of :func:`profile_models`); ``name``
    defaults to the model's class name (``"ensembles"`` for a dict of ensembles); ``device`` as
    in :func:`profile_models`."""
    if name is None:
        name = "ensembles" if isinstance(model, Mapping) else type(model).__name__
    df = profile_models({name: model}, split, batch_sizes=batch_sizes, threads=threads,
                        min_run_time=min_run_time, rounds=rounds, samples_with=samples_with,
                        device=device)
    return df.to_dict("records")[0]


def profile_ratios(profile: "pd.DataFrame", reference: str,
                   others: Sequence[str] | None = None) -> "pd.DataFrame":
    """The ``reference`` row (e.g. the student) against each of ``others`` (default: every other
    row) of a :func:`profile_models` table.

    Columns: ``model`` (the other), ``params_ratio`` (reference params / theirs; the goal of
    issue 9 is <= 1/10), ``size_ratio`` (on-disk bytes, likewise), ``flops_ratio`` (FLOPs per
    sample, likewise), and per batch size ``speedup_b{b}`` = their median latency / the
    reference's (> 1: the reference is faster; the goal is >= 5). Read the speed-ups beside
    the latencies' interquartile ranges in the profile.
    """
    names = list(profile["model"])
    if reference not in names:
        raise KeyError(f"no row {reference!r} in the profile; it has {names}")
    others = [n for n in names if n != reference] if others is None else list(others)
    lacking = [n for n in others if n not in names]
    if lacking:
        raise KeyError(f"no rows {lacking} in the profile; it has {names}")
    rows = profile.set_index("model")
    ref = rows.loc[reference]
    sizes = [int(c[len("latency_median_s_b"):]) for c in profile.columns
             if c.startswith("latency_median_s_b")]
    out = []
    for n in others:
        r = rows.loc[n]
        rec = {"model": n, "params_ratio": ref["params"] / r["params"],
               "size_ratio": ref["size_bytes"] / r["size_bytes"],
               "flops_ratio": ref["flops_per_sample"] / r["flops_per_sample"]
               if r["flops_per_sample"] else float("nan")}
        for b in sizes:
            med = f"latency_median_s_b{b}"
            rec[f"speedup_b{b}"] = r[med] / ref[med]
        out.append(rec)
    import pandas as pd

    return pd.DataFrame(out)


PROFILE_MEASURES = ("params", "size_bytes", "flops_per_sample")
PROFILE_PER_BATCH = ("peak_memory_bytes", "latency_median_s", "latency_iqr_s")


def profile_records(profile: "pd.DataFrame", **fields) -> list[dict]:
    """A :func:`profile_models` table as tidy metric records for ``metrics.json``: one per model
    and measure (``metric`` = ``params``, ``size_bytes``, ``flops_per_sample`` and, per batch
    size, ``peak_memory_bytes_b<k>``, ``latency_median_s_b<k>``, ``latency_iqr_s_b<k>``),
    ``method`` = the model's name, ``model`` = its kind, ``head="-"``, ``group="profile"`` and
    no CI (a measurement, not an estimate from samples), with the ``threads`` and ``device`` it
    was measured with; ``fields`` are added to each."""
    sizes = [c[len("latency_median_s_b"):] for c in profile.columns
             if c.startswith("latency_median_s_b")]
    cols = list(PROFILE_MEASURES) + [f"{m}_b{b}" for b in sizes for m in PROFILE_PER_BATCH]
    out = []
    for _, row in profile.iterrows():
        for c in cols:
            out.append({"head": "-", "group": "profile", **fields, "method": row["model"],
                        "model": row["kind"], "metric": c, "value": float(row[c]),
                        "ci_low": None, "ci_high": None, "n": int(row["samples"]),
                        "threads": int(row["threads"]), "statistic": "profile",
                        **({"device": row["device"]} if "device" in row else {})})
    return out
