"""Can the loaders feed a CNN? Images/s of each dataset over one store, beside training rates.

A script, not a test (benchmarks/ stays out of the test run; about five
minutes on two cores)::

    python benchmarks/bench_loaders.py [STORE] [--jets 50000] [--repeat 3]
        [--train-images 7680] [--batch-size 128] [--json PATH]

STORE defaults to a Zarr store of ``--jets`` toy jets (``jetimg.toys``, top
and QCD, the default 40 x 40 recipe), built once into ``bench_data/loaders/``
(git-ignored). Every loader reads the same store, one whole epoch per sample,
shuffled, batch ``--batch-size``:

* ``floor``: the store's chunks read in order with zarr/h5py (images, labels,
  valid), nothing else: what any loader of this store pays;
* ``keras``: ``jetimg.train.StoreDataset`` on the calling thread (what
  ``jetimg train`` feeds Keras with, before Keras's own worker threads);
* ``torch iterable, W workers``: ``DataLoader(StoreIterableDataset(...),
  num_workers=W)``, W = 0 and 2;
* ``torch map+sampler, W workers``: ``DataLoader(StoreDataset(...),
  batch_sampler=ChunkSampler(...), num_workers=W)``, W = 0 and 2;
* ``keras JetDataset``: images made on the fly from the store's constituents
  file (kept beside it) with the same recipe, on the calling thread; and the
  same with a variation drawn per jet and epoch (hardened training:
  ``vary=VARY``, default ``scale=0.9:1.1,smear=0:0.1,drop=0:0.1``).

Opening a dataset is left out of the time (the Keras dataset's too); an
epoch of a DataLoader with workers includes starting them, as a user's epoch
does. Samples are taken in rounds over the loaders (so a change of
load on the shared machine touches all of them); the table gives the median
and best of ``--repeat`` samples and each median over the floor's.

Then the rates the loaders must keep up with, each on ``--train-images``
images held in memory (so no loader is timed), after one untimed epoch
(compilation), the median of three epochs:

* ``keras on jax`` and ``keras on torch``: the CNN ``jetimg train`` builds
  (``--arch challenge``, Adam, the same compile), ``model.fit`` one epoch,
  each backend in its own process;
* ``torch``: the same layers in PyTorch (without the Gaussian noise on the
  input), and the smaller CNN of docs/torch.md's training loop, one epoch each;
* ``jetimg train on jax`` / ``on torch``: ``jetimg.train.train`` itself on a
  store of ``--train-images`` jets (and a fifth of that for validation), four
  epochs, its images/s of training steps over them (compiling steps left out;
  the loader included), each backend in its own process.

Each training rate comes with its CPU time over wall time: the cores it
keeps busy (2.0 = both cores of this machine). Results are printed, and
written as JSON with ``--json``.
"""

import argparse
import datetime
import json
import os
import pathlib
import platform
import statistics
import subprocess
import sys
import time

import numpy as np

import jetimg
from bench_startup import cpu_name  # benchmarks/ is the script's folder

ROOT = pathlib.Path(__file__).resolve().parent.parent
WORKERS = (0, 2)
BACKENDS = ("jax", "torch")
TRAIN_EPOCHS = 3


def toy_store(folder, n, seed=0):
    """The Zarr store of ``n`` toy jets (labels 0 QCD, 1 top) in ``folder``, built once."""
    import h5py

    from jetimg.toys import toy_jets

    out = folder / f"toy_{n}_seed{seed}.zarr"
    source = folder / f"toy_{n}_seed{seed}.h5"     # kept: the on-the-fly loaders read it
    if (out / "zarr.json").exists() and source.exists():
        return out
    folder.mkdir(parents=True, exist_ok=True)
    jets, labels = toy_jets(n, seed=seed)
    with h5py.File(source, "w") as f:
        f["jets"] = jets
        f["labels"] = labels
    result = jetimg.build(source, out, overwrite=True)
    print(f"# built {out}: {result.n_jets} jets in {result.seconds:.1f} s", flush=True)
    return out


def floor_epoch(store):
    """Seconds to read every chunk of images, labels and valid, in order."""
    s = jetimg.open_store(store)
    arrays = [s[name] for name in ("images", "labels", "valid") if name in s]
    rows = arrays[0].chunks[0]
    t0 = time.perf_counter()
    for start in range(0, arrays[0].shape[0], rows):
        for a in arrays:
            a[start:start + rows]
    return time.perf_counter() - t0


def keras_epoch(store, batch_size, epoch):
    from jetimg.train import StoreDataset

    ds = StoreDataset(store, batch_size=batch_size, seed=epoch)
    t0 = time.perf_counter()
    n = sum(len(ds[i][0]) for i in range(len(ds)))
    return time.perf_counter() - t0, n


def jet_epoch(jets_file, batch_size, epoch, vary):
    """An epoch of JetDataset (images made on the fly), with ``vary`` drawn per epoch."""
    from jetimg.train import JetDataset

    ds = JetDataset(jets_file, batch_size=batch_size, seed=1, vary=vary)
    for _ in range(epoch):                # the epoch's own draw (and order)
        ds.on_epoch_end()
    t0 = time.perf_counter()
    n = sum(int(ds[i][2].sum()) for i in range(len(ds)))     # valid jets (weight 1)
    return time.perf_counter() - t0, n


def torch_epoch(store, batch_size, workers, kind, epoch):
    from torch.utils.data import DataLoader

    from jetimg.torch import ChunkSampler, StoreDataset, StoreIterableDataset

    if kind == "iterable":
        ds = StoreIterableDataset(store, seed=1)
        ds.set_epoch(epoch)
        loader = DataLoader(ds, batch_size=batch_size, num_workers=workers)
    else:
        ds = StoreDataset(store)
        sampler = ChunkSampler(ds, batch_size, seed=1, num_workers=workers)
        sampler.set_epoch(epoch)
        loader = DataLoader(ds, batch_sampler=sampler, num_workers=workers)
    t0 = time.perf_counter()                    # workers start inside the epoch, as a user's do
    n = 0
    for images, _labels in loader:
        n += len(images)
    return time.perf_counter() - t0, n


def loader_rates(store, n_jets, batch_size, repeat, jets_file=None, vary=None):
    """{name: [images/s per sample]}, samples in rounds over the loaders."""
    loaders = {"floor (zarr chunks in order)": lambda e: (floor_epoch(store), n_jets),
               "keras StoreDataset, 1 thread": lambda e: keras_epoch(store, batch_size, e)}
    for kind in ("iterable", "map+sampler"):
        for w in WORKERS:
            loaders[f"torch {kind}, {w} workers"] = (
                lambda e, w=w, kind=kind: torch_epoch(store, batch_size, w, kind, e))
    if jets_file is not None and jets_file.exists():
        loaders["keras JetDataset (on the fly)"] = (
            lambda e: jet_epoch(jets_file, batch_size, e, None))
        loaders["keras JetDataset + vary"] = lambda e: jet_epoch(jets_file, batch_size, e, vary)
    rates = {name: [] for name in loaders}
    for name, run in loaders.items():           # one untimed epoch each: caches, imports
        run(0)
    for r in range(repeat):
        for name, run in loaders.items():
            seconds, n = run(r + 1)
            rates[name].append(n / seconds)
        print(f"# round {r + 1}: " + ", ".join(f"{v[-1]:,.0f}" for v in rates.values()),
              flush=True)
    return rates


class Busy:
    """Wall time and this process's CPU time (all threads) over a block."""

    def __enter__(self):
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall = time.perf_counter() - self.wall
        self.cpu = time.process_time() - self.cpu

    @property
    def cores(self):
        return self.cpu / self.wall


def timed_epochs(epoch, n):
    """Median images/s and cores busy of TRAIN_EPOCHS calls of ``epoch`` (n images each)."""
    rates, cores = [], []
    for _ in range(TRAIN_EPOCHS):
        with Busy() as b:
            epoch()
        rates.append(n / b.wall)
        cores.append(b.cores)
    return {"images_per_second": statistics.median(rates), "cores_busy": statistics.median(cores),
            "samples": rates}


def memory_batch(store, n):
    s = jetimg.open_store(store)
    return s["images"][:n], s["labels"][:n].astype(np.int64)


def keras_rate(store, n, batch_size):
    from jetimg.train import build_model, input_scale
    from jetimg.train.models import _keras

    keras = _keras()
    n, batch_size = int(n), int(batch_size)
    images, labels = memory_batch(store, n)
    model = build_model("challenge", images.shape[1], input_scale=input_scale(store))
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-3),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(images, labels, batch_size=batch_size, epochs=1, verbose=0, shuffle=False)
    return {**timed_epochs(lambda: model.fit(images, labels, batch_size=batch_size, epochs=1,
                                             verbose=0, shuffle=False), len(images)),
            "backend": keras.backend.backend(), "keras": keras.__version__}


def torch_network(arch, npix):
    """docs/torch.md's small CNN, or the layers of ``--arch challenge`` in PyTorch."""
    from torch import nn

    if arch == "docs":
        return nn.Sequential(
            nn.Conv2d(1, 16, 3, padding="same"), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 16, 3, padding="same"), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(16 * (npix // 4) ** 2, 64), nn.ReLU(), nn.Linear(64, 2))
    side = npix // 3 // 3           # jetimg.train.build_model("challenge"), noise left out
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding="same"), nn.ReLU(),
        nn.Conv2d(32, 32, 3, padding="same"), nn.ReLU(), nn.MaxPool2d(3),
        nn.Conv2d(32, 32, 3, padding="same"), nn.ReLU(),
        nn.Conv2d(32, 64, 3, padding="same"), nn.ReLU(), nn.MaxPool2d(3),
        nn.Flatten(), nn.Linear(64 * side * side, 100), nn.ReLU(), nn.Linear(100, 200),
        nn.ReLU(), nn.Dropout(0.15), nn.Linear(200, 200), nn.ReLU(), nn.Dropout(0.3),
        nn.Linear(200, 2))


def torch_rate(store, n, batch_size, arch):
    import torch
    from torch import nn

    images, labels = memory_batch(store, n)
    x = torch.from_numpy(images).unsqueeze(1)
    y = torch.from_numpy(labels)
    scale = float(np.asarray(jetimg.train.input_scale(store)).ravel()[0])
    torch.manual_seed(1)
    model = torch_network(arch, images.shape[1])
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)

    def epoch():
        for s in range(0, len(x), batch_size):
            loss = nn.functional.cross_entropy(model(x[s:s + batch_size] * scale),
                                               y[s:s + batch_size])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()

    epoch()
    return {**timed_epochs(epoch, len(x)), "threads": torch.get_num_threads(),
            "torch": torch.__version__}


def in_backend(backend, function, *args):
    """``function(*args)`` of this script run in a fresh process on Keras backend
    ``backend`` (Keras picks its backend once per process); its dict result."""
    code = (f"import json, pathlib, bench_loaders as b; "
            f"print(json.dumps(b.{function}(*{[str(a) for a in args]!r})))")
    out = subprocess.run([sys.executable, "-c", code], cwd=pathlib.Path(__file__).parent,
                         env={**os.environ, "KERAS_BACKEND": backend}, capture_output=True,
                         text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def jetimg_train_rate(folder, n, batch_size):
    folder, n, batch_size = pathlib.Path(folder), int(n), int(batch_size)
    train = toy_store(folder, n, seed=11)
    val = toy_store(folder, max(n // 5, 1000), seed=12)
    with Busy() as b:
        result = jetimg.train.train(train, val, folder / "bench_loaders.keras",
                                    epochs=1 + TRAIN_EPOCHS,
                                    batch_size=batch_size, seed=0, patience=2, log=False,
                                    plot=False, overwrite=True)
    return {"images_per_second": result.images_per_second, "cores_busy": b.cores,
            "seconds": b.wall, "train_seconds": result.train_seconds,
            "compile_seconds": result.compile_seconds,
            "backend": result.metadata["backend"]}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("store", nargs="?", default=None)
    parser.add_argument("--jets", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--train-images", type=int, default=7680)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--work", type=pathlib.Path, default=ROOT / "bench_data" / "loaders")
    parser.add_argument("--json", default=None)
    parser.add_argument("--vary", default="scale=0.9:1.1,smear=0:0.1,drop=0:0.1",
                        help="the variation of the 'JetDataset + vary' loader")
    parser.add_argument("--no-training", action="store_true",
                        help="the loaders only (no training rates; x training from "
                             "results/bench_loaders.json, measured on this machine before)")
    args = parser.parse_args(argv)
    store = pathlib.Path(args.store) if args.store else toy_store(args.work, args.jets)
    s = jetimg.open_store(store)
    n_jets, shape, chunk = len(s), s["images"].shape, s["images"].chunks[0]
    print(f"# jetimg {jetimg.__version__}, {cpu_name()}, {os.cpu_count()} cores, python "
          f"{platform.python_version()}, {datetime.date.today()}, load "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"# store {store}: images {shape}, chunks of {chunk} rows; batch "
          f"{args.batch_size}; {args.repeat} samples of one epoch each", flush=True)

    jets_file = store.with_suffix(".h5")
    rates = loader_rates(store, n_jets, args.batch_size, args.repeat, jets_file, args.vary)
    print(f"# JetDataset + vary: vary={args.vary!r}", flush=True)
    if args.no_training:
        earlier = json.loads((ROOT / "benchmarks/results/bench_loaders.json").read_text())
        train_rate = max(earlier["training"][f"keras on {b} (challenge CNN)"]
                         ["images_per_second"] for b in BACKENDS)
        print(f"\n{'loader':<32} {'median img/s':>13} {'best':>10} {'x training':>11}")
        for name, values in rates.items():
            med = statistics.median(values)
            print(f"{name:<32} {med:>13,.0f} {max(values):>10,.0f} {med / train_rate:>11.1f}")
        print(f"# x training: over the fastest Keras training rate of "
              f"results/bench_loaders.json ({train_rate:,.0f}; not measured in this run)")
        if args.json:
            with open(args.json, "w") as f:
                json.dump({"cpu": cpu_name(), "store": str(store), "vary": args.vary,
                           "loaders": {k: {"median": statistics.median(v), "samples": v}
                                       for k, v in rates.items()},
                           "training_rate_from_earlier": train_rate}, f, indent=1)
        return
    trainers = {}
    for backend in BACKENDS:
        trainers[f"keras on {backend} (challenge CNN)"] = in_backend(
            backend, "keras_rate", store, args.train_images, args.batch_size)
    trainers["torch (challenge CNN's layers)"] = torch_rate(store, args.train_images,
                                                           args.batch_size, "challenge")
    trainers["torch (docs/torch.md CNN)"] = torch_rate(store, args.train_images,
                                                       args.batch_size, "docs")
    for backend in BACKENDS:
        trainers[f"jetimg train on {backend} (store)"] = in_backend(
            backend, "jetimg_train_rate", args.work, args.train_images, args.batch_size)
    train_rate = max(trainers[f"keras on {b} (challenge CNN)"]["images_per_second"]
                     for b in BACKENDS)

    floor = statistics.median(rates["floor (zarr chunks in order)"])
    print(f"\n{'loader':<32} {'median img/s':>13} {'best':>10} {'x floor':>8} "
          f"{'x training':>11}")
    summary = {}
    for name, values in rates.items():
        med = statistics.median(values)
        summary[name] = {"median": med, "best": max(values), "over_floor": med / floor,
                         "over_training": med / train_rate, "samples": values}
        print(f"{name:<32} {med:>13,.0f} {max(values):>10,.0f} {med / floor:>8.2f} "
              f"{med / train_rate:>11.1f}")
    print(f"# x training: over the fastest Keras training rate below ({train_rate:,.0f})")
    print(f"\n{'training':<36} {'img/s':>9} {'cores busy':>11}")
    for name, t in trainers.items():
        print(f"{name:<36} {t['images_per_second']:>9,.0f} {t['cores_busy']:>11.2f}")
    extra = trainers["torch (docs/torch.md CNN)"]
    print(f"# torch {extra['torch']} with {extra['threads']} threads; keras "
          f"{trainers[f'keras on {BACKENDS[0]} (challenge CNN)']['keras']}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"cpu": cpu_name(), "cores": os.cpu_count(), "store": str(store),
                       "shape": list(shape), "chunk_rows": chunk, "batch_size": args.batch_size,
                       "loaders": summary, "training": trainers,
                       "argv": sys.argv[1:]}, f, indent=1)


if __name__ == "__main__":
    main()
