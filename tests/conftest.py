"""Fixtures for every unit test in tests/."""

import pytest
import torch


@pytest.fixture(autouse=True)
def one_thread():
    """The tests' tensors are small: they gain nothing from threads, and a busy pool (the
    notebooks' kernels, a second test process) can stall them."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
