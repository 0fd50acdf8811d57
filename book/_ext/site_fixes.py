"""Fixes for the Jupyter Book 1 stack, found by `make site-check` and its screenshots.

- Some inline configuration scripts (sphinx-thebe's `const THEBE_JS_URL ...`, the
  togglebutton selector) are added to each page twice; the second `const` is a
  SyntaxError. Identical inline scripts are kept once.
- On a first visit (empty localStorage) pydata-sphinx-theme sets the page's theme
  mode to "" and then logs "Got invalid theme mode". A small inline script sets an
  empty mode to "auto" before the theme reads it.
- pydata-sphinx-theme 0.17 puts a search field into a top bar that
  sphinx-book-theme otherwise leaves empty, so every page showed two search boxes.
  The top bar is kept empty, as sphinx-book-theme intends. This is done here, not in
  _config.yml, because Jupyter Book replaces its own html_theme_options (launch and
  repository buttons) with any that _config.yml's sphinx.config gives.
- Each chapter's first cell shows Colab's badge image from colab.research.google.com,
  which an offline classroom cannot load. On the site the badge is drawn from a copy
  of our own (static/colab-badge.svg); the notebooks keep Colab's, for Colab and
  GitHub. The link itself is unchanged.
- Code cells are formatted to 79 columns; static/code-width.css sets their font a
  little smaller so that 79 columns fit the text column at 1280 px without a
  sideways scroll bar.
"""

import posixpath
from pathlib import Path

from docutils import nodes

COLAB_BADGE = "https://colab.research.google.com/assets/colab-badge.svg"
LOCAL_BADGE = "_static/colab-badge.svg"

NORMALIZE_MODE = 'if (!document.documentElement.dataset.mode) { document.documentElement.dataset.mode = "auto"; }'


def _dedupe_inline_scripts(app, pagename, templatename, context, doctree):
    seen, kept = set(), []
    for script in context.get("script_files", []):
        body = getattr(script, "attributes", {}).get("body")
        if body and body in seen:
            continue
        seen.add(body)
        kept.append(script)
    context["script_files"] = kept


def _no_top_bar_search(app, config):
    config.html_theme_options.setdefault("navbar_persistent", [])


def _add_static_files(app, config):
    """static/: the local Colab badge and code-width.css."""
    config.html_static_path.append(str(Path(__file__).parent / "static"))


def _local_colab_badge(app, doctree, docname):
    for image in doctree.findall(nodes.image):
        if image.get("uri") == COLAB_BADGE:
            image["uri"] = posixpath.relpath(LOCAL_BADGE, posixpath.dirname(docname) or ".")


SWITCH = (
    '<p class="language-switch" style="text-align:right;font-size:0.9em;margin:0 0 0.5em">{links}</p>'
)


def _language_switch(app, pagename, templatename, context, doctree):
    """A visible "English / 中文" switch at the top of every page, linking to the same
    page in the other edition: the Chinese edition sits in zh/ under the English one."""
    if "body" not in context or doctree is None:
        return
    depth = pagename.count("/")
    if (app.config.language or "en").startswith("zh"):
        other = "../" * (depth + 1) + pagename + ".html"
        links = f'<a href="{other}" hreflang="en" lang="en">English</a> · <strong>中文</strong>'
    else:
        other = "../" * depth + "zh/" + pagename + ".html"
        links = f'<strong>English</strong> · <a href="{other}" hreflang="zh-CN" lang="zh-CN">中文</a>'
    context["body"] = SWITCH.format(links=links) + context["body"]


def setup(app):
    app.add_js_file(None, body=NORMALIZE_MODE, priority=1)
    app.add_css_file("code-width.css")
    app.connect("config-inited", _no_top_bar_search)
    app.connect("config-inited", _add_static_files)
    app.connect("html-page-context", _dedupe_inline_scripts, priority=900)
    app.connect("doctree-resolved", _local_colab_badge)
    app.connect("html-page-context", _language_switch)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
