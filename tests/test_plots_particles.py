"""``jetimg plot particles`` and ``particle_summary``: histograms held to NumPy on the
whole store, streamed by blocks equal to one block, kinds, and the command's
refusals and notes (the layout is checked by tests/test_plot_layout.py)."""

import shutil

import numpy as np
import pytest

import jetimg
import jetimg.plots.averages as averages_module
from jetimg.data import sample_files
from jetimg.io.store.stores import set_attrs
from jetimg.plots.particles import KIND_FLAGS, PT_EDGES, XY_EDGES, particle_summary
from jetimg.toys import toy_jets
from tests.helpers import invoke, one_line

pytest.importorskip("matplotlib")


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("plot_particles")
    jets, labels = toy_jets(300, seed=4)
    np.save(folder / "jets.npy", jets)
    np.save(folder / "labels.npy", labels)
    jetimg.build(folder / "jets.npy", folder / "p12.zarr", particles=12, chunk_size=50,
                 labels_key=folder / "labels.npy")
    jetimg.build(folder / "jets.npy", folder / "plain.zarr", chunk_size=100,
                 labels_key=folder / "labels.npy")
    jetimg.build(sample_files("jetclass"), folder / "jc.zarr", particles=5)
    return folder


def _whole(path):
    store = jetimg.open_store(path)
    return ({k: np.asarray(store[k][:]) for k in ("particles", "labels", "valid",
                                                   "n_constituents")},
            list(store.attrs["particle_features"]))


def test_summary_equals_numpy_on_the_whole_store(folder):
    arrays, names = _whole(folder / "p12.zarr")
    parts, labels = arrays["particles"], arrays["labels"]
    s = particle_summary(folder / "p12.zarr", indices=(0, 3, 11, 12, 40))
    assert s.indices == (0, 3, 11) and s.missing == (12, 40) and s.n_particles == 12
    assert s.names == ("top", "QCD")
    real = np.any(parts != 0, axis=2)
    x, y, lpr = (names.index(n) for n in ("x", "y", "log_pt_rel"))
    for c, value in enumerate(s.label_values):
        member = (labels == value) & (arrays["valid"] != 0)
        assert s.jets[c] == member.sum()
        n_const = arrays["n_constituents"][member]
        assert np.array_equal(s.constituents[c][:n_const.max() + 1], np.bincount(n_const))
        # a row holds a particle exactly when its index < min(n_constituents, P)
        assert np.array_equal(s.stored[c], np.bincount(np.minimum(n_const, 12), minlength=13))
        for j, i in enumerate(s.indices):
            rows = parts[member & real[:, i], i]
            assert s.has[c, j] == np.count_nonzero(n_const > i)
            want = np.histogram(np.clip(rows[:, lpr] / np.log(10), PT_EDGES[0], PT_EDGES[-1]),
                                PT_EDGES)[0]
            assert np.array_equal(s.pt_fraction[c, j], want)
            want = np.histogram2d(rows[:, x], rows[:, y], bins=[XY_EDGES, XY_EDGES])[0]
            assert np.array_equal(s.positions[c, j], want)
    assert s.kinds is None and s.leading_kinds is None


def test_blocks_of_one_chunk_equal_one_block(folder, monkeypatch):
    whole = particle_summary(folder / "p12.zarr")
    # blocks of one stored chunk (50 rows): the least rows of a block, shared with the averages
    monkeypatch.setattr(averages_module, "_MIN_TASK_ROWS", 1)
    by_chunk = particle_summary(folder / "p12.zarr")
    for field in ("jets", "stored", "has", "pt_fraction", "positions"):
        assert np.array_equal(getattr(whole, field), getattr(by_chunk, field)), field
    assert all(np.array_equal(a, b) for a, b in zip(whole.constituents, by_chunk.constituents))


def test_kinds_of_a_jetclass_store(folder):
    arrays, names = _whole(folder / "jc.zarr")
    s = particle_summary(folder / "jc.zarr")
    assert s.indices == (0,) and s.missing == (10, 30, 70)
    flags = [names.index(k) for k in KIND_FLAGS]
    for c, value in enumerate(s.label_values):
        member = (arrays["labels"] == value) & (arrays["valid"] != 0)
        chosen = arrays["particles"][member][:, :, flags]
        assert np.allclose(s.kinds[c], chosen.sum(axis=(0, 1)))
        assert np.allclose(s.leading_kinds[c], chosen[:, 0].sum(axis=0))
        assert s.leading_kinds[c].sum() == s.jets[c]  # every particle 0 has one kind


def test_command_draws_and_names_what_it_cannot(folder, tmp_path):
    result = invoke("plot", "particles", folder / "p12.zarr", "-o", tmp_path / "p.png")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "p.png").stat().st_size > 0
    notes = [line for line in result.stdout.splitlines() if line.startswith("note:")]
    assert notes == ["note: particles 30 and 70 not drawn: the store keeps at most 12 per jet "
                     "(jetimg build --particles)"]
    result = invoke("plot", "particles", folder / "p12.zarr", "--indices", "0,5",
                    "-o", tmp_path / "q.png")
    assert result.exit_code == 0 and "note:" not in result.stdout


def test_command_refusals(folder, tmp_path):
    line = one_line(invoke("plot", "particles", folder / "plain.zarr", "-o", tmp_path / "a.png"))
    assert "holds no particles" in line and "jetimg build --particles" in line
    line = one_line(invoke("plot", "particles", folder / "p12.zarr", "--indices", "0,-1",
                           "-o", tmp_path / "a.png"))
    assert "--indices 0,-1 is not valid" in line
    line = one_line(invoke("plot", "particles", folder / "p12.zarr", "--indices", "3,3",
                           "-o", tmp_path / "a.png"))
    assert "given more than once" in line
    partial = tmp_path / "partial.zarr"
    shutil.copytree(folder / "p12.zarr", partial)
    set_attrs(partial, complete=False)
    line = one_line(invoke("plot", "particles", partial, "-o", tmp_path / "a.png"))
    assert "--allow-incomplete" in line
    assert not (tmp_path / "a.png").exists()
    result = invoke("plot", "particles", partial, "--allow-incomplete", "-o", tmp_path / "a.png")
    assert result.exit_code == 0, result.output
