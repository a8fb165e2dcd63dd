"""The CUDA twin: CUDA == CPU under numba's simulator (and on a GPU when there
is one), and the device option where CUDA is not usable.

numba reads ``NUMBA_ENABLE_CUDASIM`` once, when it is imported, and this
process has imported it already: the comparisons (tests/cuda_checks.py) run
in a subprocess. The simulator runs each thread as Python, so they use tens of
jets per case; on a real GPU, thousands.
"""

import os
import subprocess
import sys
from pathlib import Path

import numba
import numpy as np
import pytest

import jetimg
from jetimg.device import CUDA_EXTRA, cuda_problem, device_array_info, is_device_array
from jetimg.errors import DeviceError, InputError
from jetimg.toys import toy_jets

ROOT = Path(__file__).resolve().parent.parent
NO_GPU = cuda_problem()  # None on a GPU (and under the simulator)
ON_GPU = NO_GPU is None and not numba.config.ENABLE_CUDASIM


def run_cuda_checks(**env):
    """Run tests/cuda_checks.py in a fresh process with ``env`` added (and
    NUMBA_ENABLE_CUDASIM only if given)."""
    base = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          str(ROOT / "tests" / "cuda_checks.py")],
                         env={**base, **env}, cwd=ROOT, capture_output=True, text=True,
                         timeout=900)
    assert run.returncode == 0, run.stdout[-5000:] + run.stderr[-3000:]
    assert " passed" in run.stdout and "skipped" not in run.stdout, run.stdout[-2000:]


def test_cuda_equals_cpu_under_the_simulator():
    run_cuda_checks(NUMBA_ENABLE_CUDASIM="1")


@pytest.mark.skipif(not ON_GPU, reason=f"needs a CUDA GPU ({NO_GPU or 'simulator'})")
def test_cuda_equals_cpu_on_the_gpu():
    run_cuda_checks(JETIMG_CUDA_JETS="3000")


@pytest.mark.skipif(NO_GPU is None, reason="a CUDA GPU is usable here")
def test_cuda_without_a_gpu_is_one_clear_line():
    jets = toy_jets(3, seed=1)[0]
    with pytest.raises(DeviceError) as err:
        jetimg.preprocess(jets, device="cuda")
    message = str(err.value)
    assert "\n" not in message and CUDA_EXTRA in message and NO_GPU in message
    assert message.startswith("device='cuda' is not usable here: ")
    assert "device='cpu'" in message


@pytest.mark.skipif(NO_GPU is None, reason="a CUDA GPU is usable here")
def test_build_device_cuda_without_a_gpu_is_one_line_and_writes_nothing(tmp_path):
    from click.testing import CliRunner

    from jetimg_cli.main import cli

    out = tmp_path / "images.zarr"
    result = CliRunner().invoke(cli, ["build", "--sample", "-o", str(out), "--device", "cuda"])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and CUDA_EXTRA in lines[0] and "Traceback" not in result.output
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(NO_GPU is None, reason="a CUDA GPU is usable here")
def test_auto_falls_back_to_the_cpu_without_a_gpu():
    jets = toy_jets(20, seed=2)[0]
    got, want = jetimg.preprocess(jets, device="auto"), jetimg.preprocess(jets)
    for name in want:
        np.testing.assert_array_equal(got[name], want[name])


def test_bad_device_names_list_the_valid_ones():
    valid = "device='gpu' is not valid; choose one of 'auto', 'cpu', 'cuda'"
    with pytest.raises(DeviceError, match=valid):
        jetimg.preprocess(np.zeros((1, 2, 4), np.float32), device="gpu")
    assert jetimg.preprocess(np.zeros((1, 2, 4), np.float32), device="CPU")["valid"][0] == 1


class FakeDeviceArray:
    """An object with only ``__cuda_array_interface__`` (as CuPy's arrays have)."""

    def __init__(self, shape, typestr, strides=None):
        self.__cuda_array_interface__ = {"shape": shape, "typestr": typestr, "strides": strides,
                                         "data": (0, False), "version": 3}


def test_device_arrays_are_recognised_and_refused_on_the_cpu():
    jets = FakeDeviceArray((5, 10, 4), "<f4")
    assert is_device_array(jets) and not is_device_array(np.zeros((5, 10, 4)))
    assert device_array_info(jets) == ((5, 10, 4), np.dtype(np.float32), True)
    assert device_array_info(FakeDeviceArray((5, 10, 4), "<f8", (640, 16, 4)))[2] is False
    assert device_array_info(FakeDeviceArray((5, 10, 4), "<f8", (320, 32, 8)))[2] is True
    with pytest.raises(InputError, match="device \\(GPU\\) array: use device='cuda' or 'auto'"):
        jetimg.preprocess(jets)
    if NO_GPU is not None:  # the device check comes first: no GPU, no device arrays
        with pytest.raises(DeviceError):
            jetimg.preprocess(jets, device="cuda")
