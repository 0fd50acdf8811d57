"""Check the built site in a real browser: every page, served over local http.

For each HTML page of _build/html it drives Debian's Chromium (through Playwright,
which downloads no browser) and checks: no console errors or failed requests to the
site itself; every image from the site loaded; math rendered by MathJax wherever a
page has math; a Colab link on every chapter page; every internal link pointing at
an existing page and anchor; one search field, not two; no code cell (hidden ones
opened) wider than the text column at 1280 px; Chinese text (the glossary's) drawn by an installed
font that has its characters, not as empty boxes. Every image must come from the site itself: an
offline classroom reaches no other host (the site draws its own Colab badge). Every page
links to its counterpart in the other edition (English at the root, Chinese in zh/),
and the prose of each Chinese page (but the bibliography), outside code and math, has
more Chinese characters than Latin letters. Each edition's search must find pages for a
word of its language. It
saves a full-page screenshot of each page under _build/screenshots/. Run it with ``make site-check`` after ``make book``.

No page may request anything from another host. Every latent explorer
(``vaelib.explorer``) on a page is used as a reader would use it: its load-time check
against torch must say ok; a drag of the mouse must move z to where the pointer went and
change the drawn digit; arrow keys from the origin must reach every point torch decoded
when the page was made (under its label, for a conditional model, whose other labels
must draw another digit), where the digit drawn on the canvas, read back, must equal
torch's for the same rounded weights within one grey level; a dot must be drawn where
its code mean is; and none of this may make a network request. A chapter page must show
as many explorers as its notebook stores. Screenshots of each explorer before and after the drag go to
_build/screenshots/ too, and the page's weight and timings are printed.
"""

from __future__ import annotations

import functools
import http.server
import json
import subprocess
import sys
import threading
from pathlib import Path
import re
from urllib.parse import quote, urldefrag, urljoin, urlparse

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
PROSE = """() => {  // the page's prose, outside code, math and cell outputs: [Chinese characters, Latin letters]
  const parts = [...document.querySelectorAll("article p, article li, article h1, article h2, article h3, article dd")]
    .filter(el => !el.closest("pre, code, .cell_output, .math, mjx-container"))
    .map(el => { const c = el.cloneNode(true); c.querySelectorAll("code, .math, mjx-container, script").forEach(x => x.remove());
                 return c.textContent; });
  const text = parts.join(" ");
  return [(text.match(/[\u4e00-\u9fff]/g) || []).length, (text.match(/[A-Za-z]/g) || []).length];
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
    page.on("request", lambda req: req.url.startswith((base, "data:", "blob:")) or problems.append(
        f"request to another host, which offline readers cannot reach: {req.url}"))
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
    if page.locator(".language-switch a").count() != 1:
        problems.append("no link to the page in the other language (the English / 中文 switch)")
    if "/zh/" in url and not url.endswith("/references.html"):  # the bibliography stays as published
        han, latin = page.evaluate(PROSE)
        if han <= latin:
            problems.append(f"Chinese edition page whose prose is not mostly Chinese: {han} Chinese characters, "
                            f"{latin} Latin letters outside code and math")
    problems += undrawn_chinese(page)
    searches = page.locator(".search-button-field:visible").count()
    if searches > 1:
        problems.append(f"{searches} search fields visible (one expected)")
    name = urlparse(url).path.strip("/").replace("/", "__").removesuffix(".html") or "index"
    page.screenshot(path=str(shots / f"{name}.png"), full_page=True)
    try:
        expected = stored_explorers(root, url)
    except FileNotFoundError as missing:
        problems.append(f"a chapter page whose notebook is not where the site check looks: {missing.filename}")
        expected = None
    problems += check_explorers(page, shots, name, expected)
    # after the screenshot, since it opens the hidden cells
    problems += [f"code cell scrolls sideways at 1280 px: {line.strip()}" for line in page.evaluate(WIDE_CODE)]
    return problems


PAGE_WEIGHT = """() => {
  const nav = performance.getEntriesByType("navigation")[0];
  const files = performance.getEntriesByType("resource");
  const checked = [...document.querySelectorAll(".vaelib-explorer")].map(e => e.vaelibExplorer ? e.vaelibExplorer.checkedAt : null);
  return { html: nav.decodedBodySize, others: files.reduce((a, f) => a + f.decodedBodySize, 0), count: files.length,
           load: nav.loadEventEnd, checked: checked };
}"""
DRAWN = """el => {  // the grey level drawn in the middle of each of the digit's 28 x 28 cells
  const c = el.querySelector(".vx-digit"), d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data, out = [];
  for (let r = 0; r < 28; r++) for (let q = 0; q < 28; q++) {
    const x = Math.floor((q + 0.5) * c.width / 28), y = Math.floor((r + 0.5) * c.height / 28);
    out.push(d[4 * (y * c.width + x)]); }
  return out; }"""


def page_weight(page) -> str:
    """The page's weight and timings, as Chromium measured them (Navigation and Resource Timing)."""
    w = page.evaluate(PAGE_WEIGHT)
    checked = ", ".join("never" if t is None else f"{t:.0f}" for t in w["checked"])
    return (f"page {w['html'] / 1e6:.2f} MB of HTML + {w['others'] / 1e6:.2f} MB in {w['count']} other files; "
            f"load event at {w['load']:.0f} ms; explorers checked at {checked} ms after navigation")


def stored_explorers(root: Path, url: str) -> int | None:
    """How many explorers the chapter behind a page stores in its outputs, or None for a
    page that is not a chapter. The chapter is the notebook of the same name in the
    repository, two folders above the site (``<repo>/_build/html``); a chapter page
    without one is a FileNotFoundError, so that the count is never skipped unseen."""
    rel = urlparse(url).path.strip("/").removeprefix("zh/")  # both editions show the same outputs
    if not rel.startswith("notebooks/"):
        return None
    source = root.parents[1] / Path(rel).with_suffix(".ipynb")
    cells = json.loads(source.read_text())["cells"]
    return sum("".join(out.get("data", {}).get("text/html", "")).count('class="vaelib-explorer"')
               for cell in cells for out in cell.get("outputs", []))


def check_explorers(page, shots: Path, name: str, expected: int | None = None) -> list[str]:
    """Use each latent explorer on the page as a reader would (see the module's
    docstring); its problems. ``expected``: how many the page should show."""
    problems, requests = [], []
    roots = page.locator(".vaelib-explorer")
    if expected is not None and roots.count() != expected:
        problems.append(f"{roots.count()} explorers on the page, where its notebook stores {expected}")
    if not roots.count():
        return problems
    print(f"     {name}: {page_weight(page)}")
    page.on("request", lambda request: requests.append(request.url))
    for index in range(roots.count()):
        root = roots.nth(index)
        problems += [f"explorer {index + 1}: {p}" for p in use_explorer(page, root, shots / f"{name}__explorer{index + 1}")]
    problems += [f"an explorer made a network request: {url}" for url in requests]
    return problems


DOT = """el => {  // the last dot drawn inside the plane and clear of the ring: [index, its pixel's colour]
  const x = el.vaelibExplorer, c = el.querySelector(".vx-plane"), S = c.width, E = x.extent, p = x.points, z = x.z();
  const px = v => (v + E) / (2 * E) * S;
  for (let i = p.length / 2 - 1; i >= 0; i--) {
    const u = px(p[2 * i]), v = S - px(p[2 * i + 1]);
    if (u < 2 || v < 2 || u > S - 2 || v > S - 2 || Math.hypot(u - px(z[0]), v - (S - px(z[1]))) < 12) continue;
    return [i, Array.from(c.getContext("2d").getImageData(Math.floor(u), Math.floor(v), 1, 1).data.slice(0, 3))]; }
  return null; }"""


def misplaced_dot(root) -> list[str]:
    """A dot drawn where its code mean is not (x or y flipped, another scale): the
    colour at the last dot's place must be its label's."""
    found = root.evaluate(DOT)
    if found is None:
        return []
    index, colour = found
    labels, palette = root.evaluate("el => el.vaelibExplorer.labels"), root.evaluate("el => el.vaelibExplorer.palette")
    wanted = palette[labels[index] % 10] if labels else "#888888"
    wanted = [int(wanted[k:k + 2], 16) for k in (1, 3, 5)]
    return [] if colour == wanted else [f"code mean {index} is not drawn at its place (colour {colour} there, not {wanted})"]


def use_explorer(page, root, shot: Path) -> list[str]:
    """Drag, then walk with the arrow keys to every point torch decoded, reading the
    drawn digit back from its canvas; the problems found."""

    def api(call: str):
        return root.evaluate(f"el => el.vaelibExplorer.{call}")

    status = root.get_attribute("data-status")
    if status != "ok":
        return [f"its load-time check says {status!r}: {root.inner_text()}"]
    problems = []
    root.scroll_into_view_if_needed()
    root.screenshot(path=f"{shot}_before.png")
    before, extent = root.evaluate(DRAWN), api("extent")
    box = root.locator(".vx-plane").bounding_box()
    page.mouse.move(box["x"] + 0.5 * box["width"], box["y"] + 0.5 * box["height"])
    page.mouse.down()
    page.mouse.move(box["x"] + 0.8 * box["width"], box["y"] + 0.25 * box["height"], steps=5)
    page.mouse.up()
    z, after = api("z()"), root.evaluate(DRAWN)
    aimed = (0.6 * extent, 0.5 * extent)  # 80% across and 25% down the plane
    if max(abs(a - b) for a, b in zip(z, aimed)) > 0.02 * extent:
        problems.append(f"a drag to z = {aimed} left z at {z}")
    if before == after:
        problems.append("dragging the pointer did not change the drawn digit")
    root.screenshot(path=f"{shot}_after.png")
    problems += misplaced_dot(root)
    checks, classes = api("checks"), api("classes")
    for k, (steps, target) in enumerate(zip(checks["steps"], checks["z"])):
        root.locator(".vx-plane").focus()
        page.keyboard.press("Home")
        for count, (minus, plus) in zip(steps, [("ArrowLeft", "ArrowRight"), ("ArrowDown", "ArrowUp")]):
            for _ in range(abs(count)):
                page.keyboard.press(plus if count > 0 else minus)
        reached = api("z()")
        if max(abs(a - b) for a, b in zip(reached, target)) > 1e-9:
            problems.append(f"arrow keys {steps} from the origin reached z = {reached}, not {target}")
            continue
        if classes:
            other = (checks["y"][k] + 1) % classes
            root.locator(f"button[data-y='{other}']").click()
            under_other = root.evaluate(DRAWN)
            root.locator(f"button[data-y='{checks['y'][k]}']").click()
        drawn, torch_pixels = root.evaluate(DRAWN), api(f"reference({k})")
        allowed = 255 * api("tolerance") + 1  # the rounding of the weights, plus the canvas's to whole grey levels
        worst = max(abs(d - 255 * (1 - t)) for d, t in zip(drawn, torch_pixels))
        where = f"z = {target}" + (f", y = {checks['y'][k]}" if classes else "")
        if worst > allowed:
            problems.append(f"at {where} the drawn digit differs from torch's by {worst:.1f} grey levels "
                            f"(allowed {allowed:.1f})")
        if classes and under_other == drawn:
            problems.append(f"at z = {target}, the digit drawn under y = {other} is the same as under y = {checks['y'][k]}")
    return problems


def _console_error(msg, base: str, problems: list[str]) -> None:
    """Record a console error, except a failed load of another host's resource: a
    request to another host is reported as such by check_page."""
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


SEARCHES = {"": "posterior", "zh/": "后验"}  # each edition's search, and a word its pages use


def search_problems(browser, base: str, root: Path) -> dict[str, list[str]]:
    """Each edition's own search must find pages for a word of its language."""
    found = {}
    for prefix, word in SEARCHES.items():
        if not (root / prefix / "search.html").is_file():
            continue
        page = browser.new_page()
        page.goto(f"{base}{prefix}search.html?q={quote(word)}", wait_until="load")
        try:
            page.wait_for_selector("#search-results li", timeout=15_000)
            hits = page.locator("#search-results li").count()
        except Exception:
            hits = 0
        page.close()
        print(f"{'ok  ' if hits else 'FAIL'} {prefix}search.html?q={word}: {hits} pages found")
        if not hits:
            found[f"{prefix}search.html"] = [f"searching for {word!r} found no page"]
    return found


def main(site: str = "_build/html", screenshots: str = "_build/screenshots") -> int:
    root, shots = Path(site).resolve(), Path(screenshots)
    shots.mkdir(parents=True, exist_ok=True)
    pages = sorted(p.relative_to(root).as_posix() for p in root.rglob("*.html"))
    pages = [p for p in pages if not p.removeprefix("zh/").startswith(SKIP)]
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
        failures.update(search_problems(browser, base, root))
        browser.close()
    server.shutdown()
    for rel, problems in failures.items():
        print(f"\n{rel}:\n  " + "\n  ".join(problems))
    print(f"screenshots of {len(pages)} pages in {shots}/")
    print(f"site-check: {len(pages) - len(failures)} passed, {len(failures)} failed")
    return 1 if failures or not pages else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
