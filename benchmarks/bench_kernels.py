"""Throughput of ``jetimg.preprocess`` on toy jets, beside a NumPy baseline and a copy floor.

A script, not a test (benchmarks/ stays out of the test run)::

    python benchmarks/bench_kernels.py [--chunks 1000,10000,100000] [--repeat 5]
                                       [--seed 0] [--vary TEXT] [--json PATH]

For each chunk size it times, on the same toy jets (``jetimg.toys.toy_jets``,
float32, 200 slots, about 60-80 constituents):

* ``jetimg`` with ``parallel=False`` (the calling thread) and ``parallel=True``
  (numba's default thread count);
* ``numpy``: the default recipe of docs/recipe.md (centroid centre, rotation, two
  flips, 40 x 40 pixels of (5.2/180, 2 pi/180), sum normalisation, and the
  per-jet quantities) written below as whole-chunk NumPy array operations on
  the flattened valid constituents, with no Python loop over jets; its images
  are checked against ``jetimg.preprocess`` once at the start;
* with ``--vary TEXT`` also ``jetimg serial, vary``: the calling thread with
  the recipe's variation (docs/recipe.md "Variations"), e.g.
  ``smear=0.1,drop=0.1``: what the draws cost;
* ``copy floor``: ``np.copyto`` of the chunk into a preallocated buffer (reads
  the jets) plus ``np.empty((n, 40, 40), float32).fill(0)`` (a fresh output of
  the images' size, every page touched, as ``preprocess`` allocates and writes
  its output on each call). It bounds what any implementation can reach.

Every implementation is called once first (compiling ``jetimg``'s kernels; not
timed). A timed sample is the mean over enough back-to-back calls to last
``--min-time`` seconds (one call for large chunks); samples are taken in rounds
over the four implementations of a chunk; the table shows the median and the
best of ``--repeat`` samples. Shapes: jets (N, M, 4) (E, px, py, pz) in
GeV; images (N, npix, npix).
"""

import argparse
import datetime
import gc
import json
import math
import os
import platform
import statistics
import sys
import time

import numba
import numpy as np

import jetimg
from jetimg.toys import toy_jets

NPIX = 40
DX, DY = 5.2 / 180.0, 2.0 * math.pi / 180.0
SNAP = 1e-9       # |x'|, |y'| below this count as 0 (docs/recipe.md, step 4)
ROT_TOL = 1e-12   # "no principal axis" tolerance (docs/recipe.md, step 2)


# --------------------------------------------------------------------------
# The NumPy baseline: docs/recipe.md's default recipe, vectorised over a whole chunk.
# --------------------------------------------------------------------------
def preprocess_numpy(jets, npix=NPIX, dx=DX, dy=DY):
    """Default-recipe images and per-jet quantities of ``jets`` with NumPy only.

    Every step is an array operation over all valid constituents of the chunk
    at once (flattened, with ``jid`` the jet of each); per-jet sums are
    ``np.bincount`` with weights, the leading constituent a ``reduceat``, and
    the pixelation one ``np.add.at`` on flat (jet, row, column) indices.

    Parameters
    ----------
    jets : ndarray (N, M, 4) float32 or float64
        (E, px, py, pz) in GeV, zero-padded.

    Returns
    -------
    dict of str to ndarray
        ``images`` (N, npix, npix) float32 and ``jet_pt``, ``jet_eta``,
        ``jet_phi``, ``jet_mass`` (N,) float32, ``n_constituents`` (N,) int16,
        ``valid`` (N,) int8, like ``jetimg.preprocess`` (which raises on an
        invalid jet; so does this, with a ``ValueError``).
    """
    n, m, _ = jets.shape
    flat = jets.reshape(n * m, 4)
    pad = ~flat.any(axis=1)                   # all four == 0 (-0.0 too)
    idx = np.flatnonzero(~pad)                # sorted: by jet, then slot
    jid = idx // m
    c = flat[idx].astype(np.float64)          # (K, 4) float64
    e, px, py, pz = c[:, 0], c[:, 1], c[:, 2], c[:, 3]
    pt2 = px * px + py * py

    bad = ~(np.isfinite(c).all(axis=1) & (e > 0.0) & (pt2 > 0.0))
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        raise ValueError(f"invalid jet at row {int(jid[k])}, slot {int(idx[k] % m)}")

    counts = np.bincount(jid, minlength=n)
    has = counts > 0
    starts = (np.cumsum(counts) - counts)[has]

    # Per-jet quantities from the summed four-vector.
    se, spx, spy, spz = (np.bincount(jid, weights=v, minlength=n) for v in (e, px, py, pz))
    jet_pt = np.sqrt(spx * spx + spy * spy)
    with np.errstate(divide="ignore", invalid="ignore"):
        jet_eta = np.where(jet_pt > 0.0, np.arcsinh(spz / jet_pt), 0.0)
    jet_phi = np.arctan2(spy, spx)
    jet_mass = np.sqrt(np.maximum(se * se - (spx * spx + spy * spy + spz * spz), 0.0))

    # Kinematics; the leading constituent is the first slot of largest pT.
    pt = np.sqrt(pt2)
    eta = np.arcsinh(pz / pt)
    phi = np.arctan2(py, px)
    max_pt2 = np.zeros(n)
    if starts.size:
        max_pt2[has] = np.maximum.reduceat(pt2, starts)
    cand = np.flatnonzero(pt2 == max_pt2[jid])
    first = cand[np.r_[True, jid[cand[1:]] != jid[cand[:-1]]][:cand.size]]
    phi_ref = np.zeros(n)
    phi_ref[jid[first]] = phi[first]
    dphi = phi - phi_ref[jid]
    dphi = np.where(dphi >= np.pi, dphi - 2.0 * np.pi,
                    np.where(dphi < -np.pi, dphi + 2.0 * np.pi, dphi))   # [-pi, pi)
    w = pt

    # Step 1: centroid.
    sw = np.bincount(jid, weights=w, minlength=n)
    with np.errstate(divide="ignore", invalid="ignore"):
        eta_c = np.bincount(jid, weights=w * eta, minlength=n) / sw
        phi_c = np.bincount(jid, weights=w * dphi, minlength=n) / sw
    x = eta - eta_c[jid]
    y = dphi - phi_c[jid]

    # Step 2: rotate the major principal axis to the vertical.
    wx, wy = w * x, w * y
    sxx = np.bincount(jid, weights=wx * x, minlength=n)
    syy = np.bincount(jid, weights=wy * y, minlength=n)
    sxy = np.bincount(jid, weights=wx * y, minlength=n)
    tol = ROT_TOL * (sxx + syy)
    skip = ((np.abs(sxx - syy) <= tol) & (np.abs(sxy) <= tol)) | (counts <= 1)
    beta = 0.5 * np.pi - 0.5 * np.arctan2(2.0 * sxy, sxx - syy)
    cos_b = np.where(skip, 1.0, np.cos(beta))[jid]
    sin_b = np.where(skip, 0.0, np.sin(beta))[jid]
    xr = x * cos_b - y * sin_b
    yr = x * sin_b + y * cos_b

    # Step 3: flip towards x < 0 and y > 0 (ties do not flip).
    flip_x = (np.bincount(jid, weights=w * (xr > 0.0), minlength=n)
              > np.bincount(jid, weights=w * (xr < 0.0), minlength=n))
    flip_y = (np.bincount(jid, weights=w * (yr < 0.0), minlength=n)
              > np.bincount(jid, weights=w * (yr > 0.0), minlength=n))
    xr = np.where(flip_x[jid], -xr, xr)
    yr = np.where(flip_y[jid], -yr, yr)
    xr[np.abs(xr) < SNAP] = 0.0
    yr[np.abs(yr) < SNAP] = 0.0

    # Step 4: pixelate and crop.
    col = np.floor((xr + 0.5 * npix * dx) / dx)
    row = np.floor((yr + 0.5 * npix * dy) / dy)
    inside = (col >= 0) & (col < npix) & (row >= 0) & (row < npix)
    jin = jid[inside]
    win = w[inside]
    pix = (jin * (npix * npix) + row[inside].astype(np.int64) * npix
           + col[inside].astype(np.int64))

    # Step 5: sum normalisation (scaling the weights first; zero sum stays zero).
    total = np.bincount(jin, weights=win, minlength=n)
    images = np.zeros((n, npix, npix), np.float32)
    np.add.at(images.reshape(-1), pix, (win / total[jin]).astype(np.float32))

    return {
        "images": images,
        "jet_pt": jet_pt.astype(np.float32), "jet_eta": jet_eta.astype(np.float32),
        "jet_phi": jet_phi.astype(np.float32), "jet_mass": jet_mass.astype(np.float32),
        "n_constituents": counts.astype(np.int16), "valid": np.ones(n, np.int8),
    }


# --------------------------------------------------------------------------
# Timing.
# --------------------------------------------------------------------------
def copy_floor(jets, buffer, npix=NPIX):
    """Read the chunk (``np.copyto`` into ``buffer``) and write fresh zeroed images."""
    np.copyto(buffer, jets)
    images = np.empty((jets.shape[0], npix, npix), np.float32)
    images.fill(0.0)
    return images


def time_interleaved(fns, repeat, min_time, max_seconds):
    """Seconds per call of each of ``fns``: a list of (samples, calls per sample, note).

    Each ``fn`` is called once untimed first (compiles, warms caches,
    calibrates ``inner``: back-to-back calls lasting >= ``min_time`` make one
    sample). The samples are taken in rounds, one of each ``fn`` per round, so
    that a burst of load from other processes hits all implementations alike.
    Repeats of one ``fn`` are cut (to 3 where that fits in about twice the
    cap) when ``repeat`` samples would last more than ``max_seconds``.
    """
    plans = []
    for fn in fns:
        t0 = time.perf_counter()
        fn()
        first = time.perf_counter() - t0
        inner = max(1, int(math.ceil(min_time / max(first, 1e-9))))
        n_rep, note = repeat, ""
        if repeat * inner * first > max_seconds:
            n_rep = max(1, int(max_seconds // (inner * first)))
            if n_rep < min(repeat, 3) and 3 * inner * first <= 2 * max_seconds:
                n_rep = min(repeat, 3)
            note = f"repeats cut to {n_rep} of {repeat} (untimed first call {first:.2f} s)"
        plans.append((fn, inner, n_rep, note, []))
    gc_was = gc.isenabled()
    gc.disable()
    try:
        for r in range(repeat):
            for fn, inner, n_rep, _, samples in plans:
                if r >= n_rep:
                    continue
                t0 = time.perf_counter()
                for _ in range(inner):
                    fn()
                samples.append((time.perf_counter() - t0) / inner)
    finally:
        if gc_was:
            gc.enable()
    return [(samples, inner, note) for _, inner, _, note, samples in plans]


def machine_info():
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "numba_threads": numba.get_num_threads(),
        "numba_threading_layer": None,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "numba": numba.__version__,
        "jetimg": jetimg.__version__,
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "loadavg_start": os.getloadavg(),
    }


def check_agreement(jets):
    """Compare the NumPy baseline with ``jetimg.preprocess`` on ``jets``."""
    ref = jetimg.preprocess(jets, parallel=False)
    got = preprocess_numpy(jets)
    l1 = np.abs(ref["images"].astype(np.float64) - got["images"]).sum(axis=(1, 2))
    out = {"n_jets": int(jets.shape[0]),
           "fraction_l1_le_1e-5": float(np.mean(l1 <= 1e-5)),
           "max_l1": float(l1.max()),
           "n_constituents_equal": bool(np.array_equal(ref["n_constituents"],
                                                       got["n_constituents"]))}
    for name in ("jet_pt", "jet_eta", "jet_phi", "jet_mass"):
        a, b = ref[name].astype(np.float64), got[name].astype(np.float64)
        out[f"max_abs_diff_{name}"] = float(np.max(np.abs(a - b)))
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chunks", default="1000,10000,100000",
                        help="comma-separated chunk sizes in jets (default %(default)s)")
    parser.add_argument("--repeat", type=int, default=5, help="timed samples (default 5)")
    parser.add_argument("--seed", type=int, default=0, help="toy_jets seed (default 0)")
    parser.add_argument("--min-time", type=float, default=0.2,
                        help="seconds a sample lasts at least (default %(default)s)")
    parser.add_argument("--max-seconds", type=float, default=25.0,
                        help="rough time cap per configuration; repeats are cut "
                             "beyond it (default %(default)s)")
    parser.add_argument("--check-jets", type=int, default=2000,
                        help="jets for the NumPy-vs-jetimg check (default 2000)")
    parser.add_argument("--vary", default=None,
                        help="also time the serial kernel with this variation, e.g. "
                             "smear=0.1,drop=0.1")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    args = parser.parse_args(argv)
    chunks = [int(c) for c in args.chunks.split(",") if c.strip()]
    if not chunks or min(chunks) < 1 or args.repeat < 1:
        parser.error("--chunks must be positive integers and --repeat >= 1")

    info = machine_info()
    n_max = max(max(chunks), args.check_jets)
    t0 = time.perf_counter()
    jets_all, _ = toy_jets(n_max, kind="mixed", n_slots=200, seed=args.seed)
    gen_s = time.perf_counter() - t0
    n_const = (jets_all[..., 0] > 0).sum(axis=1)

    # Compile both jetimg loops (cached on disk after the first process).
    t0 = time.perf_counter()
    jetimg.preprocess(jets_all[:16], parallel=False)
    jetimg.preprocess(jets_all[:16], parallel=True)
    compile_s = time.perf_counter() - t0
    try:
        info["numba_threading_layer"] = numba.threading_layer()
    except ValueError:
        pass

    print("jetimg kernel benchmark")
    print(f"  date          {info['date']}")
    print(f"  machine       {info['cpu']}, {info['cores']} cores "
          f"({info['cores_usable']} usable), numba threads {info['numba_threads']} "
          f"({info['numba_threading_layer']} layer)")
    print(f"  versions      python {info['python']}, numpy {info['numpy']}, "
          f"numba {info['numba']}, jetimg {info['jetimg']}")
    busy = info["loadavg_start"][0] > 0.5
    print(f"  load average  {' '.join(f'{v:.2f}' for v in info['loadavg_start'])} (start)"
          + ("  <-- other processes are running: timings will be noisy" if busy else ""))
    print(f"  toy jets      toy_jets({n_max}, kind='mixed', n_slots=200, seed={args.seed}) "
          f"float32 in {gen_s:.1f} s; constituents/jet mean {n_const.mean():.1f}, "
          f"range {n_const.min()}-{n_const.max()}")
    print(f"  compile       first jetimg calls (serial + parallel) {compile_s:.1f} s, not timed")

    agreement = check_agreement(jets_all[:args.check_jets])
    frac = agreement["fraction_l1_le_1e-5"]
    print(f"  numpy check   {frac * 100:.2f}% of {agreement['n_jets']} images within L1 1e-5 "
          f"of jetimg.preprocess (max L1 {agreement['max_l1']:.2e})"
          f"{'' if frac >= 0.999 else '  <-- BELOW 99.9%'}; n_constituents "
          f"{'equal' if agreement['n_constituents_equal'] else 'DIFFER'}; max |diff| "
          f"jet_pt {agreement['max_abs_diff_jet_pt']:.1e} GeV, "
          f"jet_mass {agreement['max_abs_diff_jet_mass']:.1e} GeV")
    print()

    n_threads = numba.get_num_threads()
    results = []
    notes = []
    for chunk in chunks:
        jets = np.ascontiguousarray(jets_all[:chunk])
        buffer = np.empty_like(jets)
        configs = [
            ("copy floor", 1, lambda: copy_floor(jets, buffer)),
            ("numpy", 1, lambda: preprocess_numpy(jets)),
            ("jetimg serial", 1, lambda: jetimg.preprocess(jets, parallel=False)),
            ("jetimg parallel", n_threads, lambda: jetimg.preprocess(jets, parallel=True)),
        ]
        if args.vary:
            configs.append(("jetimg serial, vary", 1,
                            lambda: jetimg.preprocess(jets, parallel=False, vary=args.vary)))
        timings = time_interleaved([fn for _, _, fn in configs], args.repeat,
                                   args.min_time, args.max_seconds)
        for (name, threads, _), (samples, inner, note) in zip(configs, timings):
            if note:
                notes.append(f"{name} @ {chunk}: {note}")
            results.append({
                "implementation": name, "threads": threads, "chunk": chunk,
                "calls_per_sample": inner, "repeats": len(samples),
                "seconds": samples,
                "median_s": statistics.median(samples), "min_s": min(samples),
            })
    for r in results:
        same = {x["implementation"]: x for x in results if x["chunk"] == r["chunk"]}
        r["jets_per_s_median"] = r["chunk"] / r["median_s"]
        r["jets_per_s_best"] = r["chunk"] / r["min_s"]
        r["jets_per_s_per_core"] = r["jets_per_s_median"] / r["threads"]
        r["speedup_vs_numpy"] = same["numpy"]["median_s"] / r["median_s"]
        r["time_vs_copy_floor"] = r["median_s"] / same["copy floor"]["median_s"]

    header = (f"{'implementation':<16} {'threads':>7} {'chunk':>7} {'jets/s median':>14} "
              f"{'jets/s best':>12} {'per core':>10} {'x numpy':>8} {'/ floor':>8} "
              f"{'median ms':>10} {'calls x rep':>11}")
    print(header)
    print("-" * len(header))
    for chunk in chunks:
        for r in (x for x in results if x["chunk"] == chunk):
            print(f"{r['implementation']:<16} {r['threads']:>7} {r['chunk']:>7} "
                  f"{r['jets_per_s_median']:>14,.0f} {r['jets_per_s_best']:>12,.0f} "
                  f"{r['jets_per_s_per_core']:>10,.0f} {r['speedup_vs_numpy']:>8.2f} "
                  f"{r['time_vs_copy_floor']:>8.1f} {r['median_s'] * 1e3:>10.2f} "
                  f"{r['calls_per_sample']:>5} x {r['repeats']:<3}")
        print()
    load_end = os.getloadavg()
    print("x numpy = numpy median time / this median time (speed-up over the NumPy baseline);")
    print("/ floor = this median time / copy-floor median time (copy floor: np.copyto of the")
    print("  chunk into a preallocated buffer + np.empty((n, 40, 40), float32).fill(0));")
    print("per core = jets/s median / threads used; numpy and the floor run on one thread.")
    print(f"A sample = mean over 'calls' back-to-back calls (>= {args.min_time} s); "
          f"median and best of 'rep' samples, taken in rounds across the four rows of a chunk.")
    for note in notes:
        print(f"note: {note}")
    print(f"load average {' '.join(f'{v:.2f}' for v in load_end)} (end)")

    if args.json:
        info["loadavg_end"] = load_end
        payload = {"machine": info, "args": vars(args), "toy_jets": {
            "n": n_max, "seed": args.seed, "constituents_mean": float(n_const.mean())},
            "numpy_agreement": agreement, "results": results, "notes": notes}
        with open(args.json, "w") as f:
            json.dump(payload, f, indent=2)
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
