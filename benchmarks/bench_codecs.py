"""Write/read speed and size of image stores for every codec, Zarr and HDF5.

A script, not a test (benchmarks/ stays out of the test run)::

    python benchmarks/bench_codecs.py [--n 100000] [--repeat 3] [--seed 0]
                                      [--particles 30,128] [--dir DIR] [--json PATH]

Data: the images and per-jet quantities of ``N`` toy jets
(``jetimg.toys.toy_jets``, default recipe through ``jetimg.preprocess``):
real-looking 40 x 40 float32 images, about 3% of pixels non-zero, with labels.

For each codec of ``jetimg.io.store.stores.CODECS`` and each store (Zarr v3 group,
HDF5 file) a store is made with ``jetimg.io.store.stores.create_store`` and the
build's chunking (``DEFAULT_CHUNK_SIZE`` rows per task and per-jet chunk,
1000 images per image chunk); then, on one thread:

* write: ``create_store`` + ``write_rows`` of every 50,000-row chunk +
  ``mark_complete`` (what a build does besides reading and computing);
* read: ``open_store`` and every array read back in the same chunks (the page
  cache is warm: this is decompression and copying, not disk);
* size: bytes on disk (``store_size``); ratio: raw bytes / bytes on disk.

Plus Zarr stores of the default codec made and written by hand with the
arrays' config ``write_empty_chunks`` False (zarr's default: each chunk is
compared with the fill value before it is written, and skipped when all
equal) and True, on the same images and on all-zero images (every chunk
empty, where False skips the writes). ``write_empty_chunks`` is a run-time
setting that zarr does not store: ``create_store`` passes True, but
``write_rows`` reopens the arrays by path and so writes with zarr's default
(False); the by-hand rows write through arrays opened ``with_config``.

With ``--particles P`` (a list, or repeated): the ``particles`` array alone
(Step 7, (N, P, F) float32), for every codec of ``CODECS`` plus blosc
variants that ``CODECS`` lacks (``VARIANTS``: bit shuffle) and each store,
written, read back (checked equal) and sized as above, in a store that
holds only that array, chunked and sharded as ``create_store`` makes it
(``image_chunk_rows`` rows per chunk, Zarr shards of one write). Two
inputs: the ``N`` toy jets through ``jetimg.preprocess(jets,
Recipe(particles=P))`` (F = 11), and the shipped JetClass-layout sample
(``jetimg.data.sample_files("jetclass")``, 3,000 jets read with
``open_inputs`` and ``read_kinds``/``read_charges``, so F = 17) with its
particles tiled to ``N`` rows. The features are dense floats; the rows past
a jet's multiplicity are zeros. A second table, and ``particle_rows`` in
the JSON.

Every store is written, read and deleted ``--repeat`` times; the table shows
the best (least) time of each. One call of everything is made first and not
timed (imports, numba compilation). The load average (1, 5, 15 minutes) is
printed at the start and the end: other work on the machine slows the times.
"""

import argparse
import datetime
import json
import os
import pathlib
import platform
import shutil
import tempfile
import time

import numpy as np

import jetimg
from jetimg.io import open_inputs
from jetimg.io.store import stores
from jetimg.pipeline import DEFAULT_CHUNK_SIZE, chunk_rows
from jetimg.recipe import Recipe
from jetimg.toys import toy_jets

NPIX = 40


def _variant_zarr(cname, shuffle):
    from zarr.codecs import BloscCodec, BloscShuffle

    return [BloscCodec(cname=cname, clevel=5 if cname == "lz4" else 3,
                       shuffle=getattr(BloscShuffle, shuffle))]


def _variant_hdf5(cname, shuffle):
    import hdf5plugin

    return hdf5plugin.Blosc(cname=cname, clevel=5 if cname == "lz4" else 3,
                            shuffle={"shuffle": hdf5plugin.Blosc.SHUFFLE,
                                     "bitshuffle": hdf5plugin.Blosc.BITSHUFFLE,
                                     "noshuffle": hdf5plugin.Blosc.NOSHUFFLE}[shuffle])


#: Blosc settings measured for particles beside CODECS: name -> (cname, shuffle),
#: levels as CODECS's (lz4 5, zstd 3).
VARIANTS = {"blosc-lz4-bitshuffle": ("lz4", "bitshuffle"),
            "blosc-zstd-bitshuffle": ("zstd", "bitshuffle"),
            "blosc-zstd-noshuffle": ("zstd", "noshuffle")}


def zarr_compressors(codec):
    if codec in VARIANTS:
        return _variant_zarr(*VARIANTS[codec])
    return stores._zarr_codecs(codec)


def hdf5_filter(codec):
    if codec in VARIANTS:
        return _variant_hdf5(*VARIANTS[codec])
    return stores._hdf5_filter(codec)


def make_outputs(n, seed):
    jets, labels = toy_jets(n, seed=seed)
    out = jetimg.preprocess(jets, parallel=True)
    out["labels"] = labels
    return out


def raw_bytes(outputs):
    return sum(v.nbytes for v in outputs.values())


def create_zarr_by_hand(path, n_rows, chunk_rows, image_rows, codec, write_empty_chunks):
    """create_store's Zarr group, with the arrays' write_empty_chunks chosen."""
    import zarr

    group = zarr.open_group(str(path), mode="w-", zarr_format=3)
    compressors = stores._zarr_codecs(codec)
    for name, (shape, dtype) in stores.array_specs(n_rows, NPIX, True).items():
        rows = image_rows if name == "images" else chunk_rows
        group.create_array(name, shape=shape, dtype=dtype, chunks=(rows,) + shape[1:],
                           fill_value=0, compressors=compressors,
                           config={"write_empty_chunks": write_empty_chunks})
    group.attrs.update({"n_jets": n_rows, "complete": False})


def write_store(path, outputs, codec, chunk, image_rows, by_hand=None):
    n = len(outputs["images"])
    t0 = time.perf_counter()
    if by_hand is None:
        stores.create_store(path, n_rows=n, npix=NPIX, has_labels=True,
                             attrs={"n_jets": n}, chunk_rows=chunk,
                             image_chunk_rows=image_rows, codec=codec)
    else:
        create_zarr_by_hand(path, n, chunk, image_rows, codec, by_hand)
    if by_hand is None:
        for start in range(0, n, chunk):
            stop = min(start + chunk, n)
            stores.write_rows(path, start, {k: v[start:stop] for k, v in outputs.items()})
    else:
        # write_empty_chunks is a run-time setting, not stored in zarr.json:
        # an array reopened by path (as write_rows does) is back to zarr's
        # default (False), so write through arrays that carry the setting.
        import zarr

        group = zarr.open_group(str(path), mode="r+")
        arrays = {k: group[k].with_config({"write_empty_chunks": by_hand}) for k in outputs}
        for start in range(0, n, chunk):
            stop = min(start + chunk, n)
            for k, v in outputs.items():
                arrays[k][start:stop] = v[start:stop]
    stores.mark_complete(path)
    return time.perf_counter() - t0


def read_store(path, outputs, chunk, check=True, key="images"):
    n = len(outputs[key])
    t0 = time.perf_counter()
    back = {}
    with stores.open_store(path) as store:
        for name in outputs:
            arr = store[name]
            parts = [arr[start:min(start + chunk, n)] for start in range(0, n, chunk)]
            back[name] = parts
    seconds = time.perf_counter() - t0
    if check:
        for name, parts in back.items():
            if not np.array_equal(np.concatenate(parts), outputs[name]):
                raise AssertionError(f"{path}: {name} read back differs")
    return seconds


def measure(tmp, label, suffix, outputs, codec, chunk, image_rows, repeat, by_hand=None):
    writes, reads, size = [], [], None
    for _ in range(repeat):
        path = tmp / f"{label}{suffix}"
        stores.remove_store(path)
        writes.append(write_store(path, outputs, codec, chunk, image_rows, by_hand))
        size = stores.store_size(path)
        reads.append(read_store(path, outputs, chunk))
        stores.remove_store(path)
    return {"write_s": min(writes), "read_s": min(reads), "bytes": size,
            "writes": writes, "reads": reads}


def toy_particles(jets, n_particles):
    """(N, P, 11) particles of the toy jets."""
    return jetimg.preprocess(jets, Recipe(particles=n_particles), parallel=True)["particles"]


def jetclass_inputs():
    """The shipped JetClass-layout sample: jets, kinds and charges, as a build reads them."""
    import jetimg.data

    source = open_inputs(jetimg.data.sample_files("jetclass"))
    try:
        jets, _ = source.read(0, source.n_rows)
        return jets, source.read_kinds(0, source.n_rows), source.read_charges(0, source.n_rows)
    finally:
        source.close()


def jetclass_particles(sample, n_particles, n):
    """(n, P, 17) particles of the JetClass sample, its rows tiled to ``n``."""
    jets, kinds, charges = sample
    out = jetimg.preprocess(jets, Recipe(particles=n_particles), kinds=kinds, charges=charges,
                            parallel=True)["particles"]
    reps = -(-n // len(out))
    return np.ascontiguousarray(np.concatenate([out] * reps)[:n])


def write_particles(path, particles, codec, chunk, image_rows):
    """A store of the particles array alone, made as create_store makes it
    (chunks of ``image_rows`` rows; Zarr: shards of one write), written in
    writes of ``chunk`` rows as write_rows writes them."""
    n, n_particles, n_features = particles.shape
    shape = (n, n_particles, n_features)
    t0 = time.perf_counter()
    if stores.store_format(path) == "zarr":
        import zarr

        group = zarr.open_group(str(path), mode="w-", zarr_format=3)
        shards = None
        if image_rows < chunk:
            shards = (-(-chunk // image_rows) * image_rows, n_particles, n_features)
        group.create_array("particles", shape=shape, dtype=np.float32,
                           chunks=(image_rows, n_particles, n_features), shards=shards,
                           fill_value=0, compressors=zarr_compressors(codec),
                           config={"write_empty_chunks": True})
        group.attrs.update({"n_jets": n, "complete": False})
        for start in range(0, n, chunk):
            group = zarr.open_group(str(path), mode="r+")
            array = group["particles"].with_config({"write_empty_chunks": True})
            array[start:start + chunk] = particles[start:start + chunk]
    else:
        import h5py

        filt = hdf5_filter(codec) if codec != "none" else {}
        with h5py.File(path, "w-") as f:
            f.create_dataset("particles", shape=shape, dtype=np.float32, fillvalue=0,
                             chunks=(image_rows, n_particles, n_features), **filt)
            f.attrs["n_jets"] = n
            f.attrs["complete"] = False
        for start in range(0, n, chunk):
            with h5py.File(path, "r+") as f:
                f["particles"][start:start + chunk] = particles[start:start + chunk]
    stores.mark_complete(path)
    return time.perf_counter() - t0


def measure_particles(tmp, suffix, particles, codec, chunk, image_rows, repeat):
    writes, reads, size = [], [], None
    for _ in range(repeat):
        path = tmp / f"particles{suffix}"
        stores.remove_store(path)
        writes.append(write_particles(path, particles, codec, chunk, image_rows))
        size = stores.store_size(path)
        reads.append(read_store(path, {"particles": particles}, chunk, key="particles"))
        stores.remove_store(path)
    return {"write_s": min(writes), "read_s": min(reads), "bytes": size,
            "writes": writes, "reads": reads}


def particle_list(text):
    values = [int(v) for v in text.split(",") if v.strip()]
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"--particles {text}: integers >= 1, comma-separated")
    return values


def load():
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f}, {five:.2f}, {fifteen:.2f}"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dir", type=pathlib.Path, default=None,
                        help="where stores are written (default: a temporary folder)")
    parser.add_argument("--particles", type=particle_list, action="append", default=[],
                        metavar="P[,P...]",
                        help="also measure the particles array alone at these P (repeatable)")
    parser.add_argument("--json", type=pathlib.Path, default=None)
    args = parser.parse_args(argv)
    particle_counts = sorted({p for group in args.particles for p in group})
    start_load = os.getloadavg()
    print(f"# start: {load()}", flush=True)

    chunk, image_rows = chunk_rows(DEFAULT_CHUNK_SIZE)
    t0 = time.perf_counter()
    outputs = make_outputs(args.n, args.seed)
    n = args.n
    raw = raw_bytes(outputs)
    nonzero = float(np.count_nonzero(outputs["images"])) / outputs["images"].size
    print(f"# jetimg {jetimg.__version__}, python {platform.python_version()}, "
          f"{os.cpu_count()} cores; {n} toy jets -> images in {time.perf_counter() - t0:.1f} s; "
          f"{raw / 1e6:.0f} MB raw, {100 * nonzero:.1f}% non-zero pixels", flush=True)
    import h5py
    import zarr

    print(f"# zarr {zarr.__version__}, h5py {h5py.__version__} (HDF5 {h5py.version.hdf5_version}), "
          f"chunks: {chunk} rows per write and per-jet chunk, {image_rows} images per image chunk, "
          f"one thread, best of {args.repeat}", flush=True)
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="bench_codecs_", dir=args.dir))
    rows, particle_rows = [], []
    try:
        small = {k: v[:2 * chunk if n > 2 * chunk else n] for k, v in outputs.items()}
        for codec in stores.CODECS:  # warm-up: imports, plugin loading
            for suffix in (".zarr", ".h5"):
                measure(tmp, "warm", suffix, {k: v[:1000] for k, v in small.items()},
                        codec, 500, 500, 1)
        for codec in stores.CODECS:
            for suffix, store in ((".zarr", "zarr"), (".h5", "hdf5")):
                r = measure(tmp, f"{codec}", suffix, outputs, codec, chunk, image_rows,
                            args.repeat)
                rows.append({"store": store, "codec": codec, "variant": "", **r})
                print(f"#   {store} {codec}: write {r['write_s']:.2f} s, read {r['read_s']:.2f} s",
                      flush=True)
        zeros = {**outputs, "images": np.zeros_like(outputs["images"])}
        for data_name, data in (("images", outputs), ("all-zero images", zeros)):
            for wec in (False, True):
                r = measure(tmp, f"wec{wec}", ".zarr", data, stores.DEFAULT_CODEC, chunk,
                            image_rows, args.repeat, by_hand=wec)
                rows.append({"store": "zarr", "codec": stores.DEFAULT_CODEC,
                             "variant": f"write_empty_chunks={wec}, {data_name}", **r,
                             "raw": raw_bytes(data)})
                print(f"#   zarr write_empty_chunks={wec} ({data_name}): write "
                      f"{r['write_s']:.2f} s", flush=True)
        del zeros
        if particle_counts:
            sample = jetclass_inputs()
            jets, _ = toy_jets(n, seed=args.seed)
            codecs = stores.CODECS + tuple(VARIANTS)
            for codec in codecs:  # warm-up of the variants (plugin loading)
                for suffix in (".zarr", ".h5"):
                    measure_particles(tmp, suffix, np.ones((1000, 4, 3), np.float32), codec,
                                      500, 500, 1)
        for n_particles in particle_counts:
            for source, make in (("toy", lambda: toy_particles(jets, n_particles)),
                                 ("jetclass", lambda: jetclass_particles(sample, n_particles, n))):
                particles = make()
                filled = float(np.count_nonzero(particles.any(axis=2))) / (n * n_particles)
                for codec in codecs:
                    for suffix, store in ((".zarr", "zarr"), (".h5", "hdf5")):
                        r = measure_particles(tmp, suffix, particles, codec, chunk, image_rows,
                                              args.repeat)
                        particle_rows.append({
                            "store": store, "codec": codec, "source": source,
                            "particles": n_particles, "features": particles.shape[2],
                            "filled": filled, "raw": particles.nbytes, **r})
                        print(f"#   particles {source} P={n_particles} {store} {codec}: write "
                              f"{r['write_s']:.2f} s, read {r['read_s']:.2f} s, "
                              f"{r['bytes'] / 1e6:.1f} MB", flush=True)
                del particles
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    lines = [""]
    p = lines.append
    p(f"Image stores: {n} jets (40x40 float32 images + per-jet arrays + labels, "
      f"{raw / 1e6:.0f} MB raw), one thread, best of {args.repeat}")
    p(f"{'store':<6}{'codec':<21}{'write s':>8}{'write jets/s':>14}{'read s':>8}"
      f"{'read jets/s':>13}{'MB on disk':>11}{'ratio':>7}  variant")
    for r in rows:
        p(f"{r['store']:<6}{r['codec']:<21}{r['write_s']:>8.2f}{n / r['write_s']:>14,.0f}"
          f"{r['read_s']:>8.2f}{n / r['read_s']:>13,.0f}{r['bytes'] / 1e6:>11.1f}"
          f"{r.get('raw', raw) / r['bytes']:>7.1f}  {r['variant']}")
    if particle_rows:
        p("")
        p(f"Particles alone: {n} jets, (N, P, F) float32; toy: the toy jets above, F = 11; "
          f"jetclass: the JetClass-layout sample (3,000 jets, kinds) tiled to {n}, F = 17; "
          f"filled: share of rows holding a particle; one thread, best of {args.repeat}")
        p(f"{'source':<9}{'P':>4}{'F':>3}{'filled':>7}{'MB raw':>8}  {'store':<6}"
          f"{'codec':<22}{'write s':>8}{'write MB/s':>11}{'read s':>8}{'read MB/s':>10}"
          f"{'MB on disk':>11}{'ratio':>7}")
        for r in particle_rows:
            mb = r["raw"] / 1e6
            p(f"{r['source']:<9}{r['particles']:>4}{r['features']:>3}{r['filled']:>7.2f}"
              f"{mb:>8.0f}  {r['store']:<6}{r['codec']:<22}{r['write_s']:>8.2f}"
              f"{mb / r['write_s']:>11,.0f}{r['read_s']:>8.2f}{mb / r['read_s']:>10,.0f}"
              f"{r['bytes'] / 1e6:>11.1f}{r['raw'] / r['bytes']:>7.2f}")
    p("")
    p(f"# end: {load()}")
    print("\n".join(lines), flush=True)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({
            "date": datetime.datetime.now().isoformat(timespec="seconds"),
            "jetimg_version": jetimg.__version__, "n": n, "seed": args.seed,
            "repeat": args.repeat, "chunk_rows": chunk, "image_chunk_rows": image_rows,
            "raw_bytes": raw, "rows": rows, "particle_rows": particle_rows,
            "load_start": start_load, "load_end": os.getloadavg()}, indent=1))


if __name__ == "__main__":
    main()
