"""Run a chapter once in smoke mode, and try each of its mutations in a fork of the run.

The chapter's code cells run in order, in one IPython shell in a process of their own,
as a kernel runs them: figures are drawn as the inline backend draws them, and a cell
marked ``# NBVAL_CHECK_OUTPUT`` must print what the notebook stores (nbval's lax mode,
which ``make test`` used before). Before a cell that a mutation breaks, the process
forks: the child runs the broken cell and the cells after it until one raises (or the
chapter ends) and reports which cell and what it raised. A second child, the control,
runs the same cells unbroken and must get past the cell where the broken run stopped,
so that the failure is the mutation's and not the fork's. The parent then runs the cell
as it is and goes on. A mutation so costs the cells from its own to its check, not the
chapter from the top, and nothing needs restoring: each child starts from the state the
chapter had just before the cell.

Everything computes on one thread (``OMP_NUM_THREADS=1``): torch's OpenMP pool does not
survive a fork (a child that used the parent's would hang), and the parent and its
children then compute alike. ``make test`` runs two chapters at once, one per core.

The tests call ``chapter_run(notebook)``, which runs a chapter once per test process
with all its rows from ``tests/mutations.py``. As a script, the runner itself:

    python tests/chapter_forks.py NOTEBOOK MUTATIONS.json OUTCOMES.json

MUTATIONS.json lists ``{"index": code cell's index among the notebook's cells, "source":
the cell's broken source}``. OUTCOMES.json gets ``"chapter"``: None, or the error of the
unbroken chapter ("Name in cell k"), which stops the run; ``"outputs"``: the check-output
cells that printed something else (``{"cell", "expected", "got"}``); ``"seconds"``: the
unbroken run's; and ``"outcomes"``, one per mutation, in order: ``{"error": exception name
or None, "cell": index where it was raised (None if the chapter ran to the end),
"control": None if the unbroken cells ran past that cell, else "Name in cell k"}``.
Set ``CHAPTER_FORKS_LOG=1`` to print each cell's seconds to stderr.
"""

from __future__ import annotations

import functools
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD_TIMEOUT_S = int(os.environ.get("CHAPTER_FORKS_TIMEOUT", "600"))  # seconds a child may take
CHECK_OUTPUT = "# NBVAL_CHECK_OUTPUT"
ROOT = Path(__file__).resolve().parent.parent


# -- in the chapter's process ------------------------------------------------------


def run_cell(shell, source: str, capture: bool = False) -> tuple[str | None, str]:
    """Run one cell's source: the name of the exception it raised (or None), and what it
    printed when ``capture``."""
    from IPython.utils.capture import capture_output

    start = time.perf_counter()
    with capture_output(stdout=capture, stderr=False, display=False) as printed:
        result = shell.run_cell(source, store_history=False)
    error = result.error_before_exec or result.error_in_exec
    drawing = _draw_figures()
    if os.environ.get("CHAPTER_FORKS_LOG"):
        first = source.strip().splitlines()[0][:60] if source.strip() else ""
        print(f"[{os.getpid()}] {time.perf_counter() - start:7.2f} s  {first}", file=sys.__stderr__, flush=True)
    error = error or drawing
    return (None if error is None else type(error).__name__), printed.stdout if capture else ""


def _draw_figures() -> Exception | None:
    """Render and close every open figure, as the inline backend does after each cell
    (a label that matplotlib cannot typeset raises only when it is drawn); the error."""
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is None:
        return None
    try:
        for number in pyplot.get_fignums():
            pyplot.figure(number).savefig(io.BytesIO(), format="png", bbox_inches="tight")
    except Exception as error:  # noqa: BLE001 - the cell's error, as a kernel would show it
        import traceback

        traceback.print_exc(file=sys.stdout)
        return error
    finally:
        pyplot.close("all")
    return None


def run_cells(shell, sources: list[str | None], first: int, last: int | None = None) -> tuple[str | None, int | None]:
    """Run ``sources[first:]`` (to ``last`` inclusive); the first error's name and cell index."""
    end = len(sources) if last is None else last + 1
    for index in range(first, end):
        if sources[index] is not None:  # None: a Markdown cell
            error, _ = run_cell(shell, sources[index])
            if error is not None:
                return error, index
    return None, None


def in_child(task) -> tuple[str | None, int | None]:
    """``task()`` in a forked child, on one thread, printing nothing: what it returned."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: answer through the pipe and leave without cleaning up
        os.close(read_end)
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.dup2(devnull, 2)
            if "torch" in sys.modules:
                sys.modules["torch"].set_num_threads(1)
            outcome = task()
        except BaseException as error:  # noqa: BLE001 - any failure is the answer
            outcome = (f"runner: {type(error).__name__}: {error}", None)
        os.write(write_end, json.dumps(outcome).encode())
        os._exit(0)
    os.close(write_end)
    return _answer(pid, read_end)


def _answer(pid: int, read_end: int) -> tuple[str | None, int | None]:
    import select
    import signal

    chunks = []
    while True:
        ready, _, _ = select.select([read_end], [], [], CHILD_TIMEOUT_S)
        if not ready:
            os.kill(pid, signal.SIGKILL)
            chunks = [json.dumps([f"runner: no answer in {CHILD_TIMEOUT_S} s", None]).encode()]
            break
        chunk = os.read(read_end, 65536)
        if not chunk:
            break
        chunks.append(chunk)
    os.close(read_end)
    os.waitpid(pid, 0)
    if not chunks:
        return "runner: the child died without an answer", None
    error, cell = json.loads(b"".join(chunks))
    return error, cell


def _try_mutations_at(shell, sources, index, mutations, numbers, outcomes) -> None:
    """Each mutation of cell ``index`` in a child, then one control to the furthest stop."""
    for number in numbers:
        broken = sources[:index] + [mutations[number]["source"]] + sources[index + 1 :]
        error, cell = in_child(lambda broken=broken: run_cells(shell, broken, index))
        outcomes[number] = {"error": error, "cell": cell, "control": None}
    stops = [outcomes[n]["cell"] for n in numbers if outcomes[n]["cell"] is not None]
    if not stops:
        return
    control = in_child(lambda: run_cells(shell, sources, index, max(stops)))
    for number in numbers:
        cell = outcomes[number]["cell"]
        if control[0] is not None and cell is not None and control[1] <= cell:
            outcomes[number]["control"] = f"{control[0]} in cell {control[1]}"


def _stored_stdout(cell: dict) -> str | None:
    """What a check-output cell printed when the notebook was saved (None: not only stdout)."""
    outputs = cell.get("outputs", [])
    if any(o["output_type"] != "stream" or o.get("name") != "stdout" for o in outputs):
        return None
    return "".join("".join(o["text"]) if isinstance(o["text"], list) else o["text"] for o in outputs)


def run_chapter(notebook: dict, mutations: list[dict]) -> dict:
    """Run the chapter, forking at each mutated cell (the module's docstring)."""
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    cells = notebook["cells"]
    sources = ["".join(c["source"]) if c["cell_type"] == "code" else None for c in cells]
    outcomes: list[dict | None] = [None] * len(mutations)
    by_cell: dict[int, list[int]] = {}
    for number, mutation in enumerate(mutations):
        by_cell.setdefault(mutation["index"], []).append(number)
    chapter, outputs, start = None, [], time.perf_counter()
    for index, source in enumerate(sources):
        if index in by_cell:
            _try_mutations_at(shell, sources, index, mutations, by_cell[index], outcomes)
        if source is None:
            continue
        checked = source.lstrip().startswith(CHECK_OUTPUT)
        error, printed = run_cell(shell, source, capture=checked)
        if error is not None:
            chapter = f"{error} in cell {index}"
            break
        if checked and printed != _stored_stdout(cells[index]):
            outputs.append({"cell": index, "expected": _stored_stdout(cells[index]), "got": printed})
    for number, outcome in enumerate(outcomes):
        if outcome is None:  # at or after the cell where the unbroken chapter failed
            outcomes[number] = {"error": None, "cell": None, "control": f"the chapter failed first ({chapter})"}
    seconds = time.perf_counter() - start
    return {"chapter": chapter, "outputs": outputs, "seconds": seconds, "outcomes": outcomes}


def main(argv: list[str]) -> None:
    notebook_path, mutations_path, outcomes_path = (Path(arg).resolve() for arg in argv)
    notebook = json.loads(notebook_path.read_text())
    mutations = json.loads(mutations_path.read_text())
    os.environ.setdefault("MPLBACKEND", "Agg")
    sys.path[0] = ""  # the working folder (the client's folder), as in a kernel, not tests/
    outcomes_path.write_text(json.dumps(run_chapter(notebook, mutations)))


# -- in the test process --------------------------------------------------------------


def run(notebook, mutations=(), folder: Path = ROOT / "notebooks") -> dict:
    """Run ``notebook`` (a dict or NotebookNode) from ``folder`` in smoke mode, in a process
    of its own, trying each (cell index, broken source) of ``mutations``: the outcomes."""
    with tempfile.TemporaryDirectory() as scratch:
        paths = [Path(scratch) / name for name in ("notebook.ipynb", "mutations.json", "outcomes.json", "log")]
        paths[0].write_text(json.dumps(notebook))
        paths[1].write_text(json.dumps([{"index": i, "source": source} for i, source in mutations]))
        # an empty data folder: chapters read the offline sample, as in CI, even where
        # data/ holds the full MNIST for `make execute`
        (Path(scratch) / "no-data").mkdir()
        env = {**os.environ, "VAELIB_SMOKE": "1", "MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1"}
        env["VAELIB_DATA"] = str(Path(scratch) / "no-data")
        with paths[3].open("w") as log:  # what the chapter printed, tracebacks included
            runner = subprocess.run(
                [sys.executable, __file__, *map(str, paths[:3])], env=env, cwd=folder, stdout=log, stderr=log
            )
        printed = paths[3].read_text()
        if runner.returncode != 0:
            raise RuntimeError(f"the chapter runner failed ({runner.returncode}):\n{printed[-3000:]}")
        return {**json.loads(paths[2].read_text()), "log": printed[-3000:]}


@functools.cache
def chapter_run(name: str) -> dict:
    """One run of ``notebooks/name`` with every row of its that still applies: the result
    of ``run``, with ``"rows"``: the outcome of each such row, by row."""
    from mutations import MUTATIONS, mutated_notebook

    rows, broken = [], []
    for mutation in (m for m in MUTATIONS if m.notebook == name):
        try:
            nb, index = mutated_notebook(mutation)
        except LookupError:  # that row's own test says so
            continue
        rows.append(mutation)
        broken.append((index, nb.cells[index].source))
    result = run(json.loads((ROOT / "notebooks" / name).read_text()), broken)
    return {**result, "rows": dict(zip(rows, result["outcomes"]))}


if __name__ == "__main__":
    main(sys.argv[1:])
