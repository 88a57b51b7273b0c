"""hyperlib: adaptive sparse hyperlayers (Bloem, 2018) for current PyTorch."""

__version__ = "0.1.0"

from hyperlib.course import scale

__all__ = ["__version__", "scale"]
