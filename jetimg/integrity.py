"""``verify``: is an image store whole, and (given its input) does it recompute?

Checks, each reported with a line of detail:

* ``attributes``: docs/recipe.md's attributes are there and the recipe parses;
* ``arrays``: every array of docs/recipe.md's table, with its dtype and n_jets rows
  (images npix x npix as the recipe says);
* ``chunks``: every chunk of every array was written (a store cut short by a
  crash holds arrays of the right shape with chunks missing, which read as
  zeros);
* ``complete``: the ``complete`` attribute is true;
* with ``input``: ``input rows`` (the input has the rows the store says) and
  ``recompute``: a seeded sample of rows made again from the input gives the
  same images and per-jet values (to float32 rounding: the kernels may
  vectorise differently on another CPU) and the same labels.
"""

import dataclasses

import numpy as np

from .checks import integer
from .errors import JetimgError
from .io import stores
from .recipe import Recipe

__all__ = ["verify", "VerifyReport"]


@dataclasses.dataclass
class VerifyReport:
    """The checks of :func:`verify`: ``checks`` is a list of (name, ok, detail)."""

    store: str
    checks: list

    @property
    def ok(self):
        """True when every check passed."""
        return all(ok for _, ok, _ in self.checks)

    def __str__(self):
        return "\n".join(f"{'ok  ' if ok else 'FAIL'}  {name:<12} {detail}"
                         for name, ok, detail in self.checks)


def _chunks_written(array, fmt):
    """(chunks written, chunks expected) of a zarr array or h5py dataset."""
    if fmt == "zarr":
        return array.nchunks_initialized, array.nchunks
    if array.chunks is None:  # contiguous: written as a whole or not at all
        return 1, 1
    expected = int(np.prod([-(-n // c) for n, c in zip(array.shape, array.chunks)]))
    return array.id.get_num_chunks(), expected


def verify(store, input=None, *, key=None, labels_key=None, n_sample=1000, seed=0):
    """Check that ``store`` is a whole image store; with ``input``, that it recomputes.

    Parameters
    ----------
    store : str or Path
        A store written by :func:`jetimg.build` (Zarr or HDF5).
    input : str or Path, optional
        The constituents file it was built from (any layout ``open_jets`` reads).
    key, labels_key : str, optional
        As for :func:`jetimg.build`.
    n_sample : int
        Rows to recompute from ``input``: ten seeded random blocks of consecutive
        rows (all rows when the store is smaller).
    seed : int
        Seed of the sample.

    Returns
    -------
    VerifyReport
        ``.ok`` is true only when every check passed; ``str()`` gives one line per check.

    Raises
    ------
    InputError
        ``store`` is missing or not a store; ``input`` cannot be read.

    Examples
    --------
    >>> import numpy, jetimg, tempfile, pathlib
    >>> tmp = pathlib.Path(tempfile.mkdtemp())
    >>> numpy.save(tmp / "jets.npy", jetimg.toys.toy_jets(50, seed=1)[0])
    >>> _ = jetimg.build(tmp / "jets.npy", tmp / "images.zarr", npix=16)
    >>> report = jetimg.verify(tmp / "images.zarr", tmp / "jets.npy")
    >>> report.ok, [name for name, ok, detail in report.checks]
    (True, ['attributes', 'arrays', 'chunks', 'complete', 'input rows', 'recompute'])
    """
    checks = []
    with stores.open_store(store) as st:
        attrs = st.attrs
        missing = [k for k in ("jetimg_version", "recipe", "input", "input_rows", "n_jets",
                               "complete") if k not in attrs]
        recipe = None
        try:
            recipe = Recipe.from_attrs(attrs.get("recipe", {}))
        except JetimgError as exc:
            checks.append(("attributes", False, f"the recipe does not parse: {exc}"))
        else:
            checks.append(("attributes", not missing,
                           f"missing {', '.join(missing)}" if missing
                           else f"recipe parses; built by jetimg {attrs['jetimg_version']} "
                                f"from {attrs['input']}"))
        n = attrs.get("n_jets")
        npix = recipe.npix if recipe is not None else None
        specs = stores.array_specs(n if isinstance(n, int) else -1, npix, "labels" in st)
        problems, unwritten = [], []
        for name, (shape, dtype) in specs.items():
            if name not in st:
                problems.append(f"{name} is missing")
                continue
            array = st[name]
            if tuple(array.shape) != shape or np.dtype(array.dtype) != np.dtype(dtype):
                problems.append(f"{name} is {tuple(array.shape)} {np.dtype(array.dtype)}, "
                                f"not {shape} {dtype}")
                continue
            written, expected = _chunks_written(array, st.format)
            if written < expected:
                unwritten.append(f"{name} {written} of {expected}")
        checks.append(("arrays", not problems, "; ".join(problems) if problems
                       else f"{len(specs)} arrays of {n} rows, images {npix}x{npix}"))
        checks.append(("chunks", not unwritten and not problems,
                       "not checked (arrays are wrong)" if problems
                       else "chunks missing: " + ", ".join(unwritten) if unwritten
                       else "every chunk written"))
        checks.append(("complete", attrs.get("complete") is True,
                       "complete: true" if attrs.get("complete") is True
                       else "complete is not true: the build did not finish"))
        if input is not None and recipe is not None and not problems:
            checks += _recompute(st, input, key, labels_key, recipe, n, n_sample, seed)
    return VerifyReport(store=str(store), checks=checks)


def _recompute(st, input, key, labels_key, recipe, n, n_sample, seed):
    from .core import preprocess
    from .io import open_jets

    source = open_jets(input, key=key, labels_key=labels_key)
    if source.n_rows != st.attrs.get("input_rows") or source.n_rows < n:
        return [("input rows", False, f"{input} has {source.n_rows} rows; the store says "
                 f"{st.attrs.get('input_rows')} and holds {n}")]
    checks = [("input rows", True, f"{source.n_rows} rows")]
    blocks = _sample_blocks(n, n_sample, seed)
    bad, worst = [], 0.0
    for start, stop in blocks:
        jets, labels = source.read(start, stop)
        want = preprocess(jets, dataclasses.replace(recipe, invalid="skip"))
        if labels is not None:
            want["labels"] = labels
        for name, expected in want.items():
            if name not in st:
                bad.append(f"{name} missing")
                continue
            got = np.asarray(st[name][start:stop])
            if name == "images":
                diff = np.abs(got.astype(np.float64) - expected).sum(axis=(1, 2))
                scale = np.maximum(np.abs(expected).sum(axis=(1, 2)), 1e-30)
                rel = diff / scale
                worst = max(worst, float(rel.max(initial=0.0)))
                rows = np.flatnonzero(rel > 1e-5)
            elif name in ("jet_pt", "jet_eta", "jet_phi", "jet_mass"):
                rows = np.flatnonzero(~np.isclose(got, expected, rtol=1e-5, atol=1e-5))
            else:
                rows = np.flatnonzero(got != expected)
            if rows.size:
                bad.append(f"{name} differs at row {start + int(rows[0])}")
    n_checked = sum(stop - start for start, stop in blocks)
    checks.append(("recompute", not bad, "; ".join(bad[:5]) if bad else
                   f"{n_checked} rows in {len(blocks)} blocks recompute "
                   f"(largest relative image L1 {worst:.1e})"))
    return checks


def _sample_blocks(n, n_sample, seed, n_blocks=10):
    """Up to ``n_blocks`` disjoint sorted (start, stop) blocks of about ``n_sample`` rows."""
    n_sample = integer("n_sample", n_sample)
    if n <= n_sample:
        return [(0, n)] if n else []
    size = max(1, n_sample // n_blocks)
    slots = n // size
    rng = np.random.default_rng(seed)
    picks = np.sort(rng.choice(slots, size=min(n_blocks, slots), replace=False))
    return [(int(p) * size, int(p) * size + size) for p in picks]
