"""pytest hooks for the whole repository: unit tests in tests/ and notebooks under nbval."""

import pytest
import torch


def _tags(item: pytest.Item) -> list[str]:
    cell = getattr(item, "cell", None)  # nbval's notebook-cell items carry their cell
    return cell.get("metadata", {}).get("tags", []) if cell is not None else []


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip CUDA-only tests and notebook cells tagged ``gpu`` on machines without CUDA."""
    if torch.cuda.is_available():
        return
    no_cuda = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if item.get_closest_marker("cuda") or "gpu" in _tags(item):
            item.add_marker(no_cuda)
