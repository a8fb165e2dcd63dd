"""``verify``: is an image store whole, and (given its input) does it recompute?

Checks, each reported with a line of detail:

* ``attributes``: docs/recipe.md's attributes are there and the recipe parses;
* ``arrays``: every array of docs/recipe.md's table, with its dtype and n_jets rows
  (images npix x npix, with its channels, as the recipe says);
* ``chunks``: every chunk of every array was written (a store cut short by a
  crash holds arrays of the right shape with chunks missing, which read as
  zeros); one line per array with chunks missing, naming the rows;
* ``decode``: every chunk written decodes (unless ``quick``): one line per
  damaged range of rows, naming the array and what went wrong. Read a
  chunk-aligned window at a time, on a few threads; blosc chunks (and Zarr
  shard indexes, which carry a checksum) are first checked against their
  stored sizes, so a truncated chunk is named rather than decoded past its end;
* ``complete``: the ``complete`` attribute is true;
* with ``input``: ``input rows`` (the input has the rows the store says) and
  ``recompute``: a seeded sample of rows made again from the input gives the
  same images and per-jet values (to float32 rounding: the kernels may
  vectorise differently on another CPU) and the same labels (rows that
  cannot be read are left out, and said so).

What decoding cannot see: bytes overwritten inside a chunk that still
decodes (a chunk stored uncompressed, or a blosc block kept as it was because
it did not compress) give wrong values and no error; ``input`` recomputes a
sample, which may catch them.
"""

import concurrent.futures
import dataclasses
import os

import numpy as np

from .checks import integer
from .errors import JetimgError
from .io.store import stores
from .io.store.lockfile import build_writing
from .io.store.rows import chunk_ranges, complement_ranges, format_ranges, merge_ranges
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


#: Bytes of decoded rows one read holds at most (windows are chunk-aligned).
WINDOW_BYTES = 16 << 20

#: The HDF5 filter id of blosc (hdf5plugin.Blosc).
_HDF5_BLOSC = "32001"
_NO_CHUNK = 2**64 - 1  # offset and length of a chunk missing from a Zarr shard


def verify(store, input=None, *, key=None, labels_key=None, pid_key=None, n_sample=1000,
           seed=0, quick=False, workers=None):
    """Check that ``store`` is a whole image store; with ``input``, that it recomputes.

    Parameters
    ----------
    store : str or Path
        A store written by :func:`jetimg.build` (Zarr or HDF5).
    input : str, Path, or a list of them, optional
        The constituents file it was built from (any layout ``open_jets`` reads),
        or its several files (a list or a glob pattern, as for :func:`jetimg.build`).
    key, labels_key, pid_key : str, optional
        As for :func:`jetimg.build`.
    n_sample : int
        Rows to recompute from ``input``: ten seeded random blocks of consecutive
        rows (all rows when the store is smaller).
    seed : int
        Seed of the sample.
    quick : bool
        Check that every chunk is there, without decoding them (no ``decode`` check).
    workers : int, optional
        Threads that decode (default: up to 4, as the CPUs allow).

    Returns
    -------
    VerifyReport
        ``.ok`` is true only when every check passed; ``str()`` gives one line
        per check, and one per finding (an array with chunks missing, a damaged
        range of rows).

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
    (True, ['attributes', 'arrays', 'chunks', 'decode', 'complete', 'input rows', 'recompute'])
    """
    workers = min(4, os.cpu_count() or 1) if workers is None else integer("workers", workers)
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
                                f"from {_names(attrs['input'])}"))
        n = attrs.get("n_jets")
        npix = recipe.npix if recipe is not None else None
        n_particles = n_features = None
        if recipe is not None and recipe.particles is not None:
            features = attrs.get("particle_features")
            n_particles = recipe.particles
            n_features = len(features) if isinstance(features, (list, tuple)) else -1
            if n_features < 0:
                missing.append("particle_features")
        specs = stores.array_specs(n if isinstance(n, int) else -1, npix, "labels" in st,
                                   recipe.n_channels if recipe is not None else None,
                                   n_particles=n_particles, n_features=n_features)
        problems, good = [], []
        for name, (shape, dtype) in specs.items():
            if name not in st:
                problems.append(f"{name} is missing")
                continue
            try:
                array = st[name]
                found = (tuple(array.shape), np.dtype(array.dtype))
            except Exception as exc:
                problems.append(f"{name} cannot be opened ({_reason(exc)})")
                continue
            if found != (shape, np.dtype(dtype)):
                problems.append(f"{name} is {found[0]} {found[1]}, not {shape} {dtype}")
                continue
            good.append(name)
        checks.append(("arrays", not problems, "; ".join(problems) if problems
                       else f"{len(specs)} arrays of {n} rows, images {npix}x{npix}"
                       + (f" x {recipe.n_channels} channels" if recipe.n_channels else "")))
        # Chunks and decoding: every array of the right shape, whatever the others.
        unreadable, lines, pieces, gaps = {}, [], [], {}
        for name in good:
            try:
                ranges = chunk_ranges(st, name)
            except Exception as exc:
                lines.append(f"{name}: its chunk index cannot be read ({_reason(exc)})")
                unreadable[name] = [(0, len(st[name]))]
                continue
            gone = [(a, b) for a, b, present in ranges if not present]
            pieces += [(name, a, b) for a, b, present in ranges if present]
            if gone:
                unreadable[name] = merge_ranges(gone)
                gaps.setdefault(tuple(unreadable[name]), []).append(
                    (name, len(gone), len(ranges)))
        for rows, names in gaps.items():  # arrays missing the same rows: one finding
            counts = {(k, total) for _, k, total in names}
            who = ("every array" if len(names) == len(good) > 1
                   else ", ".join(name for name, _, _ in names))
            lines.append(f"{who}: "
                         + ("{} of {} chunks missing".format(*counts.pop()) if len(counts) == 1
                            else "chunks missing")
                         + f" (rows {format_ranges(list(rows))}): never written, "
                           "or lost; they read as zeros")
        skipped = [name for name in specs if name not in good]
        checks += [("chunks", False, line) for line in lines] or [
            ("chunks", True, f"every chunk written ({len(pieces)} chunks"
             + (f"; {', '.join(skipped)} not checked: see arrays)" if skipped else ")"))]
        if not quick:
            findings = _decode_all(st, pieces, workers)
            for name, a, b, _ in findings:
                unreadable[name] = merge_ranges(unreadable.get(name, []) + [(a, b)])
            checks += _decode_lines(findings, len(pieces))
        complete = attrs.get("complete") is True
        writer = None if complete else build_writing(store)
        checks.append(("complete", complete, "complete: true" if complete
                       else f"complete is not true: being written now by {writer['who']}"
                       if writer is not None
                       else "complete is not true: the build did not finish"
                       + ("; jetimg.build(..., resume=True) finishes it"
                          if st.format == "zarr" and _resumable(st) else "")))
        if input is not None and recipe is not None and not problems:
            checks += _recompute(st, input, (key, labels_key, pid_key), recipe, n, n_sample, seed,
                                 unreadable)
    return VerifyReport(store=str(store), checks=checks)


def _resumable(st):
    from .io.store import checkpoints

    return checkpoints.load(st.path) is not None


# ---------------------------------------------------------------------------
# decoding every chunk
# ---------------------------------------------------------------------------

def _decode_all(st, pieces, workers):
    """``(name, start, stop, reason)`` of every range of rows that cannot be read,
    over ``pieces`` (name, start, stop: one storage chunk each), on ``workers`` threads."""
    def check(piece):
        try:
            return _check_piece(st, *piece)
        except Exception as exc:  # a fault outside the chunk's bytes: name it all the same
            return [(*piece, _reason(exc))]

    found = []
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        for result in pool.map(check, pieces):
            found += result
    found.sort()
    merged = []
    for name, a, b, reason in found:  # adjacent ranges with the same fault: one finding
        if merged and merged[-1][0] == name and merged[-1][2] == a and merged[-1][3] == reason:
            merged[-1] = (name, merged[-1][1], b, reason)
        else:
            merged.append((name, a, b, reason))
    return merged


def _decode_lines(findings, n_pieces, most=10):
    if not findings:
        return [("decode", True, f"every chunk decodes ({n_pieces} chunks)")]
    lines, per_array = [], {}
    for name, a, b, reason in findings:
        per_array.setdefault(name, []).append((a, b, reason))
    for name, found in per_array.items():
        for a, b, reason in found[:most]:
            lines.append(("decode", False, f"{name} rows {format_ranges([(a, b)])}: "
                                           f"cannot be decoded ({reason})"))
        if len(found) > most:
            rest = [(a, b) for a, b, _ in found[most:]]
            lines.append(("decode", False, f"{name}: {len(rest)} more damaged ranges (rows "
                                           f"{format_ranges(rest)})"))
    return lines


def _reason(exc):
    """What a reading error means, in a few words."""
    text = (str(exc).strip().splitlines() or [""])[0]
    low = text.lower()
    if "blosc" in low:
        return "blosc decompression error"
    if "zstd" in low:
        return "zstd decompression error"
    if "checksum" in low:
        return "checksum mismatch: truncated or overwritten"
    if "filter returned failure" in low:
        return "its HDF5 filter failed to decompress it"
    return f"{type(exc).__name__}: {text[:160]}" if text else type(exc).__name__


def _check_piece(st, name, start, stop):
    """Findings in one storage chunk: its framing first, then the rows it decodes to."""
    array = st[name]
    if st.format == "zarr":
        bad, step = _zarr_framing(st, array, name, start, stop)
    else:
        bad, step = _hdf5_framing(st, array, start, stop)
    row_bytes = max(1, int(np.prod(array.shape[1:], dtype=np.int64)) * array.dtype.itemsize)
    window = max(step, WINDOW_BYTES // row_bytes // step * step)
    at = start
    for a, b in [(a, b) for a, b, _ in bad] + [(stop, stop)]:
        for w in range(at, a, window):  # the rows between damaged ones, a window at a time
            w_stop = min(w + window, a)
            try:
                array[w:w_stop]
            except Exception as exc:
                if w_stop - w <= step:
                    bad.append((w, w_stop, _reason(exc)))
                    continue
                for c in range(w, w_stop, step):  # which of its chunks?
                    try:
                        array[c:min(c + step, w_stop)]
                    except Exception as inner:
                        bad.append((c, min(c + step, w_stop), _reason(inner)))
        at = max(at, b)
    return [(name, a, b, reason) for a, b, reason in sorted(bad)]


def _blosc_problem(header, length, nbytes):
    """Why a blosc chunk of ``length`` bytes, decoding to ``nbytes``, is damaged, or None."""
    if len(header) < 16:
        return f"truncated: {length} bytes, shorter than a blosc header"
    decoded = int.from_bytes(header[4:8], "little")
    stored = int.from_bytes(header[12:16], "little")
    if decoded != nbytes:
        return "overwritten: it does not start with a valid blosc header"
    if stored > length:
        return f"truncated: {length} of its {stored} bytes are left"
    if stored != length:
        return f"overwritten: its blosc header gives {stored} bytes, it has {length}"
    return None


def _zarr_framing(st, array, name, start, stop):
    """Damaged ``(start, stop, reason)`` ranges of a Zarr chunk file found without
    decoding it, and the rows of its smallest readable piece (inner chunk)."""
    from zarr.codecs import BloscCodec, BytesCodec, Crc32cCodec, ShardingCodec

    codecs = array.metadata.codecs
    sharding = codecs[0] if len(codecs) == 1 and isinstance(codecs[0], ShardingCodec) else None
    grid = tuple(array.shards or array.chunks)
    inner = tuple(sharding.chunk_shape) if sharding else grid
    step = int(inner[0])
    if any(-(-int(s) // int(c)) > 1 for s, c in zip(array.shape[1:], grid[1:])):
        return [], step  # chunked across images too: leave it to the decoder
    path = st.path / name / array.metadata.encode_chunk_key((start // int(grid[0]),)
                                                            + (0,) * (len(grid) - 1))
    size = path.stat().st_size
    if size == 0:
        return [(start, stop, "empty file")], step
    itemsize = array.dtype.itemsize
    inner_bytes = int(np.prod(inner, dtype=np.int64)) * itemsize
    if sharding is None:
        if not isinstance(codecs[-1], BloscCodec):
            return [], step
        with open(path, "rb") as f:
            problem = _blosc_problem(f.read(16), size, inner_bytes)
        return ([(start, stop, problem)] if problem else []), step
    index_codecs = tuple(type(c) for c in sharding.index_codecs)
    if index_codecs not in ((BytesCodec,), (BytesCodec, Crc32cCodec)):
        return [], step
    per_shard = [int(g) // int(i) for g, i in zip(grid, inner)]
    n_inner = int(np.prod(per_shard))
    has_crc = Crc32cCodec in index_codecs
    index_size = 16 * n_inner + 4 * has_crc
    if size < index_size:
        return [(start, stop, f"truncated: {size} bytes, shorter than its shard index")], step
    at_end = str(getattr(sharding.index_location, "value", sharding.index_location)) == "end"
    with open(path, "rb") as f:
        f.seek(size - index_size if at_end else 0)
        index = f.read(index_size)
        if has_crc:
            import google_crc32c

            if np.uint32(google_crc32c.value(index[:-4])).tobytes() != index[-4:]:
                return [(start, stop, "its shard index fails its checksum: truncated or "
                                      "overwritten")], step
        entries = np.frombuffer(index[:16 * n_inner], "<u8").reshape(n_inner, 2)
        data = (0, size - index_size) if at_end else (index_size, size)
        blosc = isinstance(sharding.codecs[-1], BloscCodec)
        bad = []
        for i, (offset, length) in enumerate(entries.tolist()):
            a = start + int(np.unravel_index(i, per_shard)[0]) * step
            if a >= stop:
                continue
            b = min(a + step, stop)
            if offset == _NO_CHUNK and length == _NO_CHUNK:
                bad.append((a, b, "missing from its shard file: reads as zeros"))
            elif offset < data[0] or offset + length > data[1]:
                bad.append((a, b, "truncated or overwritten: its shard index points past "
                                  "the data"))
            elif blosc:
                f.seek(offset)
                problem = _blosc_problem(f.read(16), length, inner_bytes)
                if problem:
                    bad.append((a, b, problem))
    return bad, step


def _hdf5_framing(st, array, start, stop):
    """As :func:`_zarr_framing`, for a chunk of an HDF5 dataset."""
    if array.chunks is None:
        return [], max(1, stop - start)
    step = int(array.chunks[0])
    if any(-(-int(s) // int(c)) > 1 for s, c in zip(array.shape[1:], array.chunks[1:])):
        return [], step
    info = array.id.get_chunk_info_by_coord((start,) + (0,) * (array.ndim - 1))
    if info.byte_offset is None:
        return [], step
    size = st.path.stat().st_size
    if info.byte_offset + info.size > size:
        return [(start, stop, "truncated: the file ends inside it")], step
    if list(array._filters) != [_HDF5_BLOSC] or info.filter_mask:
        return [], step
    with open(st.path, "rb") as f:
        f.seek(info.byte_offset)
        problem = _blosc_problem(f.read(16), info.size,
                                 int(np.prod(array.chunks, dtype=np.int64)) * array.dtype.itemsize)
    return ([(start, stop, problem)] if problem else []), step


def _recompute(st, input, keys, recipe, n, n_sample, seed, unreadable):
    """The ``input rows`` and ``recompute`` checks; rows of ``unreadable`` (name ->
    ranges missing or damaged, already reported) are left out of the comparison."""
    from .core import preprocess
    from .io.readers.multi import input_names, open_inputs

    key, labels_key, pid_key = keys
    source = open_inputs(input, key=key, labels_key=labels_key, pid_key=pid_key)
    with source:
        if source.n_rows != st.attrs.get("input_rows") or source.n_rows < n:
            shown = _names(input_names(source)) if hasattr(source, "paths") else input
            return [("input rows", False, f"{shown} has {source.n_rows} "
                     f"rows; the store says {st.attrs.get('input_rows')} and holds {n}")]
        checks = [("input rows", True, f"{source.n_rows} rows")]
        if recipe.needs_kinds and not source.has_kinds:
            return checks + [("recompute", False, f"channel {recipe.needs_kinds[0]} needs "
                              f"particle kinds, and {_names(input_names(source))} carries "
                              f"none here (a pid array beside plain arrays: pid_key=)")]
        if recipe.vary is not None and recipe.vary.needs_kinds and not source.has_kinds:
            return checks + [("recompute", False, f"vary neutral_scale needs particle kinds, "
                              f"and {_names(input_names(source))} carries none here (a pid "
                              f"array beside plain arrays: pid_key=)")]
        blocks = _sample_blocks(n, n_sample, seed)
        identity = recipe.reads_identity(source.has_kinds)
        bad, worst, left_out = [], 0.0, {}
        for start, stop in blocks:
            jets, labels = source.read(start, stop)
            want = preprocess(jets, dataclasses.replace(recipe, invalid="skip"),
                              **source.read_identity(start, stop, *identity), row_offset=start)
            if labels is not None:
                want["labels"] = labels
            for name, expected in want.items():
                if name not in st:
                    bad.append(f"{name} missing")
                    continue
                gaps = [(max(a, start), min(b, stop)) for a, b in unreadable.get(name, ())
                        if a < stop and start < b]
                if gaps:
                    left_out[name] = left_out.get(name, 0) + sum(b - a for a, b in gaps)
                local_gaps = [(a - start, b - start) for a, b in gaps]
                for a, b in complement_ranges(stop - start, local_gaps):
                    try:
                        got = np.asarray(st[name][start + a:start + b])
                    except Exception as exc:  # quick: damage not looked for
                        bad.append(f"{name} rows {format_ranges([(start + a, start + b)])} "
                                   f"cannot be read ({_reason(exc)})")
                        continue
                    rows, rel = _differing(name, got, expected[a:b])
                    worst = max(worst, rel)
                    if rows.size:
                        bad.append(f"{name} differs at row {start + a + int(rows[0])}")
        n_checked = sum(stop - start for start, stop in blocks)
        note = ("; not compared (missing or damaged, see above): "
                + ", ".join(f"{k} rows of {name}" for name, k in left_out.items())) \
            if left_out else ""
        checks.append(("recompute", not bad, "; ".join(bad[:5]) + note if bad else
                       f"{n_checked} rows in {len(blocks)} blocks recompute "
                       f"(largest relative image L1 {worst:.1e}){note}"))
        return checks


def _names(input):
    """The store's ``input`` attribute (a name or a list of names) for a message."""
    if isinstance(input, (list, tuple)):
        return f"{len(input)} files ({', '.join(map(str, input[:3]))}" \
               f"{', ...' if len(input) > 3 else ''})"
    return str(input)


def _differing(name, got, expected):
    """Rows of ``got`` that differ from ``expected``, and the largest image distance."""
    if name == "images":
        # per row (and per channel: each has its own scale), the L1 distance
        axes = (1, 2)
        diff = np.abs(got.astype(np.float64) - expected).sum(axis=axes)
        scale = np.maximum(np.abs(expected).sum(axis=axes), 1e-30)
        rel = (diff / scale).reshape(len(diff), -1).max(axis=1, initial=0.0)
        return np.flatnonzero(rel > 1e-5), float(rel.max(initial=0.0))
    if name in ("jet_pt", "jet_eta", "jet_phi", "jet_mass"):
        return np.flatnonzero(~np.isclose(got, expected, rtol=1e-5, atol=1e-5)), 0.0
    if name == "particles":
        if got.shape != expected.shape:  # F differs: the input's kinds are not the store's
            return np.arange(len(got)), 0.0
        close = np.isclose(got, expected, rtol=1e-5, atol=1e-5)
        return np.flatnonzero(~close.reshape(len(got), -1).all(axis=1)), 0.0
    return np.flatnonzero(got != expected), 0.0


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
