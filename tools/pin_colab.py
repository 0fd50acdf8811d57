"""Point every chapter's Colab badge and bootstrap cell at the release in _config.yml.

``repository.url`` and ``repository.branch`` in ``_config.yml`` name the repository and
the release tag (``v`` + vaelib's version). Each notebook's first cell carries a badge
that opens the notebook at that tag in Colab, and its second cell pip-installs vaelib
from the same tag, so that a reader on Colab runs the chapter they clicked against the
vaelib it was written for. This script rewrites both in place; ``make pin`` runs it,
and tests/test_notebooks.py fails until it has been run. Outputs are left alone.

Usage: python tools/pin_colab.py notebooks/*.ipynb
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
BADGE = re.compile(r"\(https://colab\.research\.google\.com/github/[^)\s]+\)")
REQUIREMENT = re.compile(r'"vaelib @ git\+[^"@]+@[^"]+"')


def release() -> tuple[str, str]:
    """The repository url (no trailing slash) and the release ref, from _config.yml."""
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    return config["repository"]["url"].rstrip("/"), str(config["repository"]["branch"])


def pin(path: Path, url: str, ref: str) -> bool:
    """Rewrite ``path``'s badge and bootstrap; True if the file changed."""
    notebook = json.loads(path.read_text())
    badge, boot = notebook["cells"][0], notebook["cells"][1]
    owner_repo = url.removeprefix("https://github.com/")
    old = (badge["source"], boot["source"])
    badge_text, boot_text = "".join(badge["source"]), "".join(boot["source"])
    if not BADGE.search(badge_text) or not REQUIREMENT.search(boot_text):
        raise SystemExit(f"{path}: no Colab badge in cell 1 or no vaelib requirement in cell 2")
    link = f"(https://colab.research.google.com/github/{owner_repo}/blob/{ref}/notebooks/{path.name})"
    badge["source"] = BADGE.sub(lambda _: link, badge_text).splitlines(keepends=True)
    boot["source"] = REQUIREMENT.sub(lambda _: f'"vaelib @ git+{url}@{ref}"', boot_text).splitlines(keepends=True)
    if (badge["source"], boot["source"]) == old:
        return False
    path.write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n")
    return True


def main(paths: list[str]) -> None:
    url, ref = release()
    for name in paths:
        changed = pin(Path(name), url, ref)
        print(f"{name}: {'pinned to' if changed else 'already at'} {ref}")


if __name__ == "__main__":
    main(sys.argv[1:])
