"""Throughput of the CUDA twin: device-resident kernel, end to end, and a build.

A script, not a test (benchmarks/ stays out of the test run); it needs a CUDA
GPU, or ``--sim`` for a tiny run under numba's CUDA simulator (checks that the
script runs; its timings mean nothing)::

    python benchmarks/bench_cuda.py [--chunks 10000,100000,1000000] [--repeat 7]
        [--e2e-chunks 50000,200000] [--e2e-threads 1,4] [--e2e-reps 8]
        [--build-n 1200000 | --no-build] [--seed 0] [--data-dir DIR] [--out DIR] [--sim]

Jets: ``jetimg.toys.toy_jets`` (float32, 200 slots, about 70 constituents),
100,000 of them tiled to larger chunks (the kernel's work does not depend on
repeats: the chunk is far larger than L2). Default recipe (40 x 40 images).

* ``kernel``: ``fill_images_cuda`` on jets already on the device into
  preallocated device outputs, timed with CUDA events (GPU time, no launch
  overhead); median and best of ``--repeat`` after one compiling call.
  ``floor``: a device-to-device copy of (in + out) / 2 bytes, which reads and
  writes the bytes the kernel must move (the jets in, the images and per-jet
  arrays out), same timing.
* ``end to end``: ``CudaChunkProcessor.run`` on host jets (copy into pinned
  memory, H2D, kernel, D2H into pinned memory), wall time over ``--e2e-reps``
  chunks, with 1 and more threads each owning a processor (their streams
  overlap). ``floor``: one pinned H2D of the jets plus one pinned D2H of the
  outputs on one stream.
* ``build``: ``jetimg.build(FILE, OUT.zarr, device="cuda")`` beside
  ``device="cpu"`` (all cores, threads) on an N-jet top-tagging file (written
  once, cached like benchmarks/bench_build.py), in this process after warm-up.

Writes ``bench_cuda.json`` and ``bench_cuda.txt`` into ``--out`` (default
benchmarks/results; none for ``--sim`` unless given). Target: 50M jets/s
device-resident on an H100.
"""

import argparse
import datetime
import json
import os
import pathlib
import platform
import statistics
import sys
import threading
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
TARGET_JETS_PER_S = 50e6
BASE_JETS = 100_000


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chunks",
                        help="device-resident chunk sizes (default 10000,100000,1000000)")
    parser.add_argument("--repeat", type=int, default=None, help="timed kernel runs per chunk (7)")
    parser.add_argument("--e2e-chunks", help="end-to-end chunk sizes (default 50000,200000)")
    parser.add_argument("--e2e-threads", help="thread counts for end to end (default 1,4)")
    parser.add_argument("--e2e-reps", type=int, default=None, help="chunks per thread (8)")
    parser.add_argument("--build-n", type=int, default=None,
                        help="jets in the build's file (1200000)")
    parser.add_argument("--no-build", action="store_true", help="skip the build comparison")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-dir", type=pathlib.Path, default=ROOT / "bench_data")
    parser.add_argument("--out", type=pathlib.Path, default=None,
                        help="results folder (default benchmarks/results; none with --sim)")
    parser.add_argument("--sim", action="store_true",
                        help="tiny run under numba's CUDA simulator (NUMBA_ENABLE_CUDASIM=1)")
    args = parser.parse_args(argv)
    tiny = args.sim

    def ints(text, default):
        return [int(x) for x in (text or default).split(",") if x.strip()]

    args.chunks = ints(args.chunks, "64,256" if tiny else "10000,100000,1000000")
    args.e2e_chunks = ints(args.e2e_chunks, "128" if tiny else "50000,200000")
    # the simulator runs one kernel at a time: one thread
    args.e2e_threads = ints(args.e2e_threads, "1" if tiny else "1,4")
    args.repeat = args.repeat or (2 if tiny else 7)
    args.e2e_reps = args.e2e_reps or (2 if tiny else 8)
    args.build_n = args.build_n or (1000 if tiny else 1_200_000)
    if args.out is None and not tiny:
        args.out = ROOT / "benchmarks" / "results"
    return args


class Timer:
    """Seconds of GPU work on a stream: CUDA events, or the wall clock under
    the simulator (which records no event times)."""

    def __init__(self, cuda, stream, sim):
        self.cuda, self.stream, self.sim = cuda, stream, sim

    def __call__(self, fn):
        if self.sim:
            t0 = time.perf_counter()
            fn()
            return time.perf_counter() - t0
        start, stop = self.cuda.event(), self.cuda.event()
        start.record(self.stream)
        fn()
        stop.record(self.stream)
        stop.synchronize()
        return start.elapsed_time(stop) / 1e3


def tiled(base, n):
    import numpy as np

    reps = -(-n // len(base))
    return np.ascontiguousarray(np.concatenate([base] * reps)[:n]) if reps > 1 else base[:n].copy()


def bench_kernel(args, cuda, timer, base, recipe):
    import numpy as np

    from jetimg.core import kernel_options
    from jetimg.kernels.body import N_SCRATCH
    from jetimg.kernels.cuda import device_outputs, launch, launch_grid, resident_threads

    rows = []
    for n in args.chunks:
        jets_d = cuda.to_device(tiled(base, n), stream=timer.stream)
        out = device_outputs(n, recipe.npix)
        codes = cuda.device_array(n, np.int64)
        grid = launch_grid(n, resident_threads())
        scratch = cuda.device_array((N_SCRATCH, jets_d.shape[1], min(grid[0] * grid[1], n)))
        options = kernel_options(recipe)
        run = lambda: launch(jets_d, options, out, codes, scratch, grid, timer.stream)  # noqa: E731
        run()  # compiles on the first chunk
        timer.stream.synchronize()
        kernel = [timer(run) for _ in range(args.repeat)]
        in_bytes = jets_d.nbytes
        out_bytes = sum(a.nbytes for a in out.values())
        half = (in_bytes + out_bytes) // 2
        src, dst = cuda.device_array(half, np.uint8), cuda.device_array(half, np.uint8)
        floor = [timer(lambda: dst.copy_to_device(src, stream=timer.stream))
                 for _ in range(args.repeat)]
        med, flo = statistics.median(kernel), statistics.median(floor)
        rows.append({"chunk": n, "grid": list(grid), "kernel_median_s": med,
                     "kernel_best_s": min(kernel), "floor_median_s": flo,
                     "jets_per_s": n / med, "best_jets_per_s": n / min(kernel),
                     "floor_jets_per_s": n / flo, "kernel_over_floor": med / flo,
                     "bytes_moved": in_bytes + out_bytes,
                     "kernel_gb_per_s": (in_bytes + out_bytes) / med / 1e9,
                     "copy_gb_per_s": 2 * half / flo / 1e9})
        print(f"#   kernel chunk {n:>9,}: {n / med:>14,.0f} jets/s (best {n / min(kernel):,.0f}), "
              f"floor {n / flo:,.0f} jets/s, x{med / flo:.2f}", flush=True)
        del jets_d, out, codes, scratch, src, dst
    return rows


def bench_end_to_end(args, cuda, base, recipe):
    import numpy as np

    from jetimg.core import kernel_options
    from jetimg.kernels.cuda import CudaChunkProcessor
    from jetimg.outputs import empty_outputs

    rows = []
    for n in args.e2e_chunks:
        jets = tiled(base, n)
        # floor: one pinned H2D of the jets and one pinned D2H of the outputs
        stream = cuda.stream()
        pinned_in = cuda.pinned_array(jets.shape, jets.dtype)
        pinned_in[...] = jets
        dev_in = cuda.device_array(jets.shape, jets.dtype)
        host_out = {k: cuda.pinned_array(v.shape, v.dtype)
                    for k, v in empty_outputs(n, recipe.npix).items()}
        dev_out = {k: cuda.device_array(v.shape, v.dtype) for k, v in host_out.items()}
        h2d, d2h = [], []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            dev_in.copy_to_device(pinned_in, stream=stream)
            stream.synchronize()
            t1 = time.perf_counter()
            for k, a in dev_out.items():
                a.copy_to_host(host_out[k], stream=stream)
            stream.synchronize()
            h2d.append(t1 - t0)
            d2h.append(time.perf_counter() - t1)
        floor = statistics.median(h2d) + statistics.median(d2h)
        out_bytes = sum(a.nbytes for a in host_out.values())
        del pinned_in, dev_in, host_out, dev_out
        for n_threads in args.e2e_threads:
            processors = [CudaChunkProcessor() for _ in range(n_threads)]
            for p in processors:  # allocate the buffers (and compile) outside the timing
                p.run(jets, kernel_options(recipe))
            barrier = threading.Barrier(n_threads + 1)
            errors = []

            def work(p):
                barrier.wait()
                try:
                    for _ in range(args.e2e_reps):
                        p.run(jets, kernel_options(recipe))
                except Exception as err:  # re-raised below, in the main thread
                    errors.append(err)

            threads = [threading.Thread(target=work, args=(p,)) for p in processors]
            for t in threads:
                t.start()
            barrier.wait()
            t0 = time.perf_counter()
            for t in threads:
                t.join()
            seconds = time.perf_counter() - t0
            if errors:
                raise errors[0]
            total = n * args.e2e_reps * n_threads
            rows.append({"chunk": n, "threads": n_threads, "seconds": seconds,
                         "jets_per_s": total / seconds, "floor_jets_per_s": n / floor,
                         "h2d_gb_per_s": jets.nbytes / statistics.median(h2d) / 1e9,
                         "d2h_gb_per_s": out_bytes / statistics.median(d2h) / 1e9,
                         "over_floor": (seconds / (total / n)) / floor})
            print(f"#   end to end chunk {n:>7,} x {n_threads} threads: {total / seconds:>12,.0f} "
                  f"jets/s, transfer floor {n / floor:,.0f} jets/s "
                  f"(H2D {rows[-1]['h2d_gb_per_s']:.1f} GB/s, "
                  f"D2H {rows[-1]['d2h_gb_per_s']:.1f} GB/s)",
                  flush=True)
            del processors
    return rows


def bench_build(args, recipe):
    import jetimg
    from jetimg.io.store import stores

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from bench_build import make_inputs

    path = make_inputs(args.data_dir, args.build_n, args.seed, ["uncompressed"])["uncompressed"]
    result = {"n": args.build_n, "input": str(path)}
    for device in ("cpu", "cuda"):
        out = args.data_dir / f"bench_cuda_{device}_{os.getpid()}.zarr"
        stores.remove_store(out)
        t0 = time.perf_counter()
        try:
            jetimg.build(path, out, recipe, device=device)
            seconds = time.perf_counter() - t0
        except (jetimg.JetimgError, TypeError) as err:  # until build() takes device
            result[device] = {"error": " ".join(str(err).split())}
            print(f"#   build --device {device}: failed: {result[device]['error']}", flush=True)
            continue
        finally:
            stores.remove_store(out)
        result[device] = {"seconds": seconds, "jets_per_s": args.build_n / seconds}
        print(f"#   build --device {device}: {seconds:.2f} s, {args.build_n / seconds:,.0f} jets/s",
              flush=True)
    return result


def report(info, kernel, e2e, build):
    sim = " [SIMULATOR: timings mean nothing]" if info["sim"] else ""
    lines = [f"jetimg CUDA twin on {info['gpu']} ({info['date']}; numba {info['numba']}, "
             f"driver {info['driver']}, jetimg {info['jetimg']}){sim}",
             "", "device-resident kernel (default recipe, 40 x 40, toy jets M=200), medians:",
             f"{'chunk':>10}{'jets/s':>16}{'best':>16}{'floor jets/s':>16}{'x floor':>9}"
             f"{'kernel GB/s':>13}{'copy GB/s':>11}"]
    for r in kernel:
        lines.append(f"{r['chunk']:>10,}{r['jets_per_s']:>16,.0f}{r['best_jets_per_s']:>16,.0f}"
                     f"{r['floor_jets_per_s']:>16,.0f}{r['kernel_over_floor']:>9.2f}"
                     f"{r['kernel_gb_per_s']:>13.0f}{r['copy_gb_per_s']:>11.0f}")
    lines += ["", "end to end (CudaChunkProcessor.run: pinned copy, H2D, kernel, D2H):",
              f"{'chunk':>10}{'threads':>8}{'jets/s':>14}{'floor jets/s':>14}{'x floor':>9}"
              f"{'H2D GB/s':>10}{'D2H GB/s':>10}"]
    for r in e2e:
        lines.append(f"{r['chunk']:>10,}{r['threads']:>8}{r['jets_per_s']:>14,.0f}"
                     f"{r['floor_jets_per_s']:>14,.0f}{r['over_floor']:>9.2f}"
                     f"{r['h2d_gb_per_s']:>10.1f}{r['d2h_gb_per_s']:>10.1f}")
    if build:
        lines += ["", f"build of {build['n']:,} jets (uncompressed top-tagging file, Zarr, "
                  "threads):"]
        for device in ("cpu", "cuda"):
            b = build.get(device, {})
            lines.append(f"  --device {device:<5}" + (f"failed: {b['error']}" if "error" in b else
                         f"{b['seconds']:8.2f} s {b['jets_per_s']:>14,.0f} jets/s"))
        if "seconds" in build.get("cpu", {}) and "seconds" in build.get("cuda", {}):
            speedup = build["cpu"]["seconds"] / build["cuda"]["seconds"]
            lines.append(f"  cuda / cpu speed-up: x{speedup:.2f}")
    best = max((r["jets_per_s"] for r in kernel), default=0.0)
    verdict = "met" if best >= TARGET_JETS_PER_S else "NOT met"
    lines += ["", f"target >= {TARGET_JETS_PER_S / 1e6:.0f}M jets/s device-resident (H100): "
              f"best median {best / 1e6:.1f}M [{verdict}]"]
    return "\n".join(lines)


def main(argv=None):
    args = parse_args(argv)
    if args.sim:
        os.environ["NUMBA_ENABLE_CUDASIM"] = "1"  # numba reads it when first imported
    else:  # a simulator left on in the environment would run the full sizes in Python
        os.environ.pop("NUMBA_ENABLE_CUDASIM", None)
    from jetimg.device import cuda_problem

    problem = cuda_problem()
    if problem is not None:
        raise SystemExit(f"bench_cuda: no usable CUDA GPU here ({problem}); run it on a "
                         "machine with one, or with --sim for a tiny run under the simulator")
    import numba
    from numba import cuda

    import jetimg
    from jetimg.toys import toy_jets

    device = cuda.current_context().device
    name = getattr(device, "name", "CUDA simulator")
    info = {"date": datetime.datetime.now().isoformat(timespec="seconds"), "sim": args.sim,
            "gpu": name.decode() if isinstance(name, bytes) else str(name),
            "numba": numba.__version__, "jetimg": jetimg.__version__,
            "python": platform.python_version(), "driver": "n/a" if args.sim else
            ".".join(map(str, cuda.cudadrv.driver.get_version())),
            "args": {k: str(v) if isinstance(v, pathlib.Path) else v
                     for k, v in vars(args).items()}}
    print(f"# {info['gpu']}, numba {info['numba']}, {info['date']}", flush=True)
    recipe = jetimg.Recipe()
    t0 = time.perf_counter()
    base = toy_jets(min(BASE_JETS, max(args.chunks + args.e2e_chunks)), seed=args.seed)[0]
    print(f"# {len(base):,} toy jets in {time.perf_counter() - t0:.1f} s", flush=True)
    timer = Timer(cuda, cuda.stream(), args.sim)
    kernel = bench_kernel(args, cuda, timer, base, recipe)
    e2e = bench_end_to_end(args, cuda, base, recipe)
    build = None if args.no_build else bench_build(args, recipe)
    text = report(info, kernel, e2e, build)
    print("\n" + text, flush=True)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "bench_cuda.txt").write_text(text + "\n")
        (args.out / "bench_cuda.json").write_text(json.dumps(
            {**info, "kernel": kernel, "end_to_end": e2e, "build": build}, indent=1))
        print(f"# wrote {args.out / 'bench_cuda.txt'} and bench_cuda.json", flush=True)


if __name__ == "__main__":
    main()
