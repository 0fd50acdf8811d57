"""Two fixes for console errors in the Jupyter Book 1 stack, seen by `make site-check`.

- Some inline configuration scripts (sphinx-thebe's `const THEBE_JS_URL ...`, the
  togglebutton selector) are added to each page twice; the second `const` is a
  SyntaxError. Identical inline scripts are kept once.
- On a first visit (empty localStorage) pydata-sphinx-theme sets the page's theme
  mode to "" and then logs "Got invalid theme mode". A small inline script sets an
  empty mode to "auto" before the theme reads it.
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


def setup(app):
    app.add_js_file(None, body=NORMALIZE_MODE, priority=1)
    app.connect("html-page-context", _dedupe_inline_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
