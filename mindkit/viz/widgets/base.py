"""Shared plumbing of the explorers: one figure redrawn in place, rendered as PNG into an
``ipywidgets.Image`` below the controls (see :mod:`mindkit.viz.widgets` for how ``show()``
displays)."""

from __future__ import annotations

import base64
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
    """Shared plumbing: one figure redrawn in place, PNG rendering, and one displayable view
    (the controls above an ``ipywidgets.Image`` holding the figure as PNG bytes)."""

    dpi = 100
    fig: Any
    controls: Any

    def _new_figure(self, figsize: tuple[float, float]):
        import matplotlib.pyplot as plt

        fig = plt.figure(figsize=figsize)  # fixed margins: no layout engine to run per draw
        plt.close(fig)  # drawn only through png()/show(): no second inline display
        self._view = None
        self._image = None
        self._syncing = False
        return fig

    def png(self, dpi: int | None = None) -> bytes:
        """The current figure as PNG bytes."""
        buf = BytesIO()
        self.fig.savefig(buf, format="png", dpi=dpi or self.dpi)
        return buf.getvalue()

    def save(self, path: str | Path, dpi: int | None = None) -> None:
        """Write the current figure to ``path`` (format from the suffix, e.g. ``.png``).

        Returns nothing, so a notebook cell that ends with it shows the explorer, not a path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.fig.savefig(path, dpi=dpi or self.dpi)

    @property
    def view(self):
        """The displayed widget: ``VBox([controls, image])``, the image an ``ipywidgets.Image``
        of the current figure (PNG). Made on first use; every :meth:`update` after that
        replaces the image's bytes. Its state (the last picture included) is what JupyterLab
        saves with the notebook when widget state saving is on
        (:func:`mindkit.notebook.install_lab_settings`)."""
        if self._view is None:
            import ipywidgets as W

            self._image = W.Image(value=self.png(), format="png",
                                  layout=W.Layout(max_width="100%", height="auto"))
            self._view = W.VBox([self.controls, self._image])
        return self._view

    def _repr_mimebundle_(self, include=None, exclude=None, **kwargs) -> dict:
        """The view (a widget) plus the current figure as ``image/png`` for a frontend that
        shows no widgets (GitHub, an HTML export without widget state, an untrusted notebook);
        JupyterLab shows the widget."""
        fresh = self._view is None
        view = self.view  # a new view already holds the current figure
        if not fresh:
            self._image.value = self.png()
        data = dict(view._repr_mimebundle_() or {})
        data["image/png"] = base64.b64encode(self._image.value).decode("ascii")
        return data

    def show(self) -> None:
        """Display the explorer: its controls above its figure (see :attr:`view`). Ending a
        cell with the explorer object itself displays the same."""
        from IPython.display import display

        display(self)

    def _publish(self) -> None:
        """Show the current figure in the view's image (once the view exists)."""
        if self._image is not None:
            self._image.value = self.png()


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
