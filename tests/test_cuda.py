"""The CUDA twin: CUDA == CPU under numba's simulator and, with ``pytest --gpu``,
on a GPU at sizes the simulator cannot reach; the device option where CUDA is
not usable.

numba reads ``NUMBA_ENABLE_CUDASIM`` once, when it is imported, and this
process has imported it already: the comparisons under the simulator
(tests/cuda_checks.py) run in a subprocess, on tens of jets per case (the
simulator runs each thread as Python). ``pytest --gpu`` runs the same file on
the GPU, in this process, on thousands of jets per case (tests/conftest.py),
and the tests marked ``gpu`` here on hundreds of thousands: more jets than the
GPU has resident threads (so threads take several jets), device arrays, and a
chunked build.
"""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import jetimg
from jetimg.device import CUDA_EXTRA, cuda_problem, device_array_info, is_device_array
from jetimg.errors import DeviceError, InputError, InvalidJetError
from jetimg.recipe import Recipe
from jetimg.toys import toy_jets

from .helpers import PER_JET_FLOATS, assert_same

ROOT = Path(__file__).resolve().parent.parent
NO_GPU = cuda_problem()  # None on a GPU (and under the simulator)


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


# ---------------------------------------------------------------------------
# real GPU (pytest --gpu): sizes beyond the simulator
# ---------------------------------------------------------------------------

BASE_JETS = 20_000


@pytest.fixture(scope="module")
def base_jets():
    """20,000 toy jets (64 MB, float32, 200 slots)."""
    return toy_jets(BASE_JETS, seed=21)[0]


def varied_tiles(base, n):
    """``n`` jets from copies of ``base``, each copy rotated in phi by its own
    angle and mirrored in eta (pz -> -pz) and/or phi (px <-> py) by turns: no
    two rows share their jet_phi, so a jet written to another thread's row shows.

    Returns
    -------
    ndarray (n, M, 4) of float32
    """
    tiles, k = [], 0
    while sum(len(t) for t in tiles) < n:
        t = base[:n - sum(len(t) for t in tiles)].copy()
        angle = 0.37 * k
        px, py = t[..., 1].copy(), t[..., 2].copy()
        t[..., 1] = np.cos(angle) * px - np.sin(angle) * py
        t[..., 2] = np.sin(angle) * px + np.cos(angle) * py
        if k % 2:
            t[..., 3] *= -1
        if k % 4 >= 2:
            t[..., [1, 2]] = t[..., [2, 1]]
        tiles.append(t)
        k += 1
    return np.ascontiguousarray(np.concatenate(tiles))


def resident_gpu_threads():
    """Threads the GPU runs at once: multiprocessors x threads per multiprocessor."""
    from numba import cuda

    device = cuda.get_current_device()
    return device.MULTIPROCESSOR_COUNT * device.MAX_THREADS_PER_MULTI_PROCESSOR


@pytest.mark.gpu
def test_gpu_more_jets_than_resident_threads(base_jets):
    """Over twice as many jets as resident threads (about 540,000 on an H200): each
    thread takes several jets; images without rotation or flips, so mirrored
    copies differ; then an invalid jet in the last row, raised and skipped."""
    n = 2 * resident_gpu_threads() + 1234
    jets = varied_tiles(base_jets, n)
    recipe = Recipe(npix=16, rotate=False, flip=False)
    want = jetimg.preprocess(jets, recipe)
    assert len(np.unique(want["jet_phi"][::BASE_JETS])) == -(-n // BASE_JETS)
    assert_same(jetimg.preprocess(jets, recipe, device="cuda"), want, recipe)
    jets[-1, 3, 0] = np.nan
    with pytest.raises(InvalidJetError) as cpu_err:
        jetimg.preprocess(jets, recipe, row_offset=10)
    with pytest.raises(InvalidJetError) as err:
        jetimg.preprocess(jets, recipe, device="cuda", row_offset=10)
    assert err.value.row == 10 + n - 1 and str(err.value) == str(cpu_err.value)
    skip = Recipe(npix=16, rotate=False, flip=False, invalid="skip")
    got = jetimg.preprocess(jets, skip, device="cuda")
    assert np.flatnonzero(got["valid"] == 0).tolist() == [n - 1]
    assert_same(got, jetimg.preprocess(jets, skip), skip)


@pytest.mark.gpu
def test_gpu_default_recipe_device_arrays_and_float64(base_jets):
    """200,000 jets, default recipe (40 x 40): host arrays in, device arrays in and
    out, float64 in; each equal to the CPU."""
    from numba import cuda

    jets = varied_tiles(base_jets, 200_000)
    want = jetimg.preprocess(jets)
    assert_same(jetimg.preprocess(jets, device="cuda"), want)
    got = jetimg.preprocess(cuda.to_device(jets), device="cuda")
    assert all(is_device_array(a) and not isinstance(a, np.ndarray) for a in got.values())
    assert_same({name: a.copy_to_host() for name, a in got.items()}, want)
    assert_same(jetimg.preprocess(jets[:50_000].astype(np.float64), device="auto"),
                {name: a[:50_000] for name, a in want.items()})


@pytest.mark.gpu
@pytest.mark.parametrize("fmt", ["zarr", "h5"])
def test_gpu_build_equals_the_cpu_build(base_jets, tmp_path, fmt):
    """A 150,000-jet file built in chunks of 40,000 (the last one partial) by four
    workers on the GPU equals the CPU build."""
    n = 150_000
    np.save(tmp_path / "jets.npy", varied_tiles(base_jets, n))
    kwargs = dict(chunk_size=40_000, npix=24)
    cuda_result = jetimg.build(tmp_path / "jets.npy", tmp_path / f"cuda.{fmt}", device="cuda",
                               workers=4, **kwargs)
    jetimg.build(tmp_path / "jets.npy", tmp_path / f"cpu.{fmt}", device="cpu", **kwargs)
    assert (cuda_result.n_jets, cuda_result.n_invalid) == (n, 0)
    with jetimg.open_store(tmp_path / f"cuda.{fmt}") as got, \
            jetimg.open_store(tmp_path / f"cpu.{fmt}") as want:
        assert dict(got.attrs) == dict(want.attrs)
        names = ("images", *PER_JET_FLOATS, "n_constituents", "valid")
        assert_same({n: got[n][:] for n in names}, {n: want[n][:] for n in names},
                    Recipe(npix=24))
