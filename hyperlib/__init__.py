"""hyperlib: adaptive sparse hyperlayers (Bloem, 2018) for current PyTorch."""

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
