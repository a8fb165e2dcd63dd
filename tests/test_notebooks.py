"""The teaching notebooks run top to bottom on the shipped sample, and are committed clean.

Each notebook is executed with nbclient from a temporary copy, in a temporary
working directory, by an IPython kernel of this very interpreter: the test
writes its own kernelspec (``sys.executable -m ipykernel_launcher``) instead of
trusting whatever ``python3`` kernelspec the user's Jupyter paths hold first.
The notebooks themselves build their stores in ``tempfile.mkdtemp()`` folders
and remove them at the end.
"""

import json
import re
import shutil
import sys
from pathlib import Path

import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient

NOTEBOOKS_DIR = Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOKS = ["01_jet_images.ipynb", "02_train_cnn.ipynb"]
#: Seconds any one cell may take (a notebook takes under two minutes on two cores).
CELL_TIMEOUT = 600
KERNEL_NAME = "jetimg-test-python"


def _read(name):
    return nbformat.read(NOTEBOOKS_DIR / name, as_version=4)


def _kernel_manager(folder):
    """A KernelManager for an IPython kernel run by this interpreter (``sys.executable``)."""
    spec = folder / "kernels" / KERNEL_NAME
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "jetimg tests", "language": "python",
        # headless; no debugger warning about frozen modules on stderr
        "env": {"MPLBACKEND": "Agg", "PYDEVD_DISABLE_FILE_VALIDATION": "1"},
    }))
    specs = KernelSpecManager(kernel_dirs=[str(folder / "kernels")])
    return KernelManager(kernel_name=KERNEL_NAME, kernel_spec_manager=specs)


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_committed_without_outputs(name):
    """Outputs are stripped in git: no outputs, no execution counts."""
    nb = _read(name)
    nbformat.validate(nb)
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert code, f"{name} has no code cells"
    for i, cell in enumerate(code):
        assert cell.outputs == [], f"{name}: code cell {i} has outputs (strip them)"
        assert cell.execution_count is None, f"{name}: code cell {i} has an execution count"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_public_api_only(name):
    """The notebooks teach the public API: no jetimg name with a leading underscore."""
    private = re.compile(r"\bjetimg(\.\w+)*\._(?!_)|\bfrom\s+jetimg\S*\s+import\s+.*\b_(?!_)")
    for cell in _read(name).cells:
        if cell.cell_type == "code":
            assert not private.search(cell.source), f"{name}: private name in\n{cell.source}"


@pytest.mark.slow
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs(name, tmp_path):
    """Every cell runs without an error, on a temporary copy, in a temporary directory."""
    copy = tmp_path / name
    shutil.copyfile(NOTEBOOKS_DIR / name, copy)
    nb = nbformat.read(copy, as_version=4)
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    client = NotebookClient(nb, km=_kernel_manager(tmp_path), timeout=CELL_TIMEOUT,
                            resources={"metadata": {"path": str(workdir)}})
    # raises CellExecutionError at the first failing cell; cleanup_kc: shut the kernel down
    # and close its channels afterwards (nbclient leaves a kernel it was handed running)
    client.execute(cleanup_kc=True)
    errors = [output for cell in nb.cells if cell.cell_type == "code"
              for output in cell.outputs if output.output_type == "error"]
    assert not errors, f"{name}: {errors[0].ename}: {errors[0].evalue}"
    assert all(cell.execution_count for cell in nb.cells if cell.cell_type == "code")
    assert list(workdir.iterdir()) == [], f"{name} wrote into its working directory"
