"""Row ranges of an image store: which rows its chunks hold, which are missing.

Zarr and HDF5 read a chunk that was never written (or was lost) as zeros,
without a word; these helpers look at the chunks themselves. Ranges are
``(start, stop)`` row pairs, stop excluded. Used by ``store_info``,
:func:`jetimg.verify` and the readers' check of incomplete stores.
"""

import itertools

import numpy as np

__all__ = ["chunk_ranges", "missing_rows", "merge_ranges", "complement_ranges", "format_ranges"]


def chunk_ranges(store, name):
    """The storage chunks of array ``name`` of an open :class:`Store`, by rows.

    A storage chunk is what the store keeps as one piece: a chunk file of a Zarr
    array (a shard file when the array is sharded, as jetimg's images are), a
    chunk of an HDF5 dataset, or the whole of a contiguous one.

    Returns
    -------
    list of (start, stop, present)
        Row ranges in order; ``present`` is False where the chunk was never
        written (Zarr and HDF5 read a missing chunk as zeros, without a word).
    """
    array = store[name]
    n = int(array.shape[0]) if array.shape else 0
    if store.format == "zarr":
        grid = tuple(array.shards or array.chunks)
        rows = int(grid[0]) if grid else max(n, 1)
        rest = [range(-(-int(s) // int(c))) for s, c in zip(array.shape[1:], grid[1:])]
        folder = store.path / name

        def present(i):
            return all((folder / array.metadata.encode_chunk_key((i, *others))).is_file()
                       for others in itertools.product(*rest))
    else:
        if array.chunks is None:  # contiguous: written as a whole or not at all
            return [(0, n, n == 0 or array.id.get_storage_size() > 0)] if n else []
        rows = int(array.chunks[0])
        per_row = int(np.prod([-(-int(s) // int(c))
                               for s, c in zip(array.shape[1:], array.chunks[1:])]))
        found = {}
        array.id.chunk_iter(lambda info: found.__setitem__(
            info.chunk_offset[0] // rows, found.get(info.chunk_offset[0] // rows, 0) + 1))

        def present(i):
            return found.get(i, 0) == per_row
    return [(start, min(start + rows, n), present(start // rows)) for start in range(0, n, rows)]


def missing_rows(store):
    """Row ranges of an open :class:`Store` that some array holds no chunk for.

    Returns
    -------
    list of (start, stop)
        Sorted, merged ranges: rows not written (an interrupted build) or whose
        chunk file was lost; empty for a whole store.
    """
    return merge_ranges((start, stop) for name in store.keys()
                        for start, stop, present in chunk_ranges(store, name) if not present)


def format_ranges(ranges, most=4):
    """Row ranges as people read them: ``[(0, 1000), (5000, 5001)]`` -> "0-999, 5000".

    >>> format_ranges([(0, 1000), (5000, 5001)])
    '0-999, 5000'
    >>> format_ranges([(i, i + 1) for i in range(0, 12, 2)], most=2)
    '0, 2 and 4 more ranges'
    """
    text = [f"{a}-{b - 1}" if b - a > 1 else f"{a}" for a, b in ranges[:most]]
    more = f" and {len(ranges) - most} more ranges" if len(ranges) > most else ""
    return ", ".join(text) + more


def merge_ranges(ranges):
    """Row ranges sorted, with overlapping or touching ones merged.

    >>> merge_ranges([(5, 8), (0, 2), (2, 3), (7, 9)])
    [(0, 3), (5, 9)]
    """
    merged = []
    for start, stop in sorted(ranges):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], stop))
        else:
            merged.append((start, stop))
    return merged


def complement_ranges(n, ranges):
    """The rows of ``[0, n)`` outside ``ranges`` (sorted, disjoint), as ranges.

    >>> complement_ranges(10, [(2, 4), (6, 7)])
    [(0, 2), (4, 6), (7, 10)]
    """
    out, at = [], 0
    for start, stop in ranges:
        if start > at:
            out.append((at, start))
        at = max(at, stop)
    return out + [(at, n)] if at < n else out
