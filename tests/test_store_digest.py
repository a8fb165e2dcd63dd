"""The sample's image store, digested: a change of layout or kernels that
alters a single bit of any array or attribute fails here.

The digests were recorded from the code as it stood before a restructuring
that was to change nothing. A change that alters the stores on purpose (new
attributes, channels) records new digests in ``tests/data/store_digests.json``
and says so in its commit.
"""

import hashlib
import json
import pathlib

import numpy as np
import pytest

import jetimg
from jetimg.data import sample_path

DIGESTS = pathlib.Path(__file__).parent / "data" / "store_digests.json"
#: attributes that name the machine or the release, not the images
SKIPPED_ATTRS = ("jetimg_version", "input")


def store_digest(path):
    """sha256 over every decoded array (name, dtype, shape, bytes) and every
    attribute but SKIPPED_ATTRS, in sorted order."""
    digest = hashlib.sha256()
    with jetimg.open_store(path) as store:
        attrs = {k: v for k, v in dict(store.attrs).items() if k not in SKIPPED_ATTRS}
        digest.update(json.dumps(attrs, sort_keys=True).encode())
        for name in store.keys():
            a = np.ascontiguousarray(store[name][:])
            digest.update(f"{name} {a.dtype.str} {a.shape}".encode())
            digest.update(a.tobytes())
    return digest.hexdigest()


CASES = {
    "default.zarr": {},
    "default.h5": {},
    "options.zarr": dict(npix=25, center="jet", normalise="max", threshold=1.0,
                         intensity="e", chunk_size=700),
}


def build_case(tmp_path, name):
    out = tmp_path / name
    jetimg.build(sample_path(), out, workers=2, **CASES[name])
    return out


@pytest.mark.parametrize("name", sorted(CASES))
def test_sample_store_unchanged(tmp_path, name):
    recorded = json.loads(DIGESTS.read_text())
    assert store_digest(build_case(tmp_path, name)) == recorded[name]


if __name__ == "__main__":  # python tests/test_store_digest.py: record the digests anew
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        digests = {name: store_digest(build_case(pathlib.Path(tmp), name)) for name in sorted(CASES)}
    DIGESTS.write_text(json.dumps(digests, indent=1) + "\n")
    print(json.dumps(digests, indent=1))
