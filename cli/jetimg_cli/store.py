"""``jetimg info`` and ``jetimg verify``: describe an image store, and check that it is whole."""

import sys

import click

from jetimg_cli.common import cli_words, human_bytes, user_errors


@click.command()
@click.argument("store", type=click.Path(path_type=str))
@user_errors
def info(store):
    """Rows written, recipe, labels, completeness and size of an image store.

    Describes the store as it is, an interrupted build's too (exit status 0);
    jetimg verify judges whether it is whole.

    \b
    Example:
      jetimg info train_img.zarr
    """
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
    if info["complete"]:
        click.echo("complete     yes" + (f", but {n - written} rows have no chunk: jetimg verify "
                                         f"{store} says which" if partial else ""))
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
    recipe = attrs.get("recipe", {})
    click.echo("recipe       " + ", ".join(f"{k}={v}" for k, v in recipe.items()))
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
