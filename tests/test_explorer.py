"""The latent explorer: rendered for small random models and run in headless Chromium
(Debian's, through Playwright, as `make site-check` does), without building the site."""

import base64
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


def test_the_page_decodes_as_torch_does_where_the_pointer_moves(browser, tmp_path):
    model = _model()
    images, labels = torch.rand(60, 784), torch.arange(60) % 10
    shown = explorer(model, images, labels)
    page, errors, requests = _open(browser, shown._repr_html_(), tmp_path)
    assert page.get_attribute(".vaelib-explorer", "data-status") == "ok"
    assert page.locator(".vx-error").is_hidden()
    assert "checked against torch at 8 points" in page.locator(".vx-status").text_content()
    before = _api(page, "pixels()")
    box = page.locator(".vx-plane").bounding_box()
    page.mouse.move(box["x"] + 0.8 * box["width"], box["y"] + 0.2 * box["height"])
    page.mouse.down()
    page.mouse.move(box["x"] + 0.9 * box["width"], box["y"] + 0.1 * box["height"], steps=3)
    page.mouse.up()
    z = _api(page, "z()")
    assert z[0] > 1.5 and z[1] > 1.5  # upper right of a [-3, 3] plane
    after = np.array(_api(page, "pixels()"))
    assert np.abs(after - np.array(before)).max() > 1e-3  # the picture changed
    np.testing.assert_allclose(after, _torch_pixels(model, z), atol=shown.data["checks"]["tolerance"], rtol=0)
    assert page.locator(".vx-z").text_content() == f"z = ({z[0]:.2f}, {z[1]:.2f})"
    page.locator(".vx-plane").focus()
    page.keyboard.press("ArrowLeft")
    assert _api(page, "z()")[0] == pytest.approx(z[0] - 0.1)
    assert errors == [] and requests == [Path(tmp_path / "explorer.html").as_uri()]


def test_a_conditional_model_gets_digit_buttons(browser, tmp_path):
    torch.manual_seed(0)
    model = ConditionalVAE(hidden_dim=32, latent_dim=2)
    images, labels = torch.rand(30, 784), torch.arange(30) % 10
    page, errors, _ = _open(browser, explorer(model, images, labels)._repr_html_(), tmp_path)
    assert page.get_attribute(".vaelib-explorer", "data-status") == "ok"
    _api(page, "setZ([1.0, -0.5])")
    zero = np.array(_api(page, "pixels()"))
    page.locator("button[data-y='7']").click()
    assert _api(page, "y()") == 7
    seven = np.array(_api(page, "pixels()"))
    assert np.abs(seven - zero).max() > 1e-3
    np.testing.assert_allclose(seven, _torch_pixels(model, [1.0, -0.5], 7), atol=2e-3, rtol=0)
    assert "y = 7" in page.locator(".vx-z").text_content() and errors == []


def test_a_page_that_decodes_wrongly_says_so(browser, tmp_path):
    """The check fails when the page's decoder and torch's disagree: here the embedded
    reference comes from another model."""
    shown = explorer(_model(seed=0))
    other = explorer(_model(seed=1))
    data = dict(shown.data, checks=other.data["checks"])
    page, errors, _ = _open(browser, render(data), tmp_path)
    assert page.get_attribute(".vaelib-explorer", "data-status") == "mismatch"
    assert page.locator(".vx-error").is_visible()
    assert "disagrees with torch" in page.locator(".vx-error").text_content()
    assert any("disagrees with torch" in error for error in errors)


def test_float32_weights_are_exact_and_float16_within_their_rounding():
    model = _model()
    exact = explorer(model, dtype="float32")
    rounded = explorer(model, dtype="float16")
    assert exact.data["checks"]["tolerance"] < 1e-5 < rounded.data["checks"]["tolerance"] < 1e-2
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
    assert isinstance(vaelib.explorer(_model()), vaelib.Explorer)
