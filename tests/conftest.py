"""Shared fixtures (toy jets and input files, cached per session) and the
``--gpu`` option.

Real-GPU tests carry the marker ``gpu``. A plain ``pytest`` skips them, with a
reason naming ``--gpu``; ``pytest --gpu`` runs them alone (every other test is
deselected), adds tests/cuda_checks.py (the CUDA twin against the CPU kernels,
which tests/test_cuda.py otherwise runs under numba's CUDA simulator) to them,
and fails each one, rather than skipping it, where no CUDA GPU is usable.
Helpers that are not fixtures live in tests/helpers.py.
"""

import functools
import os
from pathlib import Path

import pytest

from jetimg.toys import toy_jets

from .helpers import shared_inputs

os.environ.setdefault("MPLBACKEND", "Agg")

CUDA_CHECKS = Path(__file__).with_name("cuda_checks.py")
GPU_SKIP_REASON = "a real-GPU test: run it with `pytest --gpu` on a machine with a CUDA GPU"


def pytest_addoption(parser):
    parser.addoption("--gpu", action="store_true", default=False,
                     help="run only the real-GPU tests (marker gpu) and tests/cuda_checks.py "
                          "on the GPU; they fail where no CUDA GPU is usable")


@functools.cache
def gpu_problem():
    """Why the real-GPU tests cannot run here, as one line; None on a CUDA GPU."""
    import numba

    if numba.config.ENABLE_CUDASIM:
        return "NUMBA_ENABLE_CUDASIM=1 is set: numba's CUDA simulator is not a GPU"
    from jetimg.device import cuda_problem

    return cuda_problem()


def pytest_collect_file(file_path, parent):
    """With ``--gpu``, collect tests/cuda_checks.py too (unless named on the command line,
    where pytest collects it anyway)."""
    if (parent.config.getoption("--gpu") and file_path == CUDA_CHECKS
            and not parent.session.isinitpath(file_path)):
        return pytest.Module.from_parent(parent, path=file_path)
    return None


def pytest_collection_modifyitems(config, items):
    gpu = config.getoption("--gpu")
    for item in items:
        if gpu and item.path == CUDA_CHECKS:
            item.add_marker(pytest.mark.gpu)
        elif not gpu and item.get_closest_marker("gpu"):
            item.add_marker(pytest.mark.skip(reason=GPU_SKIP_REASON))
    if gpu:
        deselected = [item for item in items if not item.get_closest_marker("gpu")]
        if deselected:
            config.hook.pytest_deselected(items=deselected)
            items[:] = [item for item in items if item.get_closest_marker("gpu")]


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_call(item):
    """Under ``--gpu``, a real-GPU test where CUDA is not usable fails, naming why."""
    if item.config.getoption("--gpu") and item.get_closest_marker("gpu"):
        problem = gpu_problem()
        if problem is not None:
            pytest.fail(f"pytest --gpu: no usable CUDA GPU here: {problem}", pytrace=False)


@pytest.fixture(scope="session")
def toys_5k():
    """5,000 realistic toy jets (float32, 200 slots) and their labels."""
    return toy_jets(5000, seed=2024)


@pytest.fixture(scope="session")
def toys_small():
    """500 toy jets for the option matrix."""
    return toy_jets(500, seed=7)


@pytest.fixture(scope="session")
def inputs(tmp_path_factory):
    """The input files of every SPEC.md layout (tests/helpers.py ``shared_inputs``)."""
    return shared_inputs(tmp_path_factory)


@pytest.fixture
def local_cluster():
    """A dask.distributed LocalCluster of two worker processes (one thread each),
    closed after the test, leaving no default Client behind."""
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(processes=True, n_workers=2, threads_per_worker=1,
                                  dashboard_address=None) as cluster:
        yield cluster
