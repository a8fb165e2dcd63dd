#!/usr/bin/env bash
# Download, here, the wheels that benchmarks/gpu_check.sh installs on the GPU machine.
#
# That machine (Python 3.12, no package index) has numpy, numba, numba-cuda, h5py,
# pandas, click, cloudpickle, fsspec, toolz, pyyaml, typing-extensions, packaging,
# pathspec, pluggy, matplotlib, hypothesis, pytest and the rest of its image. It
# lacks what jetimg's build needs: Zarr (with numcodecs, donfig, google-crc32c) and
# Dask (with partd, locket); and hatchling (with tomlkit and trove-classifiers) to
# install jetimg itself from the carried tree. Versions: those of the project's test
# environment. Pure-Python wheels match any platform; the others are cp312
# manylinux x86_64.
#
# Left out for size: hdf5plugin (its wheel alone is 46 MB; jetimg imports it only
# for the blosc and zstd codecs of HDF5 files, and gpu_check.sh skips, by name, the
# GPU test that builds such a store), PyTables (with blosc2: 15 MB; pandas'
# HDFStore, the top-tagging files) and Keras (3 MB): tests/test_readers.py and
# tests/test_train.py skip there, and bench_cuda.py runs with --no-build
# (gpu_check.sh times a build of a .npy file instead).
#
#   bash benchmarks/gpu_wheels.sh        # -> .whl/ (ignored by git)
#
# The budget: what travels to the GPU machine (the working tree -- tracked and
# untracked files that git does not ignore -- plus .whl/) may be LIMIT_MIB; this
# script fails when it passes LIMIT_MIB - MARGIN_MIB, and when the wheels pass
# WHEELS_MIB, the figure tests/test_gpu_budget.py adds to the tracked tree to hold
# the same budget without downloading anything. Sizes are bytes (MiB = 2**20).
set -euo pipefail
cd "$(dirname "$0")/.."

LIMIT_MIB=64    # what may travel: working tree + carried .whl/
MARGIN_MIB=10   # kept free: the tree grows between runs of this script
WHEELS_MIB=11   # the wheels below, rounded up (measured: see the last line printed)

WHEELS=(
    zarr==3.1.6 numcodecs==0.16.6 donfig==0.8.1.post1 google-crc32c==1.9.0
    dask==2026.8.0 partd==1.4.2 locket==1.0.0
    hatchling==1.33.0 tomlkit==0.15.2 trove-classifiers==2026.9.21.13
)

PY=${PYTHON:-python3}
mkdir -p .whl
grep -qx '/.whl/' .gitignore 2>/dev/null || echo "warning: .whl/ is not in .gitignore" >&2
for spec in "${WHEELS[@]}"; do
    name=${spec%%==*}
    # one version of each: a second (an older download) would stop the whole install
    norm=$(echo "$name" | tr 'A-Z-' 'a-z_')
    for old in .whl/*.whl; do
        [ -e "$old" ] || continue
        base=$(basename "$old")
        have=$(echo "${base%%-*}" | tr 'A-Z-' 'a-z_')
        version=$(echo "$base" | cut -d- -f2)
        if [ "$have" = "$norm" ] && [ "$version" != "${spec#*==}" ]; then rm -f "$old"; fi
    done
    "$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
        --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
        --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
        --platform manylinux1_x86_64 -d .whl "$spec"
done
# wheels of an earlier list that this one no longer names
for old in .whl/*.whl; do
    [ -e "$old" ] || continue
    have=$(basename "$old" | cut -d- -f1 | tr 'A-Z-' 'a-z_')
    keep=no
    for spec in "${WHEELS[@]}"; do
        [ "$(echo "${spec%%==*}" | tr 'A-Z-' 'a-z_')" = "$have" ] && keep=yes
    done
    if [ "$keep" = no ]; then echo "removing $old (not in the list)"; rm -f "$old"; fi
done
ls -1 .whl
# apparent sizes in bytes, as they travel; files git lists but the tree lacks count 0
sizes() { "$PY" -c 'import os, sys
print(sum(os.path.getsize(p) for p in sys.stdin.read().split("\0") if os.path.isfile(p)))'; }
whl_bytes=$(printf '%s\0' .whl/*.whl | sizes)
tree_bytes=$( (git ls-files -z; git ls-files -z --others --exclude-standard) | sizes)
mib() { "$PY" -c "print(f'{$1 / 2**20:.1f}')"; }
allowed=$((LIMIT_MIB - MARGIN_MIB))
echo "$(ls .whl/*.whl | wc -l) wheels: $(mib "$whl_bytes") MiB in .whl/ (recorded" \
     "WHEELS_MIB=$WHEELS_MIB); working tree $(mib "$tree_bytes") MiB; together" \
     "$(mib $((whl_bytes + tree_bytes))) MiB of the $LIMIT_MIB that may travel" \
     "(at most $allowed, keeping $MARGIN_MIB free)"
status=0
if [ "$whl_bytes" -gt $((WHEELS_MIB * 1048576)) ]; then
    echo "error: the wheels are over WHEELS_MIB=$WHEELS_MIB MiB: raise it in this script" \
         "(tests/test_gpu_budget.py then checks the tree against it) or carry fewer" >&2
    status=1
fi
if [ $((whl_bytes + tree_bytes)) -gt $((allowed * 1048576)) ]; then
    echo "error: over $allowed MiB together ($LIMIT_MIB less a margin of $MARGIN_MIB):" \
         "carry fewer wheels or make the tree smaller" >&2
    status=1
fi
exit "$status"
