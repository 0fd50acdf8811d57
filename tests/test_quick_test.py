"""make quick's choice of what to run for a change (tools/quick_test.py)."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))

import quick_test  # noqa: E402


NO_CHAPTER = (
    "not test_the_chapter_runs_and_prints_what_it_stores and not test_the_chapter_fails_when_the_formula_is_broken"
)


def test_a_changed_chapter_adds_its_run_and_mutation_rows():
    arguments = quick_test.pytest_arguments(["notebooks/06_rate_distortion_and_beta.ipynb", "vaelib/train.py"])
    assert arguments == ["tests", "-k", f"{NO_CHAPTER} or 06_rate_distortion_and_beta"]


def test_a_change_outside_the_chapters_runs_no_chapter():
    arguments = quick_test.pytest_arguments(["vaelib/train.py", "notebooks/99_deleted.ipynb", "README.md"])
    assert arguments == ["tests", "-k", NO_CHAPTER]


def test_the_selection_keeps_the_changed_chapters_runs_and_drops_the_others():
    keep = quick_test.pytest_arguments(["notebooks/01_densities_and_expectation.ipynb"])[2]
    collected = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-k", keep,
         "tests/test_checks_fail_when_broken.py", "tests/test_chapters_run.py", "tests/test_utils.py"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout.splitlines()
    for name in quick_test.CHAPTER_TESTS:
        runs = [line for line in collected if name in line]
        assert runs and all("01_densities_and_expectation" in line for line in runs)
    assert any("test_the_text_to_break_is_still_in_its_cell" in line for line in collected)
    assert any("tests/test_utils.py" in line for line in collected)


def test_untracked_files_count_as_changed():
    scratch = ROOT / "tests" / "zz_untracked_scratch.txt"
    scratch.write_text("{}")
    try:
        assert "tests/zz_untracked_scratch.txt" in quick_test.changed_files("HEAD")
    finally:
        scratch.unlink()
