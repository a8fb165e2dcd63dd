"""``jetimg split``: an input -> training, validation and test parts (:func:`jetimg.split`)."""

import os

import click

from jetimg_cli.common import user_errors


def _numbers(text):
    """``"0.6,0.2,0.2"`` -> (0.6, 0.2, 0.2), or one line naming --fractions."""
    try:
        return tuple(float(v) for v in text.split(","))
    except ValueError:
        raise click.ClickException(f"--fractions {text}: expected numbers separated by "
                                   "commas, e.g. 0.6,0.2,0.2") from None


@click.command()
@click.argument("input", nargs=-1, type=click.Path(dir_okay=True, path_type=str))
@click.option("-o", "--output", required=True, type=click.Path(path_type=str),
              help="Folder to write: OUTPUT/<part>/<input file name>, the row maps and "
                   "split.json.")
@click.option("--sample", type=click.Choice(["toptag", "jetclass"]), is_flag=False,
              flag_value="toptag", default=None,
              help="Use a sample shipped with jetimg as INPUT: toptag (alone: --sample) or "
                   "jetclass (five JetClass ROOT files).")
@click.option("--fractions", default="0.6,0.2,0.2", show_default=True, metavar="F1,F2,...",
              help="Share of each part, positive, summing to 1.")
@click.option("--names", default=None, metavar="A,B,...",
              help="Names of the parts [default: train,val,test for three fractions, "
                   "train,test for two].")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed of the assignment (and of --shuffle).")
@click.option("--shuffle", is_flag=True,
              help="Shuffle the rows within each file of a part (default: input order).")
@click.option("--key", default=None, help="Dataset / pandas key / ROOT tree of the jets "
                                          "(default: found).")
@click.option("--labels-key", default=None,
              help="Labels dataset or column (default: is_signal_new / labels when present; "
                   ".npy input: a path).")
@click.option("--pid-key", default=None,
              help="Plain arrays: the (N, M) array of PDG ids beside the jets (default: pid "
                   "when present; .npy input: a path).")
@click.option("--overwrite", is_flag=True,
              help="Replace a non-empty OUTPUT once the new parts are complete.")
@user_errors
def split(input, output, sample, fractions, names, **kwargs):
    """Split an input into training, validation and test parts, each in the input's layout.

    Every row goes to exactly one part; each class is split in the given
    fractions, exactly (largest remainder), by a seeded draw; rows keep their
    input order within a part. Each part is a folder holding one file per
    input file, under its name, with every column or branch of the input,
    so a part builds as its input does. OUTPUT/<part>_rows.npy maps each row
    of a part to its input row; OUTPUT/split.json records the split.

    \b
    Examples:
      jetimg split --sample -o parts --fractions 0.6,0.2,0.2 --seed 1
      jetimg build parts/train/sample_jets.h5 -o train_img.zarr
      jetimg split 'JetClass/train/*.root' -o jc_parts --seed 1
      jetimg build 'jc_parts/train/*.root' -o jc_train.zarr
    """
    import jetimg

    if sample:
        if input:
            raise click.UsageError("give INPUT or --sample, not both")
        from jetimg.data import sample_files

        input = sample_files(sample)
    elif not input:
        raise click.UsageError("missing INPUT (or --sample for the shipped sample)")
    result = jetimg.split(list(input), output, fractions=_numbers(fractions),
                          names=None if names is None else names.split(","), **kwargs)
    label_names = result.label_names
    for name in result.names:
        counts = result.class_counts[name]
        classes = ", ".join(
            f"{label_names[c] if label_names and 0 <= c < len(label_names) else c} {n:,}"
            for c, n in counts.items())
        files = result.files[name]
        where = (os.path.join(output, os.path.relpath(files[0], result.output))
                 if len(files) == 1 else f"{len(files)} files in {os.path.join(output, name)}")
        click.echo(f"{name}: {result.rows[name]:,} jets"
                   f"{f' ({classes})' if label_names or len(counts) > 1 else ''} -> {where}")
    click.echo(f"row maps and split.json in {output} ({result.seconds:.1f} s)")
