"""Shared plumbing of the explorers: one figure redrawn in place, PNG output, display handle
(see :mod:`mindkit.viz.widgets` for how ``show()`` displays)."""

from __future__ import annotations

from io import BytesIO
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover - imports for annotations only
    pass

T_RANGE = (0.5, 10.0)
"""The temperature slider's range (and the default span of the KD-vs-T curve)."""

TEACHER_COLOR, STUDENT_COLOR, TRUE_COLOR = "#4C72B0", "#DD8452", "#2ca02c"
METHOD_COLORS = ["#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B3", "#937860", "#DA8BC3"]


class FigureWidget:
    """Shared plumbing: one figure redrawn in place, PNG rendering, display with a handle."""

    dpi = 100
    fig: Any
    controls: Any

    def _new_figure(self, figsize: tuple[float, float]):
        import matplotlib.pyplot as plt

        fig = plt.figure(figsize=figsize)  # fixed margins: no layout engine to run per draw
        plt.close(fig)  # drawn only through png()/show(): no second inline display
        self._handle = None
        self._syncing = False
        return fig

    def png(self, dpi: int | None = None) -> bytes:
        """The current figure as PNG bytes."""
        buf = BytesIO()
        self.fig.savefig(buf, format="png", dpi=dpi or self.dpi)
        return buf.getvalue()

    def save(self, path: str | Path, dpi: int | None = None) -> Path:
        """Write the current figure to ``path`` (format from the suffix, e.g. ``.png``)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.fig.savefig(path, dpi=dpi or self.dpi)
        return path

    def show(self) -> None:
        """Display the controls and the figure (as a PNG output that later updates replace)."""
        from IPython.display import Image, display

        display(self.controls)
        self._handle = display(Image(data=self.png(), format="png"), display_id=True)

    def _publish(self) -> None:
        """Replace the displayed PNG (if ``show`` displayed one) with the current figure."""
        if self._handle is not None:
            from IPython.display import Image

            self._handle.update(Image(data=self.png(), format="png"))


def tick_labels(ax, names: list[str], positions, bold: set[int] = frozenset()) -> None:
    rotate = len(names) > 6 or max((len(n) for n in names), default=0) > 8
    ax.set_xticks(list(positions))
    ax.set_xticklabels(names, rotation=45 if rotate else 0, ha="right" if rotate else "center",
                       fontsize=8 if len(names) > 12 else 9)
    for j, lab in enumerate(ax.get_xticklabels()):
        if j in bold:
            lab.set_fontweight("bold")
            lab.set_color(TRUE_COLOR)


__all__ = ["T_RANGE"]
