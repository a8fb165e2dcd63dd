"""The CUDA twin against the CPU kernels, on a GPU or numba's CUDA simulator.

Not collected by a plain ``pytest`` run (the name does not start with
``test_``): tests/test_cuda.py runs this file in a subprocess with
``NUMBA_ENABLE_CUDASIM=1`` (which must be set before numba is imported) on 40
jets per case; ``pytest --gpu`` collects it (tests/conftest.py) and runs it on
the GPU on 3,000 jets per case. ``JETIMG_CUDA_JETS`` sets another count. The
CPU kernels are the reference here (tests/test_kernels.py holds them against
tests/reference.py).
"""

import os

import numba
import numpy as np
import pytest
from numba import cuda

import jetimg
from jetimg import InvalidJetError, Recipe
from jetimg.device import is_device_array, resolve_device
from jetimg.core import kernel_options
from jetimg.kernels.cuda import CudaChunkProcessor
from jetimg.toys import toy_jets

from .helpers import OPTION_MATRIX, PER_JET_FLOATS, assert_same, option_id

N_JETS = int(os.environ.get("JETIMG_CUDA_JETS", "40" if numba.config.ENABLE_CUDASIM else "3000"))


@pytest.fixture(scope="module")
def jets():
    return toy_jets(N_JETS, seed=11)[0]


def host(out):
    return {name: a.copy_to_host() for name, a in out.items()}


@pytest.mark.parametrize("options", OPTION_MATRIX, ids=option_id)
def test_every_option_equals_the_cpu(jets, options):
    recipe = Recipe(**options)
    got = jetimg.preprocess(jets, recipe, device="cuda")
    assert all(isinstance(a, np.ndarray) for a in got.values())
    assert_same(got, jetimg.preprocess(jets, recipe), recipe)


def test_float64_jets_and_auto_device(jets):
    assert resolve_device("auto") == "cuda"
    assert_same(jetimg.preprocess(jets.astype(np.float64), device="auto"), jetimg.preprocess(jets))


@pytest.mark.parametrize("slot_value, reason", [
    ((np.nan, 1.0, 1.0, 1.0), "not finite"),
    ((-5.0, 1.0, 1.0, 1.0), "negative energy"),
    ((0.0, 1.0, 0.0, 0.0), "zero energy"),
    ((10.0, 0.0, -0.0, 10.0), "zero transverse momentum"),
])
def test_invalid_jets_raise_with_row_and_reason_or_are_skipped(jets, slot_value, reason):
    bad = jets[:16].copy()
    bad[13, 5] = slot_value
    bad[14, 0] = (-1.0, 1.0, 1.0, 1.0)
    with pytest.raises(InvalidJetError) as cpu_err:
        jetimg.preprocess(bad, row_offset=1000)
    for jets_in in (bad, cuda.to_device(bad)):
        with pytest.raises(InvalidJetError) as err:
            jetimg.preprocess(jets_in, device="cuda", row_offset=1000)
        assert err.value.row == 1013 and reason in err.value.reason and "slot 5" in err.value.reason
        assert str(err.value) == str(cpu_err.value)
    got = jetimg.preprocess(bad, device="cuda", invalid="skip")
    assert list(np.flatnonzero(got["valid"] == 0)) == [13, 14]
    assert not got["images"][13:15].any() and not got["jet_pt"][13:15].any()
    assert_same(got, jetimg.preprocess(bad, invalid="skip"))


def test_device_arrays_in_give_device_arrays_out(jets):
    jets_d = cuda.to_device(jets)
    got = jetimg.preprocess(jets_d, device="cuda", npix=25)
    assert all(is_device_array(a) and not isinstance(a, np.ndarray) for a in got.values())
    want = jetimg.preprocess(jets, npix=25)
    assert_same(host(got), want)
    out = {name: cuda.device_array_like(a) for name, a in want.items()}
    assert jetimg.preprocess(jets_d, device="auto", npix=25, out=out) is out
    assert_same(host(out), want)
    with pytest.raises(jetimg.InputError, match="device array"):
        jetimg.preprocess(jets_d, device="cuda", npix=25, out=want)
    with pytest.raises(jetimg.InputError, match="device='cuda'"):
        jetimg.preprocess(jets_d)


def test_host_out_and_empty_chunks(jets):
    out = jetimg.outputs.empty_outputs(len(jets), 40)
    assert jetimg.preprocess(jets, device="cuda", out=out) is out
    assert_same(out, jetimg.preprocess(jets))
    empty = np.zeros((0, 30, 4), np.float32)
    assert jetimg.preprocess(empty, device="cuda")["images"].shape == (0, 40, 40)
    assert jetimg.preprocess(cuda.to_device(empty), device="cuda")["images"].shape == (0, 40, 40)


def test_blocks_of_several_threads_and_threads_of_several_jets():
    more = toy_jets(max(300, N_JETS), seed=12)[0]
    want = jetimg.preprocess(more)
    assert_same(jetimg.preprocess(more, device="cuda"), want)  # 128 blocks of 3 threads
    # at most 128 threads: 128 blocks of one thread, each taking 2 or 3 jets
    assert_same(CudaChunkProcessor(max_threads=128).run(more, kernel_options(Recipe())), want)


def test_chunk_processor_over_chunks_of_changing_size(jets):
    processor = CudaChunkProcessor()
    more = toy_jets(2 * N_JETS, seed=13)[0]
    cases = [(jets[:5], Recipe()), (more, Recipe()), (jets[:17], Recipe(npix=12)),
             (jets[:9, :120].astype(np.float64), Recipe(center="leading")), (jets[:0], Recipe()),
             (jets, Recipe(invalid="skip", normalise="max"))]
    for start, (chunk, recipe) in enumerate(cases):
        got = processor.run(chunk, kernel_options(recipe),
                            raise_invalid=recipe.invalid == "raise", row_offset=start)
        assert_same({k: v.copy() for k, v in got.items()}, jetimg.preprocess(chunk, recipe), recipe)
    bad = jets[:10].copy()
    bad[7, 3, 0] = np.inf
    with pytest.raises(InvalidJetError, match="row 507: slot 3: not finite"):
        processor.run(bad, kernel_options(Recipe()), row_offset=500)


def test_build_on_cuda_equals_the_cpu_build(jets, tmp_path):
    np.save(tmp_path / "jets.npy", jets)
    kwargs = dict(chunk_size=max(1, N_JETS // 3), npix=16)
    workers = 1 if numba.config.ENABLE_CUDASIM else 2  # the simulator runs one kernel at a time
    jetimg.build(tmp_path / "jets.npy", tmp_path / "cuda.zarr", device="cuda",
                 workers=workers, **kwargs)
    jetimg.build(tmp_path / "jets.npy", tmp_path / "cpu.zarr", device="cpu", **kwargs)
    with jetimg.open_store(tmp_path / "cuda.zarr") as got, \
            jetimg.open_store(tmp_path / "cpu.zarr") as want:
        assert got.attrs == want.attrs
        names = ("images", *PER_JET_FLOATS, "n_constituents", "valid")
        assert_same({n: got[n][:] for n in names}, {n: want[n][:] for n in names},
                    Recipe(npix=16))
    with pytest.raises(jetimg.InputError, match="not 'processes'"):
        jetimg.build(tmp_path / "jets.npy", tmp_path / "p.zarr", device="cuda",
                     scheduler="processes", **kwargs)


@pytest.mark.parametrize("options", [dict(particles=7), dict(particles=200, center="jet",
                                                             rotate=False, flip=False),
                                     dict(particles=30, intensity="e",
                                          channels=["pt", "count"])],
                         ids=option_id)
def test_particles_equal_the_cpu(jets, options):
    """Particles (docs/recipe.md step 7), F = 11 and, with kinds, F = 17."""
    chunk = jets[:max(12, N_JETS // 3)].copy()
    chunk[3] = 0.0                # no valid constituent: zero rows
    chunk[4, 2, 0] = -1.0         # skipped invalid jet: zero rows
    recipe = Recipe(**options, invalid="skip")
    rng = np.random.default_rng(3)
    present = (chunk != 0).any(axis=2)
    kinds = np.where(present, rng.integers(1, 6, present.shape), 0).astype(np.int8)
    charges = np.where(np.isin(kinds, [2, 3, 4]), rng.choice([-1, 1], present.shape), 0)
    for extra in ({}, dict(kinds=kinds, charges=charges.astype(np.int8))):
        want = jetimg.preprocess(chunk, recipe, **extra)
        got = jetimg.preprocess(chunk, recipe, device="cuda", **extra)
        assert got["particles"].shape == want["particles"].shape
        assert want["particles"].shape[2] == (17 if extra else 11)
        np.testing.assert_allclose(got["particles"], want["particles"], rtol=1e-6, atol=1e-6)
        assert not got["particles"][3:5].any()
        assert_same({k: v for k, v in got.items() if k != "particles"},
                    {k: v for k, v in want.items() if k != "particles"}, recipe)


# SplitMix64 wraps around modulo 2^64 on purpose; the simulator's NumPy scalars warn of it.
@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
@pytest.mark.parametrize("vary", ["scale=1.05,smear=0.2,drop=0.3,seed=5",
                                  "neutral_scale=0.8,smear=0.05,drop=0.5,seed=4294967295"])
def test_variations_equal_the_cpu(jets, vary):
    """A variation (docs/recipe.md "Variations"): the same draws by input row and
    slot on both, so the same varied jets, images and particles."""
    chunk = jets[:max(12, N_JETS // 3)].copy()
    chunk[4, 2, 0] = -1.0         # skipped invalid jet: stays invalid
    rng = np.random.default_rng(5)
    present = (chunk != 0).any(axis=2)
    kinds = np.where(present, rng.integers(1, 6, present.shape), 0).astype(np.int8)
    charges = np.where(np.isin(kinds, [2, 3, 4]), rng.choice([-1, 1], present.shape),
                       0).astype(np.int8)
    for options in (dict(particles=10), dict(channels=["pt", "neutral_pt", "count"],
                                             particles=5, normalise="none")):
        recipe = Recipe(**options, vary=vary, invalid="skip")
        want = jetimg.preprocess(chunk, recipe, kinds=kinds, charges=charges, row_offset=1234)
        got = jetimg.preprocess(chunk, recipe, kinds=kinds, charges=charges, row_offset=1234,
                                device="cuda")
        np.testing.assert_allclose(got["particles"], want["particles"], rtol=1e-6, atol=1e-6)
        assert got["valid"][4] == 0 and not got["particles"][4].any()
        assert_same({k: v for k, v in got.items() if k != "particles"},
                    {k: v for k, v in want.items() if k != "particles"}, recipe)
        nominal = jetimg.preprocess(chunk, Recipe(**options, invalid="skip"), kinds=kinds,
                                    charges=charges)
        assert (got["n_constituents"] < nominal["n_constituents"]).any()
