"""``jetimg info`` and ``jetimg verify``: describe an image store, and check that it is whole."""

import sys

import click

from jetimg_cli.common import human_bytes, user_errors


@click.command()
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


@click.command()
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
