"""HDF5 machinery shared by the HDF5 layouts (pandas frames, plain arrays).

Compression: HDF5 inputs may use any filter HDF5 knows, plus those that
``hdf5plugin`` registers (it is imported here where installed): zlib (gzip),
shuffle, lzf, and PyTables' blosc (filter 32001, all its codecs), as written by
``to_hdf(..., complib="blosc")``. A dataset compressed with a filter that is
not available is refused up front (:func:`check_filters`), naming the filter.

Files are opened with a 32 MiB chunk cache (:func:`h5open`), which holds the
partial chunks at the edges of the row windows read one after the other.
"""

import h5py

try:
    import hdf5plugin  # noqa: F401  (registers blosc and other filters with HDF5)
except ImportError:  # a core dependency; without it only blosc & co. are missing
    hdf5plugin = None

from jetimg.errors import InputError
from jetimg.io.readers.sources import JetSource

__all__ = ["HDF5Source", "h5open", "check_filters", "describe_compression"]

# Chunk cache per open HDF5 file: holds the partial chunks at window edges.
_RDCC_NBYTES = 32 * 1024 * 1024
_FILTER_NAMES = {1: "zlib", 2: "shuffle", 3: "fletcher32", 4: "szip",
                 5: "nbit", 6: "scaleoffset", 307: "bzip2", 32000: "lzf",
                 32001: "blosc", 32004: "lz4", 32008: "bitshuffle",
                 32015: "zstd", 32026: "blosc2"}


class HDF5Source(JetSource):
    """Base of the HDF5 sources: opens the file, re-checks dataset shapes.

    The handle is ``(file, {dataset name: h5py.Dataset})`` for the datasets
    of ``expect``, a dict {dataset name: shape} that the opener recorded: a
    file changed since is refused.
    """

    def __init__(self, path, key, labels_key, n_rows, n_slots, expect,
                 compression=""):
        super().__init__(path, key, labels_key, n_rows, n_slots, compression)
        self._expect = expect   # {dataset name: shape} checked at each open

    def _open(self):
        f = h5open(self.path)
        datasets = {}
        try:
            for name, shape in self._expect.items():
                ds = f.get(name)
                if not isinstance(ds, h5py.Dataset) or ds.shape != shape:
                    raise InputError(f"{self.path} changed since it was opened: "
                                     f"dataset {name} is no longer {shape}")
                datasets[name] = ds
        except BaseException:
            f.close()
            raise
        return f, datasets

    def _close(self, handle):
        handle[0].close()


def h5open(path):
    """Open an HDF5 file read-only with jetimg's chunk cache.

    Parameters
    ----------
    path : str

    Returns
    -------
    h5py.File

    Raises
    ------
    InputError
        The file cannot be opened.
    """
    try:
        return h5py.File(path, "r", rdcc_nbytes=_RDCC_NBYTES, rdcc_nslots=10007)
    except OSError as exc:
        raise InputError(f"cannot open HDF5 file {path}: {exc}") from exc


def check_filters(ds, path):
    """Refuse a dataset compressed with a filter this HDF5 lacks.

    Parameters
    ----------
    ds : h5py.Dataset
    path : str
        The file, for the message.

    Raises
    ------
    InputError
        Names the filter's number and name.
    """
    plist = ds.id.get_create_plist()
    for i in range(plist.get_nfilters()):
        code, _, _, name = plist.get_filter(i)
        if not h5py.h5z.filter_avail(code):
            label = _FILTER_NAMES.get(code) or name.decode("ascii", "replace")
            hint = ("a newer hdf5plugin may have it" if hdf5plugin is not None
                    else "install hdf5plugin, which brings it")
            raise InputError(f"{ds.name} in {path} is compressed with HDF5 filter "
                             f"{code} ({label}), which is not available here ({hint})")


def describe_compression(datasets):
    """The compression of ``datasets`` in words, for :meth:`JetSource.describe`.

    Parameters
    ----------
    datasets : list of h5py.Dataset

    Returns
    -------
    str
        The filters joined by ``+`` (e.g. ``"blosc"``; shuffle and fletcher32
        are left out), or ``"uncompressed"``.
    """
    names = []
    for ds in datasets:
        plist = ds.id.get_create_plist()
        for i in range(plist.get_nfilters()):
            code, _, _, name = plist.get_filter(i)
            label = _FILTER_NAMES.get(code) or name.decode("ascii", "replace")
            if label not in ("shuffle", "fletcher32") and label not in names:
                names.append(label)
    return "+".join(names) if names else "uncompressed"
