"""What an input of jet constituents holds, for people: :func:`describe_input`.

``jetimg info`` answers "what is in this file?" with it for inputs, as it does
for image stores with :func:`jetimg.io.store.stores.store_info`. It opens the
input as a build would (:func:`~jetimg.io.readers.multi.open_inputs`, with the
same checks) and reads no rows.
"""

from jetimg.io.readers.multi import open_inputs

__all__ = ["describe_input", "LAYOUT_WORDS"]

#: each layout of :data:`jetimg.io.LAYOUTS` in a user's words
LAYOUT_WORDS = {
    "pandas-fixed": "top-tagging pandas HDF5 frame (fixed format)",
    "pandas-table": "top-tagging pandas HDF5 frame (table format)",
    "hdf5-array": "plain (N, M, 4) array in HDF5",
    "zarr-array": "plain (N, M, 4) array in Zarr",
    "npy": "plain (N, M, 4) array in .npy",
    "jetclass-root": "JetClass ROOT TTree",
    "qg-npz": "EnergyFlow quark/gluon .npz",
}


def describe_input(inputs, key=None, labels_key=None, pid_key=None):
    """Describe an input of jet constituents: layout, rows, slots, labels, particle kinds.

    Parameters
    ----------
    inputs : str, os.PathLike or sequence of them
        A file, a quoted glob pattern, or several files of one layout, as
        :func:`jetimg.build` takes them.
    key, labels_key, pid_key : str, optional
        As for :func:`jetimg.build` (where the jets, labels and PDG ids are).

    Returns
    -------
    dict
        ``layout`` (one of :data:`jetimg.io.LAYOUTS`), ``layout_words`` (the
        layout for people), ``files`` (absolute paths, in row order),
        ``n_rows`` (jets, all files together), ``n_slots`` (constituent
        slots M per jet; None for jagged rows), ``jagged`` (each jet holds its
        own number of particles: JetClass ROOT), ``key`` and ``labels_key``
        (where the jets and labels are; None without labels), ``label_names``
        (the class names in label order, or None where the input names none),
        ``has_kinds`` (particle kinds, which the KIND channels need).

    Raises
    ------
    InputError
        The input cannot be read as a build would read it (the same message).

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> path = os.path.join(tempfile.mkdtemp(), "jets.npy")
    >>> np.save(path, np.ones((10, 3, 4), dtype=np.float32))
    >>> d = describe_input(path)
    >>> d["layout"], d["n_rows"], d["n_slots"], d["label_names"], d["has_kinds"]
    ('npy', 10, 3, None, False)
    """
    with open_inputs(inputs, key=key, labels_key=labels_key, pid_key=pid_key) as source:
        files = list(getattr(source, "paths", [source.path]))
        return {
            "layout": source.layout,
            "layout_words": LAYOUT_WORDS.get(source.layout, source.layout),
            "files": files,
            "n_rows": int(source.n_rows),
            "n_slots": None if source.jagged else int(source.n_slots),
            "jagged": bool(source.jagged),
            "key": source.key,
            "labels_key": source.labels_key,
            "label_names": (None if source.label_names is None
                            else tuple(str(n) for n in source.label_names)),
            "has_kinds": bool(source.has_kinds),
        }
