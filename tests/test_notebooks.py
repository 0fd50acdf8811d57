"""Notebook hygiene: every chapter is in the book, stored from one clean run, and opens
with a Colab badge and bootstrap that agree with _config.yml."""

import json
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
REPO_URL = CONFIG["repository"]["url"].rstrip("/")
BRANCH = CONFIG["repository"]["branch"]


def _toc_files(node):
    if isinstance(node, dict):
        if "file" in node:
            yield node["file"]
        if "root" in node:
            yield node["root"]
        for value in node.values():
            yield from _toc_files(value)
    elif isinstance(node, list):
        for item in node:
            yield from _toc_files(item)


TOC = list(_toc_files(yaml.safe_load((ROOT / "_toc.yml").read_text())))


def _load(path):
    return json.loads(path.read_text())


def test_there_are_chapters_and_they_are_named_in_reading_order():
    assert NOTEBOOKS, "notebooks/ holds no notebook"
    for path in NOTEBOOKS:
        # chapters NN_name, then appendices A_name, B_name, ...: sorted by name
        assert re.fullmatch(r"(\d\d|[A-Z])_[a-z0-9_]+\.ipynb", path.name), path.name


def test_every_notebook_is_in_the_toc_and_every_toc_entry_exists():
    chapters = [entry for entry in TOC if entry.startswith("notebooks/")]
    assert sorted(f"notebooks/{p.stem}" for p in NOTEBOOKS) == sorted(chapters)
    assert chapters == sorted(chapters), "chapters must be listed in reading order"
    for entry in TOC:
        assert any((ROOT / f"{entry}{suffix}").is_file() for suffix in ("", ".md", ".ipynb")), entry
    assert TOC[:3] == ["book/intro", "book/notation", "book/setup"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_outputs_come_from_one_clean_run(path):
    code = [cell for cell in _load(path)["cells"] if cell["cell_type"] == "code"]
    assert [cell["execution_count"] for cell in code] == list(range(1, len(code) + 1))
    for cell in code:
        for output in cell["outputs"]:
            assert output["output_type"] != "error", f"error output stored: {output.get('evalue')}"
            text = "".join(output.get("text", "")) if output.get("name") == "stderr" else ""
            assert "Traceback" not in text and "Warning" not in text, text[:300]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_streams_are_stored_merged(path):
    """make execute joins consecutive chunks of one stream, so that a kernel's
    flushing does not show up as a diff."""
    for cell in _load(path)["cells"]:
        outputs = cell.get("outputs", [])
        for before, after in zip(outputs, outputs[1:]):
            same_stream = before["output_type"] == after["output_type"] == "stream"
            assert not (same_stream and before["name"] == after["name"]), "".join(after["text"])[:80]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_code_lines_fit_79_columns(path):
    """The book's code column holds 79 characters (book/_ext/static/code-width.css);
    make format reflows code, long strings are split by hand."""
    for cell in _load(path)["cells"]:
        if cell["cell_type"] == "code":
            for line in "".join(cell["source"]).splitlines():
                assert len(line) <= 79, f"{len(line)} characters: {line}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_kernelspec_is_python3(path):
    assert _load(path)["metadata"]["kernelspec"]["name"] == "python3"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_opens_with_colab_badge_and_colab_only_bootstrap(path):
    cells = _load(path)["cells"]
    owner_repo = REPO_URL.removeprefix("https://github.com/")
    badge = f"https://colab.research.google.com/github/{owner_repo}/blob/{BRANCH}/notebooks/{path.name}"
    first = "".join(cells[0]["source"])
    assert cells[0]["cell_type"] == "markdown" and first.startswith("# ")
    assert f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]({badge})" in first
    boot = cells[1]
    source = "".join(boot["source"])
    assert boot["cell_type"] == "code" and "hide-input" in boot["metadata"].get("tags", [])
    assert 'if "google.colab" in sys.modules:' in source
    assert f'"vaelib @ git+{REPO_URL}@{BRANCH}"' in source
    assert "torch" not in source.split("if")[1].replace("torch is left alone", "")  # never installs torch
    assert boot["outputs"] == []  # outside Colab it does nothing


def test_colab_links_are_pinned_to_the_release_tag_of_this_vaelib():
    """Badges and bootstrap use repository.branch (checked above); it must be the tag
    of the vaelib in this checkout, so that Colab installs the code the book shows."""
    import tomllib

    import vaelib

    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert vaelib.__version__ == version
    assert BRANCH == f"v{version}", "set repository.branch in _config.yml to the release tag, then run make pin"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_code_cell_is_introduced_by_a_colon(path):
    cells = _load(path)["cells"]
    for before, cell in zip(cells[1:], cells[2:]):
        if cell["cell_type"] == "code" and before["cell_type"] == "markdown":
            text = "".join(before["source"]).rstrip()
            assert text.endswith(":") or text.endswith("```"), text[-80:]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_function_is_defined_in_two_notebooks(path):
    defined = {p: set(re.findall(r"^def (\w+)", "".join("".join(c["source"]) + "\n" for c in _load(p)["cells"] if c["cell_type"] == "code"), re.M)) for p in NOTEBOOKS}
    for other, names in defined.items():
        if other != path:
            assert not defined[path] & names, f"{path.name} and {other.name} both define {defined[path] & names}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_displayed_equation_is_checked_by_an_assert(path):
    """After a Markdown cell with a displayed equation ($$), a code cell that asserts
    must come before the next displayed equation."""
    pending = None
    for cell in _load(path)["cells"]:
        source = "".join(cell["source"])
        if cell["cell_type"] == "markdown" and "$$" in source:
            assert pending is None, f"equation not checked before the next one: {pending[:80]!r}"
            pending = source
        elif cell["cell_type"] == "code" and pending is not None and re.search(r"^\s*assert ", source, re.M):
            pending = None
    assert pending is None, f"equation never checked: {pending[:80]!r}"


REQUIRED_TERMS = [
    "prior", "posterior", "likelihood", "evidence", "marginal likelihood", "ELBO", "KL divergence",
    "latent space", "encoder", "decoder", "amortized inference", "reparameterization",
    "importance sampling", "posterior collapse",
    # chapters 6 and 7
    "rate", "distortion", "active unit", "KL warm-up", "free bits",
    "conditional VAE", "convolution", "transposed convolution",
]


def test_glossary_defines_each_required_term_in_english_and_chinese():
    text = (ROOT / "book" / "glossary.md").read_text()
    block = text.split("```{glossary}")[1].split("```")[0]
    entries = block.strip().split("\n\n")
    assert len(entries) >= len(REQUIRED_TERMS) - 1  # evidence and marginal likelihood share one
    names = {}
    for entry in entries:
        lines = entry.strip().splitlines()
        terms = [line for line in lines if not line.startswith(" ")]
        definition = " ".join(line.strip() for line in lines if line.startswith(" "))
        for term in terms:
            names[term] = (terms, definition)
    for term in REQUIRED_TERMS:
        assert term in names, term
        synonyms, definition = names[term]
        assert any(re.search(r"[\u4e00-\u9fff]", s) for s in synonyms), f"{term} has no Chinese name"
        assert "{doc}`" in definition and "notebooks/" in definition, f"{term} does not link its chapter"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_chapter_links_terms_to_the_glossary(path):
    markdown = "".join("".join(c["source"]) for c in _load(path)["cells"] if c["cell_type"] == "markdown")
    assert "{term}`" in markdown


CHAPTERS_WITH_EXPLORERS = {"05_mnist_vae_on_the_gpu.ipynb": 1, "07_conditional_and_convolutional_vaes.ipynb": 1}


def explorers_in(path) -> int:
    """How many latent explorers a notebook's stored outputs hold."""
    return sum(
        "".join(output.get("data", {}).get("text/html", "")).count('class="vaelib-explorer"')
        for cell in _load(path)["cells"]
        for output in cell.get("outputs", [])
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_chapters_5_and_7_store_their_latent_explorers(path):
    """Issue 14: the explorers are outputs, which the site shows and `make site-check`
    uses; a chapter that lost one, or gained one unplanned, fails here."""
    assert explorers_in(path) == CHAPTERS_WITH_EXPLORERS.get(path.name, 0)


@pytest.mark.parametrize("path", [NOTEBOOKS[0].parent / name for name in CHAPTERS_WITH_EXPLORERS], ids=str)
def test_stored_explorers_are_what_vaelib_renders_now(path):
    """An explorer's stored HTML must be `render` of its own data with today's vaelib:
    after a change to the explorer, re-run the chapters that show one (make execute)."""
    from vaelib.explorer import render

    for cell in _load(path)["cells"]:
        for output in cell.get("outputs", []):
            html = "".join(output.get("data", {}).get("text/html", ""))
            if 'class="vaelib-explorer"' in html:
                data = json.loads(re.search(r"^const data = (\{.*\});$", html, re.M).group(1))
                assert render(data) == html, f"{path.name}: re-run it; its explorer predates vaelib's explorer.py"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_line_inside_inline_math_starts_like_a_list_item(path):
    """Markdown reads a line that starts with "+ ", "- " or "* " as a new list item even
    inside $...$, which breaks the math on the page (and in the translation catalogs)."""
    for cell in _load(path)["cells"]:
        if cell["cell_type"] != "markdown":
            continue
        paragraph = []
        for line in "".join(cell["source"]).split("\n"):
            if not line.strip():
                paragraph = []
                continue
            if paragraph and re.match(r"\s*[-+*] ", line):
                assert "".join(paragraph).count("$") % 2 == 0, f"{path.name}: a list marker inside math: {line.strip()[:60]}"
            paragraph.append(line)
