"""Figures and notebook helpers."""

from mindkit.viz.calibration import plot_reliability
from mindkit.viz.data import (
    class_balance,
    datasets_table,
    plot_availability,
    plot_class_balance,
    plot_examples,
)
from mindkit.viz.live import LivePlot
from mindkit.viz.plots import plot_head_comparison, plot_history, plot_method_comparison

__all__ = [
    "LivePlot",
    "class_balance",
    "datasets_table",
    "plot_availability",
    "plot_class_balance",
    "plot_examples",
    "plot_head_comparison",
    "plot_history",
    "plot_method_comparison",
    "plot_reliability",
]
