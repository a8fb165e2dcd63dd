"""Shared fixtures: toy jets (cached per session) and the reference."""

import os

import numpy as np
import pytest

from jetimg.toys import toy_jets

os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(scope="session")
def toys_5k():
    """5,000 realistic toy jets (float32, 200 slots) and their labels."""
    return toy_jets(5000, seed=2024)


@pytest.fixture(scope="session")
def toys_small():
    """500 toy jets for the option matrix."""
    return toy_jets(500, seed=7)


def l1(a, b):
    """Per-image L1 distance of two image stacks (N, npix, npix)."""
    return np.abs(a.astype(np.float64) - b.astype(np.float64)).sum(axis=(1, 2))


@pytest.fixture
def local_cluster():
    """A dask.distributed LocalCluster of two worker processes (one thread each),
    closed after the test, leaving no default Client behind."""
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(processes=True, n_workers=2, threads_per_worker=1,
                                  dashboard_address=None) as cluster:
        yield cluster
