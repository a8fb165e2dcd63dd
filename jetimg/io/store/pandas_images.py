"""The challenge's image-file layout: a pandas HDFStore of flattened images.

:func:`write_pandas_images` copies a finished image store into it (the layout
the top-tagging challenge shipped its images in), for tools that read it.
"""

import numpy as np

from ...errors import JetimgError
from . import stores

__all__ = ["write_pandas_images"]


def write_pandas_images(store_path, output):
    """Copy a finished store into the challenge's image-file layout.

    A pandas HDFStore (key "table", format "table") with columns img_0 ...
    img_{npix^2-1} (the row-major image), is_signal_new (when the store has
    labels) and mass (jet_mass, GeV), written chunk by chunk.
    """
    try:
        import pandas as pd
        import tables  # noqa: F401
    except ImportError:
        raise JetimgError("layout 'pandas-images' needs pandas and PyTables: "
                          "pip install 'jetimg[pandas]'") from None
    import warnings

    with stores.open_store(store_path) as store:
        images = store["images"]
        n, npix = images.shape[0], images.shape[1]
        columns = [f"img_{i}" for i in range(npix * npix)]
        step = max(1, 2_000_000 // max(npix * npix, 1))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # PyTables' PerformanceWarning on wide tables
            with pd.HDFStore(output, mode="w") as out:
                for start in range(0, n, step):
                    stop = min(start + step, n)
                    frame = pd.DataFrame(images[start:stop].reshape(stop - start, -1),
                                         columns=columns, index=np.arange(start, stop))
                    if "labels" in store:
                        frame["is_signal_new"] = store["labels"][start:stop].astype(np.int64)
                    frame["mass"] = store["jet_mass"][start:stop].astype(np.float64)
                    out.append("table", frame, format="table", index=False)
