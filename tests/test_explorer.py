"""The latent explorer: rendered for small random models and run in headless Chromium
(Debian's, through Playwright, as `make site-check` does), without building the site."""

import base64
import importlib
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch

import vaelib
from vaelib import VAE, ConditionalVAE, ConvVAE, explorer
from vaelib.explorer import MAX_BYTES, render

CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"])
        yield chromium
        chromium.close()


def _open(browser, html: str, tmp_path):
    """The explorer alone in a page; returns (page, console errors, requested URLs)."""
    path = tmp_path / "explorer.html"
    path.write_text(f"<!doctype html><html><body>{html}</body></html>")
    page = browser.new_page()
    errors, requests = [], []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("request", lambda request: requests.append(request.url))
    page.goto(path.as_uri())
    return page, errors, requests


def _api(page, call: str):
    return page.evaluate(f"() => document.querySelector('.vaelib-explorer').vaelibExplorer.{call}")


def _torch_pixels(model, z, y=None) -> np.ndarray:
    with torch.no_grad():
        z = torch.tensor([z], dtype=torch.float32)
        logits = model.decode(z) if y is None else model.decode(z, torch.tensor([y]))
    return torch.sigmoid(logits)[0].numpy()


def _model(seed=0, **kwargs):
    torch.manual_seed(seed)
    return VAE(hidden_dim=32, latent_dim=2, **kwargs)


def _site_check():
    spec = importlib.util.spec_from_file_location("site_check", Path(__file__).parents[1] / "tools" / "site_check.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_page_decodes_as_torch_does_where_the_pointer_moves(browser, tmp_path):
    model = _model()
    images, labels = torch.rand(60, 784), torch.arange(60) % 10
    shown = explorer(model, images, labels)
    page, errors, requests = _open(browser, shown._repr_html_(), tmp_path)
    assert page.get_attribute(".vaelib-explorer", "data-status") == "ok"
    assert page.locator(".vx-error").is_hidden()
    assert "Checked against torch at 8 points: this page's pixels are within" in page.locator(".vx-status").text_content()
    assert _api(page, "worst") <= 1e-5  # torch's pixels with the same float16 weights
    allowed = shown.data["checks"]["rounding"] + 1e-5  # against torch's with the weights as they are
    before = _api(page, "pixels()")
    box = page.locator(".vx-plane").bounding_box()
    page.mouse.move(box["x"] + 0.8 * box["width"], box["y"] + 0.2 * box["height"])
    page.mouse.down()
    page.mouse.move(box["x"] + 0.9 * box["width"], box["y"] + 0.1 * box["height"], steps=3)
    page.mouse.up()
    z = _api(page, "z()")
    # 90% across and 10% down a [-3, 3] plane, to within a pixel of the canvas
    assert z == pytest.approx([2.4, 2.4], abs=6 / 320)
    after = np.array(_api(page, "pixels()"))
    assert np.abs(after - np.array(before)).max() > 1e-3  # the picture changed
    np.testing.assert_allclose(after, _torch_pixels(model, z), atol=allowed, rtol=0)
    assert page.locator(".vx-z").text_content() == f"z = ({z[0]:.2f}, {z[1]:.2f})"
    page.locator(".vx-plane").focus()
    for key, move in [("ArrowLeft", [-0.1, 0]), ("ArrowUp", [0, 0.1]), ("ArrowRight", [0.1, 0]), ("ArrowDown", [0, -0.1])]:
        start = _api(page, "z()")
        page.keyboard.press(key)
        assert _api(page, "z()") == pytest.approx([start[0] + move[0], start[1] + move[1]])
    page.keyboard.press("Home")
    assert _api(page, "z()") == [0, 0]
    assert errors == [] and requests == [Path(tmp_path / "explorer.html").as_uri()]


def test_a_finger_moves_the_point_too(browser, tmp_path):
    path = tmp_path / "explorer.html"
    path.write_text(f"<!doctype html><html><body>{explorer(_model()).html}</body></html>")
    context = browser.new_context(has_touch=True)
    page = context.new_page()
    page.goto(path.as_uri())
    box = page.locator(".vx-plane").bounding_box()
    page.touchscreen.tap(box["x"] + 0.25 * box["width"], box["y"] + 0.75 * box["height"])
    assert _api(page, "z()") == pytest.approx([-1.5, -1.5], abs=6 / 320)
    context.close()


def test_a_conditional_model_gets_digit_buttons_and_every_label_is_checked(browser, tmp_path):
    torch.manual_seed(0)
    model = ConditionalVAE(hidden_dim=32, latent_dim=2)
    images, labels = torch.rand(30, 784), torch.arange(30) % 10
    shown = explorer(model, images, labels)
    assert sorted(shown.data["checks"]["y"]) == list(range(10))  # ten points, one per label
    page, errors, _ = _open(browser, shown.html, tmp_path)
    assert page.get_attribute(".vaelib-explorer", "data-status") == "ok"
    _api(page, "setZ([1.0, -0.5])")
    zero = np.array(_api(page, "pixels()"))
    page.locator("button[data-y='7']").click()
    assert _api(page, "y()") == 7
    assert page.get_attribute("button[data-y='7']", "aria-pressed") == "true"
    assert page.get_attribute("button[data-y='0']", "aria-pressed") == "false"
    seven = np.array(_api(page, "pixels()"))
    assert np.abs(seven - zero).max() > 1e-3
    allowed = shown.data["checks"]["rounding"] + 1e-5
    np.testing.assert_allclose(seven, _torch_pixels(model, [1.0, -0.5], 7), atol=allowed, rtol=0)
    assert "y = 7" in page.locator(".vx-z").text_content() and errors == []
    page.keyboard.press("ArrowRight")  # the keys still move z with a button focused
    assert _api(page, "z()") == pytest.approx([1.1, -0.5])


@pytest.mark.parametrize(
    "damage, status",
    [
        ("checks", "mismatch"),  # the embedded reference is another model's
        ("bias", "mismatch"),  # one output bias 1% off
        ("base64", "error"),  # the weights are not base64
    ],
)
def test_a_page_that_decodes_wrongly_says_so_visibly(browser, tmp_path, damage, status):
    shown = explorer(_model(seed=0))
    data = dict(shown.data)
    if damage == "checks":
        data["checks"] = explorer(_model(seed=1)).data["checks"]
    elif damage == "bias":
        layer = dict(data["layers"][-1])
        bias = np.frombuffer(base64.b64decode(layer["b"]), dtype="<f2").copy()
        bias[0] *= 1.01
        layer["b"] = base64.b64encode(bias.tobytes()).decode()
        data["layers"] = data["layers"][:-1] + [layer]
    else:
        data["layers"] = [dict(data["layers"][0], w="not base64!")] + data["layers"][1:]
    page, errors, _ = _open(browser, render(data), tmp_path)
    assert page.get_attribute(".vaelib-explorer", "data-status") == status
    assert page.locator(".vx-error").is_visible()
    assert errors  # and a console error says so
    problems = _site_check().check_explorers(page, tmp_path, "damaged")
    assert len(problems) == 1 and f"load-time check says {status!r}" in problems[0]


class Flipped(VAE):
    """A model whose decode is not its decoder's MLP alone: the page cannot match it."""

    def decode(self, z):
        return super().decode(2 * z.flip(-1))


def test_a_model_whose_decode_is_not_its_mlp_fails_the_check(browser, tmp_path):
    torch.manual_seed(0)
    page, errors, _ = _open(browser, explorer(Flipped(hidden_dim=32, latent_dim=2)).html, tmp_path)
    assert page.get_attribute(".vaelib-explorer", "data-status") == "mismatch" and errors


def test_saturated_pixels_are_an_exact_match_not_a_failure(browser, tmp_path):
    model = _model()
    with torch.no_grad():
        model.decoder[-1].bias[:10] = 60.0  # sigmoid(60) is 1.0 in float32 and float64
    page, _, _ = _open(browser, explorer(model).html, tmp_path)
    assert page.get_attribute(".vaelib-explorer", "data-status") == "ok"


def test_embedding_that_would_change_the_picture_is_refused():
    model = _model()
    with torch.no_grad():
        model.decoder[0].weight.mul_(300.0)  # logits so large that float16 rounding shows
        model.decoder[0].weight.add_(0.0123)
    with pytest.raises(ValueError, match="use dtype='float32'"):
        explorer(model, extent=3.0)
    assert explorer(model, dtype="float32").data["checks"]["rounding"] == 0


def test_the_site_checks_use_of_explorers_passes_good_ones(browser, tmp_path):
    """`make site-check`'s explorer check on a page with a plain and a conditional
    model: it walks to every check point and reads the drawn digit back."""
    torch.manual_seed(0)
    conditional = ConditionalVAE(hidden_dim=32, latent_dim=2)
    images, labels = torch.rand(40, 784), torch.arange(40) % 10
    two = explorer(_model(), images, labels).html + explorer(conditional, images, labels).html
    page, errors, _ = _open(browser, two, tmp_path)
    assert page.locator(".vaelib-explorer[data-status='ok']").count() == 2
    assert _site_check().check_explorers(page, tmp_path, "two", expected=2) == [] and errors == []
    # it left each explorer at its last check point, under that point's label
    for root in page.locator(".vaelib-explorer").all():
        checks = root.evaluate("el => el.vaelibExplorer.checks")
        assert root.evaluate("el => el.vaelibExplorer.z()") == pytest.approx(checks["z"][-1])
        if checks["y"]:
            assert root.evaluate("el => el.vaelibExplorer.y()") == checks["y"][-1]
    assert {p.name for p in tmp_path.glob("two__explorer*.png")} == {
        f"two__explorer{k}_{when}.png" for k in (1, 2) for when in ("before", "after")
    }
    assert _site_check().check_explorers(page, tmp_path, "two", expected=3)[0].startswith("2 explorers on the page")


BREAKAGES = {  # a broken explorer script, and what the site check must then say
    "a drag with the y axis flipped": (
        "return [fromPx(x * S / plane.clientWidth), -fromPx(y * S / plane.clientHeight)];",
        "return [fromPx(x * S / plane.clientWidth), fromPx(y * S / plane.clientHeight)];",
        "left z at",
    ),
    "a drag that moves nothing": ('plane.addEventListener("pointermove", e => { if (e.buttons) setZ(fromEvent(e)); });', "", "left z at"),
    "arrow keys of the wrong step": ("const step = E / data.steps,", "const step = E / 29,", "arrow keys"),
    "arrow keys up and down swapped": ("ArrowUp: [0, step], ArrowDown: [0, -step]", "ArrowUp: [0, -step], ArrowDown: [0, step]", "arrow keys"),
    "a digit drawn in negative": ("const v = Math.round(255 * (1 - state.pixels[i]));", "const v = Math.round(255 * state.pixels[i]);", "grey levels"),
    "a digit drawn at another z": (
        "function show() { state.pixels = decode(state.z, state.y);",
        "function show() { state.pixels = decode([state.z[0] + 0.3, state.z[1]], state.y);",
        "grey levels",
    ),
    "a network request on a drag": ("plane.addEventListener(\"pointerdown\", e => {", "plane.addEventListener(\"pointerdown\", e => { fetch(\"http://example.invalid/\").catch(() => 0);", "network request"),
    "label buttons that do nothing": ("state.y = Number(b.dataset.y); show();", "show();", "differs from torch's"),
    "dots drawn upside down": (
        "g.fillRect(toPx(pts[2 * i]) - 1.5, S - toPx(pts[2 * i + 1]) - 1.5, 3, 3);",
        "g.fillRect(toPx(pts[2 * i]) - 1.5, toPx(pts[2 * i + 1]) - 1.5, 3, 3);",
        "not drawn at its place",
    ),
}


@pytest.mark.parametrize("breakage", BREAKAGES)
def test_the_site_check_catches_a_broken_explorer(browser, tmp_path, monkeypatch, breakage):
    old, new, says = BREAKAGES[breakage]
    module = importlib.import_module("vaelib.explorer")
    assert module._SCRIPT.count(old) == 1
    monkeypatch.setattr(module, "_SCRIPT", module._SCRIPT.replace(old, new))
    torch.manual_seed(0)
    model = ConditionalVAE(hidden_dim=32, latent_dim=2) if "label" in breakage else _model()
    images, labels = torch.rand(20, 784), torch.arange(20) % 10
    page, _, _ = _open(browser, explorer(model, images, labels, check_points=4).html, tmp_path)
    assert page.get_attribute(".vaelib-explorer", "data-status") == "ok"  # the load-time check cannot see these
    problems = _site_check().check_explorers(page, tmp_path, "broken")
    assert problems and any(says in problem for problem in problems), problems


def test_float32_weights_are_exact_and_float16_within_a_grey_level():
    model = _model()
    exact = explorer(model, dtype="float32")
    rounded = explorer(model, dtype="float16")
    assert exact.data["checks"]["rounding"] < 1e-6 < rounded.data["checks"]["rounding"] < 1 / 255
    weights = base64.b64decode(rounded.data["layers"][0]["w"])
    assert len(weights) == 2 * 32 * 2  # float16: two bytes per weight of the first layer


def test_the_course_sized_explorer_fits_its_share_of_a_page():
    torch.manual_seed(0)
    shown = explorer(VAE(latent_dim=2), torch.rand(1000, 784), torch.arange(1000) % 10)
    assert shown.nbytes <= MAX_BYTES
    with pytest.raises(ValueError, match="more than 1,500,000"):
        explorer(VAE(latent_dim=2), dtype="float32")


@pytest.mark.parametrize(
    "build, says",
    [
        (lambda: VAE(latent_dim=3), "2-D latent space"),
        (lambda: ConvVAE(latent_dim=2), "MLP decoders"),
        (lambda: VAE(latent_dim=2, likelihood="continuous_bernoulli"), "sigmoid"),
        (lambda: VAE(data_dim=100, latent_dim=2), "28 x 28"),
    ],
)
def test_models_it_cannot_show_are_clear_errors(build, says):
    with pytest.raises(ValueError, match=says):
        explorer(build())


def test_bad_arguments_are_clear_errors():
    with pytest.raises(ValueError, match="dtype"):
        explorer(_model(), dtype="int8")
    with pytest.raises(ValueError, match="extent"):
        explorer(_model(), extent=0)
    with pytest.raises(ValueError, match="pass labels too"):
        explorer(ConditionalVAE(hidden_dim=8, latent_dim=2), torch.rand(4, 784))
    with pytest.raises(ValueError, match="4 images but 3 labels"):
        explorer(_model(), torch.rand(4, 784), torch.arange(3))
    with pytest.raises(ValueError, match="check_points"):
        explorer(_model(), check_points=0)
    assert isinstance(vaelib.explorer(_model()), vaelib.Explorer)


def test_check_points_lie_on_the_arrow_keys_lattice():
    shown = explorer(_model(), extent=2.0, check_points=16)
    steps = np.array(shown.data["checks"]["steps"])
    assert steps.dtype.kind == "i" and np.abs(steps).max() <= shown.data["steps"]
    assert (steps > 0).any() and (steps < 0).any() and len(np.unique(steps)) > 5
    # the z torch decoded is the lattice point, to float64 round-off
    np.testing.assert_allclose(np.array(shown.data["checks"]["z"]), steps * (2.0 / 30), atol=1e-12)


def test_the_same_model_gives_the_same_page_and_leaves_the_model_as_it_was():
    model = _model().train()
    first = explorer(model)
    assert model.training  # evaluated in eval mode, then put back
    assert first.html == explorer(_model()).html
    assert first.data["id"] != explorer(_model(seed=1)).data["id"]
    assert repr(first).startswith("latent explorer (VAE, 2-D, float16 weights, 0.")


def test_points_outside_the_plane_are_counted_here_and_in_the_page(browser, tmp_path):
    model = _model()
    images = torch.rand(50, 784)
    with torch.no_grad():
        codes = model.encode(images)[0]
    extent = codes.abs().max(1).values.median().item()  # about half the codes beyond it
    shown = explorer(model, images, extent=extent)
    expected = int((codes.abs().max(1).values > extent).sum())
    assert 0 < shown.outside == expected < 50
    page, _, _ = _open(browser, shown.html, tmp_path)
    assert _api(page, "outside") == expected
    assert f"{expected} of 50 code means lie outside the plane" in page.locator(".vx-status").text_content()


def test_the_site_check_counts_the_explorers_a_chapter_stores(tmp_path):
    site = tmp_path / "_build" / "html"
    (site / "notebooks").mkdir(parents=True)
    (tmp_path / "notebooks").mkdir()
    output = {"output_type": "execute_result", "data": {"text/html": [explorer(_model()).html]}}
    cells = [{"cell_type": "code", "outputs": [output, output]}, {"cell_type": "markdown"}]
    (tmp_path / "notebooks" / "05_x.ipynb").write_text(json.dumps({"cells": cells}))
    stored = _site_check().stored_explorers
    assert stored(site, "http://127.0.0.1:1/notebooks/05_x.html") == 2
    assert stored(site, "http://127.0.0.1:1/intro.html") is None
    with pytest.raises(FileNotFoundError):  # a chapter page whose notebook is elsewhere is not skipped
        stored(site, "http://127.0.0.1:1/notebooks/06_missing.html")


def test_the_site_check_reports_a_request_to_another_host(browser, tmp_path):
    site_check = _site_check()
    site = tmp_path / "_build" / "html"
    site.mkdir(parents=True)
    (site / "page.html").write_text('<!doctype html><html><body><p>text</p>'
                                    '<script>fetch("http://example.invalid/x").catch(() => 0)</script></body></html>')
    server, base = site_check.serve(site)
    try:
        page = browser.new_page()
        problems = site_check.check_page(page, base + "page.html", site, base, tmp_path)
    finally:
        server.shutdown()
    assert any("request to another host" in p and "example.invalid" in p for p in problems), problems
