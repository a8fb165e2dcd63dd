"""Every figure reads cleanly: no two texts overlap and none leaves the figure.

The check draws a figure on Agg and takes the window extent (pixels) of every
visible, non-empty text of it: the suptitle, axes titles, axis labels, tick
labels, offset texts, legend texts, colour-bar labels and annotations. Two
extents that intersect by more than :data:`TOLERANCE` pixels, or an extent
reaching outside the figure, fail the test, naming the texts. A planted
overlap shows that the check sees one; then every plot kind is checked: the
averages (one channel and three; two and four classes; the progression over
the first n jets), single jets (one and three channels), kinematics, the
training history, ROC curves and scores (two classes and K), the confusion
matrix and the class scores, and the particles (two and four classes, with and
without particle kinds, P = 5 and P = 80).

The stores hold toy jets at the default npix and pixel size (the axes' extent
sets the tick labels); the layout depends on the texts, not on the jets. Their class names are JetClass's, so titles are
as long as a JetClass store's.
"""

import h5py
import numpy as np
import pytest

import jetimg
from jetimg.toys import toy_jets

pytest.importorskip("matplotlib")

#: Pixels two extents may share (antialiasing and rounding) before they overlap.
TOLERANCE = 0.5
CHANNELS = ["charged_pt", "neutral_pt", "charged_count"]
FOUR = ["QCD", "Hbb", "Wqq", "Tbqq"]
PROGRESSION = [1, 10, 100, 1000]


# ---------------------------------------------------------------------------
# the check
# ---------------------------------------------------------------------------

def _describe(text):
    """A text and where it sits, for the failure message."""
    owner = text.axes.get_label() if text.axes is not None else ""
    where = f" in axes {owner!r}" if owner else (f" in axes {text.axes.get_title()!r}"
                                                 if text.axes is not None else "")
    return f"{text.get_text()!r}{where}"


def figure_texts(fig):
    """(Text, window extent) of every visible text of ``fig`` with non-empty text, drawn on Agg.

    Tick labels count only where their tick is drawn (inside the view limits,
    as ``Axis.draw`` takes them); matplotlib keeps the others, unseen.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.text import Text

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    of_axis, drawn = set(), set()  # the texts of an x or y axis; those drawn
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            for tick in axis.majorTicks + axis.minorTicks:
                of_axis.update((id(tick.label1), id(tick.label2)))
            of_axis.update((id(axis.label), id(axis.offsetText)))
            if ax.get_visible() and ax.axison:  # set_axis_off draws no axis
                for tick in axis._update_ticks():  # the ticks Axis.draw draws
                    drawn.update((id(tick.label1), id(tick.label2)))
                drawn.update((id(axis.label), id(axis.offsetText)))
    out = []
    for text in fig.findobj(Text):
        if not text.get_visible() or not text.get_text().strip():
            continue
        if text.axes is not None and not text.axes.get_visible():
            continue
        if id(text) in of_axis and id(text) not in drawn:
            continue
        box = text.get_window_extent(renderer)
        if box.width > 0 and box.height > 0:
            out.append((text, box))
    return out


def layout_problems(fig, tolerance=TOLERANCE):
    """What reads badly in ``fig``: texts that overlap, texts outside the figure.

    Returns a list of one-line descriptions (empty: the figure is clean).
    """
    texts = figure_texts(fig)
    bounds = fig.bbox
    problems = []
    for text, box in texts:
        if (box.x0 < bounds.x0 - tolerance or box.y0 < bounds.y0 - tolerance
                or box.x1 > bounds.x1 + tolerance or box.y1 > bounds.y1 + tolerance):
            problems.append(f"{_describe(text)} leaves the figure: {box.bounds} outside "
                            f"{bounds.bounds}")
    for i, (a, box_a) in enumerate(texts):
        for b, box_b in texts[i + 1:]:
            width = min(box_a.x1, box_b.x1) - max(box_a.x0, box_b.x0)
            height = min(box_a.y1, box_b.y1) - max(box_a.y0, box_b.y0)
            if width > tolerance and height > tolerance:
                problems.append(f"{_describe(a)} overlaps {_describe(b)} "
                                f"({width:.1f} x {height:.1f} px)")
    return problems


def assert_reads_cleanly(fig):
    problems = layout_problems(fig)
    assert not problems, "\n".join(problems)


# ---------------------------------------------------------------------------
# the check sees what it should
# ---------------------------------------------------------------------------

def _small_figure():
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4, 3), dpi=100, layout="constrained")
    ax = fig.subplots()
    ax.plot([0, 1], [0, 1])
    ax.set_title("a title")
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    return fig, ax


def test_a_clean_figure_passes():
    fig, _ = _small_figure()
    assert layout_problems(fig) == []


def test_planted_overlap_is_caught():
    fig, ax = _small_figure()
    ax.text(0.5, 0.5, "first note", transform=ax.transAxes)
    ax.text(0.52, 0.5, "second note", transform=ax.transAxes)
    problems = layout_problems(fig)
    assert len(problems) == 1 and "'first note'" in problems[0] \
        and "'second note'" in problems[0], problems
    with pytest.raises(AssertionError, match="'first note' .*overlaps 'second note'"):
        assert_reads_cleanly(fig)


def test_titles_running_together_are_caught():
    """The bug of the issue: two panels' titles wider than their panels meet."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4, 2), dpi=100, layout="constrained")
    left, right = fig.subplots(1, 2)
    left.set_title("p_T = 567 GeV, a long title")
    right.set_title("m = 100.6 GeV, a long title")
    problems = layout_problems(fig)
    assert any("overlaps" in p and "567" in p and "100.6" in p for p in problems), problems


def test_tick_labels_colliding_are_caught():
    from matplotlib.figure import Figure

    fig = Figure(figsize=(1.5, 1.5), dpi=100)
    ax = fig.add_axes([0.3, 0.3, 0.6, 0.6])
    ax.set_xlim(-0.5, 0.5)
    ax.set_xticks(np.linspace(-0.5, 0.5, 9))
    problems = layout_problems(fig)
    assert any("overlaps" in p and "0." in p for p in problems), problems


def test_text_outside_the_figure_is_caught():
    fig, ax = _small_figure()
    fig.text(0.95, 0.5, "clipped colour-bar label")
    problems = layout_problems(fig)
    assert any("'clipped colour-bar label'" in p and "leaves the figure" in p
               for p in problems), problems


def test_hidden_and_empty_texts_do_not_count():
    fig, ax = _small_figure()
    ax.text(0.5, 0.5, "hidden", transform=ax.transAxes, visible=False)
    ax.text(0.5, 0.5, "shown", transform=ax.transAxes)
    ax.text(0.5, 0.5, "", transform=ax.transAxes)
    ax.text(0.5, 0.5, "   ", transform=ax.transAxes)
    assert layout_problems(fig) == []


# ---------------------------------------------------------------------------
# the stores: toy jets with PDG ids (so charged and neutral channels)
# ---------------------------------------------------------------------------

def _write_input(path, n_jets, names, seed, pid=True):
    """An HDF5 input of toy jets: ``jets``, ``labels`` (len(names) classes, named by
    their ``label_names`` attribute) and ``pid`` (charged and neutral PDG ids; left
    out with ``pid=False``, an input without particle kinds)."""
    jets, top = toy_jets(n_jets, seed=seed)
    rng = np.random.default_rng(seed)
    half = len(names) // 2  # toy QCD jets take the first half of the names, tops the second
    rank = np.zeros(n_jets, np.int64)  # of each jet among the jets of its toy class
    for value in (0, 1):
        rank[top == value] = np.arange(np.count_nonzero(top == value))
    labels = (top.astype(np.int64) * half + rank % half).astype(np.int8)
    pids = rng.choice(np.array([211, -211, 22, 130, 11, 2212]), size=jets.shape[:2])
    with h5py.File(path, "w") as f:
        f["jets"] = jets
        f["labels"] = labels
        f["labels"].attrs["label_names"] = list(names)
        if pid:
            f["pid"] = pids.astype(np.int32)


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    """name -> store path: "one" (one image per jet, QCD and Tbqq), "two3" (QCD and
    Tbqq, three channels), "four3" (four classes, three channels); 1,000 jets of
    each class, so the progression reaches n = 1,000."""
    folder = tmp_path_factory.mktemp("layout")
    out = {}
    for name, names, channels in [("one", ["QCD", "Tbqq"], None),
                                  ("two3", ["QCD", "Tbqq"], CHANNELS),
                                  ("four3", FOUR, CHANNELS)]:
        source = folder / f"{name}.h5"
        _write_input(source, 1000 * len(names), names, seed=len(name))
        out[name] = folder / f"{name}.zarr"
        jetimg.build(source, out[name], channels=channels, chunk_size=1000)
    # particles: 2 and 4 classes, with and without kinds, P = 5 and P = 80
    for names in (["QCD", "Tbqq"], FOUR):
        for kinds in (False, True):
            source = folder / f"particles{len(names)}{kinds}.h5"
            _write_input(source, 200 * len(names), names, seed=len(names), pid=kinds)
            for p in (5, 80):
                out[f"particles {len(names)} {kinds} {p}"] = folder / f"p{len(names)}{kinds}{p}.zarr"
                jetimg.build(source, out[f"particles {len(names)} {kinds} {p}"], particles=p,
                             chunk_size=200)
    return out


def _labels_scores(k, n=400, seed=0):
    """Labels 0 ... k-1 and softmax scores (n, k) that favour the true class."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % k
    logits = rng.normal(size=(n, k))
    logits[np.arange(n), labels] += 2.0
    scores = np.exp(logits)
    return labels, scores / scores.sum(axis=1, keepdims=True)


def _history(epochs=12):
    rng = np.random.default_rng(1)
    loss = np.linspace(0.6, 0.25, epochs) + rng.normal(0, 0.01, epochs)
    return {"loss": loss, "val_loss": loss + 0.03, "accuracy": 1 - loss,
            "val_accuracy": 0.97 - loss}


JETCLASS = ["QCD", "Hbb", "Hcc", "Hgg", "H4q", "Hqql", "Zqq", "Wqq", "Tbqq", "Tbl"]


def _scan(names, metrics, groups=("default", "hardened"), n_models=3):
    """A robustness scan's result of made-up figures (no model needed to draw it)."""
    from jetimg.train.robustness import RobustnessResult

    rng = np.random.default_rng(2)
    values = [0.9, 0.95, 1.0, 1.05, 1.1]
    summary = {g: {m: [(float(0.9 + 0.05 * rng.random()) if "rejection" not in m or i != 2
                        else float("inf"), 0.01) for i, _ in enumerate(values)]
                   for m in metrics} for g in groups}
    return RobustnessResult(
        name=names, values=values, seed=0, summary=summary, metrics=list(metrics), rows=[],
        groups={g: [f"{g}_seed{k}.keras" for k in range(n_models)] for g in groups},
        n_jets=20000, input="bench_data/sim_topqcd_n20000_seed103.h5")

#: kind -> how to draw it from the stores.
FIGURES = {
    "average 1 channel 2 classes": lambda s: jetimg.plots.plot_average(s["one"]),
    "average 1 channel 2 classes linear": lambda s: jetimg.plots.plot_average(
        s["one"], log=False),
    "average 1 channel progression": lambda s: jetimg.plots.plot_average(
        s["one"], n=PROGRESSION),
    "average 1 of 3 channels 4 classes": lambda s: jetimg.plots.plot_average(
        s["four3"], channels="charged_count"),
    "average 3 channels 2 classes": lambda s: jetimg.plots.plot_average(s["two3"]),
    "average 3 channels 4 classes": lambda s: jetimg.plots.plot_average(s["four3"]),
    "average 3 channels 2 classes progression": lambda s: jetimg.plots.plot_average(
        s["two3"], n=PROGRESSION),
    "average 3 channels 4 classes progression": lambda s: jetimg.plots.plot_average(
        s["four3"], n=PROGRESSION),
    "jets 1 channel": lambda s: jetimg.plots.plot_jets(s["one"]),
    "jets 1 channel two rows": lambda s: jetimg.plots.plot_jets(s["one"], rows=range(7)),
    "jets 1 of 3 channels": lambda s: jetimg.plots.plot_jets(s["four3"],
                                                             channels="charged_count"),
    "jets 3 channels": lambda s: jetimg.plots.plot_jets(s["four3"]),
    "kinematics 2 classes": lambda s: jetimg.plots.plot_kinematics(s["one"]),
    "kinematics 4 classes": lambda s: jetimg.plots.plot_kinematics(s["four3"]),
    "history": lambda s: jetimg.plots.plot_history(_history()),
    "roc 2 classes": lambda s: jetimg.plots.plot_roc(
        _labels_scores(2)[0], _labels_scores(2)[1][:, 1], label_names=["QCD", "Tbqq"],
        store=s["one"]),
    "scores 2 classes": lambda s: jetimg.plots.plot_scores(
        _labels_scores(2)[0], _labels_scores(2)[1][:, 1], label_names=["QCD", "Tbqq"],
        store=s["one"]),
    "roc 4 classes vs rest": lambda s: jetimg.plots.plot_roc(
        *_labels_scores(4), label_names=FOUR, store=s["four3"]),
    "roc 4 classes vs QCD": lambda s: jetimg.plots.plot_roc(
        *_labels_scores(4), label_names=FOUR, background="QCD", store=s["four3"],
        signal_efficiency=0.5),
    "roc 10 classes vs QCD": lambda s: jetimg.plots.plot_roc(
        *_labels_scores(10), label_names=JETCLASS, background="QCD", store=s["four3"],
        signal_efficiency=0.5),
    "scores 4 classes": lambda s: jetimg.plots.plot_scores(
        *_labels_scores(4), label_names=FOUR, signal="Hbb", store=s["four3"]),
    "confusion 4 classes": lambda s: jetimg.plots.plot_confusion(
        *_labels_scores(4), FOUR, store=s["four3"]),
    "confusion 10 classes": lambda s: jetimg.plots.plot_confusion(
        *_labels_scores(10), JETCLASS, store=s["four3"]),
    "class scores 4 classes": lambda s: jetimg.plots.plot_class_scores(
        *_labels_scores(4), FOUR, store=s["four3"]),
    "class scores 10 classes": lambda s: jetimg.plots.plot_class_scores(
        *_labels_scores(10), JETCLASS, store=s["four3"]),
    "robustness 2 classes": lambda s: jetimg.plots.plot_robustness(_scan(
        "scale", ["auc", "accuracy", "rejection@0.3", "passing@0.3", "rejection@0.5"])),
    "robustness 5 classes": lambda s: jetimg.plots.plot_robustness(_scan(
        "neutral_scale", ["accuracy", "auc_mean", "rejection Hbb", "rejection Zqq",
                          "rejection Wqq", "rejection Tbqq"], groups=("pfn",), n_models=1)),
}


for _k in (2, 4):
    for _kinds in (False, True):
        for _p in (5, 80):
            FIGURES[f"particles {_k} classes{' kinds' if _kinds else ''} P={_p}"] = (
                lambda s, key=f"particles {_k} {_kinds} {_p}": jetimg.plots.plot_particles(
                    s[key]))

#: Figures that take over 5 s to draw (48 panels).
SLOW = {"average 3 channels 4 classes progression"}


@pytest.mark.parametrize("kind", [pytest.param(k, marks=pytest.mark.slow) if k in SLOW else k
                                  for k in FIGURES])
def test_figure_reads_cleanly(stores, kind):
    assert_reads_cleanly(FIGURES[kind](stores))
