"""A live training curve for notebooks that leaves one static figure behind.

In Jupyter the figure is redrawn in place after each epoch (a display handle), so the saved
notebook keeps only the final figure; outside Jupyter (scripts, CI) nothing is drawn until
``on_fit_end`` saves the PNG, if a path was given.

Where it appears: at the start of the fit (:meth:`LivePlot.on_fit_start`, called before the
trainer draws its progress bar) the curve's output is opened with a one-line placeholder, and
each epoch's figure replaces it in place. So the curve sits above the bar and the bar stays one
line that updates below it (a figure first displayed after the bar would split the bar's text
output in two, leaving its first state frozen above the curve). No figure is drawn before the
first epoch has a record (no empty frame).
"""

from __future__ import annotations

from pathlib import Path

from mindkit.atomic import atomic_path
from mindkit.common import in_notebook
from mindkit.train.trainer import Callback, History


class LivePlot(Callback):
    """Training curves (:func:`mindkit.viz.plots.plot_history`) redrawn after every ``every``
    epochs in a notebook (``live``: default, whether this runs in a Jupyter kernel), saved to
    ``save_to`` at the end of the fit."""

    def __init__(self, title: str = "", save_to: str | Path | None = None,
                 every: int = 1, live: bool | None = None) -> None:
        self.title, self.save_to, self.every = title, save_to, every
        self.live = in_notebook() if live is None else live
        self.records: list[dict] = []
        self.epochs: int | None = None  # the planned epochs, when a trainer says
        self._handle = None

    def figure(self):
        """The current curves as a new matplotlib figure (the caller closes it)."""
        from mindkit.viz.plots import plot_history

        return plot_history(self.records, title=self.title, epochs=self.epochs)

    def _open(self) -> None:
        """Open the curve's output (a placeholder line that the first figure replaces)."""
        from IPython.display import display

        waiting = f"{self.title}: " if self.title else ""
        self._handle = display({"text/plain": f"{waiting}training curves after the first epoch"},
                               raw=True, display_id=True)

    def on_fit_start(self, trainer) -> None:
        self.records = []
        config = getattr(trainer, "config", None)
        self.epochs = getattr(config, "epochs", None)
        self._handle = None
        if self.live:
            self._open()

    def _draw(self) -> None:
        import matplotlib.pyplot as plt

        if self._handle is None:
            self._open()
        fig = self.figure()
        self._handle.update(fig)
        plt.close(fig)

    def on_epoch_end(self, trainer, record: dict) -> None:
        self.records.append(record)
        if self.live and len(self.records) % self.every == 0:
            self._draw()

    def on_fit_end(self, trainer, history: History) -> None:
        if self.live and self.records and len(self.records) % self.every:
            self._draw()  # the last epochs were not drawn yet
        if self.save_to is None or not self.records:
            return
        import matplotlib.pyplot as plt

        fig = self.figure()
        Path(self.save_to).parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(self.save_to) as tmp:
            fig.savefig(tmp, dpi=110, bbox_inches="tight", format="png")
        plt.close(fig)
