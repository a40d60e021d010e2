"""What the CUDA tests of tests/nodes share: a skip marker and a synchronisation counter."""

from __future__ import annotations

import warnings
from collections.abc import Callable

import pytest
import torch

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def count_syncs(run: Callable[[], None]) -> int:
    """How many host-device synchronisations ``run`` makes (torch's sync debug mode)."""
    torch.cuda.synchronize()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            run()
        finally:
            torch.cuda.set_sync_debug_mode("default")
    return sum("called a synchronizing CUDA operation" in str(w.message) for w in caught)
