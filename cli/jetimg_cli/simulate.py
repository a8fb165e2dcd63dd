"""``jetimg simulate``: Pythia 8 + FastJet jets in the top-tagging, JetClass or quark/gluon layout.

Pythia and FastJet (the ``sim`` extra) are imported inside the command, so
``jetimg --help`` stays fast and works without them.
"""

import os
import time

import click

from jetimg_cli.common import user_errors
from jetimg_cli.progress import progress_bar

COMPLIBS = ("zlib", "blosc", "blosc:lz4", "blosc:zstd")
LAYOUTS = ("toptag", "jetclass", "qg")


@click.command()
@click.option("-o", "--output", required=True, type=click.Path(path_type=str),
              help="toptag: HDF5 file (pandas HDFStore, key 'table', 'fixed' layout); "
                   "jetclass: folder for the ROOT files; qg: .npz file.")
@click.option("-n", "--n-jets", required=True, type=int,
              help="toptag: total jets, shared equally by the processes; jetclass: jets per "
                   "file (per class); qg: jets in the file (half quark, half gluon).")
@click.option("--layout", type=click.Choice(LAYOUTS), default="toptag", show_default=True,
              help="toptag: the top-tagging reference layout; jetclass: JetClass's ROOT "
                   "files, one per class; qg: EnergyFlow's quark/gluon .npz.")
@click.option("--process", "processes", default=None,
              help="Comma-separated processes: top, w, z, higgs (signal), qcd "
                   "[default: top,qcd; jetclass: all five; qg: none to give].")
@click.option("--pt-min", type=float, default=None,
              help="Lowest jet pT (GeV) [default: 550; jetclass, qg: 500].")
@click.option("--pt-max", type=float, default=None,
              help="Jet pT below this (GeV) [default: 650; jetclass: 1000; qg: 550].")
@click.option("--eta-max", type=float, default=None,
              help="Largest jet |eta| (qg: |y|) [default: 2; qg: 1.7].")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed: the same seed and options give the same file.")
@click.option("--pthat-min", type=float, default=None,
              help="Lowest hard-process pT (GeV) [default: 0.8 * pt-min].")
@click.option("--pthat-max", type=float, default=None,
              help="Highest hard-process pT (GeV) [default: 1.2 * pt-max].")
@click.option("--complib", type=click.Choice(COMPLIBS), default=None,
              help="toptag: compress the file with this PyTables library [default: none].")
@click.option("--complevel", type=click.IntRange(0, 9), default=5, show_default=True,
              help="Compression level, with --complib.")
@click.option("--overwrite", is_flag=True, help="Replace OUTPUT once the new file is complete.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@user_errors(on_interrupt=lambda exc: "interrupted: nothing was written")
def simulate(output, n_jets, layout, processes, pt_min, pt_max, eta_max, seed, pthat_min,
             pthat_max, complib, complevel, overwrite, quiet):
    """Generate jets with Pythia 8 and FastJet into a top-tagging, JetClass or quark/gluon file.

    toptag: pp at 14 TeV without multi-parton interactions; anti-kT R=0.8 jets,
    550 <= pT < 650 GeV, |eta| < 2. jetclass: 13 TeV with multi-parton
    interactions, anti-kT R=0.8, 500 <= pT < 1000 GeV, |eta| < 2, one file per
    class (TTBar, WToQQ, ZToQQ, HToBB, ZJetsToNuNu _000.root). qg: 14 TeV with
    multi-parton interactions, Z(->nu nu) + quark or gluon, anti-kT R=0.4,
    500 <= pT < 550 GeV, |y| < 1.7. Always the leading jet of each event, of
    the visible final-state particles, without pile-up or detector; signal
    jets matched within 0.8 to the resonance and its decay quarks. Needs the
    'sim' extra: pip install 'jetimg[sim]' (jetclass also 'jetimg[root]').

    \b
    Examples:
      jetimg simulate -o jets.h5 -n 10000
      jetimg simulate -o wz.h5 -n 3000 --process w,z,qcd --seed 7
      jetimg simulate --layout jetclass -o jetclass/ -n 1000 --process top,w,z,higgs,qcd
      jetimg simulate --layout qg -o qg.npz -n 2000
    """
    from jetimg.simulate import simulate as run

    if (pthat_min is None) != (pthat_max is None):
        raise click.UsageError("give both --pthat-min and --pthat-max, or neither")
    pthat_range = None if pthat_min is None else (pthat_min, pthat_max)
    start = time.perf_counter()
    with progress_bar(quiet) as progress:
        written = run(output, n_jets, processes, pt_min=pt_min, pt_max=pt_max,
                      eta_max=eta_max, seed=seed, progress=progress, pthat_range=pthat_range,
                      complib=complib, complevel=complevel, overwrite=overwrite, layout=layout)
    seconds = time.perf_counter() - start
    files = written if layout == "jetclass" else [output]
    total = n_jets * len(files) if layout == "jetclass" else n_jets
    size = sum(os.path.getsize(f) for f in files) / 1e6
    what = processes or {"toptag": "top,qcd", "jetclass": "top,w,z,higgs,qcd",
                         "qg": "quark,gluon"}[layout]
    where = (f"{output} ({', '.join(os.path.basename(f) for f in files)})"
             if layout == "jetclass" else output)
    click.echo(f"{total} jets ({what}) in {seconds:.1f} s "
               f"({total / seconds:,.0f} jets/s) -> {where} ({size:.1f} MB)")
