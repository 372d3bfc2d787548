"""The notebooks in notebooks/ run top to bottom, and are committed without outputs.

Each notebook is executed with nbclient in a fresh ``python3`` kernel, from the notebooks/
folder (their paths are relative to it), with a generous per-cell timeout; any cell error fails
the test. The kernel must be this interpreter's (the venv's ipykernel), which a first, injected
cell checks: a ``python3`` kernelspec installed elsewhere (~/.local/share/jupyter) could
otherwise run the notebooks with another Python.

The kernel inherits this process's environment: ``PYTHONPATH`` (so a worktree's geoseg is the one
imported) and ``GEOSEG_NOTEBOOK_OUT``, set here to a temporary folder, where the notebooks write
instead of the repository's ``out/``: ``make test`` leaves the tree as it found it, and a user's
next ``geoseg run workflows/samples.yaml`` does not find the tests' outputs "up to date".
"""

import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS_DIR = REPO / "notebooks"
OUT_ENV = "GEOSEG_NOTEBOOK_OUT"
NOTEBOOKS = sorted(NOTEBOOKS_DIR.glob("*.ipynb"))
CELL_TIMEOUT_S = 600
KERNEL_CHECK = "import sys\nprint(sys.prefix)"


def test_the_notebooks_are_there() -> None:
    assert [p.name for p in NOTEBOOKS] == [
        "01-quickstart.ipynb",
        "02-change-between-dates.ipynb",
        "03-workflow-on-a-cluster.ipynb",
        "04-train-and-evaluate.ipynb",
    ]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_without_outputs(path: Path) -> None:
    """Outputs (images, tables, paths of this machine) do not belong in the repository: clear
    them before committing (Jupyter: Edit > Clear Outputs of All Cells; or
    ``jupyter nbconvert --clear-output --inplace notebooks/*.ipynb``)."""
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    with_outputs = [
        i
        for i, cell in enumerate(nb.cells)
        if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None)
    ]
    assert not with_outputs, f"{path.name}: cells {with_outputs} have outputs or execution counts"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_outputs_go_where_the_tests_say(path: Path) -> None:
    """Every notebook takes its output folder from GEOSEG_NOTEBOOK_OUT when it is set (by hand,
    out/ as before); one that writes to a fixed ../out path would write into the repository."""
    code = "\n".join(
        cell.source for cell in nbformat.read(path, as_version=4).cells if cell.cell_type == "code"
    )
    assert OUT_ENV in code, f"{path.name}: does not read {OUT_ENV}"
    fixed = [line for line in code.splitlines() if "../out" in line and OUT_ENV not in line]
    assert not fixed, f"{path.name}: writes to a fixed path: {fixed}"


def tree_state() -> tuple[str, dict[str, int]]:
    """What a test could change in the repository: ``git status`` (untracked and modified
    files), and every file under the ignored out/ with its mtime."""
    status = subprocess.run(
        ["git", "status", "--porcelain"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout
    out = REPO / "out"
    files = {str(p): p.stat().st_mtime_ns for p in out.rglob("*")} if out.is_dir() else {}
    return status, files


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(OUT_ENV, str(tmp_path))  # the kernel inherits it, with PYTHONPATH
    before = tree_state()
    nb = nbformat.read(path, as_version=4)
    nb.cells.insert(0, nbformat.v4.new_code_cell(KERNEL_CHECK))
    client = NotebookClient(
        nb,
        timeout=CELL_TIMEOUT_S,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOKS_DIR)}},
    )
    client.execute()  # raises CellExecutionError, with the cell and its traceback, on an error
    printed = "".join(o.get("text", "") for o in nb.cells[0].outputs).strip()
    assert Path(printed).resolve() == Path(sys.prefix).resolve(), (
        f"the kernel runs {printed}, not this venv ({sys.prefix})"
    )
    errors = [
        o
        for cell in nb.cells
        if cell.cell_type == "code"
        for o in cell.outputs
        if o.output_type == "error"
    ]
    assert not errors
    assert any(tmp_path.iterdir()), f"{path.name} wrote nothing under {OUT_ENV}"
    assert tree_state() == before, f"{path.name} wrote into the repository"
