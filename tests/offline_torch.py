"""Model tests run offline and on one torch thread (two threads on two busy cores are slower)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import torch


@contextmanager
def offline_single_thread() -> Iterator[None]:
    """No hub lookups, one torch thread; both restored afterwards."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_HUB_OFFLINE", "1")
        patch.setenv("TRANSFORMERS_OFFLINE", "1")
        yield
    torch.set_num_threads(threads)
