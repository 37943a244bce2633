"""notebooks/colorize.ipynb runs from top to bottom, headless (nbclient and an IPython
kernel, in a temporary folder): it cannot rot. Its pictures come out as images."""
import os
import shutil

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

NOTEBOOK = os.path.join(os.path.dirname(__file__), os.pardir, "notebooks", "colorize.ipynb")


def test_the_notebook_runs_and_shows_its_pictures(tmp_path):
    shutil.copy(NOTEBOOK, tmp_path / "colorize.ipynb")
    nb = nbformat.read(str(tmp_path / "colorize.ipynb"), as_version=4)
    # the kernel "python3" runs this interpreter (jupyter_client puts sys.executable for "python")
    client = nbclient.NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    cells = [c for c in nb.cells if c.cell_type == "code"]
    errors = [o for c in cells for o in c.outputs if o.output_type == "error"]
    assert not errors, errors
    images = [c for c in cells if any("image/png" in o.get("data", {}) for o in c.outputs)]
    assert len(images) == 3  # before/after, the vibrances, the fine-tuned model
    assert (tmp_path / "notebook-run" / "model.safetensors").exists()
    assert len(os.listdir(tmp_path / "notebook-photos")) == 8
