"""hyperlib: adaptive sparse hyperlayers (Bloem, 2018) for current PyTorch.

The method: :mod:`~hyperlib.sampling`, :mod:`~hyperlib.contract`, :mod:`~hyperlib.layers`,
:mod:`~hyperlib.sort`, :mod:`~hyperlib.attention`, :mod:`~hyperlib.data` (and
:mod:`~hyperlib.checks`, their argument checks). The course's tooling, built on it:
:mod:`~hyperlib.widgets`, :mod:`~hyperlib.course`, :mod:`~hyperlib.classroom`,
:mod:`~hyperlib.bench`, :mod:`~hyperlib.experiments`.
"""

__version__ = "0.1.0"

from hyperlib.contract import contract, contract_dense, densify
from hyperlib.course import scale
from hyperlib.layers import HyperLayer, SparseLayer, output_template
from hyperlib.sampling import (
    duplicates,
    log_densities,
    pool,
    sample,
    transform_means,
    transform_sigmas,
    weights,
)

__all__ = [
    "HyperLayer",
    "SparseLayer",
    "__version__",
    "contract",
    "contract_dense",
    "densify",
    "duplicates",
    "log_densities",
    "output_template",
    "pool",
    "sample",
    "scale",
    "transform_means",
    "transform_sigmas",
    "weights",
]
