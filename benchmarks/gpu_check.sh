#!/usr/bin/env bash
# jetimg on a CUDA GPU, end to end in under 8 minutes: install, the real-GPU
# tests, the CUDA benchmark and a timed build. Made for the lent GPU machine
# (Python 3.12 with numba, numba-cuda, h5py, pandas, pytest; no package index),
# so that its first session spends its minutes measuring.
#
# Here, first (downloads the missing packages' wheels into .whl/, ignored by git):
#
#     bash benchmarks/gpu_wheels.sh
#
# (hdf5plugin is not carried: jetimg builds Zarr stores without it, and the one GPU
# test that builds an HDF5 store with a blosc codec is deselected, by name, where it
# does not import -- see NEEDS_HDF5PLUGIN below.)
#
# Then one device call (9 minutes allowed; each step below has its own time
# limit, cut so that the script ends within 7:45 -- GPU_CHECK_SECONDS=465):
#
#     run(command="bash benchmarks/gpu_check.sh", carry=[".whl"], timeout_s=540)
#
# Everything lands in one folder: $OUT when set (the device call brings it
# back), else benchmarks/results/gpu/ -- at most 8 files:
#
#   gpu_check.log    all output, step by step, with each step's exit status
#   nvidia_smi.txt   the GPU, driver and clocks before the tests
#   versions.txt     Python and package versions, cuda_problem()'s answer
#   pytest_gpu.xml   JUnit report of `pytest --gpu` (tests/conftest.py):
#                    tests/cuda_checks.py on 3,000 jets per case, and the
#                    tests marked gpu in tests/test_cuda.py (up to ~540,000 jets)
#   bench_cuda.txt   benchmarks/bench_cuda.py --no-build, default sizes
#   bench_cuda.json  (kernel 10k/100k/1M jets, end to end 50k/200k x 1/4 threads)
#   build_npy.json   jetimg.build of a 400,000-jet .npy file to Zarr, cpu and cuda
#
# `bash benchmarks/gpu_check.sh install` stops after the install and the import
# check (PYTHON=... picks the interpreter; python3 by default).
set -uo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
RESULTS=${OUT:-benchmarks/results/gpu}
SITE=${GPU_CHECK_SITE:-/tmp/jetimg-site}
BUILD_JETS=${GPU_CHECK_BUILD_JETS:-400000}
# the GPU tests that build HDF5 stores with a blosc codec, which needs hdf5plugin (not
# carried by gpu_wheels.sh for size): deselected where hdf5plugin does not import
NEEDS_HDF5PLUGIN=(
    "tests/test_cuda.py::test_gpu_build_equals_the_cpu_build[h5]"
)
mkdir -p "$RESULTS"
LOG="$RESULTS/gpu_check.log"
: > "$LOG"
export PYTHONUNBUFFERED=1
STATUS=0

DEADLINE=$(($(date +%s) + ${GPU_CHECK_SECONDS:-465}))  # the whole script: under 8 minutes

step() {  # step NAME SECONDS COMMAND...: run with a time limit (cut to what is left
    # before DEADLINE), log it, note a failure
    local name=$1 limit=$2 rc left
    shift 2
    left=$((DEADLINE - $(date +%s) - 5))
    if [ "$left" -lt 15 ]; then
        echo "== $name: SKIPPED, ${left} s left of the script's time" | tee -a "$LOG"
        STATUS=1
        return 124
    fi
    [ "$limit" -le "$left" ] || limit=$left
    echo "== $name (limit ${limit} s) $(date -u +%T)" | tee -a "$LOG"
    timeout --kill-after=5 "$limit" "$@" 2>&1 | tee -a "$LOG"
    rc=${PIPESTATUS[0]}
    echo "== $name: exit $rc $(date -u +%T)" | tee -a "$LOG"
    [ "$rc" -eq 0 ] || STATUS=1
    return "$rc"
}

# 1. install: the carried wheels, then jetimg itself (no dependencies, no index)
if ! ls .whl/*.whl > /dev/null 2>&1; then
    echo "no .whl/*.whl: run benchmarks/gpu_wheels.sh here and carry .whl" | tee -a "$LOG"
    exit 1
fi
step "install wheels" 60 "$PY" -m pip install -q --no-index --no-deps --no-compile \
    --no-cache-dir --upgrade --target "$SITE" .whl/*.whl || exit 1
export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"
export PATH="$SITE/bin:$PATH"
step "install jetimg" 60 "$PY" -m pip install -q --no-index --no-deps --no-build-isolation \
    --no-compile --no-cache-dir --upgrade --target "$SITE" . || exit 1
step "versions" 30 "$PY" - "$RESULTS/versions.txt" <<'EOF' || exit 1
import importlib.metadata as md
import platform
import sys

import dask, h5py, numba, numpy, zarr  # noqa: F401,E401  (each must import; hdf5plugin need not)
import jetimg
import jetimg.io  # noqa: F401
from jetimg_cli.main import cli  # noqa: F401
from jetimg.device import cuda_problem

lines = [f"python {platform.python_version()} ({sys.executable})"]
for name in ("jetimg", "numpy", "numba", "numba-cuda", "llvmlite", "zarr", "numcodecs", "dask",
             "h5py", "hdf5plugin", "pandas", "tables", "keras", "cupy-cuda13x", "pytest",
             "hypothesis"):
    try:
        lines.append(f"{name} {md.version(name)}")
    except md.PackageNotFoundError:
        lines.append(f"{name} (not installed)")
lines += [f"jetimg imported from {jetimg.__file__}", f"cuda_problem(): {cuda_problem()}"]
print("\n".join(lines))
with open(sys.argv[1], "w") as f:
    f.write("\n".join(lines) + "\n")
EOF
if [ "${1:-all}" = install ]; then
    echo "install checked; stopping (install only)" | tee -a "$LOG"
    exit "$STATUS"
fi

# 2. the GPU
echo "== nvidia-smi $(date -u +%T)" | tee -a "$LOG"
{ timeout 30 nvidia-smi; timeout 30 nvidia-smi --format=csv \
    --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm,clocks.mem; } \
    > "$RESULTS/nvidia_smi.txt" 2>&1 || STATUS=1
tee -a "$LOG" < "$RESULTS/nvidia_smi.txt"

# 3. the real-GPU tests (every other test deselected; they fail without a GPU).
#    tests/test_notebooks.py needs Jupyter, which is not carried; any other module
#    that cannot be collected there is reported, and the GPU tests run all the same.
DESELECT=()
if ! "$PY" -c "import hdf5plugin" 2> /dev/null; then
    echo "hdf5plugin is not installed: deselecting ${NEEDS_HDF5PLUGIN[*]}" | tee -a "$LOG"
    for test in "${NEEDS_HDF5PLUGIN[@]}"; do DESELECT+=(--deselect "$test"); done
fi
step "pytest --gpu" 240 "$PY" -m pytest --gpu -p no:cacheprovider -v -rfE --durations=15 \
    --ignore=tests/test_notebooks.py --continue-on-collection-errors ${DESELECT[@]+"${DESELECT[@]}"} \
    --junitxml="$RESULTS/pytest_gpu.xml"

# 4. the CUDA benchmark (no top-tagging build: PyTables is not carried)
step "bench_cuda" 100 "$PY" benchmarks/bench_cuda.py --no-build --out "$RESULTS"

# 5. a timed build of a .npy file, cpu then cuda (the build bench_cuda skips)
step "build npy" 90 "$PY" - "$BUILD_JETS" "$RESULTS/build_npy.json" <<'EOF'
import json, os, platform, shutil, sys, tempfile, time

import numpy as np

import jetimg
from jetimg.toys import toy_jets

n, out = int(sys.argv[1]), sys.argv[2]
tmp = tempfile.mkdtemp(prefix="jetimg-build-")
base = toy_jets(min(n, 100_000), seed=0)[0]
np.save(f"{tmp}/jets.npy", np.concatenate([base] * -(-n // len(base)))[:n])
del base
result = {"n": n, "input": "npy, float32, 200 slots", "output": "zarr", "cpus": os.cpu_count(),
          "python": platform.python_version(), "jetimg": jetimg.__version__, "runs": []}
for device in ("cpu", "cuda"):  # compile outside the timing
    jetimg.build(f"{tmp}/jets.npy", f"{tmp}/warm.zarr", device=device, limit=2000,
                 overwrite=True)
for device, workers in (("cpu", None), ("cuda", None), ("cuda", 4)):
    shutil.rmtree(f"{tmp}/out.zarr", ignore_errors=True)
    t0 = time.perf_counter()
    jetimg.build(f"{tmp}/jets.npy", f"{tmp}/out.zarr", device=device, workers=workers)
    seconds = time.perf_counter() - t0
    result["runs"].append({"device": device, "workers": workers, "seconds": seconds,
                           "jets_per_s": n / seconds})
    print(f"build {n:,} jets, device={device}, workers={workers}: {seconds:.2f} s, "
          f"{n / seconds:,.0f} jets/s", flush=True)
shutil.rmtree(tmp, ignore_errors=True)
with open(out, "w") as f:
    json.dump(result, f, indent=1)
EOF

if [ "$STATUS" -eq 0 ]; then verdict="all steps passed"; else verdict="some step FAILED"; fi
echo "== done: $verdict $(date -u +%T)" | tee -a "$LOG"
ls -la "$RESULTS" | tee -a "$LOG"
exit "$STATUS"
