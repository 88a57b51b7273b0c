"""Interactive figures for the course notebooks, built on core ipywidgets only.

Every figure exists twice:

* a plain drawing function ``draw_...(fig, ...)`` that draws onto a matplotlib ``Figure``; the
  notebooks call it to show a static figure (readable without a kernel), and
* a factory that returns an ``ipywidgets.VBox``: its controls, then an ``ipywidgets.Image``
  holding a PNG of the same drawing, redrawn whenever a control changes.

The PNGs are rendered from a bare ``matplotlib.figure.Figure`` (Agg, never registered with
pyplot, so nothing is left open), which works in JupyterLab, classic Notebook, VS Code and
Colab alike, and lets the tests sweep the controls without a kernel. All the maths comes
from the library (:mod:`hyperlib.sampling`, :mod:`hyperlib.layers`, :mod:`hyperlib.sort`);
these modules only draw it. One module per topic, in course order:

* :mod:`~hyperlib.widgets.neighbours`: Gaussian weights over integer neighbours (notebook 02);
* :mod:`~hyperlib.widgets.samples` and :mod:`~hyperlib.widgets.descent`: sampling, and one
  tuple's descent with and without samples near its target (notebook 03);
* :mod:`~hyperlib.widgets.identity`: the identity layer's tuples (notebooks 04 and 05);
* :mod:`~hyperlib.widgets.quicksort`: the differentiable quicksort (notebook 06);
* :mod:`~hyperlib.widgets.glimpses`: where a glimpse model looks (notebook 08);
* :mod:`~hyperlib.widgets.base`: rendering and controls shared by all of them.

Every public name is importable from ``hyperlib.widgets`` itself.
"""

from hyperlib.widgets.base import (
    draw_grid,
    figure_widget,
    int_slider,
    render,
    slider,
)
from hyperlib.widgets.descent import (
    SIGMA_SCALE,
    descend,
    descent_2d,
    draw_descent,
    raw_sigma,
)
from hyperlib.widgets.glimpses import (
    GLIMPSE_COLOURS,
    draw_glimpses,
    draw_look,
    glimpse_browser,
    read_pixels,
)
from hyperlib.widgets.identity import (
    TUPLE_COLOURS,
    draw_identity,
    draw_tuples,
    identity_2d,
    tuple_status,
)
from hyperlib.widgets.neighbours import (
    draw_neighbours_1d,
    draw_neighbours_2d,
    ellipse,
    neighbour_weights,
    neighbours_1d,
    neighbours_2d,
)
from hyperlib.widgets.quicksort import (
    draw_quicksort,
    quicksort_2d,
    quicksort_list,
    quicksort_steps,
)
from hyperlib.widgets.samples import (
    KIND_COLOURS,
    draw_samples,
    sample_kinds,
    samples_2d,
)

__all__ = [
    "GLIMPSE_COLOURS",
    "KIND_COLOURS",
    "SIGMA_SCALE",
    "TUPLE_COLOURS",
    "descend",
    "descent_2d",
    "draw_descent",
    "draw_glimpses",
    "draw_grid",
    "draw_identity",
    "draw_look",
    "draw_neighbours_1d",
    "draw_neighbours_2d",
    "draw_quicksort",
    "draw_samples",
    "draw_tuples",
    "ellipse",
    "figure_widget",
    "glimpse_browser",
    "identity_2d",
    "int_slider",
    "neighbour_weights",
    "neighbours_1d",
    "neighbours_2d",
    "quicksort_2d",
    "quicksort_list",
    "quicksort_steps",
    "raw_sigma",
    "read_pixels",
    "render",
    "sample_kinds",
    "samples_2d",
    "slider",
    "tuple_status",
]
