"""The maintainers' quick loop: test only what a change touches (``make quick``).

A change is what differs between the working tree and a base commit (``HEAD`` by
default, so uncommitted work; ``make quick BASE=main`` for a branch), untracked files
included. What runs, in smoke mode:

- vaelib's unit tests and the hygiene tests (``tests/``), every time;
- each changed chapter's run in smoke mode and its mutation rows, as ``make test`` runs
  them (``tests/test_chapters_run.py``, ``tests/test_checks_fail_when_broken.py``).

A change to vaelib can change what any chapter prints, so ``make test`` stays the gate
before a merge; this loop is for the minutes in between.

    python tools/quick_test.py [BASE] [-- extra pytest arguments]
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def changed_files(base: str) -> list[str]:
    """Paths, relative to the repository root, that differ from ``base`` or are untracked."""
    def git(*args: str) -> list[str]:
        out = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout
        return [line for line in out.splitlines() if line]

    return sorted(set(git("diff", "--name-only", base)) | set(git("ls-files", "--others", "--exclude-standard")))


CHAPTER_TESTS = ("test_the_chapter_runs_and_prints_what_it_stores", "test_the_chapter_fails_when_the_formula_is_broken")


def changed_chapters(changed: list[str]) -> list[str]:
    """The chapters among ``changed`` that still exist, as notebooks/NN_name.ipynb."""
    return sorted(
        path for path in changed if path.startswith("notebooks/") and path.endswith(".ipynb") and (ROOT / path).is_file()
    )


def pytest_arguments(changed: list[str]) -> list[str]:
    """What pytest runs for ``changed``: ``tests``, with a -k that keeps every test but the
    chapter runs and mutation rows of chapters that did not change."""
    stems = [Path(path).stem for path in changed_chapters(changed)]
    keep = " or ".join([" and ".join(f"not {name}" for name in CHAPTER_TESTS), *stems])
    return ["tests", "-k", keep]


def main(argv: list[str]) -> int:
    extra = argv[argv.index("--") + 1 :] if "--" in argv else []
    argv = argv[: argv.index("--")] if "--" in argv else argv
    base = argv[0] if argv else "HEAD"
    changed = changed_files(base)
    arguments = pytest_arguments(changed)
    chapters = changed_chapters(changed)
    print(f"changed since {base}: {len(changed)} files; chapters to run: {', '.join(chapters) or 'none'}")
    env = {**os.environ, "VAELIB_SMOKE": "1", "OMP_NUM_THREADS": "1"}  # as make test runs them
    command = [sys.executable, "-m", "pytest", "-n", "2", "--dist", "loadscope", "--no-loadscope-reorder", *arguments, *extra]
    return subprocess.run(command, cwd=ROOT, env=env).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
