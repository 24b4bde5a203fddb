"""A live training curve for notebooks that leaves one static figure behind.

In Jupyter the figure is redrawn in place after each epoch (a display handle), so the saved
notebook keeps only the final figure; outside Jupyter (scripts, CI) nothing is drawn until
``on_fit_end`` saves the PNG, if a path was given.
"""

from __future__ import annotations

from pathlib import Path

from mindkit.atomic import atomic_path
from mindkit.train.trainer import Callback, History


def _in_notebook() -> bool:
    try:
        from IPython import get_ipython

        ip = get_ipython()
        return ip is not None and "IPKernelApp" in ip.config
    except Exception:  # IPython missing or misconfigured: behave as a script
        return False


class LivePlot(Callback):
    def __init__(self, title: str = "", save_to: str | Path | None = None,
                 every: int = 1, live: bool | None = None) -> None:
        self.title, self.save_to, self.every = title, save_to, every
        self.live = _in_notebook() if live is None else live
        self.records: list[dict] = []
        self._handle = None

    def _figure(self):
        from mindkit.viz.plots import plot_history

        return plot_history(self.records, title=self.title)

    def on_epoch_end(self, trainer, record: dict) -> None:
        self.records.append(record)
        if not self.live or len(self.records) % self.every:
            return
        import matplotlib.pyplot as plt
        from IPython.display import display

        fig = self._figure()
        if self._handle is None:
            self._handle = display(fig, display_id=True)
        else:
            self._handle.update(fig)
        plt.close(fig)

    def on_fit_end(self, trainer, history: History) -> None:
        if self.save_to is None or not self.records:
            return
        import matplotlib.pyplot as plt

        fig = self._figure()
        Path(self.save_to).parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(self.save_to) as tmp:
            fig.savefig(tmp, dpi=110, bbox_inches="tight", format="png")
        plt.close(fig)
