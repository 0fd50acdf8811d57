"""Every chapter runs from top to bottom in smoke mode, the cells whose output does not
depend on the mode print what the notebook stores, and every mutation row of the
chapter makes its check fail.

Each chapter runs once, in a process of its own (``tests/chapter_forks.py``), as a
kernel runs it: IPython runs the cells in order, from notebooks/, and draws every
figure as the inline backend does. A cell whose first line is ``# NBVAL_CHECK_OUTPUT``
must print exactly its stored output (nbval's lax mode). The same run tries the
chapter's rows of ``tests/mutations.py``, each in a fork of the run, beside an unbroken
control (``tests/test_checks_fail_when_broken.py`` says more).

A chapter's tests are one class, so that pytest-xdist's ``--dist loadscope`` (``make
test``) keeps them on one worker, where the chapter runs once. The classes are defined
slowest chapter first (``make test`` keeps that order, ``--no-loadscope-reorder``), so
that the two longest runs start at once instead of ending the suite on one core.
"""

from pathlib import Path

import pytest
from chapter_forks import CHECK_OUTPUT, chapter_run, run
from mutations import MUTATIONS, mutated_notebook

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
# seconds of each chapter's run with its rows, make test on 2 cores (issue 23); a
# chapter not listed goes first, as if slowest
SECONDS = {"06": 222, "07": 209, "04": 139, "05": 126, "02": 79, "A_": 61, "03": 60, "00": 32, "01": 21}


class _Chapter:
    notebook = ""

    def test_the_chapter_runs_and_prints_what_it_stores(self):
        result = chapter_run(self.notebook)
        assert result["chapter"] is None, f"{self.notebook} stopped with {result['chapter']}:\n{result['log']}"
        for mismatch in result["outputs"]:
            assert mismatch["got"] == mismatch["expected"], f"{self.notebook}, cell {mismatch['cell']}: printed other output"

    def check_mutation(self, mutation):
        _, index = mutated_notebook(mutation)
        result = chapter_run(mutation.notebook)
        assert result["chapter"] is None, f"{mutation.notebook} fails unbroken: {result['chapter']}\n{result['log']}"
        outcome = result["rows"][mutation]
        assert outcome["error"] is not None, f"the chapter still ran to the end with the formula broken: {mutation}"
        name, failed = outcome["error"], outcome["cell"]
        assert name == "AssertionError", f"{mutation} stopped the chapter with {name} in cell {failed}, not a failed check"
        assert failed >= index
        assert outcome["control"] is None, (
            f"{mutation} stopped the chapter in cell {failed}, but the unbroken cells stopped too "
            f"({outcome['control']}): the failure is not the mutation's"
        )


def _chapter_tests(path: Path) -> type:
    """The test class of one chapter: its run, and its mutation rows."""
    rows = [m for m in MUTATIONS if m.notebook == path.name]

    class Chapter(_Chapter):
        notebook = path.name

        if rows:

            @pytest.mark.parametrize("mutation", rows, ids=lambda m: f"{m.equation}:{m.new[:30]}")
            def test_the_chapter_fails_when_the_formula_is_broken(self, mutation):
                self.check_mutation(mutation)

    Chapter.__name__ = Chapter.__qualname__ = f"TestChapter_{path.stem}"
    return Chapter


for _path in sorted(NOTEBOOKS, key=lambda path: -SECONDS.get(path.name[:2], float("inf"))):
    globals()[f"TestChapter_{_path.stem}"] = _chapter_tests(_path)


def test_every_row_names_a_chapter_that_exists():
    names = {path.name for path in NOTEBOOKS}
    assert {m.notebook for m in MUTATIONS} <= names


def _notebook(*cells):
    return {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {},
        "cells": [
            {"cell_type": "code", "source": source, "outputs": outputs, "metadata": {}, "execution_count": None}
            for source, outputs in cells
        ],
    }


def _stdout(text):
    return [{"output_type": "stream", "name": "stdout", "text": text}]


def test_a_check_output_cell_must_print_what_is_stored_and_others_need_not():
    nb = _notebook(
        (f"{CHECK_OUTPUT}\nprint('same')", _stdout("same\n")),
        (f"{CHECK_OUTPUT}\nprint(2 + 2)", _stdout("5\n")),
        ("print('not checked')", _stdout("anything\n")),
    )
    result = run(nb, folder=ROOT)
    assert result["chapter"] is None
    assert result["outputs"] == [{"cell": 1, "expected": "5\n", "got": "4\n"}]


def test_a_cell_that_raises_stops_the_chapter_and_its_traceback_is_kept():
    result = run(_notebook(("x = 1", []), ("y = 1 / (x - 1)", []), ("z = 3", [])), folder=ROOT)
    assert result["chapter"] == "ZeroDivisionError in cell 1"
    assert "ZeroDivisionError" in result["log"]


def test_figures_are_drawn_so_that_a_label_matplotlib_cannot_typeset_fails():
    draw = "import matplotlib.pyplot as plt\nfig, ax = plt.subplots()\nax.set_title({!r})"
    result = run(_notebook((draw.format("$x^2$"), []), (draw.format("$x^{2$"), [])), folder=ROOT)
    assert result["chapter"] == "ValueError in cell 1"
