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


# ---------------------------------------------------------------------------
# stores with channels: images (N, npix, npix, C)
# ---------------------------------------------------------------------------

CHANNELS = ("charged_pt", "neutral_pt", "charged_count")
JC_FILES = ("TTBar_000.root", "ZJetsToNuNu_000.root", "WToQQ_000.root")  # Tbqq, QCD, Wqq
JC_PER_FILE, JC_NPIX, JC_BAD_ROW = 100, 16, 7


@pytest.fixture(scope="module")
def channel_stores(stores, tmp_path_factory):
    """name -> path of stores with channels.

    "jc" (Zarr) and "jc_h5": 300 jets of the shipped JetClass-layout sample
    (the first 100 of three classes, shuffled, one made invalid), npix 16,
    chunks of 100 rows, CHANNELS. "binary": the module's toy jets (top/QCD,
    no label_names) with channels pt and count, npix 20.
    """
    pytest.importorskip("uproot")
    from jetimg.data import sample_files
    from jetimg.io import open_jets
    from jetimg.io.writers.jetclass import write_jetclass

    folder = tmp_path_factory.mktemp("channels")
    files = {p.rsplit("/", 1)[-1]: p for p in map(str, sample_files("jetclass"))}
    jets, labels, kinds = [], [], []
    for name in JC_FILES:
        with open_jets(files[name]) as source:
            part, part_labels = source.read(0, JC_PER_FILE)
            kinds.append(source.read_kinds(0, JC_PER_FILE))
        jets.append(part)
        labels.append(part_labels)
    width = max(j.shape[1] for j in jets)

    def padded(arrays):
        return np.concatenate([np.pad(a, [(0, 0), (0, width - a.shape[1])]
                                      + [(0, 0)] * (a.ndim - 2)) for a in arrays])

    order = np.random.default_rng(5).permutation(len(JC_FILES) * JC_PER_FILE)
    jets, kinds, labels = padded(jets)[order], padded(kinds)[order], np.concatenate(labels)[order]
    jets[JC_BAD_ROW, 0, 0] = np.nan
    write_jetclass(folder / "mix.root", jets, labels, kinds=kinds)
    recipe = jetimg.Recipe(npix=JC_NPIX, channels=list(CHANNELS), invalid="skip")
    out = {}
    for name, suffix in [("jc", "zarr"), ("jc_h5", "h5")]:
        out[name] = folder / f"{name}.{suffix}"
        jetimg.build(folder / "mix.root", out[name], recipe=recipe, chunk_size=100)
    toy = stores["zarr"].parent
    out["binary"] = folder / "binary.zarr"
    jetimg.build(toy / "jets.npy", out["binary"], labels_key=str(toy / "labels.npy"),
                 npix=NPIX, chunk_size=250, channels=["pt", "count"])
    return out


def numpy_channel_averages(path, n=None):
    """{label: (average image (npix, npix, C) float64, count)} of the valid jets, by numpy."""
    with jetimg.open_store(path) as store:
        images = store["images"][:].astype(np.float64)
        valid = store["valid"][:] != 0
        labels = store["labels"][:]
    assert images.ndim == 4
    return {int(v): (images[valid & (labels == v)][:n].mean(axis=0),
                     len(images[valid & (labels == v)][:n])) for v in np.unique(labels)}


def colour_bars(fig):
    return [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]


@pytest.mark.parametrize("name", ["jc", "jc_h5"])
def test_channel_averages_equal_numpy(channel_stores, name):
    avg = jetimg.plots.average_images(channel_stores[name])
    expected = numpy_channel_averages(channel_stores[name])
    # only the classes in the store, named from label_names, in label order
    assert avg.names == ("QCD", "Wqq", "Tbqq") and avg.label_values == (0, 7, 8)
    assert avg.channels == CHANNELS
    assert avg.images.shape == (3, JC_NPIX, JC_NPIX, len(CHANNELS))
    for i, value in enumerate(avg.label_values):
        assert avg.counts[i] == expected[value][1]
        for c in range(len(CHANNELS)):
            np.testing.assert_allclose(avg.images[i, ..., c], expected[value][0][..., c],
                                       rtol=1e-12, atol=1e-15)
    assert avg.n_invalid == 1 and avg.counts.sum() == len(JC_FILES) * JC_PER_FILE - 1
    assert avg.images[..., 2].max() >= 1.0  # counts: constituents, not normalised


def test_channel_averages_chosen_channels_and_first_n(channel_stores):
    path = channel_stores["jc"]
    full = jetimg.plots.average_images(path)
    chosen = jetimg.plots.average_images(path, channels=["charged_count", "charged_pt"])
    assert chosen.channels == ("charged_count", "charged_pt")
    np.testing.assert_array_equal(chosen.images, full.images[..., [2, 0]])
    assert jetimg.plots.average_images(path, channels="neutral_pt").images.shape == (
        3, JC_NPIX, JC_NPIX, 1)
    for avg in jetimg.plots.average_images(path, n=[1, 40], channels=["neutral_pt"]):
        expected = numpy_channel_averages(path, n=avg.n)
        assert avg.counts.tolist() == [avg.n] * 3
        for i, value in enumerate(avg.label_values):
            np.testing.assert_allclose(avg.images[i, ..., 0], expected[value][0][..., 1],
                                       rtol=1e-12, atol=1e-15)


def test_channel_pt_equals_the_image_without_channels(stores, channel_stores):
    binary = jetimg.plots.average_images(channel_stores["binary"])
    plain = jetimg.plots.average_images(stores["zarr"])
    assert binary.names == ("top", "QCD") and binary.channels == ("pt", "count")
    assert binary.counts.tolist() == plain.counts.tolist()
    np.testing.assert_allclose(binary.images[..., 0], plain.images, rtol=1e-6, atol=1e-9)


def test_unknown_channel_refused(stores, channel_stores):
    with pytest.raises(JetimgError, match=r"has no channel 'photon_pt'; its channels are "
                                          r"charged_pt, neutral_pt, charged_count$"):
        jetimg.plots.average_images(channel_stores["jc"], channels=["charged_pt", "photon_pt"])
    with pytest.raises(JetimgError, match=r"has no channel 'pt'; its channels are"):
        jetimg.plots.plot_jets(channel_stores["jc"], rows=[0], channels="pt")
    with pytest.raises(JetimgError, match="neutral_pt given more than once"):
        jetimg.plots.plot_average(channel_stores["jc"], channels="neutral_pt,neutral_pt")
    with pytest.raises(JetimgError, match=r"has no channels \(one image per jet\)"):
        jetimg.plots.plot_average(stores["zarr"], channels=["pt"])


def test_plot_average_channel_grid(channel_stores):
    path = channel_stores["jc"]
    expected = numpy_channel_averages(path)
    fig = jetimg.plots.plot_average(path)
    panels = image_axes(fig)
    assert len(panels) == len(CHANNELS) * 3  # channels (rows) x classes (columns)
    assert len(colour_bars(fig)) == len(CHANNELS)  # one per channel row
    names, values = ("QCD", "Wqq", "Tbqq"), (0, 7, 8)
    assert [ax.get_title() for ax in panels] == [
        f"{n} ({expected[v][1]:,} jets)\n{c}" for c in CHANNELS for n, v in zip(names, values)]
    assert "1 invalid jets of 300 rows" in fig.get_suptitle()
    for r in range(len(CHANNELS)):
        row = panels[3 * r:3 * r + 3]
        assert len({id(ax.images[0].norm) for ax in row}) == 1  # one scale per channel
        for ax, value in zip(row, values):
            assert type(ax.images[0].norm).__name__ == "LogNorm"
            np.testing.assert_allclose(plotted(ax), expected[value][0][..., r],
                                       rtol=1e-12, atol=1e-15)
    assert panels[0].images[0].norm is not panels[3].images[0].norm
    assert panels[-3].images[0].norm.vmax == pytest.approx(
        max(expected[v][0][..., 2].max() for v in values))
    dx, dy = jetimg.Recipe().pixel_size
    np.testing.assert_allclose(panels[4].images[0].get_extent(), [
        -JC_NPIX * dx / 2, JC_NPIX * dx / 2, -JC_NPIX * dy / 2, JC_NPIX * dy / 2])
    labels = [bar.get_ylabel() for bar in colour_bars(fig)]
    assert labels[0].startswith("charged_pt") and "constituents" in labels[2]


def test_plot_average_channels_linear_difference_progression(channel_stores):
    fig = jetimg.plots.plot_average(channel_stores["jc"], channels="charged_count", log=False)
    panels = image_axes(fig)
    assert len(panels) == 3 and all(ax.get_title().endswith("\ncharged_count") for ax in panels)
    norm = panels[0].images[0].norm
    assert type(norm).__name__ == "Normalize" and norm.vmin == 0.0

    # two classes (no label_names: top and QCD): a difference column per channel
    path = channel_stores["binary"]
    expected = numpy_channel_averages(path)
    fig = jetimg.plots.plot_average(path)
    panels = image_axes(fig)
    assert len(panels) == 6 and len(colour_bars(fig)) == 4
    assert [ax.get_title() for ax in panels[:3]] == [
        f"top ({expected[1][1]:,} jets)\npt", f"QCD ({expected[0][1]:,} jets)\npt",
        "top $-$ QCD\npt"]
    np.testing.assert_allclose(plotted(panels[5]), expected[1][0][..., 1] - expected[0][0][..., 1],
                               atol=1e-12)
    assert panels[5].images[0].norm.vmin == -panels[5].images[0].norm.vmax
    assert len(image_axes(jetimg.plots.plot_average(path, difference=False))) == 4

    fig = jetimg.plots.plot_average(path, n=[1, 10, 100])
    panels = image_axes(fig)
    assert len(panels) == 2 * 2 * 3 and len(colour_bars(fig)) == 2  # (channel, class) x n
    assert panels[4].get_title() == "QCD, 10 jets\npt"
    np.testing.assert_allclose(plotted(panels[4]), numpy_channel_averages(path, n=10)[0][0][..., 0],
                               rtol=1e-12, atol=1e-15)
    assert panels[0].images[0].norm is panels[5].images[0].norm
    assert panels[0].images[0].norm is not panels[6].images[0].norm


def test_plot_jets_channels(channel_stores):
    path = channel_stores["jc"]
    rows = [0, JC_BAD_ROW, 12]
    fig = jetimg.plots.plot_jets(path, rows=rows, channels=["neutral_pt", "charged_count"])
    panels = image_axes(fig)
    assert len(panels) == 2 * len(rows) and len(colour_bars(fig)) == 2  # channels x jets
    with jetimg.open_store(path) as store:
        images = store["images"][rows]
        mass, label = float(store["jet_mass"][12]), int(store["labels"][12])
        store_pt = store["jet_pt"][12]
    names = {0: "QCD", 7: "Wqq", 8: "Tbqq"}
    for c, channel in zip((1, 2), ("neutral_pt", "charged_count")):
        row = panels[:3] if channel == "neutral_pt" else panels[3:]
        assert len({id(ax.images[0].norm) for ax in row}) == 1
        for ax, image, r in zip(row, images, rows):
            np.testing.assert_array_equal(plotted(ax), image[..., c])
            assert ax.get_title().startswith(f"row {r}: ") and ax.get_title().endswith(
                f"\n{channel}")
    # the jet's mass and pT above its first channel's panel
    assert panels[2].get_title() == (f"row 12: {names[label]}\n$m$ = {mass:.1f} GeV\n"
                                     f"$p_T$ = {float(store_pt):.0f} GeV\nneutral_pt")
    assert panels[5].get_title() == f"row 12: {names[label]}\ncharged_count"
    assert "invalid" in " ".join(t.get_text() for t in panels[1].texts)
    assert "invalid" in " ".join(t.get_text() for t in panels[4].texts)
    assert len(image_axes(jetimg.plots.plot_jets(path, rows=[3]))) == len(CHANNELS)
    fig = jetimg.plots.plot_jets(path, rows=[3], log=False)
    assert type(image_axes(fig)[0].images[0].norm).__name__ == "Normalize"


def test_cli_channels(stores, channel_stores, tmp_path):
    path = channel_stores["jc"]
    result = run("average", path, "--channels", "neutral_pt", "--linear", "-o", tmp_path / "a.png")
    assert result.exit_code == 0, result.output
    fig = jetimg.plots.plot_average(path, channels="neutral_pt", log=False)
    assert png_size(tmp_path / "a.png") == tuple((fig.get_size_inches() * fig.dpi).round())
    result = run("jets", path, "--rows", "0,1", "--channels", "charged_count",
                 "-o", tmp_path / "j.pdf")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "j.pdf").read_bytes()[:5] == b"%PDF-"

    result = run("average", path, "--channels", "charged_pt,photon_pt", "-o", tmp_path / "x.png")
    assert result.exit_code == 1 and not (tmp_path / "x.png").exists()
    lines = result.output.strip().splitlines()
    assert lines == [f"Error: store {path} has no channel 'photon_pt'; its channels are "
                     "charged_pt, neutral_pt, charged_count"], result.output
    result = run("jets", stores["zarr"], "--channels", "pt", "-o", tmp_path / "x.png")
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        f"Error: store {stores['zarr']} has no channels (one image per jet); leave out "
        "--channels"], result.output


# ---------------------------------------------------------------------------
# class names, colours, titles and the HEP style of every figure
# ---------------------------------------------------------------------------

JC_PRESENT = ("QCD", "Hbb", "Zqq", "Wqq", "Tbqq")  # the shipped sample's classes, label order


@pytest.fixture(scope="module")
def jetclass_store(tmp_path_factory):
    """The shipped JetClass-layout sample (one file per class, all ten label_names), npix 16."""
    pytest.importorskip("uproot")
    from jetimg.data import sample_path

    path = tmp_path_factory.mktemp("jetclass") / "jc.zarr"
    jetimg.build(str(sample_path("jetclass")) + "/*.root", path, npix=16)
    return path


def store_labels(path):
    with jetimg.open_store(path) as store:
        names = store.attrs.get("label_names")
        return store["labels"][:].astype(np.int64), (list(names) if names else None)


def class_scores(labels, k, seed=0):
    """Softmax scores (N, K) that favour each jet's true class."""
    logits = np.random.default_rng(seed).normal(size=(len(labels), k))
    logits[np.arange(len(labels)), labels] += 2.0
    scores = np.exp(logits)
    return scores / scores.sum(axis=1, keepdims=True)


def hist_colours(ax):
    """Class name -> edge colour of each step histogram drawn (its label "name (n jets)")."""
    from matplotlib.colors import to_hex

    return {p.get_label().split(" (")[0]: to_hex(p.get_edgecolor()) for p in ax.patches
            if not p.get_label().startswith("_")}


def roc_colours(ax):
    """Class name -> colour of each ROC curve drawn (its label "name: AUC ...")."""
    from matplotlib.colors import to_hex

    return {line.get_label().split(":")[0]: to_hex(line.get_color()) for line in ax.get_lines()
            if line.get_gid() == "roc"}


def legend_texts(ax):
    return [t.get_text() for t in ax.get_legend().get_texts()]


def test_class_names_from_label_names(stores, jetclass_store):
    labels, names = store_labels(jetclass_store)
    assert len(names) == 10 and sorted({names[v] for v in labels}) == sorted(JC_PRESENT)
    scores = class_scores(labels, 10)
    kinematics = jetimg.plots.plot_kinematics(jetclass_store)
    roc = jetimg.plots.plot_roc(labels, scores, label_names=names, store=jetclass_store)
    against = jetimg.plots.plot_roc(labels, scores, label_names=names, background="QCD",
                                    store=jetclass_store, signal_efficiency=0.5)
    score = jetimg.plots.plot_scores(labels, scores, label_names=names, signal="Wqq",
                                     store=jetclass_store)
    for ax in kinematics.axes:
        assert legend_texts(ax) == [f"{n} (600 jets)" for n in JC_PRESENT]
    assert [t.split(":")[0] for t in legend_texts(roc.axes[0])][:5] == list(JC_PRESENT)
    assert list(roc_colours(against.axes[0])) == list(JC_PRESENT[1:])  # each against QCD
    assert legend_texts(score.axes[0]) == [f"{n} (600 jets)" for n in JC_PRESENT]
    assert score.axes[0].get_xlabel() == "tagger score (Wqq probability)"
    every_text = [t for fig in (kinematics, roc, against, score) for ax in fig.axes
                  for t in legend_texts(ax)]
    assert not any("top" in t for t in every_text)  # label 1 is Hbb here, not top

    # a store without label_names keeps today's names: 0 QCD, 1 top
    labels, names = store_labels(stores["zarr"])
    assert names is None
    signal = labels * 0.5 + np.random.default_rng(1).random(len(labels)) * 0.5
    assert legend_texts(jetimg.plots.plot_scores(labels, signal).axes[0]) == [
        "QCD (1000 jets)", "top (1000 jets)"]
    assert legend_texts(jetimg.plots.plot_kinematics(stores["zarr"]).axes[0]) == [
        "top (1,000 jets)", "QCD (1,000 jets)"]


def test_one_colour_per_class(stores, jetclass_store):
    from jetimg.plots.colours import JETCLASS_NAMES, class_colours

    labels, names = store_labels(jetclass_store)
    scores = class_scores(labels, 10)
    kinematics = jetimg.plots.plot_kinematics(jetclass_store)
    mass, pt = (hist_colours(ax) for ax in kinematics.axes)
    expected = {n: class_colours(names)[n] for n in JC_PRESENT}
    assert mass == pt == expected
    assert len(set(expected.values())) == len(JC_PRESENT)
    for signal in ("Tbqq", 0):
        score = jetimg.plots.plot_scores(labels, scores, label_names=names, signal=signal)
        assert hist_colours(score.axes[0]) == expected
    roc = jetimg.plots.plot_roc(labels, scores, label_names=names)
    assert roc_colours(roc.axes[0]) == expected
    roc = jetimg.plots.plot_roc(labels, scores, label_names=names, background="QCD")
    assert roc_colours(roc.axes[0]) == {n: expected[n] for n in JC_PRESENT[1:]}
    assert len(set(class_colours(JETCLASS_NAMES).values())) == 10

    # two classes without label_names: the same colours in kinematics, scores and ROC,
    # and top is the red of JetClass's top (Tbqq)
    labels, _ = store_labels(stores["zarr"])
    signal = labels * 0.5 + np.random.default_rng(2).random(len(labels)) * 0.5
    binary = hist_colours(jetimg.plots.plot_kinematics(stores["zarr"]).axes[0])
    assert binary == hist_colours(jetimg.plots.plot_scores(labels, signal).axes[0])
    assert roc_colours(jetimg.plots.plot_roc(labels, signal, label="x").axes[0]) == {
        "x": binary["top"]}
    assert binary["top"] == expected["Tbqq"] and binary["QCD"] == expected["QCD"]
    assert binary["top"] != binary["QCD"]


def test_titles(stores, jetclass_store):
    labels, names = store_labels(jetclass_store)
    scores = class_scores(labels, 10)
    assert jetimg.plots.plot_roc(labels, scores, label_names=names, store=jetclass_store,
                                 background="QCD").get_suptitle() == \
        "ROC: each class vs QCD (jc.zarr)"
    assert jetimg.plots.plot_roc(labels, scores, label_names=names).get_suptitle() == \
        "ROC: each class vs the rest"
    assert jetimg.plots.plot_scores(labels, scores, label_names=names, signal="Hbb",
                                    store=jetclass_store).get_suptitle() == \
        "Score of Hbb per class (jc.zarr)"
    labels, _ = store_labels(stores["h5"])
    signal = labels * 0.5 + np.random.default_rng(3).random(len(labels)) * 0.5
    with jetimg.open_store(stores["h5"]) as store:  # an open Store names itself too
        assert jetimg.plots.plot_roc(labels, signal, store=store).get_suptitle() == \
            "ROC: top vs QCD (h5.h5)"
    fig = jetimg.plots.plot_scores(labels, signal, label_names=["gluon", "quark"],
                                   store=stores["h5"])
    assert fig.get_suptitle() == "Tagger scores: quark vs gluon (h5.h5)"
    assert legend_texts(fig.axes[0]) == ["gluon (1000 jets)", "quark (1000 jets)"]
    assert jetimg.plots.plot_roc(labels, signal, title="CNN").get_suptitle() == "CNN"


def legend_clear_of(fig, gids):
    """Whether the legend, drawn, lies inside the figure and crosses no line of ``gids``."""
    fig.draw_without_rendering()
    ax = fig.axes[0]
    box = ax.get_legend().get_window_extent()
    assert fig.bbox.x0 <= box.x0 and box.x1 <= fig.bbox.x1 and box.y1 <= fig.bbox.y1
    lines = [line for line in ax.get_lines() if line.get_gid() in gids]
    assert {line.get_gid() for line in lines} == set(gids)
    return not any(line.get_transform().transform_path(line.get_path()).intersects_bbox(box)
                   for line in lines)


def test_roc_legend_clear_of_random_line(jetclass_store):
    labels, names = store_labels(jetclass_store)
    scores = class_scores(labels, 10)
    binary = (labels == 8).astype(np.int8)
    fig = jetimg.plots.plot_roc(binary, scores[:, 8], label_names=["rest", "Tbqq"])
    assert legend_clear_of(fig, ("random", "roc"))
    jetimg.plots.plot_roc(binary, scores[:, 8] ** 2, ax=fig.axes[0], label="squared")
    assert legend_clear_of(fig, ("random", "roc"))
    styles = [line.get_linestyle() for line in fig.axes[0].get_lines() if line.get_gid() == "roc"]
    assert len(set(styles)) == 2  # the overlaid curve of the same class: another line style
    fig = jetimg.plots.plot_roc(labels, scores, label_names=names)
    assert len(legend_texts(fig.axes[0])) == len(JC_PRESENT) + 2
    assert legend_clear_of(fig, ("random", "roc"))
    # the check sees an overlap: the legend where it used to be, lower left
    fig.axes[0].legend(loc="lower left")
    assert not legend_clear_of(fig, ("random",))


def test_class_score_refusals(jetclass_store):
    from jetimg.errors import InputError

    labels, names = store_labels(jetclass_store)
    scores = class_scores(labels, 10)
    with pytest.raises(InputError, match=r"give signal= the class whose score to draw "
                                         r"\(one of QCD, Hbb, .*, Tbl\)"):
        jetimg.plots.plot_scores(labels, scores, label_names=names)
    with pytest.raises(InputError, match=r"signal='top' is not one of the classes: QCD, Hbb"):
        jetimg.plots.plot_scores(labels, scores, label_names=names, signal="top")
    with pytest.raises(InputError, match=r"the scores have 10 columns and need 10 label_names"):
        jetimg.plots.plot_roc(labels, scores, label_names=names[:5])
    with pytest.raises(InputError, match=r"labels must be class indices 0 to 4 .* found 6, 7, 8"):
        jetimg.plots.plot_roc(labels, scores[:, :5])
    with pytest.raises(InputError, match=r"background= needs class scores \(N, K\)"):
        jetimg.plots.plot_roc(labels == 8, scores[:, 8], background="QCD")
    tops = labels == 8
    with pytest.raises(InputError, match=r"no ROC curve to draw: the labels need jets of QCD"):
        jetimg.plots.plot_roc(labels[tops], scores[tops], label_names=names, background="QCD")


def test_hep_style_is_mplhep():
    import matplotlib
    import mplhep

    from jetimg.plots.style import SCALE, hep_style, style_params

    root = dict(mplhep.style.ROOT)
    params = style_params()
    assert params["font.size"] == root["font.size"] * SCALE
    assert params["xtick.major.size"] == root["xtick.major.size"] * SCALE
    for key in ("xtick.direction", "ytick.right", "xaxis.labellocation", "legend.frameon",
                "axes.prop_cycle", "font.sans-serif"):
        assert params[key] == root[key]
    before = dict(matplotlib.rcParams)
    with hep_style():
        assert matplotlib.rcParams["yaxis.labellocation"] == "top"
    assert dict(matplotlib.rcParams) == before
    fig = jetimg.plots.plot_scores([0, 1, 1], [0.2, 0.7, 0.9])
    assert fig.axes[0].xaxis.label.get_horizontalalignment() == "right"  # mplhep's axis labels
