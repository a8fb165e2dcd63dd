"""The sample's image store, digested: a change of layout or kernels that
alters a single bit of any array or attribute fails here.

The digests were recorded from the code as it stood before a restructuring
that was to change nothing. A change that alters the stores on purpose (new
attributes, channels) records new digests in ``tests/data/store_digests.json``
and says so in its commit.
"""

import json
import pathlib

import pytest

import jetimg
from jetimg.data import sample_path

from .helpers import store_digest

DIGESTS = pathlib.Path(__file__).parent / "data" / "store_digests.json"
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


if __name__ == "__main__":  # python -m tests.test_store_digest: record the digests anew
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        digests = {name: store_digest(build_case(pathlib.Path(tmp), name)) for name in sorted(CASES)}
    DIGESTS.write_text(json.dumps(digests, indent=1) + "\n")
    print(json.dumps(digests, indent=1))
