"""The student edition drops every solution, keeps everything else, and still runs.

It runs because its code is its chapter's code up to the exercises, cell for cell, and
then comments: ``tests/test_chapters_run.py`` runs every chapter, and so that prefix,
in smoke mode, so the student edition needs no run of its own."""

import ast
import importlib.util
import json
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
spec = importlib.util.spec_from_file_location("student_edition", ROOT / "tools" / "student_edition.py")
student_edition = importlib.util.module_from_spec(spec)
spec.loader.exec_module(student_edition)


@pytest.fixture(scope="module")
def student_dir(tmp_path_factory):
    target = tmp_path_factory.mktemp("student")
    student_edition.main(str(ROOT / "notebooks"), str(target))
    return target


def _code_before_exercises(nb):
    code = []
    for cell in nb["cells"]:
        if cell["cell_type"] == "markdown" and "## Exercises" in "".join(cell["source"]):
            break
        if cell["cell_type"] == "code":
            code.append("".join(cell["source"]))
    return code


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_solutions_become_todos_and_the_rest_is_kept(path, student_dir):
    original = json.loads(path.read_text())
    student = json.loads((student_dir / path.name).read_text())
    markdown = "".join("".join(c["source"]) for c in student["cells"] if c["cell_type"] == "markdown")
    assert "solution-start" not in markdown and "solution-end" not in markdown
    labels = [line.split()[-1] for c in original["cells"] for line in "".join(c["source"]).splitlines() if line.startswith(":label: ")]
    todos = ["".join(c["source"]) for c in student["cells"] if "".join(c["source"]).startswith("# TODO (exercise")]
    assert len(labels) >= 3 and todos == [f"# TODO (exercise {label}): write your solution here.\n" for label in labels]
    assert all(f":label: {label}" in markdown for label in labels)  # the exercises themselves stay
    kept = [s for s in ("".join(c["source"]) for c in student["cells"] if c["cell_type"] == "code") if s not in todos]
    assert kept == _code_before_exercises(original)  # every solution's code is gone, nothing else
    assert all(c.get("outputs", []) == [] and c.get("execution_count") is None for c in student["cells"] if c["cell_type"] == "code")


def test_unclosed_solution_is_an_error():
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("```{solution-start} ex-1\n:class: dropdown\n```\nstart")]
    with pytest.raises(ValueError, match="the solution of ex-1 has no solution-end"):
        student_edition.student_notebook(nb)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_student_notebooks_run_as_their_chapters_do(path, student_dir):
    """The student edition's code: the chapter's code cells up to the exercises, in order,
    then cells that hold nothing to run. The chapter's own run covers it."""
    student = nbformat.read(student_dir / path.name, as_version=4)
    original = nbformat.read(path, as_version=4)
    code = [cell.source for cell in student.cells if cell.cell_type == "code"]
    prefix = [cell.source for cell in original.cells if cell.cell_type == "code"][: len(_code_before_exercises(original))]
    assert code[: len(prefix)] == prefix
    assert all(ast.parse(source).body == [] for source in code[len(prefix) :])  # comments only
    assert student.metadata.get("kernelspec") == original.metadata.get("kernelspec")
