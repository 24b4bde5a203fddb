"""Interactive explorers for notebooks: the KD loss of one sample, and the attributions of one.

* :class:`KDExplorer` moves the temperature ``T`` and the KD weight ``alpha`` for one training
  sample and one student head, and shows the teacher ensemble's soft targets, the student's
  tempered probabilities and the head's loss terms. Everything is computed from cached logits
  (teacher members and student heads, computed once, e.g. by :meth:`KDExplorer.from_models`)
  with the package's own loss functions, so the numbers are exactly those training computes.
* :class:`AttributionViewer` picks one explained test sample and shows its modalities, the
  per-modality Shapley values of every method side by side, the selected method's
  integrated-gradients maps over the inputs, and which head served the sample.

Both share one design. ``update(**state)`` recomputes, redraws the explorer's matplotlib figure
``.fig`` in place and returns the numbers it shows (a dict, so tests and notebooks can check
them); ``.controls`` is an ``ipywidgets`` box of sliders and dropdowns whose callbacks call
``update``; :meth:`png` renders the current figure and :meth:`save` writes it to a file.

How ``show()`` displays (and why): it displays the controls, then the figure as a *plain PNG
output* (``display(Image(png), display_id=True)``) and keeps the display handle; every later
``update`` replaces that output with ``handle.update(Image(new_png))``. In JupyterLab the sliders
therefore update the figure live, while a notebook executed without a live frontend (papermill,
nbconvert) still holds a static PNG of the initial state, which renders anywhere (GitHub, HTML
export) without a widget state. Outside IPython (a script) ``display`` only prints the objects'
text and returns no handle; ``update`` then just redraws ``.fig`` (use :meth:`save`).

The figure is created once and closed from pyplot's figure manager right away, so a notebook's
inline backend does not display it a second time at the end of the cell.
"""

from mindkit.viz.widgets.attribution import AttributionViewer
from mindkit.viz.widgets.base import T_RANGE
from mindkit.viz.widgets.kd import KDExplorer

__all__ = ["AttributionViewer", "KDExplorer", "T_RANGE"]
