"""Check the built site in a real browser: every page, served over local http.

For each HTML page of _build/html it drives Debian's Chromium (through Playwright,
which downloads no browser) and checks: no console errors or failed requests to the
site itself; every image from the site loaded; math rendered by MathJax wherever a
page has math; a Colab link on every chapter page; every internal link pointing at
an existing page and anchor; one search field, not two; no code cell (hidden ones
opened) wider than the text column at 1280 px; Chinese text (the glossary's) drawn by an installed
font that has its characters, not as empty boxes. Every image must come from the site itself: an
offline classroom reaches no other host (the site draws its own Colab badge). It
saves a full-page screenshot of each page under _build/screenshots/. Run it with ``make site-check`` after ``make book``.
"""

from __future__ import annotations

import functools
import http.server
import subprocess
import sys
import threading
from pathlib import Path
import re
from urllib.parse import urldefrag, urljoin, urlparse

from playwright.sync_api import sync_playwright

CHROMIUM = "/usr/bin/chromium"  # Debian's chromium package
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
SKIP = ("_static/", "_sources/", "_images/", "genindex.html", "search.html")
CJK_PROBE = """() => {
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const counts = new Map();
  while (walker.nextNode()) {
    const node = walker.currentNode, parent = node.parentElement;
    const han = (node.textContent.match(/[\\u4e00-\\u9fff]/g) || []).length;
    if (han && parent.getClientRects().length) counts.set(parent, (counts.get(parent) || 0) + han);
  }
  for (const [element, count] of counts) element.setAttribute("data-cjk-count", String(count));
  return counts.size;
}"""
WIDE_CODE = """() => {
  document.querySelectorAll("details").forEach(d => { d.open = true; });
  return [...document.querySelectorAll(".cell_input pre")]
    .filter(pre => pre.scrollWidth > pre.clientWidth)
    .map(pre => pre.textContent.split("\\n").reduce((a, b) => (b.length > a.length ? b : a), ""));
}"""
REDIRECT = re.compile(r'<meta http-equiv="Refresh" content="0; url=([^"]+)"', re.I)


def check_redirect(path: Path) -> list[str] | None:
    """For a redirect-only page (Jupyter Book writes index.html as one): problems with
    its target, or None when the page is not a redirect. The browser would navigate
    away mid-check, so the target is checked on disk and visited as a page itself."""
    match = REDIRECT.search(path.read_text(errors="ignore"))
    if match is None:
        return None
    target = (path.parent / match.group(1)).resolve()
    return [] if target.is_file() else [f"redirect to a missing page: {match.group(1)}"]


def serve(root: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    """A quiet local http server for ``root`` on a free loopback port."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(root)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


def check_page(page, url: str, root: Path, base: str, shots: Path) -> list[str]:
    """Visit one page; return its problems."""
    problems, failed = [], []
    page.on("console", lambda msg: _console_error(msg, base, problems))
    page.on("pageerror", lambda err: problems.append(f"page error: {err}"))
    page.on("requestfailed", lambda req: req.url.startswith(base) and failed.append(req.url))
    page.goto(url, wait_until="load")
    if page.locator(".math").count():
        try:
            page.wait_for_selector("mjx-container", state="attached", timeout=15_000)
        except Exception:
            problems.append("math present but MathJax rendered none")
    images = page.eval_on_selector_all("img", "els => els.map(e => [e.currentSrc || e.src, e.complete && e.naturalWidth > 0])")
    problems += [f"image from another host, which offline readers cannot load: {src}"
                 for src, _ in images if not src.startswith(base)]
    problems += [f"image not loaded: {src}" for src, ok in images if src.startswith(base) and not ok]
    problems += [f"request failed: {u}" for u in failed]
    if "/notebooks/" in url and not page.locator("a[href*='colab.research.google.com/github/']").count():
        problems.append("chapter page without a Colab link")
    problems += broken_links(page, url, root, base)
    problems += undrawn_chinese(page)
    searches = page.locator(".search-button-field:visible").count()
    if searches > 1:
        problems.append(f"{searches} search fields visible (one expected)")
    name = urlparse(url).path.strip("/").replace("/", "__").removesuffix(".html") or "index"
    page.screenshot(path=str(shots / f"{name}.png"), full_page=True)
    # after the screenshot, since it opens the hidden cells
    problems += [f"code cell scrolls sideways at 1280 px: {line.strip()}" for line in page.evaluate(WIDE_CODE)]
    return problems


def _console_error(msg, base: str, problems: list[str]) -> None:
    """Record a console error, except a failed load of another host's resource: an
    image from another host is reported once, as such, by check_page."""
    if msg.type != "error":
        return
    source = (msg.location or {}).get("url", "")
    if "Failed to load resource" in msg.text and source and not source.startswith(base):
        return
    problems.append(f"console error: {msg.text} ({source})")


@functools.cache
def cjk_font_families() -> frozenset[str]:
    """Installed font families that cover Chinese, by fontconfig (``fc-list :lang=zh``)."""
    try:
        listing = subprocess.run(["fc-list", ":lang=zh", "family"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return frozenset()
    return frozenset(name.strip() for line in listing.splitlines() for name in line.split(","))


def undrawn_chinese(page) -> list[str]:
    """Elements whose Chinese characters were not all drawn by a font that covers
    Chinese. Chromium reports, through the DevTools protocol, which font drew how many
    glyphs of an element's text; a missing font shows up as the fallback font drawing
    them as boxes."""
    if not page.evaluate(CJK_PROBE):
        return []
    session = page.context.new_cdp_session(page)
    session.send("DOM.enable")
    session.send("CSS.enable")
    root = session.send("DOM.getDocument", {"depth": 0})["root"]["nodeId"]
    families, problems = cjk_font_families(), []
    for node in session.send("DOM.querySelectorAll", {"nodeId": root, "selector": "[data-cjk-count]"})["nodeIds"]:
        attributes = session.send("DOM.getAttributes", {"nodeId": node})["attributes"]
        wanted = int(dict(zip(attributes[::2], attributes[1::2]))["data-cjk-count"])
        fonts = session.send("CSS.getPlatformFontsForNode", {"nodeId": node})["fonts"]
        drawn = sum(font["glyphCount"] for font in fonts if font["familyName"] in families)
        if drawn < wanted:
            used = ", ".join(f"{font['familyName']} ({font['glyphCount']})" for font in fonts)
            problems.append(f"{wanted} Chinese characters, {drawn} drawn by a Chinese font (fonts used: {used}); "
                            "apt-get install fonts-wqy-microhei")
            break  # one element says it; the rest of the page would repeat it
    session.detach()
    return problems


def broken_links(page, url: str, root: Path, base: str) -> list[str]:
    """Internal links whose target file or anchor does not exist."""
    problems = []
    for href in set(page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)")):
        if not href.startswith(base):
            continue
        target, fragment = urldefrag(urljoin(url, href))
        path = root / urlparse(target).path.removeprefix("/")
        if path.is_dir():
            path = path / "index.html"
        if not path.is_file():
            problems.append(f"broken link: {href}")
        elif fragment and path.suffix == ".html" and f'id="{fragment}"' not in path.read_text(errors="ignore"):
            problems.append(f"missing anchor: {href}")
    return problems


def main(site: str = "_build/html", screenshots: str = "_build/screenshots") -> int:
    root, shots = Path(site).resolve(), Path(screenshots)
    shots.mkdir(parents=True, exist_ok=True)
    pages = sorted(p.relative_to(root).as_posix() for p in root.rglob("*.html"))
    pages = [p for p in pages if not p.startswith(SKIP)]
    server, base = serve(root)
    failures = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for rel in pages:
            problems = check_redirect(root / rel)
            if problems is None:
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                problems = check_page(page, base + rel, root, base, shots)
                page.close()
            print(f"{'FAIL' if problems else 'ok  '} {rel}")
            if problems:
                failures[rel] = problems
        browser.close()
    server.shutdown()
    for rel, problems in failures.items():
        print(f"\n{rel}:\n  " + "\n  ".join(problems))
    print(f"screenshots of {len(pages)} pages in {shots}/")
    print(f"site-check: {len(pages) - len(failures)} passed, {len(failures)} failed")
    return 1 if failures or not pages else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
