# The course's commands. `make book` and `make test` are the README's two commands;
# each sets up .venv first (once: a stamp file records what was installed).
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
NOTEBOOKS := $(sort $(wildcard notebooks/*.ipynb))

.PHONY: help venv book translations test quick unit execute pin format student bench site-check clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

# Reinstall only when requirements.txt or pyproject.toml is newer than the stamp.
$(STAMP): requirements.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -q -r requirements.txt
	@touch $@

venv: $(STAMP)  ## create .venv and install requirements.txt (skipped when up to date)

book: $(STAMP)  ## build both editions: English in _build/html, Chinese in _build/html/zh (warnings are errors)
	$(VENV)/bin/jupyter-book build . -W -n --keep-going
	$(PY) tools/build_zh.py -W -n --keep-going
	@test -f _build/html/index.html && test -f _build/html/zh/index.html && echo "site: _build/html/index.html, _build/html/zh/index.html"

translations: $(STAMP)  ## after changing English text: refresh locale/zh_CN's catalogs, then translate what check_translations.py lists
	rm -rf _build/i18n  # its own doctrees: the html build's do not suit the gettext builder
	$(VENV)/bin/jupyter-book build . --builder custom --custom-builder gettext --path-output _build/i18n
	$(VENV)/bin/sphinx-intl update -p _build/i18n/_build/gettext -l zh_CN -d locale
	$(PY) tools/check_translations.py || true

# Two pytest-xdist workers, one per core, each computing on one thread; a chapter's
# run and its mutation rows are one test class, which loadscope keeps on one worker,
# so each chapter runs once; the classes come slowest first, in the order defined.
PYTEST_FAST := OMP_NUM_THREADS=1 $(PY) -m pytest -n 2 --dist loadscope --no-loadscope-reorder

test: $(STAMP)  ## unit tests, every chapter in smoke mode and its mutations, then the strict book build
	VAELIB_SMOKE=1 $(PYTEST_FAST) tests --durations=10 \
	    --cov=vaelib --cov-report=term-missing --cov-fail-under=90
	$(MAKE) --no-print-directory book

# BASE: the commit to compare with (HEAD: uncommitted work; BASE=main for a branch)
BASE ?= HEAD
quick: $(STAMP)  ## only what a change touches: unit tests, changed chapters and their mutations (BASE=HEAD)
	$(PY) tools/quick_test.py $(BASE)

unit: $(STAMP)  ## only vaelib's unit tests and the notebook hygiene tests (no chapter runs)
	VAELIB_SMOKE=1 $(PYTEST_FAST) tests \
	    -k "not test_the_chapter_runs_and_prints_what_it_stores and not test_the_chapter_fails_when_the_formula_is_broken"

execute: $(STAMP)  ## re-run every notebook in place, full mode, fresh kernel (refreshes committed outputs)
	env -u VAELIB_SMOKE $(PY) tools/execute_notebooks.py $(NOTEBOOKS)

format: $(STAMP)  ## reflow the notebooks' code to 79 columns (ruff); long strings need splitting by hand
	$(VENV)/bin/ruff format notebooks

pin: $(STAMP)  ## point every notebook's Colab badge and bootstrap at repository.branch in _config.yml
	$(PY) tools/pin_colab.py $(NOTEBOOKS)

student: $(STAMP)  ## the student edition: solutions replaced by TODO cells, outputs cleared, in _build/student
	$(PY) tools/student_edition.py notebooks _build/student

site-check: book  ## visit every page of the built site in Debian's chromium; screenshots in _build/screenshots
	$(PY) tools/site_check.py _build/html _build/screenshots

# Options: make bench BENCH_ARGS="--device cuda --epochs 10 --dataset mnist --data-root data"
bench: $(STAMP)  ## seconds per epoch: the source's DataLoader pipeline vs vaelib.fit (see bench/)
	$(PY) bench/bench_fit.py $(BENCH_ARGS)

clean:  ## remove the built site (keeps .venv and data/)
	rm -rf _build
