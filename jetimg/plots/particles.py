"""Figures of a store's particles (docs/recipe.md, step 7), streamed over its chunks.

A store built with ``particles`` = P holds ``particles`` (N, P, F) float32:
per jet its first P valid constituents by pT, features named by the store's
``particle_features`` attribute, rows past min(n_constituents, P) all zero.
:func:`particle_summary` reads it a block of rows at a time (whole chunks of
the store) and keeps only histograms per class, so memory does not grow with
the store; :func:`plot_particles` draws them, as the top-tagging exercise
asks: the multiplicity, the pT fraction and the position of particles 0, 10,
30 and 70 (0-based, by pT) per class, and the particle kinds where the store
has them. Invalid jets (``valid == 0``, all-zero rows) are left out.
"""

import dataclasses

import numpy as np

from jetimg.errors import InputError, JetimgError
from jetimg.io.store import stores
from jetimg.io.store.completeness import check_complete
from jetimg.plots.averages import block_rows, class_name, class_order, store_class_names
from jetimg.plots.colours import class_colours
from jetimg.plots.draw import invalid_note, new_figure, settle_layout, store_name, text_width
from jetimg.plots.style import hep_style

__all__ = ["DEFAULT_INDICES", "KIND_FLAGS", "ParticleSummary", "check_indices",
           "particle_summary", "plot_particles"]

#: Particles drawn by default (0-based, by pT), as the top-tagging exercise plots them.
DEFAULT_INDICES = (0, 10, 30, 70)
#: The kind flags of a store built from an input with particle kinds, and their labels.
KIND_FLAGS = {"is_charged_hadron": "$h^\\pm$", "is_neutral_hadron": "$h^0$",
              "is_photon": "$\\gamma$", "is_electron": "$e$", "is_muon": "$\\mu$"}
#: log10 of the pT fraction: bins over [-5, 0] (values outside fall in the end bins).
PT_EDGES = np.linspace(-5.0, 0.0, 51)
#: x and y: bins over [-1, 1] (a jet of radius 0.8 around its centre; others are not drawn).
XY_EDGES = np.linspace(-1.0, 1.0, 41)

@dataclasses.dataclass
class ParticleSummary:
    """Histograms of a store's particles per class, from :func:`particle_summary`.

    Attributes
    ----------
    names : tuple of str
        Class names, e.g. ``("top", "QCD")``, or ``("all jets",)``.
    label_values : tuple of int or None
        The label of each class; None for all jets as one class.
    n_particles : int
        P, the particles kept per jet in the store.
    indices : tuple of int
        The particles histogrammed (0-based, by pT): those asked for below P.
    missing : tuple of int
        The particles asked for that the store cannot have (index >= P).
    jets : ndarray, shape (K,), int64
        Valid jets of each class.
    constituents : list of ndarray, int64
        Per class, jets by n_constituents (index: the count).
    stored : ndarray, shape (K, P + 1), int64
        Per class, jets by the number of particle rows that hold a particle.
    has : ndarray, shape (K, I), int64
        Per class, jets that hold particle ``indices[i]``.
    pt_fraction : ndarray, shape (K, I, len(PT_EDGES) - 1), int64
        Per class and particle, jets by log10 of the particle's pT / jet pT.
    positions : ndarray, shape (K, I, 40, 40), int64
        Per class and particle, jets by the particle's (x, y) on ``XY_EDGES``.
    kinds : ndarray, shape (K, 5), float64, or None
        Per class, the summed kind flags of all stored particles (order of
        :data:`KIND_FLAGS`); None without kinds.
    leading_kinds : ndarray, shape (K, 5), float64, or None
        Per class, the summed kind flags of particle 0.
    n_invalid, n_rows : int
        Invalid jets left out, and rows read.
    """

    names: tuple
    label_values: tuple
    n_particles: int
    indices: tuple
    missing: tuple
    jets: np.ndarray
    constituents: list
    stored: np.ndarray
    has: np.ndarray
    pt_fraction: np.ndarray
    positions: np.ndarray
    kinds: np.ndarray = None
    leading_kinds: np.ndarray = None
    n_invalid: int = 0
    n_rows: int = 0


def _particle_features(store):
    """The store's feature names; a store without particles is refused in one line."""
    if "particles" not in store:
        raise InputError(f"store {store.path} holds no particles: build it with particles "
                         "(jetimg build --particles P, or jetimg.build(..., particles=P))")
    names = store.attrs.get("particle_features")
    shape = store["particles"].shape
    if not isinstance(names, (list, tuple)) or len(names) != shape[2]:
        raise InputError(f"store {store.path} has a particles array of shape {tuple(shape)} "
                         "without matching particle_features names")
    for needed in ("x", "y", "log_pt_rel"):
        if needed not in names:
            raise InputError(f"store {store.path} has no particle feature {needed!r} "
                             f"(it has {', '.join(names)})")
    return [str(n) for n in names]


def check_indices(store, indices=DEFAULT_INDICES):
    """``(drawn, missing)``: which of ``indices`` an open store's particles can hold.

    A store keeps P particles per jet (0 ... P-1); an index >= P cannot be
    drawn.

    Raises
    ------
    InputError
        The store holds no particles (the message names ``jetimg build --particles``).
    JetimgError
        ``indices`` is empty, holds a negative number or one twice.
    """
    indices = [int(i) for i in indices]
    if not indices or min(indices) < 0:
        raise JetimgError(f"indices={indices!r} is not valid: give particle numbers >= 0 "
                          "(0 is the leading particle)")
    twice = sorted({i for i in indices if indices.count(i) > 1})
    if twice:
        raise JetimgError(f"particle {', '.join(map(str, twice))} given more than once")
    _particle_features(store)
    p = int(store["particles"].shape[1])
    return tuple(i for i in indices if i < p), tuple(i for i in indices if i >= p)


def _add_counts(total, values, length=None):
    """``total`` (int64) plus the bincount of ``values``, extended as needed."""
    counts = np.bincount(np.asarray(values, np.int64), minlength=length or 0)
    if total is None or total.size < counts.size:
        grown = np.zeros(counts.size if total is None else counts.size, np.int64)
        if total is not None:
            grown[:total.size] = total
        total = grown
    total[:counts.size] += counts
    return total


def particle_summary(store, indices=DEFAULT_INDICES, *, by_label=True, class_names=None,
                     allow_incomplete=False):
    """Histograms of the particles of ``store`` per class, streamed by blocks of rows.

    Reads the ``particles`` array a block of whole chunks at a time (at
    least 1000 rows) with the block's labels, valid flags and
    n_constituents, and keeps only integer histograms: memory does not grow
    with the store. Invalid jets are left out. A particle row holds a
    particle when any of its features is non-zero (rows past
    min(n_constituents, P) are all zero).

    Parameters
    ----------
    store : str, Path or Store
        A store built with particles (Zarr or HDF5), or an open one.
    indices : sequence of int
        The particles to histogram (0-based, by pT); those >= P are listed
        in ``missing`` and not drawn.
    by_label, class_names
        As in :func:`jetimg.plots.averages.average_images`.
    allow_incomplete : bool
        Accept a store of an interrupted build; its unwritten rows read as
        invalid jets.

    Returns
    -------
    ParticleSummary

    Raises
    ------
    InputError
        The store holds no particles, or no valid jet.

    >>> import tempfile, numpy as np, jetimg
    >>> from jetimg.toys import toy_jets
    >>> folder = tempfile.mkdtemp()
    >>> jets, labels = toy_jets(200, seed=1)
    >>> np.save(f"{folder}/jets.npy", jets); np.save(f"{folder}/labels.npy", labels)
    >>> _ = jetimg.build(f"{folder}/jets.npy", f"{folder}/p.zarr", particles=20,
    ...                  labels_key=f"{folder}/labels.npy")
    >>> summary = particle_summary(f"{folder}/p.zarr")
    >>> summary.names, summary.indices, summary.missing, summary.jets.tolist()
    (('top', 'QCD'), (0, 10), (30, 70), [100, 100])
    >>> summary.has[:, 0].tolist()  # every valid jet has a leading particle
    [100, 100]
    >>> import shutil; shutil.rmtree(folder)
    """
    with stores.opened(store) as s:
        check_complete(s, allow_incomplete)
        names = _particle_features(s)
        drawn, missing = check_indices(s, indices)
        class_names = store_class_names(s, class_names)
        particles = s["particles"]
        n_rows, p = len(s), int(particles.shape[1])
        step = block_rows(particles)
        use_labels = by_label and "labels" in s
        col = {n: names.index(n) for n in ("x", "y", "log_pt_rel")}
        kind_cols = ([names.index(k) for k in KIND_FLAGS] if all(k in names for k in KIND_FLAGS)
                     else None)
        acc, n_invalid = {}, 0
        for start in range(0, n_rows, step):
            stop = min(n_rows, start + step)
            block = np.asarray(particles[start:stop])
            valid = np.asarray(s["valid"][start:stop]) != 0
            labels = (np.asarray(s["labels"][start:stop]) if use_labels
                      else np.zeros(valid.shape, np.int8))
            n_const = np.asarray(s["n_constituents"][start:stop])
            n_invalid += int(np.count_nonzero(~valid))
            real = np.any(block != 0, axis=2)
            for value in np.unique(labels[valid]).tolist():
                member = valid & (labels == value)
                a = acc.setdefault(value, {
                    "jets": 0, "constituents": None, "stored": np.zeros(p + 1, np.int64),
                    "has": np.zeros(len(drawn), np.int64),
                    "pt": np.zeros((len(drawn), PT_EDGES.size - 1), np.int64),
                    "xy": np.zeros((len(drawn), XY_EDGES.size - 1, XY_EDGES.size - 1),
                                   np.int64),
                    "kinds": np.zeros(len(KIND_FLAGS)), "leading": np.zeros(len(KIND_FLAGS))})
                a["jets"] += int(np.count_nonzero(member))
                a["constituents"] = _add_counts(a["constituents"], n_const[member])
                a["stored"] += np.bincount(real[member].sum(axis=1), minlength=p + 1)
                for j, i in enumerate(drawn):
                    rows = block[member & real[:, i], i]
                    a["has"][j] += len(rows)
                    log10_pt = np.clip(rows[:, col["log_pt_rel"]] / np.log(10.0),
                                       PT_EDGES[0], PT_EDGES[-1])
                    a["pt"][j] += np.histogram(log10_pt, PT_EDGES)[0]
                    a["xy"][j] += np.histogram2d(rows[:, col["x"]], rows[:, col["y"]],
                                                 bins=[XY_EDGES, XY_EDGES])[0].astype(np.int64)
                if kind_cols is not None:
                    flags = block[member][:, :, kind_cols]
                    a["kinds"] += flags.sum(axis=(0, 1), dtype=np.float64)
                    a["leading"] += flags[:, 0].sum(axis=0, dtype=np.float64)
        path = s.path
    if not acc:
        raise InputError(f"store {path} holds no valid jet ({n_invalid} invalid jets): "
                         "nothing to histogram")
    values = class_order(acc, class_names) if use_labels else [0]
    width = max(a["constituents"].size for a in acc.values())
    return ParticleSummary(
        names=(tuple(class_name(v, class_names) for v in values) if use_labels
               else ("all jets",)),
        label_values=tuple(values) if use_labels else None, n_particles=p,
        indices=drawn, missing=missing,
        jets=np.array([acc[v]["jets"] for v in values], np.int64),
        constituents=[np.pad(acc[v]["constituents"], (0, width - acc[v]["constituents"].size))
                      for v in values],
        stored=np.array([acc[v]["stored"] for v in values]),
        has=np.array([acc[v]["has"] for v in values]).reshape(len(values), len(drawn)),
        pt_fraction=np.array([acc[v]["pt"] for v in values]),
        positions=np.array([acc[v]["xy"] for v in values]),
        kinds=None if kind_cols is None else np.array([acc[v]["kinds"] for v in values]),
        leading_kinds=(None if kind_cols is None
                       else np.array([acc[v]["leading"] for v in values])),
        n_invalid=n_invalid, n_rows=n_rows)


def missing_note(missing, n_particles):
    """The sentence saying which particles cannot be drawn; empty when none.

    >>> missing_note((30, 70), 5)
    'particles 30 and 70 not drawn: the store keeps at most 5 per jet (jetimg build --particles)'
    """
    if not missing:
        return ""
    listed = ", ".join(map(str, missing[:-1])) + (" and " if len(missing) > 1 else "") \
        + str(missing[-1])
    return (f"particle{'s' if len(missing) > 1 else ''} {listed} not drawn: the store keeps "
            f"at most {n_particles} per jet (jetimg build --particles)")


def _step(ax, edges, counts, total, colour, label):
    fractions = counts / total if total else np.zeros(len(counts))
    ax.stairs(fractions, edges, color=colour, linewidth=1.6, label=label)


def plot_particles(store, indices=DEFAULT_INDICES, *, by_label=True, class_names=None,
                   allow_incomplete=False):
    """The particles of a store per class: multiplicity, pT fraction, positions, kinds.

    One figure, from :func:`particle_summary` (streamed over the store):

    * the number of constituents per jet (n_constituents) and the number of
      particles the store holds per jet (at most P), per class;
    * with particle kinds: the kinds of particle 0 and the mean number of
      particles of each kind per jet (among the P stored), per class;
    * for each particle of ``indices`` below P: its pT fraction (pT / jet
      pT, log scale) per class, and its position (x, y) as a 2-D histogram,
      one row per class (the fraction of the class's jets holding that
      particle per bin, one logarithmic colour scale).

    Histograms are normalised per class (fraction of jets), so classes of
    different sizes compare. Particles of ``indices`` >= P are named in the
    title as not drawn.

    Parameters
    ----------
    store : str, Path or Store
    indices : sequence of int
        Particles to draw (0-based, by pT); default 0, 10, 30 and 70.
    by_label, class_names, allow_incomplete
        As in :func:`particle_summary`.

    Returns
    -------
    matplotlib.figure.Figure

    >>> plot_particles("missing.zarr")
    Traceback (most recent call last):
    ...
    jetimg.errors.InputError: store not found: missing.zarr
    """
    from matplotlib.colors import LogNorm

    with stores.opened(store) as s:
        summary = particle_summary(s, indices, by_label=by_label, class_names=class_names,
                                   allow_incomplete=allow_incomplete)
        name = store_name(s)
        all_names = list(store_class_names(s, class_names).values())
    colours = class_colours(list(dict.fromkeys(all_names + list(summary.names))))
    k, drawn, p = len(summary.names), summary.indices, summary.n_particles
    has_kinds = summary.kinds is not None
    n_top = 4 if has_kinds else 2
    n_cols = max(n_top, len(drawn), 2)
    panel = 3.0
    note = missing_note(summary.missing, p)
    title = f"Particles: {name}{invalid_note(summary.n_invalid, summary.n_rows)}"
    if note:  # two lines: "particles ... not drawn:", then why
        title += "\n" + note.replace(": ", ":\n", 1)
    with hep_style():
        import matplotlib

        width = max(panel * n_cols + 1.0,
                    text_width([title], matplotlib.rcParams["figure.titlesize"]) + 0.5)
        fig = new_figure((width, panel * (2 + k) * 0.95 + 1.0))
        fig.get_layout_engine().set(w_pad=0.08)  # the sup labels clear the tick labels
        top, middle, bottom = fig.subfigures(3, 1, height_ratios=[1, 1, k * 0.95])
        axes = top.subplots(1, n_top)
        ax = axes[0]
        for c, cname in enumerate(summary.names):
            counts = summary.constituents[c]
            edges = np.arange(counts.size + 1) - 0.5
            _step(ax, edges, counts, summary.jets[c], colours[cname], cname)
        ax.set_xlabel("Constituents per jet")
        ax.set_ylabel("Fraction of jets")
        ax.set_xlim(left=0)
        ax = axes[1]
        for c, cname in enumerate(summary.names):
            _step(ax, np.arange(p + 2) - 0.5, summary.stored[c], summary.jets[c],
                  colours[cname], f"{cname} ({summary.jets[c]:,})")
        ax.set_xlabel(f"Particles stored per jet (P = {p})")
        ax.set_ylabel("Fraction of jets")
        ax.set_xlim(-0.5, p + 0.5)
        ax.legend(fontsize="small", loc="upper left")
        if has_kinds:
            labels = list(KIND_FLAGS.values())
            x = np.arange(len(labels))
            width = 0.8 / k
            for c, cname in enumerate(summary.names):
                jets = max(int(summary.jets[c]), 1)
                axes[2].bar(x + (c - (k - 1) / 2) * width, summary.leading_kinds[c] / jets,
                            width, color=colours[cname])
                axes[3].bar(x + (c - (k - 1) / 2) * width, summary.kinds[c] / jets, width,
                            color=colours[cname])
            axes[2].set_ylabel("Fraction of particle 0")
            axes[3].set_ylabel("Particles per jet")
            for ax in axes[2:]:
                ax.set_xticks(x, labels)
                ax.set_xlabel("Kind")
        if drawn:
            axes = np.atleast_1d(middle.subplots(1, len(drawn), sharey=True))
            pt_edges = 10.0 ** PT_EDGES
            for j, i in enumerate(drawn):
                ax = axes[j]
                for c, cname in enumerate(summary.names):
                    _step(ax, pt_edges, summary.pt_fraction[c, j], summary.has[c, j],
                          colours[cname], cname)
                ax.set_xscale("log")
                ax.set_xlabel(f"$p_T$ / jet $p_T$, particle {i}")
                if j == 0:
                    ax.set_ylabel("Fraction of jets")
            grid = np.array(bottom.subplots(k, len(drawn), sharex=True, sharey=True,
                                            squeeze=False))
            fractions = [summary.positions[c, j] / max(int(summary.has[c, j]), 1)
                         for c in range(k) for j in range(len(drawn))]
            positive = [f[f > 0] for f in fractions if np.any(f > 0)]
            vmax = max((float(f.max()) for f in positive), default=1.0)
            vmin = max(min((float(f.min()) for f in positive), default=vmax * 1e-3),
                       vmax * 1e-4)
            norm = LogNorm(vmin=vmin, vmax=vmax if vmax > vmin else vmin * 10)
            extent = (XY_EDGES[0], XY_EDGES[-1], XY_EDGES[0], XY_EDGES[-1])
            image = None
            for c, cname in enumerate(summary.names):
                for j, i in enumerate(drawn):
                    ax = grid[c, j]
                    frac = np.ma.masked_less_equal(fractions[c * len(drawn) + j].T, 0.0)
                    image = ax.imshow(frac, origin="lower", extent=extent, norm=norm,
                                      cmap="viridis", interpolation="nearest", aspect="auto")
                    ax.set_box_aspect(1)
                    ax.set_title(f"{cname}, particle {i}", fontsize="medium")
                    if summary.has[c, j] == 0:
                        ax.text(0.5, 0.5, "no jet has it", transform=ax.transAxes,
                                ha="center", va="center", fontsize="small")
                    ax.set_xticks([-0.5, 0.0, 0.5])
                    ax.set_yticks([-0.5, 0.0, 0.5])
            bottom.supxlabel("Particle position $x$")
            bottom.supylabel("Particle position $y$")
            bottom.colorbar(image, ax=grid.ravel().tolist(), shrink=0.9,
                            label="Fraction of jets per bin")
        fig.suptitle(title)
    return settle_layout(fig)
