"""``jetimg info`` and ``jetimg verify``: describe an image store or an input, and check
that a store is whole."""

import os
import pathlib
import shlex
import sys

import click

from jetimg_cli.common import cli_words, human_bytes, user_errors


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=str),
                metavar="STORE | INPUT...")
@click.option("--key", default=None, help="INPUT: dataset / pandas key of the jets (as for build).")
@click.option("--labels-key", default=None, help="INPUT: labels dataset or column (as for build).")
@click.option("--pid-key", default=None,
              help="INPUT: PDG-id dataset beside plain arrays (as for build).")
@user_errors
def info(paths, key, labels_key, pid_key):
    """What is in an image store, or in an input of jet constituents.

    STORE (what jetimg build writes): rows written, recipe, labels,
    completeness and size. It describes the store as it is, an interrupted
    build's or one being written too (exit status 0); jetimg verify judges
    whether it is whole.

    INPUT (a constituents file, several files or a quoted glob pattern, as
    jetimg build takes them): its layout, jets, constituent slots, class
    names and whether it carries particle kinds (which the KIND channels of
    --channels need).

    \b
    Examples:
      jetimg info train_img.zarr
      jetimg info train.h5
      jetimg info 'JetClass/val/*.root'
    """
    from jetimg.io.store.stores import image_layout

    path = paths[0]
    layout = None
    if len(paths) == 1:
        if not os.path.lexists(path) and not set("*?[") & set(path):
            raise click.ClickException(f"not found: {path}")
        try:
            layout = image_layout(path)
        except OSError:  # a damaged HDF5 file: what the store reader says of it
            layout = "store" if path.lower().endswith((".h5", ".hdf5")) else None
        if layout is None and path.lower().endswith((".h5", ".hdf5")) \
                and os.path.isfile(path) and not _is_hdf5(path):
            layout = "store"  # the store reader says what it is not
        parent = pathlib.Path(path).parent
        if layout is None and os.path.isdir(path) and image_layout(parent) == "store":
            raise click.ClickException(
                f"{path} is the array '{pathlib.Path(path).name}' of the image store "
                f"{parent}: jetimg info {shlex.quote(str(parent))} describes the store")
    if layout == "store":
        _store_info(path)
    elif layout == "pandas-images":
        raise click.ClickException(
            f"{path} is the challenge's pandas image layout (img_0 ... columns, "
            "is_signal_new), which jetimg train, predict and evaluate read; jetimg info "
            "describes image stores and constituents files")
    else:
        _input_info(paths, key, labels_key, pid_key)


def _input_info(paths, key, labels_key, pid_key):
    """``jetimg info`` of an input of jet constituents (:func:`describe_input`)."""
    from jetimg.io.readers import describe_input

    d = describe_input(list(paths) if len(paths) > 1 else paths[0], key=key,
                       labels_key=labels_key, pid_key=pid_key)
    files = d["files"]
    names = [os.path.basename(f) for f in files]
    where = f", {d['key']!r}" if d["key"] else ""
    if len(files) == 1:
        click.echo(f"input        {paths[0]} ({d['layout_words']}{where}, "
                   f"{human_bytes(_size(files[0]))})")
    else:
        shown = ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")
        click.echo(f"input        {len(files)} files ({shown}; {d['layout_words']}{where}, "
                   f"{human_bytes(sum(_size(f) for f in files))})")
    click.echo(f"layout       {d['layout']}")
    click.echo(f"rows         {d['n_rows']} jets")
    if d["jagged"]:
        click.echo("slots        jagged: each jet holds its own number of particles, all used")
    else:
        click.echo(f"slots        {d['n_slots']} per jet (E, px, py, pz; padding is all zero)")
    if d["labels_key"] is None:
        click.echo("labels       none")
    elif d["label_names"]:
        classes = ", ".join(f"{k} {n}" for k, n in enumerate(d["label_names"]))
        click.echo(f"labels       {d['labels_key']}: {classes}")
    else:
        click.echo(f"labels       {d['labels_key']} (no class names)")
    if d["has_kinds"]:
        kinds = "yes: particle kinds, for channels such as charged_pt"
    else:
        kinds = "no: channels with a KIND (charged_pt, ...) need them"
        if d["layout"] in ("hdf5-array", "zarr-array", "npy"):
            kinds += "; a PDG-id array beside the jets gives them (--pid-key)"
    click.echo(f"kinds        {kinds}")
    click.echo(f"build        jetimg build {shlex.join(paths)} -o IMAGES.zarr")


def _is_hdf5(path):
    import h5py

    try:
        return bool(h5py.is_hdf5(path))
    except OSError:
        return False


def _size(path):
    from jetimg.io.store.stores import store_size

    return store_size(path)


def _store_info(store):
    """``jetimg info`` of an image store (:func:`store_info`)."""
    from jetimg.io.store.lockfile import build_writing
    from jetimg.io.store.stores import store_info, store_size

    info = store_info(store)
    attrs = info["attrs"]
    n, written = info["n_rows"], info["n_written"]
    source = attrs.get("input", "?")
    if isinstance(source, (list, tuple)):
        shown = ", ".join(map(str, source[:3])) + (", ..." if len(source) > 3 else "")
        source = f"{len(source)} files ({shown})"
    partial = written < n
    over = f" (over the {written} rows written)" if partial else ""
    click.echo(f"store        {store} ({info['format']}, {human_bytes(store_size(store))})")
    if partial:
        click.echo(f"rows         {written} of {n} written (the input {source} has "
                   f"{attrs.get('input_rows', '?')})")
    else:
        click.echo(f"rows         {n} of {attrs.get('input_rows', '?')} in {source}")
    writer = None if info["complete"] else build_writing(store)
    if info["complete"]:
        click.echo("complete     yes" + (f", but {n - written} rows have no chunk: jetimg verify "
                                         f"{store} says which" if partial else ""))
    elif writer is not None:
        unwritten = f"; {n - written} rows not written yet" if partial else ""
        click.echo(f"complete     NO: being written now by {writer['who']}{unwritten}")
    else:
        if info["resumable"]:
            finish = (f"to finish it, run its jetimg build command (input {source}, the same "
                      "options) again with --resume")
        elif info["format"] == "zarr":
            finish = ("it has no record of finished chunks to resume from: rebuild it "
                      "(jetimg build ... --overwrite)")
        else:
            finish = "HDF5 builds cannot be resumed: rebuild it (jetimg build ... --overwrite)"
        unwritten = f"{n - written} rows never written; " if partial else ""
        click.echo(f"complete     NO: an interrupted or failed build; {unwritten}{finish}")
    click.echo(f"images       {info['images_shape']} float32")
    if info["particles_shape"] is not None:
        _, p, f = info["particles_shape"]
        names = attrs.get("particle_features")
        shown = ", ".join(names) if isinstance(names, (list, tuple)) else "?"
        click.echo(f"particles    {info['particles_shape']} float32: up to {p} per jet, "
                   f"{f} features ({shown})")
    if info["label_counts"] is not None:
        names = attrs.get("label_names")
        names = list(names) if isinstance(names, (list, tuple)) else []

        def name(k):
            return f"{k} {names[k]}" if isinstance(k, int) and 0 <= k < len(names) else f"{k}"

        counts = ", ".join(f"{name(k)}: {v}" for k, v in info["label_counts"].items())
        click.echo(f"labels       {counts or 'none written'}{over}")
    else:
        click.echo("labels       none")
    click.echo(f"invalid      {info['n_invalid']}{over}")
    if info["n_unreadable"]:
        click.echo(f"unreadable   {info['n_unreadable']} rows of labels or valid cannot be "
                   f"decoded (left out above): jetimg verify {store} names them")
    recipe = dict(attrs.get("recipe", {}))
    vary = recipe.pop("vary", None)
    click.echo("recipe       " + ", ".join(f"{k}={v}" for k, v in recipe.items()))
    if isinstance(vary, dict):
        shown = " ".join(f"{k}={v}" for k, v in vary.items())
        click.echo(f"vary         {shown} (a systematically varied sample: docs/recipe.md)")
    else:
        click.echo("vary         none (the nominal jets)")
    click.echo(f"jetimg       {attrs.get('jetimg_version', '?')}")


@click.command()
@click.argument("store", type=click.Path(path_type=str))
@click.option("--input", "input_", type=click.Path(path_type=str), multiple=True,
              help="The constituents file STORE was built from: recompute a sample of rows. "
                   "Repeat it for each file of a several-file input (in build order), or "
                   "give the quoted glob pattern of the build.")
@click.option("--key", default=None, help="Dataset / pandas key of the jets (as for build).")
@click.option("--labels-key", default=None, help="Labels dataset or column (as for build).")
@click.option("--pid-key", default=None,
              help="PDG-id dataset beside plain arrays (as for build).")
@click.option("--sample", "n_sample", type=int, default=1000, show_default=True,
              help="Rows to recompute with --input (ten seeded random blocks).")
@click.option("--quick", is_flag=True,
              help="Check only that every chunk is there, without decoding them.")
@user_errors
def verify(store, input_, key, labels_key, pid_key, n_sample, quick):
    """Check that STORE is whole: arrays, every chunk there and decoding, attributes,
    complete; and (with --input) that it recomputes.

    One line per check, and one per finding (an array with chunks missing, a
    range of rows that cannot be decoded). Exit status 0 only when every check
    passes.

    \b
    Examples:
      jetimg verify train_img.zarr
      jetimg verify train_img.zarr --quick
      jetimg verify train_img.zarr --input train.h5
      jetimg verify all_img.zarr --input 'parts/*.h5'
    """
    import jetimg

    input_ = None if not input_ else input_[0] if len(input_) == 1 else list(input_)
    report = jetimg.verify(store, input_, key=key, labels_key=labels_key, pid_key=pid_key,
                           n_sample=n_sample, quick=quick)
    click.echo(cli_words(str(report)))
    click.echo(f"{store}: {'OK' if report.ok else 'FAILED'}")
    if not report.ok:
        sys.exit(1)
