"""``jetimg``: click commands only; each calls one documented library function.

Heavy imports (numba, Dask, Zarr) happen inside the commands, so
``jetimg --version`` and ``--help`` stay fast.
"""

import atexit
import contextlib
import functools
import gc
import shlex
import signal
import sys
import threading

import click

from jetimg import JetimgError, __version__
from jetimg_cli.progress import progress_bar
from jetimg.recipe import CENTERS, DEFAULT_PIXEL_SIZE, INTENSITIES, NORMALISES, Recipe

# The interpreter's last garbage collection, at exit, walks every object that
# numba, Dask and Zarr made: 0.15 s after a build (measured), for nothing, as
# the command's files are closed by then. Objects frozen are left out of it;
# finalizers and atexit hooks registered later still run (this one runs last).
atexit.register(gc.freeze)


def user_errors(func=None, *, on_interrupt=None):
    """Turn jetimg's user errors and Ctrl-C into one line on stderr and exit 1 / 130.

    ``on_interrupt(exc)``, if given, says in one line what Ctrl-C left behind.
    """
    if func is None:
        return functools.partial(user_errors, on_interrupt=on_interrupt)

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except JetimgError as exc:
            raise click.ClickException(str(exc)) from None
        except KeyboardInterrupt as exc:
            message = on_interrupt(exc) if on_interrupt else (
                "interrupted: the output was removed (nothing of an existing output was changed)")
            click.echo(f"\n{message}", err=True)
            sys.exit(130)

    return wrapper


@contextlib.contextmanager
def stop_on_sigterm():
    """Turn SIGTERM (a batch system's stop) into KeyboardInterrupt, like Ctrl-C.

    Yields a list that is non-empty once SIGTERM arrived.
    """
    stopped = []

    def handler(signum, frame):
        stopped.append(signum)
        raise KeyboardInterrupt

    if threading.current_thread() is not threading.main_thread():
        yield stopped
        return
    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield stopped
    finally:
        signal.signal(signal.SIGTERM, previous)


def resume_command(ctx):
    """The command line that resumes this build: the options given, plus --resume."""
    from click.core import ParameterSource

    args = ["jetimg", ctx.info_name or "build"]
    for param in ctx.command.params:
        if param.name in ("overwrite", "resume") or \
                ctx.get_parameter_source(param.name) is not ParameterSource.COMMANDLINE:
            continue
        value = ctx.params[param.name]
        if isinstance(param, click.Argument):
            args.append(str(value))
        elif param.is_flag and param.secondary_opts:
            args.append(max(param.opts if value else param.secondary_opts, key=len))
        elif param.is_flag:
            if value:
                args.append(max(param.opts, key=len))
        else:
            text = ",".join(f"{v:g}" for v in value) if isinstance(value, tuple) else str(value)
            args += [max(param.opts, key=len), text]
    return shlex.join(args + ["--resume"])


def human_bytes(n):
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{n} B"
        n /= 1000


class PixelSize(click.ParamType):
    name = "DX,DY"

    def convert(self, value, param, ctx):
        if isinstance(value, tuple):
            return value
        try:
            parts = [float(v) for v in str(value).split(",")]
        except ValueError:
            self.fail(f"{value!r} is not one or two numbers 'DX,DY'", param, ctx)
        if len(parts) not in (1, 2):
            self.fail(f"{value!r} is not one or two numbers 'DX,DY'", param, ctx)
        return tuple(parts) * (2 // len(parts))


def recipe_options(func):
    """The click options of every Recipe field (SPEC.md names)."""
    options = [
        click.option("--center", type=click.Choice(CENTERS), default="centroid", show_default=True,
                     help="What goes to (0, 0): pT-weighted centroid, jet axis or leading constituent."),
        click.option("--rotate/--no-rotate", default=True, show_default=True,
                     help="Turn the principal axis vertical."),
        click.option("--flip/--no-flip", default=True, show_default=True,
                     help="Flip so the most intensity sits at x<0, y>0."),
        click.option("--npix", type=int, default=40, show_default=True, help="Image side in pixels."),
        click.option("--pixel-size", type=PixelSize(), default=None,
                     help=f"Pixel width in eta and phi [default: {DEFAULT_PIXEL_SIZE[0]:.6g},"
                          f"{DEFAULT_PIXEL_SIZE[1]:.6g}]."),
        click.option("--intensity", type=click.Choice(INTENSITIES), default="pt", show_default=True,
                     help="Pixel weight: pT or E of the constituents."),
        click.option("--threshold", type=float, default=0.0, show_default=True,
                     help="Zero pixels below this raw intensity (GeV)."),
        click.option("--normalise", type=click.Choice(NORMALISES), default="sum", show_default=True,
                     help="Divide each image by its sum or maximum, or keep GeV."),
        click.option("--skip-invalid", is_flag=True,
                     help="Give invalid jets (NaN, E<0, ...) an empty image and valid=0 "
                          "instead of stopping."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def recipe_from(kwargs):
    """Pop the recipe options out of a command's kwargs into a Recipe."""
    fields = dict(center=kwargs.pop("center"), rotate=kwargs.pop("rotate"),
                  flip=kwargs.pop("flip"), npix=kwargs.pop("npix"),
                  intensity=kwargs.pop("intensity"), threshold=kwargs.pop("threshold"),
                  normalise=kwargs.pop("normalise"),
                  invalid="skip" if kwargs.pop("skip_invalid") else "raise")
    pixel_size = kwargs.pop("pixel_size")
    if pixel_size is not None:
        fields["pixel_size"] = pixel_size
    return Recipe(**fields)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="jetimg")
def cli():
    """jetimg: jet images from constituent four-vectors, fast.

    \b
    Example:
      jetimg build train.h5 -o train_img.zarr
      jetimg info train_img.zarr
    """


@cli.command()
@click.argument("input", type=click.Path(dir_okay=True, path_type=str), required=False)
@click.option("-o", "--output", required=True, type=click.Path(path_type=str),
              help="Image store to write: *.zarr (Zarr v3 group) or *.h5 / *.hdf5.")
@click.option("--sample", is_flag=True,
              help="Use the sample shipped with jetimg (Pythia 8 top and QCD jets) as INPUT.")
@recipe_options
@click.option("--key", default=None, help="Dataset / pandas key of the jets (default: found).")
@click.option("--labels-key", default=None,
              help="Labels dataset or column (default: is_signal_new / labels when present).")
@click.option("--chunk-size", type=int, default=None,
              help="Jets per Dask task [default: 20000].")
@click.option("--limit", type=int, default=None, help="Take only the first N rows.")
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

    INPUT is the top-tagging layout (pandas HDFStore key "table", fixed or
    table format) or a plain (N, M, 4) array in HDF5, Zarr or .npy.

    \b
    Examples:
      jetimg build --sample -o sample_img.zarr
      jetimg build train.h5 -o train_img.zarr
      jetimg build test.h5 -o test_img.h5 --npix 32 --limit 10000
      jetimg build train.h5 -o train_img.h5 --layout pandas-images
      jetimg build train.h5 -o train_img.zarr --resume   (after Ctrl-C)

    Ctrl-C or SIGTERM stops a build once its running chunks are written; a
    Zarr store keeps them, marked incomplete, and --resume finishes it.
    """
    import jetimg
    from jetimg.io.stores import DEFAULT_CODEC
    from jetimg.pipeline import DEFAULT_CHUNK_SIZE

    if kwargs.pop("sample"):
        if input is not None:
            raise click.UsageError("give INPUT or --sample, not both")
        from jetimg.data import sample_path

        input = str(sample_path())
    elif input is None:
        raise click.UsageError("missing INPUT (or --sample for the shipped sample)")
    recipe = recipe_from(kwargs)
    quiet = kwargs.pop("quiet")
    if kwargs["chunk_size"] is None:
        kwargs["chunk_size"] = DEFAULT_CHUNK_SIZE
    if kwargs["codec"] is None:
        kwargs["codec"] = DEFAULT_CODEC
    resume_hint = resume_command(click.get_current_context())
    with stop_on_sigterm() as stopped:
        try:
            with progress_bar(quiet) as progress:
                result = jetimg.build(input, output, recipe, progress=progress, **kwargs)
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
    if result.n_made < result.n_jets:
        done = (f"resumed: made {result.n_made} of {result.n_jets} jets" if result.n_made
                else f"already complete: {result.n_jets} jets")
    else:
        done = f"{result.n_jets} jets"
    click.echo(f"{done} in {result.seconds:.1f} s ({result.jets_per_second:,.0f} jets/s) "
               f"-> {result.output} ({human_bytes(result.output_bytes)}){invalid}")


@cli.command()
@click.argument("store", type=click.Path(path_type=str))
@user_errors
def info(store):
    """Rows, recipe, labels, completeness and size of an image store.

    \b
    Example:
      jetimg info train_img.zarr
    """
    from jetimg.io.stores import store_size
    from jetimg.io.stores import store_info

    info = store_info(store)
    click.echo(f"store        {store} ({info['format']}, {human_bytes(store_size(store))})")
    click.echo(f"rows         {info['n_rows']} of {info['attrs'].get('input_rows', '?')} "
               f"in {info['attrs'].get('input', '?')}")
    click.echo(f"complete     {'yes' if info['complete'] else 'NO (an interrupted or failed build)'}")
    click.echo(f"images       {info['images_shape']} float32")
    if info["label_counts"] is not None:
        counts = ", ".join(f"{k}: {v}" for k, v in info["label_counts"].items())
        click.echo(f"labels       {counts}")
    else:
        click.echo("labels       none")
    click.echo(f"invalid      {info['n_invalid']}")
    recipe = info["attrs"].get("recipe", {})
    click.echo("recipe       " + ", ".join(f"{k}={v}" for k, v in recipe.items()))
    click.echo(f"jetimg       {info['attrs'].get('jetimg_version', '?')}")
    if not info["complete"]:
        sys.exit(1)


@cli.command()
@click.argument("store", type=click.Path(path_type=str))
@click.option("--input", "input_", type=click.Path(path_type=str), default=None,
              help="The constituents file STORE was built from: recompute a sample of rows.")
@click.option("--key", default=None, help="Dataset / pandas key of the jets (as for build).")
@click.option("--labels-key", default=None, help="Labels dataset or column (as for build).")
@click.option("--sample", "n_sample", type=int, default=1000, show_default=True,
              help="Rows to recompute with --input (ten seeded random blocks).")
@user_errors
def verify(store, input_, key, labels_key, n_sample):
    """Check that STORE is whole: arrays, chunks, attributes, complete; and it recomputes.

    Exit status 0 only when every check passes.

    \b
    Examples:
      jetimg verify train_img.zarr
      jetimg verify train_img.zarr --input train.h5
    """
    import jetimg

    report = jetimg.verify(store, input_, key=key, labels_key=labels_key, n_sample=n_sample)
    click.echo(str(report))
    click.echo(f"{store}: {'OK' if report.ok else 'FAILED'}")
    if not report.ok:
        sys.exit(1)


from jetimg_cli.simulate import simulate  # noqa: E402  (its own module: click only at import)

cli.add_command(simulate)

from jetimg_cli.train import evaluate, predict, train  # noqa: E402  (click only at import)

cli.add_command(train)
cli.add_command(predict)
cli.add_command(evaluate)
from jetimg_cli.plot import plot  # noqa: E402
cli.add_command(plot)


if __name__ == "__main__":  # pragma: no cover
    cli()
