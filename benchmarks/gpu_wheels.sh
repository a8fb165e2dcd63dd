#!/usr/bin/env bash
# Download, here, the wheels that benchmarks/gpu_check.sh installs on the GPU machine.
#
# That machine (Python 3.12, no package index) has numpy, numba, numba-cuda, h5py,
# pandas, click, cloudpickle, fsspec, toolz, pyyaml, typing-extensions, packaging,
# pathspec, pluggy, matplotlib, hypothesis, pytest and the rest of its image. It
# lacks what jetimg's build needs: Zarr (with numcodecs, donfig, google-crc32c),
# Dask (with partd, locket) and hdf5plugin; and hatchling (with tomlkit and
# trove-classifiers) to install jetimg itself from the carried tree. Versions:
# those of the project's test environment. Pure-Python wheels match any
# platform; the others are cp312 manylinux x86_64.
#
# Left out for size: hdf5plugin's wheel alone is 46 MB of the 64 MiB that may
# travel, so PyTables (with blosc2: 15 MB; pandas' HDFStore, the top-tagging
# files) and Keras (3 MB) stay behind: tests/test_readers.py and
# tests/test_train.py skip there, and bench_cuda.py runs with --no-build
# (gpu_check.sh times a build of a .npy file instead).
#
#   bash benchmarks/gpu_wheels.sh        # -> .whl/ (ignored by git), about 56 MiB
#
# The working tree that travels (tracked and untracked files that git does not
# ignore, plus .whl/) must stay under 64 MiB: the script prints both sizes and
# fails when together they pass 62 MiB.
set -euo pipefail
cd "$(dirname "$0")/.."

WHEELS=(
    zarr==3.1.6 numcodecs==0.16.6 donfig==0.8.1.post1 google-crc32c==1.9.0
    dask==2026.8.0 partd==1.4.2 locket==1.0.0
    hdf5plugin==7.1.0
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
whl_kib=$(du -sk .whl | cut -f1)
tree_kib=$( (git ls-files -z; git ls-files -z --others --exclude-standard) \
    | xargs -0 du -skc 2>/dev/null | tail -1 | cut -f1)
echo "$(ls .whl/*.whl | wc -l) wheels: $((whl_kib / 1024)) MiB in .whl/;" \
     "working tree $((tree_kib / 1024)) MiB;" \
     "together $(((whl_kib + tree_kib) / 1024)) MiB of the 64 that may travel"
if [ $((whl_kib + tree_kib)) -gt $((62 * 1024)) ]; then
    echo "error: over 62 MiB together: carry fewer wheels" >&2
    exit 1
fi
