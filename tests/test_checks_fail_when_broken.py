"""Every displayed equation's check fails when the formula is wrong.

Each row of MUTATIONS breaks the code that evaluates one displayed equation (drops a
factor, flips a sign, drops a constant, swaps a product for a quotient) in its
chapter. The test asserts that the chapter then stops with an AssertionError: the
chapter's own check caught the broken formula. A row whose text is no longer in its
cell fails with a message that names the row, so a maintainer who edits a cell updates
the table with it.

The rows run in ``tests/test_chapters_run.py``, beside the chapter's own run: each
chapter runs once, in smoke mode, in a process of its own (``tests/chapter_forks.py``):
before each broken cell the process forks, the child runs
the broken cell and the cells after it until one raises, and a control child runs the
same cells unbroken, which must get past the cell where the broken run stopped. So a
row costs the cells from its own to its check, not a run of the chapter from the top,
and every row is still shown to fail its chapter's check, and that check alone.

A row names its cell by the cell's id (nbformat 4.5), which stays put when cells
are added or moved. To print a notebook's cell ids beside their first lines:

    python tests/test_checks_fail_when_broken.py --cells notebooks/NN_name.ipynb

To try a new mutation before adding its row:

    python tests/test_checks_fail_when_broken.py notebooks/NN_name.ipynb CELL OLD NEW

The rows are in ``tests/mutations.py``. To run one chapter with its rows:
``pytest tests/test_chapters_run.py -k NN_name``. This file checks the table (every
displayed equation has a row, every row's text is in its cell) and the runner.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import nbformat
import pytest
from chapter_forks import run
from mutations import AE, MUTATIONS, Mutation, mutated_notebook

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
EQUATION = re.compile(r"^\$\$\n(.*?)\n\$\$ *(\((?P<label>[^)]+)\))?", re.M | re.S)


def displayed_equations(path: Path) -> list[str | None]:
    """The labels of a notebook's displayed equations, in order (None: unlabelled)."""
    nb = nbformat.read(path, as_version=4)
    return [
        match.group("label")
        for cell in nb.cells
        if cell.cell_type == "markdown"
        for match in EQUATION.finditer(cell.source)
    ]


def test_every_displayed_equation_is_labelled_and_has_a_mutation():
    listed = {m.equation for m in MUTATIONS}
    for path in NOTEBOOKS:
        labels = displayed_equations(path)
        assert None not in labels, f"{path.name}: a displayed equation has no label, so no row can name it"
        missing = [label for label in labels if label not in listed]
        assert not missing, f"{path.name}: no mutation row for {missing}"
    every_label = {label for path in NOTEBOOKS for label in displayed_equations(path)}
    stale = [str(m) for m in MUTATIONS if m.equation not in every_label]
    assert not stale, f"rows name equations that no notebook displays: {stale}"


@pytest.mark.parametrize("mutation", MUTATIONS, ids=lambda m: f"{m.equation}:{m.new[:30]}")
def test_the_text_to_break_is_still_in_its_cell(mutation):
    mutated_notebook(mutation)  # raises LookupError naming the row


def test_a_row_whose_text_has_gone_names_itself():
    stale = Mutation("ch0-autoencoder", AE, _first_code_cell_id(AE), "text that is in no cell", "x")
    with pytest.raises(LookupError, match=r"update the row ch0-autoencoder .*occurs 0 times"):
        mutated_notebook(stale)
    with pytest.raises(LookupError, match="has no code cell with id"):
        mutated_notebook(stale._replace(cell="no-such-cell"))


def _run(nb, mutations):
    return run(nb, mutations, folder=ROOT)


def _notebook(*sources: str) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# a chapter")] + [nbformat.v4.new_code_cell(s) for s in sources]
    return nb


def test_the_runner_tells_a_caught_mutation_from_an_uncaught_one():
    nb = _notebook("x = 1", "y = 2 * x", "z = y + 1", "assert y == 2")
    result = _run(nb, [(2, "y = 3 * x"), (2, "y = 2 * x + 0"), (3, "z = y + 1 / 0")])
    assert result["chapter"] is None
    caught, missed, other = result["outcomes"]
    assert caught == {"error": "AssertionError", "cell": 4, "control": None}
    assert missed == {"error": None, "cell": None, "control": None}
    assert other["error"] == "ZeroDivisionError" and other["cell"] == 3


def test_a_failure_the_unbroken_cells_share_is_not_the_mutations():
    # the control runs in a fork as the broken cells do: a check that fails in any fork
    # (here, one that compares process ids) fails the control too, and is reported
    nb = _notebook("import os\nparent = os.getpid()", "x = 1", "assert os.getpid() == parent and x == 1")
    result = _run(nb, [(2, "x = 2")])
    assert result["outcomes"][0] == {"error": "AssertionError", "cell": 3, "control": "AssertionError in cell 3"}
    assert result["chapter"] is None  # the chapter itself, unforked, runs to the end


def test_a_chapter_that_fails_unbroken_is_reported():
    result = _run(_notebook("x = 1", "assert x == 2", "y = 3"), [(3, "y = 4")])
    assert result["chapter"] == "AssertionError in cell 2"
    assert result["outcomes"][0]["control"].startswith("the chapter failed first")


def test_torch_computes_in_the_forks_after_the_chapter_used_its_threads(monkeypatch):
    # a chapter that asks torch for two threads starts its OpenMP pool; the pool does not
    # survive a fork, and a child that used it would hang (the runner gives it one thread)
    monkeypatch.setenv("CHAPTER_FORKS_TIMEOUT", "60")
    nb = _notebook(
        "import torch\ntorch.set_num_threads(2)\na = torch.randn(400, 400)\nb = a @ a\n"
        "c = (torch.randn(10**6) * 2).sum()",
        "d = a @ a",
        "assert torch.allclose(b, d)",
    )
    result = _run(nb, [(2, "d = a @ a.T")])
    assert result["outcomes"][0] == {"error": "AssertionError", "cell": 3, "control": None}


def _first_code_cell_id(name: str) -> str:
    nb = nbformat.read(ROOT / "notebooks" / name, as_version=4)
    return next(cell.id for cell in nb.cells if cell.cell_type == "code")


def _main(argv: list[str]) -> None:
    if argv[:1] == ["--cells"]:
        for cell in nbformat.read(argv[1], as_version=4).cells:
            first = cell.source.strip().splitlines()[0][:70] if cell.source.strip() else ""
            print(f"{cell.id}  {cell.cell_type:8}  {first}")
        return
    path, cell, old, new = argv
    mutation = Mutation("(trial)", Path(path).name, cell, old, new)
    nb, index = mutated_notebook(mutation)
    original = nbformat.read(ROOT / "notebooks" / mutation.notebook, as_version=4)
    result = run(original, [(index, nb.cells[index].source)])  # smoke mode
    outcome = result["outcomes"][0]
    if result["chapter"] is not None:
        print(f"the unbroken chapter fails first: {result['chapter']}")
    elif outcome["error"] is None:
        print(f"mutated cell {index}: ran to the end (the check did not fail)")
    else:
        control = "" if outcome["control"] is None else f"; but the unbroken cells failed too: {outcome['control']}"
        print(f"mutated cell {index}: {outcome['error']} in cell {outcome['cell']}{control}")


if __name__ == "__main__":
    _main(sys.argv[1:])
