"""``jetimg.plots`` and ``jetimg plot``: figures of image stores, rendered on Agg.

Stores are built once per module with ``jetimg.build`` from 2,000 toy jets
(npix 20, image chunks of 250 rows, so averages stream over several dask
blocks and the first-n ranks cross block edges): labelled Zarr and HDF5, an
unlabelled Zarr store and one with invalid (skipped) jets. The plotted arrays
are read back from the Figure and compared with numpy averages of the store.
"""

import struct

import numpy as np
import pytest
from click.testing import CliRunner

import jetimg
from jetimg.errors import JetimgError
from jetimg.toys import toy_jets

pytest.importorskip("matplotlib")

N_JETS, NPIX = 2_000, 20
BAD_ROWS = (3, 250, 251, 1_999)  # jets made invalid (a NaN energy), skipped when built


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    """name -> path of each test store."""
    folder = tmp_path_factory.mktemp("plots")
    jets, labels = toy_jets(N_JETS, seed=11)
    np.save(folder / "jets.npy", jets)
    np.save(folder / "labels.npy", labels)
    bad = jets.copy()
    bad[list(BAD_ROWS), 0, 0] = np.nan
    np.save(folder / "bad.npy", bad)
    common = {"npix": NPIX, "chunk_size": 250}
    out = {}
    for name, src, fmt, with_labels, extra in [
            ("zarr", "jets.npy", "zarr", True, {}),
            ("h5", "jets.npy", "h5", True, {}),
            ("unlabelled", "jets.npy", "zarr", False, {}),
            ("invalid", "bad.npy", "zarr", True, {"invalid": "skip"})]:
        path = folder / f"{name}.{fmt}"
        labels_key = str(folder / "labels.npy") if with_labels else None
        jetimg.build(folder / src, path, labels_key=labels_key, **common, **extra)
        out[name] = path
    return out


def numpy_averages(path, n=None):
    """{label: (average image float64, count)} of the valid jets, by plain numpy."""
    with jetimg.open_store(path) as store:
        images = store["images"][:].astype(np.float64)
        valid = store["valid"][:] != 0
        labels = store["labels"][:] if "labels" in store else np.full(len(valid), -1)
    out = {}
    for value in np.unique(labels):
        chosen = images[valid & (labels == value)][:n]
        out[int(value)] = (chosen.mean(axis=0), len(chosen))
    return out


def image_axes(fig):
    """The axes holding an image (colour bars excluded)."""
    return [ax for ax in fig.axes if ax.images and ax.get_label() != "<colorbar>"]


def plotted(ax):
    """The array drawn in an image panel, masked pixels as 0."""
    return np.ma.filled(ax.images[0].get_array(), 0.0)


def png_size(path):
    """(width, height) from the PNG header; asserts the file is a PNG."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def run(*args):
    from jetimg_cli.main import cli

    return CliRunner().invoke(cli, ["plot", *map(str, args)], prog_name="jetimg")


# ---------------------------------------------------------------------------
# the streamed averages
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["zarr", "h5", "invalid"])
def test_average_images_equal_numpy(stores, name):
    avg = jetimg.plots.average_images(stores[name])
    expected = numpy_averages(stores[name])
    assert avg.names == ("top", "QCD") and avg.label_values == (1, 0)
    for i, value in enumerate(avg.label_values):
        np.testing.assert_allclose(avg.images[i], expected[value][0], rtol=1e-12, atol=1e-15)
        assert avg.counts[i] == expected[value][1]
    assert avg.n_invalid == (len(BAD_ROWS) if name == "invalid" else 0)
    assert avg.counts.sum() + avg.n_invalid == N_JETS


def test_average_first_n_across_blocks(stores):
    ns = [1, 10, 100, 300, 900]
    with jetimg.open_store(stores["invalid"]) as store:  # an open Store works too
        averages = jetimg.plots.average_images(store, n=ns)
    for avg, n in zip(averages, ns):
        expected = numpy_averages(stores["invalid"], n=n)
        assert avg.n == n and avg.counts.tolist() == [n, n]
        for i, value in enumerate(avg.label_values):
            np.testing.assert_allclose(avg.images[i], expected[value][0], rtol=1e-12, atol=1e-15)
    assert averages[2].n_rows < N_JETS  # n=100: only the rows needed were read
    single = jetimg.plots.average_images(stores["invalid"], n=300)
    np.testing.assert_array_equal(single.images, averages[3].images)


def test_average_unlabelled_and_by_label_false(stores):
    avg = jetimg.plots.average_images(stores["unlabelled"])
    assert avg.names == ("all jets",) and avg.label_values is None
    np.testing.assert_allclose(avg.images[0], numpy_averages(stores["unlabelled"])[-1][0],
                               rtol=1e-12, atol=1e-15)
    pooled = jetimg.plots.average_images(stores["zarr"], by_label=False)
    np.testing.assert_allclose(pooled.images[0], avg.images[0], rtol=1e-12, atol=1e-15)


def test_average_too_small_for_n(stores):
    with pytest.raises(JetimgError, match=r"too small for n=5000.*1,000 valid top jets"):
        jetimg.plots.average_images(stores["zarr"], n=[1, 5000])
    with pytest.raises(JetimgError, match=r"n=0 is not valid: give whole numbers >= 1"):
        jetimg.plots.average_images(stores["zarr"], n=0)


# ---------------------------------------------------------------------------
# figures
# ---------------------------------------------------------------------------

def test_plot_average_panels_and_data(stores):
    fig = jetimg.plots.plot_average(stores["invalid"])
    panels = image_axes(fig)
    assert len(panels) == 3  # top, QCD, difference
    expected = numpy_averages(stores["invalid"])
    assert [ax.get_title() for ax in panels[:2]] == [
        f"top ({expected[1][1]:,} jets)", f"QCD ({expected[0][1]:,} jets)"]
    assert f"{len(BAD_ROWS)} invalid jets" in fig.get_suptitle()
    for ax, value in zip(panels, (1, 0)):
        np.testing.assert_allclose(plotted(ax), expected[value][0], rtol=1e-12, atol=1e-15)
        assert ax.images[0].origin == "lower"
        assert type(ax.images[0].norm).__name__ == "LogNorm"
    assert panels[0].images[0].norm is panels[1].images[0].norm  # one shared scale
    np.testing.assert_allclose(plotted(panels[2]), expected[1][0] - expected[0][0], atol=1e-15)
    assert panels[2].images[0].norm.vmin == -panels[2].images[0].norm.vmax
    dx, dy = jetimg.Recipe().pixel_size
    np.testing.assert_allclose(panels[0].images[0].get_extent(),
                               [-NPIX * dx / 2, NPIX * dx / 2, -NPIX * dy / 2, NPIX * dy / 2])
    assert "eta" in panels[0].get_xlabel() and "[rad]" in panels[0].get_ylabel()


def test_plot_average_progression_and_unlabelled(stores):
    fig = jetimg.plots.plot_average(stores["zarr"], n=[1, 10, 100, 1000])
    panels = image_axes(fig)
    assert len(panels) == 8  # 2 classes x 4 n
    assert len({id(ax.images[0].norm) for ax in panels}) == 1
    first = numpy_averages(stores["zarr"], n=10)
    np.testing.assert_allclose(plotted(panels[1]), first[1][0], rtol=1e-12, atol=1e-15)
    fig = jetimg.plots.plot_average(stores["unlabelled"])
    assert [ax.get_title() for ax in image_axes(fig)] == [f"all jets ({N_JETS:,} jets)"]


def test_plot_jets_and_kinematics(stores):
    fig = jetimg.plots.plot_jets(stores["invalid"], rows=[0, 3, 9])
    panels = image_axes(fig)
    assert len(panels) == 3
    with jetimg.open_store(stores["invalid"]) as store:
        np.testing.assert_array_equal(plotted(panels[2]), store["images"][9])
        mass, label = float(store["jet_mass"][9]), int(store["labels"][9])
    assert f"{mass:.1f} GeV" in panels[2].get_title()
    assert ("top" if label == 1 else "QCD") in panels[2].get_title()
    assert "invalid" in " ".join(t.get_text() for t in panels[1].texts)
    with pytest.raises(JetimgError, match="row 2000 is outside"):
        jetimg.plots.plot_jets(stores["zarr"], rows=[2000])

    fig = jetimg.plots.plot_kinematics(stores["zarr"])
    mass_ax, pt_ax = fig.axes
    assert "[GeV]" in mass_ax.get_xlabel() and "[GeV]" in pt_ax.get_xlabel()
    top, qcd = mass_ax.patches[:2]  # one step histogram per class, on shared bins
    assert np.array_equal(top.get_path().vertices[:, 0], qcd.get_path().vertices[:, 0])
    assert [t.get_text() for t in mass_ax.get_legend().get_texts()] == [
        "top (1,000 jets)", "QCD (1,000 jets)"]


# ---------------------------------------------------------------------------
# the command line
# ---------------------------------------------------------------------------

def test_cli_average_png(stores, tmp_path):
    out = tmp_path / "average.png"
    result = run("average", stores["zarr"], "-o", out)
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"wrote {out}"
    fig = jetimg.plots.plot_average(stores["zarr"])
    width, height = (fig.get_size_inches() * fig.dpi).round().astype(int)
    assert png_size(out) == (width, height)
    import matplotlib.image

    pixels = matplotlib.image.imread(out)
    assert pixels.shape[:2] == (height, width) and pixels.std() > 0.05  # not blank


def test_cli_progression_pdf_and_others(stores, tmp_path):
    result = run("average", stores["h5"], "--n", "1,10,100", "-o", tmp_path / "p.pdf")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "p.pdf").read_bytes()[:5] == b"%PDF-"
    result = run("jets", stores["zarr"], "--rows", "0,5,9", "-o", tmp_path / "j.svg")
    assert result.exit_code == 0, result.output
    assert b"<svg" in (tmp_path / "j.svg").read_bytes()[:1000]
    result = run("kinematics", stores["unlabelled"], "-o", tmp_path / "k.png")
    assert result.exit_code == 0, result.output
    assert png_size(tmp_path / "k.png") == (1100, 460)


def test_cli_too_small_for_n(stores, tmp_path):
    result = run("average", stores["zarr"], "--n", "1,10,100,1000,10000", "-o", tmp_path / "p.png")
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "too small for --n 10000" in lines[0], result.output
    assert not (tmp_path / "p.png").exists()


def test_bad_suffix(stores, tmp_path):
    result = run("average", stores["zarr"], "-o", tmp_path / "average.jpg")
    assert result.exit_code == 2 and ".png, .pdf, .svg" in result.output
    from jetimg.plots import save_figure
    from matplotlib.figure import Figure

    with pytest.raises(JetimgError, match=r"suffix must be one of \.png, \.pdf, \.svg"):
        save_figure(Figure(), tmp_path / "x.gif")


def test_import_is_cheap():
    import subprocess
    import sys

    code = ("import sys, jetimg.plots\n"
            "assert 'matplotlib' not in sys.modules and 'dask' not in sys.modules\n"
            "assert jetimg.plots.hep_style and 'matplotlib' not in sys.modules\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
