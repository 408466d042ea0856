"""Shared fixtures: the real data root (or a skip with the reason) and a quiet torch."""

import os
from pathlib import Path

import pytest
import torch

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))

SKIP_REASON = (
    "AFUNET_TEST_DATA is not set: point it at a folder holding DRIVE/ and STARE/ as distributed "
    "(CI sets it to ../shared/data)"
)


@pytest.fixture(scope="session")
def data_root() -> Path:
    """The real data sets' root from AFUNET_TEST_DATA, or skip the test with a clear reason."""
    value = os.environ.get("AFUNET_TEST_DATA")
    if not value:
        pytest.skip(SKIP_REASON)
    root = Path(value)
    if not (root / "DRIVE").is_dir():
        pytest.skip(f"AFUNET_TEST_DATA={root} has no DRIVE/ folder")
    return root
