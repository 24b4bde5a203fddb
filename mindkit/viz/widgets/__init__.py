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
``update``; :meth:`png` renders the current figure and :meth:`save` writes it to a file (and
returns nothing, so a cell ending with it shows no path).

How ``show()`` displays (and why): it displays the explorer itself, whose view is one widget,
the controls above an ``ipywidgets.Image`` that holds the figure as PNG bytes; every later
``update`` replaces the image's bytes, so in JupyterLab the sliders update the figure live. (A
cell that ends with the explorer object displays the same.) The display also carries the
figure as a plain ``image/png``, which a frontend without widgets renders instead: an executed
notebook (papermill, nbconvert) shows a static picture of its state on GitHub or in an HTML
export. The widget's state, the last picture included, is kept with the notebook: papermill
stores it, and JupyterLab stores it on save when its widget setting "Save Widget State
Automatically" is on, which ``make setup`` turns on for the kit's environment
(:func:`mindkit.notebook.install_lab_settings`); a reopened notebook then shows each explorer
with its last picture rather than "Error displaying widget: model not found". Outside IPython
(a script) ``display`` only prints the object's text; ``update`` then just redraws ``.fig``
(use :meth:`save`).

The figure is created once and closed from pyplot's figure manager right away, so a notebook's
inline backend does not display it a second time at the end of the cell.
"""

from mindkit.viz.widgets.attribution import AttributionViewer
from mindkit.viz.widgets.base import T_RANGE
from mindkit.viz.widgets.kd import KDExplorer

__all__ = ["AttributionViewer", "KDExplorer", "T_RANGE"]
