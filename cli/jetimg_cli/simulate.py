"""``jetimg simulate``: Pythia 8 + FastJet jets in the top-tagging reference layout.

Pythia and FastJet (the ``sim`` extra) are imported inside the command, so
``jetimg --help`` stays fast and works without them.
"""

import os
import time

import click

from jetimg_cli.common import user_errors
from jetimg_cli.progress import progress_bar

COMPLIBS = ("zlib", "blosc", "blosc:lz4", "blosc:zstd")


@click.command()
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=str),
              help="HDF5 file to write (pandas HDFStore, key 'table', 'fixed' layout).")
@click.option("-n", "--n-jets", required=True, type=int,
              help="Total number of jets, shared equally by the processes.")
@click.option("--process", "processes", default="top,qcd", show_default=True,
              help="Comma-separated processes: top, w, z, higgs (signal, label 1), qcd (label 0).")
@click.option("--pt-min", type=float, default=550.0, show_default=True, help="Lowest jet pT (GeV).")
@click.option("--pt-max", type=float, default=650.0, show_default=True,
              help="Jet pT below this (GeV).")
@click.option("--eta-max", type=float, default=2.0, show_default=True, help="Largest jet |eta|.")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed: the same seed and options give the same file.")
@click.option("--pthat-min", type=float, default=None,
              help="Lowest hard-process pT (GeV) [default: 0.8 * pt-min].")
@click.option("--pthat-max", type=float, default=None,
              help="Highest hard-process pT (GeV) [default: 1.2 * pt-max].")
@click.option("--complib", type=click.Choice(COMPLIBS), default=None,
              help="Compress the file with this PyTables library [default: none].")
@click.option("--complevel", type=click.IntRange(0, 9), default=5, show_default=True,
              help="Compression level, with --complib.")
@click.option("--overwrite", is_flag=True, help="Replace OUTPUT once the new file is complete.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@user_errors(on_interrupt=lambda exc: "interrupted: nothing was written")
def simulate(output, n_jets, processes, pt_min, pt_max, eta_max, seed, pthat_min, pthat_max,
             complib, complevel, overwrite, quiet):
    """Generate jets with Pythia 8 and FastJet into a top-tagging layout file.

    pp at 14 TeV without multi-parton interactions or pile-up; anti-kT R=0.8
    jets of visible final-state particles; the leading jet of each event, kept
    with pT in [PT_MIN, PT_MAX) and |eta| < ETA_MAX; signal jets matched within
    0.8 to the resonance and its decay quarks. Needs the 'sim' extra: pip install 'jetimg[sim]'.

    \b
    Examples:
      jetimg simulate -o jets.h5 -n 10000
      jetimg simulate -o wz.h5 -n 3000 --process w,z,qcd --seed 7
      jetimg simulate -o hi.h5 -n 2000 --pt-min 1000 --pt-max 1200
    """
    from jetimg.simulate import simulate as run

    if (pthat_min is None) != (pthat_max is None):
        raise click.UsageError("give both --pthat-min and --pthat-max, or neither")
    pthat_range = None if pthat_min is None else (pthat_min, pthat_max)
    start = time.perf_counter()
    with progress_bar(quiet) as progress:
        run(output, n_jets, processes, pt_min=pt_min, pt_max=pt_max, eta_max=eta_max,
            seed=seed, progress=progress, pthat_range=pthat_range, complib=complib,
            complevel=complevel, overwrite=overwrite)
    seconds = time.perf_counter() - start
    click.echo(f"{n_jets} jets ({processes}) in {seconds:.1f} s "
               f"({n_jets / seconds:,.0f} jets/s) -> {output} "
               f"({os.path.getsize(output) / 1e6:.1f} MB)")
