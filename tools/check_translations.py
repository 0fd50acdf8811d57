"""Check the Chinese catalogs (locale/zh_CN/LC_MESSAGES/**/*.po) message by message.

A message fails when it is untranslated or fuzzy, or when its translation changes what
must stay as it is: the math ($...$ and $$...$$), inline code, the targets of
{term}, {doc}, {ref}, {eq}, {numref} and {cite} roles, links, and the numbers in the prose. A
display equation (a message of LaTeX alone) must stay exactly as it is. A translation
identical to its English is allowed only for fewer than four words (a name, a term, a
label) outside math and code; anything longer must be translated into Chinese.

``python tools/check_translations.py [PO ...]`` prints each problem and exits 1 if there
is one; without arguments it checks every catalog.
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from pathlib import Path

from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[1]
CATALOGS = ROOT / "locale" / "zh_CN" / "LC_MESSAGES"
MATH = re.compile(r"\$\$.+?\$\$|\$[^$]+\$", re.S)
ROLE = re.compile(r"\{([a-z]+(?::[a-z]+)?)\}`([^`]*)`")
CODE = re.compile(r"``?[^`]+``?")
LINK = re.compile(r"\]\(([^()\s]+)\)|https?://[^\s)>\]]+")
NUMBER = re.compile(r"(?<![A-Za-z0-9_.])[−-]?\d(?:[\d,]*\d)?(?:\.\d+)?")
HAN = re.compile(r"[\u4e00-\u9fff]")
WORD = re.compile(r"[A-Za-z]{2,}")
COMMAND = re.compile(r"\\[A-Za-z]+")  # LaTeX commands, not words


def _target(role: str, text: str) -> str:
    """What a role points at: the part in <...>, or the whole text."""
    match = re.search(r"<([^<>]+)>\s*$", text)
    return f"{role}:{match.group(1) if match else text}".strip()


def parts(text: str) -> tuple[Counter, Counter, Counter, Counter, str]:
    """Math, role targets, inline code and numbers of a message, and its remaining prose."""
    math = Counter(m.group(0) for m in MATH.finditer(text))
    text = MATH.sub(" ", text)
    roles = Counter(_target(m.group(1), m.group(2)) for m in ROLE.finditer(text))
    text = ROLE.sub(" ", text)
    code = Counter(m.group(0) for m in CODE.finditer(text))
    text = CODE.sub(" ", text)
    links = Counter(m.group(1) or m.group(0) for m in LINK.finditer(text))
    text = LINK.sub(" ", text)
    numbers = Counter(n.replace("−", "-") for n in NUMBER.findall(text))
    return math, roles, code, links, numbers, text


def message_problems(english: str, chinese: str) -> list[str]:
    """What is wrong with one translation (empty list: nothing)."""
    if not chinese.strip():
        return ["untranslated"]
    found = []
    for name, a, b in zip(("math", "role targets", "inline code", "links", "numbers"), parts(english)[:5], parts(chinese)[:5]):
        if a != b:
            missing, extra = a - b, b - a
            found.append(f"{name} differ: missing {sorted(missing)}, added {sorted(extra)}")
    if re.match(r"\d+\. ", chinese):
        found.append("starts like a numbered list, so a title would be lost: write the period as \\.")
    if is_equation(english):
        if chinese != english:
            found.append("a display equation must stay exactly as it is")
    elif len(WORD.findall(parts(english)[5])) >= 4 and not HAN.search(chinese):
        found.append("no Chinese in the translation of a sentence")
    return found


def is_equation(english: str) -> bool:
    """A display equation's message: LaTeX with no $ around it (Sphinx extracts the body
    of a $$...$$ block on its own)."""
    return "$" not in english and COMMAND.search(CODE.sub(" ", english)) is not None


def catalog_problems(path: Path) -> list[str]:
    with path.open("rb") as handle:
        catalog = read_po(handle)
    found = []
    for message in catalog:
        if not message.id:
            continue
        english = message.id if isinstance(message.id, str) else message.id[0]
        chinese = message.string if isinstance(message.string, str) else message.string[0]
        where = f"{path.relative_to(ROOT)}: {english[:60]!r}"
        if message.fuzzy:
            found.append(f"{where}: fuzzy")
        found += [f"{where}: {p}" for p in message_problems(english, chinese or "")]
    return found


def main(paths: list[str]) -> int:
    files = [Path(p).resolve() for p in paths] or sorted(CATALOGS.rglob("*.po"))
    found = [p for path in files for p in catalog_problems(path)]
    print("\n".join(found) or f"{len(files)} catalogs: every message translated and consistent")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
