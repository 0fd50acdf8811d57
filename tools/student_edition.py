"""Write the student edition: every chapter with its solutions removed and outputs cleared.

Each exercise's solution, the prose inside ``{solution-start}`` ... ``{solution-end}``
and the code cells between them, is replaced by one code cell holding a marked TODO
comment, so the notebook still runs top to bottom. Used by ``make student``.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import nbformat

START = re.compile(r"```\{solution-start\}\s*(\S+)[^`]*```", re.S)
END = re.compile(r"```\{solution-end\}\s*```", re.S)


def _todo_cell(label: str):
    return nbformat.v4.new_code_cell(f"# TODO (exercise {label}): write your solution here.\n")


def student_notebook(nb):
    """A copy of ``nb`` without solutions or outputs (the input is not changed)."""
    out = nbformat.v4.new_notebook(metadata={k: v for k, v in nb.metadata.items() if k != "widgets"})
    label = None  # the exercise whose solution is being skipped, if any
    for cell in nb.cells:
        if cell.cell_type != "code":
            label = _split_markdown(cell.source, label, out.cells)
        elif label is None:
            out.cells.append(nbformat.v4.new_code_cell(cell.source, metadata=dict(cell.metadata)))
    if label is not None:
        raise ValueError(f"the solution of {label} has no solution-end")
    return out


def _split_markdown(text: str, label: str | None, cells: list) -> str | None:
    """Append the parts of one Markdown cell that lie outside solutions, and a TODO
    cell where each solution ends; return the label of a solution still open."""
    kept = ""
    while True:
        match = (START if label is None else END).search(text)
        if match is None:
            kept += text if label is None else ""
            break
        if label is None:
            kept, label = kept + text[: match.start()], match.group(1)
        else:
            _append_markdown(cells, kept)
            cells.append(_todo_cell(label))
            kept, label = "", None
        text = text[match.end() :]
    _append_markdown(cells, kept)
    return label


def _append_markdown(cells: list, text: str) -> None:
    if text.strip():
        cells.append(nbformat.v4.new_markdown_cell(text.strip()))


def main(source_dir: str = "notebooks", target_dir: str = "_build/student") -> list[Path]:
    target = Path(target_dir)
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for path in sorted(Path(source_dir).glob("*.ipynb")):
        nbformat.write(student_notebook(nbformat.read(path, as_version=4)), target / path.name)
        written.append(target / path.name)
    print(f"student edition: {len(written)} notebooks in {target}/")
    return written


if __name__ == "__main__":
    main(*sys.argv[1:])
