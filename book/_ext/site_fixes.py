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
"""

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


def setup(app):
    app.add_js_file(None, body=NORMALIZE_MODE, priority=1)
    app.connect("config-inited", _no_top_bar_search)
    app.connect("html-page-context", _dedupe_inline_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
