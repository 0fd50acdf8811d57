"""The Chinese edition's catalogs: complete, consistent with the English, and current.

The English notebooks and pages are the only source; locale/zh_CN/LC_MESSAGES/ holds a
translation of every message Sphinx extracts from them (README, "The Chinese edition").
"""

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[1]
CATALOGS = ROOT / "locale" / "zh_CN" / "LC_MESSAGES"

spec = importlib.util.spec_from_file_location("check_translations", ROOT / "tools" / "check_translations.py")
check_translations = importlib.util.module_from_spec(spec)
spec.loader.exec_module(check_translations)


def _ids(path: Path) -> set[str]:
    with path.open("rb") as handle:
        return {m.id for m in read_po(handle) if m.id}


def test_every_message_is_translated_and_keeps_math_code_links_and_numbers():
    catalogs = sorted(CATALOGS.rglob("*.po"))
    assert len(catalogs) >= 15  # every page of the book has one
    problems = [p for path in catalogs for p in check_translations.catalog_problems(path)]
    assert problems == [], f"{len(problems)} problems; run tools/check_translations.py:\n" + "\n".join(problems[:20])


@pytest.fixture(scope="module")
def fresh_templates(tmp_path_factory):
    """The message templates of today's English source (Sphinx's gettext builder)."""
    out = tmp_path_factory.mktemp("gettext")
    jupyter_book = Path(sys.executable).parent / "jupyter-book"
    subprocess.run([str(jupyter_book), "build", str(ROOT), "--builder", "custom", "--custom-builder", "gettext",
                    "--path-output", str(out)], check=True, capture_output=True)
    return out / "_build" / "gettext"


def test_catalogs_are_current_with_the_english_source(fresh_templates):
    """A changed English paragraph is a new message: main stays red until it is translated
    (`make translations`, then translate what tools/check_translations.py lists)."""
    templates = {p.relative_to(fresh_templates).with_suffix(""): p for p in fresh_templates.rglob("*.pot")}
    catalogs = {p.relative_to(CATALOGS).with_suffix(""): p for p in CATALOGS.rglob("*.po")}
    assert sorted(templates) == sorted(catalogs)
    for name, template in templates.items():
        new, gone = _ids(template) - _ids(catalogs[name]), _ids(catalogs[name]) - _ids(template)
        assert not new and not gone, f"{name}: {len(new)} English messages not in the catalog, {len(gone)} stale: run make translations"


@pytest.mark.parametrize(
    "english, chinese, says",
    [
        ("The bound is $\\log p(x)$, see {doc}`Chapter 5 <ch5>`.", "界是 $\\log p(x)$，见 {doc}`第 5 章 <ch5>`。", None),
        ("The bound is $\\log p(x)$ here.", "", "untranslated"),
        ("The bound is $\\log p(x)$ here.", "这里的界是 $\\log q(x)$。", "math differ"),
        ("It took 0.67 s per epoch on this CPU.", "在这个 CPU 上每轮用了 0.76 秒。", "numbers differ"),
        ("Run `vaelib.fit` on the digits now.", "现在对这些数字运行 `vaelib.fit()`。", "inline code differ"),
        ("See {term}`posterior collapse` for more.", "参见 {term}`后验坍缩`。", "role targets differ"),
        ("See {term}`posterior collapse` for more.", "参见 {term}`后验坍缩 <posterior collapse>`。", None),
        ("The code carries the style of the digit.", "The code carries the style of the digit.", "no Chinese"),
        ("autoencoder", "autoencoder", None),
        ("\\log p(x) \\ge \\mathrm{ELBO}(q) ,", "\\log p(x) \\ge \\mathrm{ELBO}(q) ,", None),
        ("\\log p(x) \\ge \\mathrm{ELBO}(q) ,", "\\log p(x) \\geq \\mathrm{ELBO}(q) ,", "display equation"),
        ("chapter 3, autograd basics", "第 3 章，autograd 基础", None),
        ("The model's parameters: learning $\\theta$", "模型的参数：学习 $\\theta$", None),
        ("The model's parameters: learning $\\theta$", "The model's parameters: learning $\\theta$", "no Chinese"),
        ("evidence lower bound", "evidence lower bound", None),
        ("3. Jensen's inequality and the ELBO", "3. 詹森不等式与 ELBO", "numbered list"),
        ("3. Jensen's inequality and the ELBO", "3\\. 詹森不等式与 ELBO", None),
        ("[Open in Colab](https://colab.research.google.com/x.ipynb) today", "[在 Colab 中打开](https://colab.research.google.com/y.ipynb)", "links differ"),
    ],
)
def test_the_check_catches_what_a_translation_must_not_change(english, chinese, says):
    problems = check_translations.message_problems(english, chinese)
    if says is None:
        assert problems == []
    else:
        assert any(says in p for p in problems), problems
