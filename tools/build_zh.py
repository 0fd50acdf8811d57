"""Build the Chinese edition of the site into _build/html/zh/ (run by `make book`).

The English notebooks and pages are the only source. The Chinese text comes from the
gettext catalogs in locale/zh_CN/LC_MESSAGES/, compiled here to .mo files (which git
ignores) with sphinx-intl. The book is built a second time with Sphinx's `language`
set to zh_CN and a Chinese title, into _build/zh/, and its HTML is copied under the
English site, so that each page's "English / 中文" switch (book/_ext/site_fixes.py)
finds its counterpart one folder up or down. Extra arguments go to `jupyter-book build`.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import yaml
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[1]
AUTHOR = "ae-to-vae 课程作者"


def main(extra: list[str]) -> int:
    bin_dir = Path(sys.executable).parent
    subprocess.run([str(bin_dir / "sphinx-intl"), "build", "-d", "locale"], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL)
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    # the book's title and the sidebar's part captions live in _config.yml and _toc.yml,
    # past Sphinx's translation: take them from the root page's catalog
    with (ROOT / "locale" / "zh_CN" / "LC_MESSAGES" / f"{toc['root']}.po").open("rb") as handle:
        chinese = {m.id: m.string for m in read_po(handle) if m.id and m.string}
    config["title"] = chinese.get(config["title"], config["title"])
    config["author"] = AUTHOR
    sphinx = config["sphinx"]
    sphinx["config"]["language"] = "zh_CN"
    # myst-nb's button on hidden code cells ({type} is "source" or "outputs")
    sphinx["config"]["nb_code_prompt_show"] = "显示代码单元格"
    sphinx["config"]["nb_code_prompt_hide"] = "隐藏代码单元格"
    # the config file sits in _build/zh/, and Jupyter Book reads its paths from there
    sphinx["local_extensions"] = {name: str(ROOT / path) for name, path in sphinx["local_extensions"].items()}
    sphinx["config"]["html_extra_path"] = [str(ROOT / path) for path in sphinx["config"]["html_extra_path"]]
    sphinx["config"]["locale_dirs"] = [str(ROOT / path) for path in sphinx["config"]["locale_dirs"]]
    config["bibtex_bibfiles"] = [str(ROOT / path) for path in config["bibtex_bibfiles"]]
    config["html"]["favicon"] = str(ROOT / config["html"]["favicon"])
    out = ROOT / "_build" / "zh"
    out.mkdir(parents=True, exist_ok=True)
    (out / "_config.yml").write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False))
    for part in toc.get("parts", []):
        part["caption"] = chinese.get(part["caption"], part["caption"])
    (out / "_toc.yml").write_text(yaml.safe_dump(toc, allow_unicode=True, sort_keys=False))
    build = [str(bin_dir / "jupyter-book"), "build", ".", "--config", str(out / "_config.yml"),
             "--toc", str(out / "_toc.yml"), "--path-output", str(out), *extra]
    if subprocess.run(build, cwd=ROOT).returncode:
        return 1
    target = ROOT / "_build" / "html" / "zh"
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(out / "_build" / "html", target)
    print(f"Chinese edition: {target.relative_to(ROOT)}/index.html")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
