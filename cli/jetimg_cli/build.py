"""``jetimg build``: a constituents file -> an image store (:func:`jetimg.build`)."""

import sys
import time

import click

from jetimg_cli.common import (human_bytes, recipe_from, recipe_options, resume_command,
                               stop_on_sigterm, user_errors)
from jetimg_cli.progress import progress_bar


@click.command()
@click.argument("input", nargs=-1, type=click.Path(dir_okay=True, path_type=str))
@click.option("-o", "--output", required=True, type=click.Path(path_type=str),
              help="Image store to write: *.zarr (Zarr v3 group) or *.h5 / *.hdf5.")
@click.option("--sample", type=click.Choice(["toptag", "jetclass"]), is_flag=False,
              flag_value="toptag", default=None,
              help="Use a sample shipped with jetimg as INPUT: toptag (alone: --sample; "
                   "Pythia 8 top and QCD jets) or jetclass (JetClass ROOT files of five "
                   "classes).")
@recipe_options
@click.option("--key", default=None,
              help="Where the jets are: pandas key, HDF5 / Zarr dataset, ROOT tree or .npz "
                   "member (default: found).")
@click.option("--labels-key", default=None,
              help="Labels dataset or column (default: is_signal_new / labels when present).")
@click.option("--pid-key", default=None,
              help="Plain arrays: the (N, M) array of PDG ids (particle kinds) beside the "
                   "jets (default: pid when present; .npy input: a path).")
@click.option("--chunk-size", type=int, default=None,
              help="Jets per Dask task [default: 20000].")
@click.option("--limit", type=int, default=None,
              help="Take only the first N rows (of all input files together). A "
                   "name-sorted JetClass glob gives a store in class blocks, so the first "
                   "N rows are one or two classes: take the first N rows only after "
                   "shuffling, or use the whole store.")
@click.option("--workers", type=int, default=None, help="Local threads or processes [default: cores].")
@click.option("--scheduler", default="threads", show_default=True,
              help="threads, processes, synchronous, or a dask.distributed address "
                   "(tcp://host:8786; input and output must be on storage every worker sees).")
@click.option("--layout", type=click.Choice(["store", "pandas-images"]), default="store",
              show_default=True,
              help="'pandas-images': the challenge's train_img.h5 layout (img_0..., is_signal_new, mass).")
@click.option("--codec", default=None,
              help="Chunk compression: blosc-lz4-noshuffle, blosc-lz4, zstd, blosc-zstd, "
                   "none [default: blosc-lz4-noshuffle].")
@click.option("--device", type=click.Choice(["cpu", "cuda", "auto"]), default="cpu",
              show_default=True,
              help="Where the kernels run: cpu, cuda (an NVIDIA GPU; pip install "
                   "'jetimg[cuda]'), or auto (cuda when a usable GPU is present).")
@click.option("--overwrite", is_flag=True, help="Replace OUTPUT once the new store is complete.")
@click.option("--resume", is_flag=True,
              help="Finish an interrupted Zarr build of OUTPUT (same input and options): "
                   "only the chunks not yet written are made.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@user_errors
def build(input, output, **kwargs):
    """Turn a constituents file into an image store (one row per jet, in order).

    INPUT is one of these layouts, recognised from the file itself: the
    top-tagging pandas HDFStore (key "table", fixed or table format); a
    plain (N, M, 4) array in HDF5, Zarr or .npy (--pid-key: PDG ids beside
    it); JetClass ROOT files (TTree "tree", pip install 'jetimg[root]');
    EnergyFlow quark/gluon .npz files (X, y). Several files, or a quoted
    glob pattern (expanded by jetimg and sorted by path), of one layout are
    one input: their rows follow each other in that order. jetimg info
    INPUT says what a file holds.

    \b
    Examples:
      jetimg build --sample -o sample_img.zarr
      jetimg build --sample jetclass -o jetclass_img.zarr
      jetimg build train.h5 -o train_img.zarr
      jetimg build 'parts/*.h5' -o all_img.zarr
      jetimg build 'JetClass/train/*.root' -o jetclass_img.zarr
      jetimg build test.h5 -o test_img.h5 --npix 32 --limit 10000
      jetimg build train.h5 -o train_img.h5 --layout pandas-images
      jetimg build train.h5 -o train_img.zarr --resume   (after Ctrl-C)

    Ctrl-C or SIGTERM stops a build once its running chunks are written; a
    Zarr store keeps them, marked incomplete, and --resume finishes it.
    """
    import jetimg
    from jetimg.io.store.stores import DEFAULT_CODEC
    from jetimg.pipeline import DEFAULT_CHUNK_SIZE

    sample = kwargs.pop("sample")
    if sample:
        if input:
            raise click.UsageError("give INPUT or --sample, not both")
        from jetimg.data import sample_files

        input = sample_files(sample)
        input = input[0] if len(input) == 1 else input
    elif not input:
        raise click.UsageError("missing INPUT (or --sample for the shipped sample)")
    else:
        input = input[0] if len(input) == 1 else list(input)
    recipe = recipe_from(kwargs)
    quiet = kwargs.pop("quiet")
    if kwargs["chunk_size"] is None:
        kwargs["chunk_size"] = DEFAULT_CHUNK_SIZE
    if kwargs["codec"] is None:
        kwargs["codec"] = DEFAULT_CODEC
    from jetimg.errors import StoreWriteError

    resume_hint = resume_command(click.get_current_context())
    clock = _Clock()
    with stop_on_sigterm() as stopped:
        try:
            with progress_bar(quiet) as progress:
                result = jetimg.build(input, output, recipe, progress=clock.progress(progress),
                                      notify=clock.notify, **kwargs)
        except StoreWriteError as exc:
            raise click.ClickException(write_failure(exc, output, resume_hint)) from None
        except KeyboardInterrupt:
            from jetimg.pipeline import build_progress

            state = build_progress(output)
            why = "terminated (SIGTERM)" if stopped else "interrupted"
            if state is None:
                click.echo(f"\n{why}: nothing was kept (an existing output is unchanged)",
                           err=True)
            else:
                click.echo(f"\n{why}: {state[0]:,} of {state[1]:,} rows are in {output} "
                           f"(marked incomplete); to finish: {resume_hint}", err=True)
            sys.exit(143 if stopped else 130)
    invalid = f", {result.n_invalid} invalid jets skipped" if result.n_invalid else ""
    where = f"-> {result.output} ({human_bytes(result.output_bytes)}){invalid}"
    if not result.n_made:
        click.echo(f"already complete: {result.n_jets} jets {where}")
        return
    done = (f"resumed: made {result.n_made} of {result.n_jets} jets"
            if result.n_made < result.n_jets else f"{result.n_jets} jets")
    click.echo(f"{done} in {result.seconds:.1f} s{clock.rate(result.n_made)} {where}")


class _Clock:
    """The build's rate of making images, with the start-up (and a first run's kernel
    compile) said apart: the time to the first ``progress`` call is start-up (opening
    the input, making the store, loading or compiling the kernels), the rest making
    images; the progress lines and bar measure from the same first call."""

    def __init__(self):
        self.started = time.perf_counter()
        self.first = None
        self.compiled = False

    def progress(self, progress):
        def timed(done, total):
            if self.first is None:
                self.first = time.perf_counter()
            progress(done, total)
        return timed

    def notify(self, line):
        if line.startswith("compiling the kernels"):
            self.compiled = True
        click.echo(line, err=True)

    def rate(self, n_made):
        """``": 16,923 jets/s, after 18.1 s of start-up, compiling the kernels (first run
        only)"``, or ``": 9,500 jets/s, after 1.2 s of start-up"``."""
        if self.first is None:
            return ""
        now = time.perf_counter()
        making, startup = now - self.first, self.first - self.started
        rate = f"{n_made / making:,.0f}" if making > 0 else "inf"
        what = ("of start-up, compiling the kernels (first run only)" if self.compiled
                else "of start-up")
        return f": {rate} jets/s, after {startup:.1f} s {what}"


def write_failure(exc, output, resume_hint):
    """One line for a build that could not write its output: the cause, what is
    left, and the command that finishes it where it can be resumed."""
    import errno

    line = f"cannot write {output}: {exc.cause}"
    if not exc.resumable:
        return line + "; nothing was kept (an existing output is unchanged)"
    when = ("once space is freed" if exc.errno in (errno.ENOSPC, errno.EDQUOT)
            else "once that is fixed")
    return (f"{line}; {exc.rows:,} of {exc.n_rows:,} rows are kept in {output} "
            f"(marked incomplete); to finish {when}: {resume_hint}")
