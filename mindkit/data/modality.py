"""What one modality of a dataset looks like per sample: :class:`ModalitySpec`, its kinds
(:data:`MODALITY_KINDS`) and their layouts (:data:`LAYOUTS`).

:meth:`ModalitySpec.shape_problem` is the one place where shapes are compared, for models
(:meth:`ModalitySpec.check_input`) and for datasets
(:func:`mindkit.data.validation.validate_split`).
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor

MODALITY_KINDS = ("image", "sequence", "tabular", "timeseries", "tokens")
LAYOUTS = {
    "image": ("C", "H", "W"),
    "sequence": ("max_len", "features"),
    "timeseries": ("max_len", "features"),
    "tabular": ("features",),
    "tokens": ("max_len",),
}
"""The per-sample layout of each modality kind (``ModalitySpec.shape`` has one size per name)."""
TIME_KINDS = ("sequence", "timeseries", "tokens")


def layout_str(kind: str) -> str:
    """The layout of ``kind`` written as a shape: ``(C, H, W)``, ``(features,)``, ..."""
    names = LAYOUTS[kind]
    return f"({', '.join(names)}{',' if len(names) == 1 else ''})"


@dataclass(frozen=True)
class ModalitySpec:
    """What one modality looks like for a single sample.

    ``shape`` is the per-sample tensor shape: ``(C, H, W)`` for images, ``(max_len, features)``
    for sequences/time series (padded; true lengths in ``Split.lengths``), ``(features,)`` for
    tabular data, ``(max_len,)`` long token ids for ``tokens`` (id 0 is padding; ids run below
    ``vocab_size``). ``variable_length`` says whether ``Split.lengths`` holds this modality.
    """

    name: str
    kind: str
    shape: tuple[int, ...]
    variable_length: bool = False
    description: str = ""
    vocab_size: int = 0

    def __post_init__(self) -> None:
        if self.kind not in MODALITY_KINDS:
            raise ValueError(
                f"modality {self.name!r}: unknown kind {self.kind!r}; use one of {MODALITY_KINDS}"
            )
        if self.kind == "tokens" and self.vocab_size < 2:
            raise ValueError(f"modality {self.name!r}: a tokens modality needs vocab_size >= 2")
        layout = LAYOUTS[self.kind]
        if len(self.shape) != len(layout) or any(int(d) < 1 for d in self.shape):
            raise ValueError(
                f"modality {self.name!r}: a {self.kind!r} spec needs a per-sample shape "
                f"{layout_str(self.kind)} of positive sizes, got {tuple(self.shape)}"
            )

    @property
    def channels(self) -> int:
        """Input channels (images) or features per step (sequences) or features (tabular)."""
        if self.kind == "image":
            return self.shape[0]
        if self.kind == "tokens":
            return self.vocab_size
        return self.shape[-1]

    @property
    def free_length(self) -> bool:
        """Whether a model may be fed another number of steps than ``shape[0]`` (variable-length
        sequences, time series and token ids: the encoders pool over the true lengths)."""
        return self.variable_length and self.kind in TIME_KINDS

    def shape_problem(self, shape: tuple[int, ...], free_length: bool = False) -> str | None:
        """Why a per-sample ``shape`` does not fit this spec, with the fix; ``None`` if it fits.

        The one place where shapes are compared (:meth:`check_input` for models,
        :func:`validate_split` for datasets). With ``free_length`` the number of steps of a
        :attr:`free_length` modality may differ from ``shape[0]``; features may not.
        """
        shape, want = tuple(int(d) for d in shape), tuple(self.shape)
        if shape == want:
            return None
        layout = layout_str(self.kind)
        if len(shape) != len(want):
            return (f"{len(shape)} per-sample dimensions instead of {len(want)} {layout}; give a "
                    f"batch [B, {layout[1:-1].rstrip(',')}] (one leading batch dimension)")
        if self.kind == "image":
            if shape[0] != want[0]:
                return (f"{shape[0]} channel(s) where {want[0]} are expected; convert the images "
                        f"to {want[0]} channel(s) (e.g. to greyscale) or declare the channels "
                        "the data has")
            return (f"images of {shape[1]} x {shape[2]} where {want[1]} x {want[2]} are "
                    "expected; resize or crop them, or declare (and build the model for) the "
                    "size the data has")
        if self.kind == "tabular":
            return (f"{shape[0]} features where {want[0]} are expected; give the columns the "
                    "spec declares, in its order")
        # sequence, timeseries, tokens: (max_len, features) or (max_len,)
        if shape[1:] != want[1:]:
            return (f"{shape[1]} features per step where {want[1]} are expected; the steps may "
                    "vary in number, their features may not")
        if free_length and self.free_length:
            return None
        if self.free_length:
            return (f"{shape[0]} padded steps where {want[0]} are expected; pad every sample "
                    f"to {want[0]} steps (true lengths in Split.lengths) or declare the padded "
                    "length the data has")
        return (f"{shape[0]} steps where {want[0]} are expected and the modality is fixed-length "
                f"(variable_length=False); pad or crop to {want[0]} steps, or declare it "
                "variable_length=True and give its lengths")

    def check_input(self, x: Tensor, where: str = "") -> None:
        """Raise a ValueError if the batch ``x`` (``[B, *shape]``) does not fit this spec.

        Only shapes and dtypes are compared (no data is read), so models call it on every
        forward pass. For :attr:`free_length` modalities the number of steps may differ.
        ``where`` (e.g. the model's class name) prefixes the message.
        """
        got = tuple(x.shape[1:])
        free = self.free_length and len(got) == len(self.shape) and got[0] >= 1
        problem = self.shape_problem(got, free_length=free)
        if problem is None and (self.kind == "tokens") == x.is_floating_point():
            want = "integer token ids (torch.long)" if self.kind == "tokens" else "floating values"
            problem = f"dtype {x.dtype} where {want} are expected; convert with " + (
                "x.long()" if self.kind == "tokens" else "x.float()")
        if problem is not None:
            prefix = f"{where}: " if where else ""
            raise ValueError(
                f"{prefix}modality {self.name!r} ({self.kind}): the model was built for "
                f"per-sample shape {tuple(self.shape)} = {layout_str(self.kind)}"
                f"{', any max_len' if self.free_length else ''} but got {got} "
                f"(batch {tuple(x.shape)}, {x.dtype}); {problem}"
            )
