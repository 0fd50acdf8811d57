"""An interactive latent explorer for a model with a 2-D latent space, in plain JavaScript.

``explorer(model, images, labels)`` returns an object that a notebook displays as HTML:
a latent plane to move a point over (mouse, touch, arrow keys) and the digit decoded
there, drawn large, with z printed. The decoder's weights are embedded in the page
(float16 by default) and its arithmetic (matrix products, ReLU, sigmoid) runs in the
page, so it works on the static site with no network, in Colab and in Jupyter.

It is checked like the equations: when the explorer is rendered, torch decodes a few
check points with the weights rounded as the page's are, and the page embeds the
results; on load, the page decodes the same points itself and shows a visible error if
they disagree beyond float32 round-off. How far the rounding moves torch's pixels is
measured at the same points and bounded (one grey level in 255 for float16).
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json

import numpy as np
import torch
from torch import nn

from .losses import encode

MAX_BYTES = 1_500_000  # one explorer's share of a page
STEPS = 30  # an arrow key moves z by extent / STEPS; check points lie on that lattice
ARITHMETIC = 1e-5  # the page's float64 sums against torch's float32 sums, same weights
MAX_ROUNDING = {"float16": 1 / 255, "float32": 1e-5}  # what embedding may change a pixel by
DTYPES = ("float16", "float32")
PALETTE = [  # ten digit colours, distinguishable on white
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
]


class Explorer:
    """An explorer ready to display: ``_repr_html_`` is the whole widget, HTML and script."""

    def __init__(self, data: dict) -> None:
        self.data = data
        self.html = render(data)

    @property
    def nbytes(self) -> int:
        """Size of the explorer's HTML, in bytes, as it sits in a page."""
        return len(self.html.encode())

    def _repr_html_(self) -> str:
        return self.html

    def __repr__(self) -> str:
        kind = f"{self.data['model']}, {self.data['latent']}-D, {self.data['dtype']} weights"
        return f"latent explorer ({kind}, {self.nbytes / 1e6:.2f} MB): run the cell in a browser, or see the course site"

    @property
    def outside(self) -> int:
        """How many of the code means lie outside the plane (not drawn)."""
        points, extent = self.data["points"], self.data["extent"]
        return sum(max(abs(points[i]), abs(points[i + 1])) > extent for i in range(0, len(points), 2))


def explorer(
    model: nn.Module,
    images: torch.Tensor | None = None,
    labels: torch.Tensor | None = None,
    extent: float = 3.0,
    dtype: str = "float16",
    check_points: int = 8,
    seed: int = 0,
) -> Explorer:
    """An interactive explorer of ``model``'s 2-D latent space (see the module's docstring).

    ``model``: a ``VAE`` or ``Autoencoder`` with ``latent_dim=2`` and an MLP decoder, or
    a ``ConditionalVAE`` with ``latent_dim=2`` (then ten digit buttons choose y). The
    plane spans ``[-extent, extent]`` on both axes (3: three standard deviations of
    N(0, I) on each). ``images`` (with optional ``labels``) are drawn as dots at their
    code means, coloured by label; those outside the plane are counted, not drawn.
    ``dtype`` is how the weights are embedded. ``check_points`` points (at least one per
    class for a conditional model) are decoded by torch and again by the page on load.
    The model is evaluated in eval mode and left in the mode it was in. Introduced in
    chapter 5.
    """
    layers = _decoder_layers(model)
    classes = getattr(model, "num_classes", 0) if getattr(model, "conditional", False) else 0
    _check_arguments(images, labels, extent, dtype, check_points, classes)
    steps, z, y = _check_lattice(max(check_points, classes), model.latent_dim, classes, extent, seed)
    exact, reference, codes = _decode_and_encode(model, dtype, z, y, images, labels if classes else None)
    rounding = (reference - exact).abs().max().item()
    if not rounding <= MAX_ROUNDING[dtype]:
        raise ValueError(
            f"{dtype} weights change this decoder's pixels by up to {rounding:.2e} at the check points, "
            f"more than {MAX_ROUNDING[dtype]:.1e}: the page would not draw torch's digits; use dtype='float32'"
        )
    checks = {"z": z.tolist(), "steps": steps.tolist(), "y": [] if y is None else y.tolist(),
              "torch": _b64(reference), "rounding": rounding, "tolerance": ARITHMETIC}
    data = _page_data(model, layers, classes, extent, dtype, checks, codes, labels)
    result = Explorer(data)
    if result.nbytes > MAX_BYTES:
        raise ValueError(
            f"this explorer would put {result.nbytes:,} bytes in the page, more than {MAX_BYTES:,}: "
            "use dtype='float16', fewer images, or a smaller decoder"
        )
    return result


def _check_arguments(images, labels, extent, dtype, check_points, classes) -> None:
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {DTYPES}, got {dtype!r}")
    if not extent > 0:
        raise ValueError(f"extent must be positive, got {extent!r}")
    if classes and images is not None and labels is None:
        raise ValueError("a conditional model encodes images with their labels: pass labels too")
    if images is not None and labels is not None and len(labels) != len(images):
        raise ValueError(f"{len(images)} images but {len(labels)} labels: pass one label per image")
    if not (isinstance(check_points, int) and check_points >= 1):
        raise ValueError(f"check_points must be a positive int, got {check_points!r}")


def _check_lattice(count: int, latent: int, classes: int, extent: float, seed: int):
    """``count`` check points on the arrow keys' lattice (k steps of extent / STEPS,
    |k| <= STEPS), so that a browser can reach each exactly from the origin: the steps
    ``(count, latent)``, z (float64) and, for a conditional model, labels that give every
    class at least once, in a shuffled order (else None)."""
    generator = torch.Generator().manual_seed(seed)
    steps = torch.randint(-STEPS, STEPS + 1, (count, latent), generator=generator)
    z = steps.double() * (extent / STEPS)
    y = torch.arange(count)[torch.randperm(count, generator=generator)] % classes if classes else None
    return steps, z, y


@torch.no_grad()
def _decode_and_encode(model, dtype, z, y, images, labels):
    """torch's pixels at the check points twice, with the model as it is and with a copy
    whose weights are rounded to ``dtype`` as the page's are (the page must reproduce
    the second to float32 round-off; the two differ by the rounding alone), and the code
    means of ``images`` (None without images). All on the CPU; the model's mode is kept."""
    rounded = copy.deepcopy(model)
    for parameter in rounded.parameters():
        parameter.copy_(parameter.to(getattr(torch, dtype)).float())
    device = next(model.parameters()).device
    zs, ys = z.float().to(device), None if y is None else y.to(device)
    was_training = model.training
    model.eval()
    rounded.eval()
    try:
        exact, reference = _decode(model, zs, ys).cpu(), _decode(rounded, zs, ys).cpu()
        codes = None
        if images is not None:
            codes = encode(model, images.to(device), None if labels is None else labels.to(device))
            codes = (codes[0] if isinstance(codes, tuple) else codes).cpu()
    finally:
        model.train(was_training)
    return exact, reference, codes


def _page_data(model, layers, classes, extent, dtype, checks, codes, labels) -> dict:
    """What the page embeds: the weights as ``dtype``, the checks, the dots; with an id
    from the content, so that the same model and points give the same page."""
    as_dtype = getattr(torch, dtype)
    data = {
        "extent": float(extent), "steps": STEPS, "latent": model.latent_dim, "classes": classes,
        "dtype": dtype, "model": type(model).__name__,
        "layers": [{"in": w.shape[1], "out": w.shape[0], "w": _b64(w.to(dtype=as_dtype)),
                    "b": _b64(b.to(dtype=as_dtype)), "relu": relu} for w, b, relu in layers],
        "checks": checks, "points": [], "labels": [], "palette": PALETTE,
    }
    if codes is not None:
        data["points"] = [round(v, 3) for v in codes.flatten().tolist()]
        data["labels"] = [] if labels is None else [int(v) for v in labels.tolist()]
    return {"id": hashlib.sha1(json.dumps(data, sort_keys=True).encode()).hexdigest()[:10], **data}


def _decoder_layers(model: nn.Module) -> list[tuple[torch.Tensor, torch.Tensor, bool]]:
    """(weight, bias, ReLU after it) for each linear layer of an MLP decoder."""
    if getattr(model, "latent_dim", None) != 2:
        raise ValueError(f"the explorer needs a 2-D latent space, got latent_dim={getattr(model, 'latent_dim', None)}")
    if getattr(model, "likelihood", "bernoulli") not in ("bernoulli", "gaussian"):
        raise ValueError(
            f"the explorer draws sigmoid(logits), the pixel means of the Bernoulli and Gaussian likelihoods; "
            f"got likelihood={model.likelihood!r}"
        )
    decoder = getattr(model, "decoder", None)
    modules = list(decoder) if isinstance(decoder, nn.Sequential) else []
    layers = []
    for index, module in enumerate(modules):
        if isinstance(module, nn.Linear):
            relu = index + 1 < len(modules) and isinstance(modules[index + 1], nn.ReLU)
            layers.append((module.weight.detach().cpu(), module.bias.detach().cpu(), relu))
        elif not isinstance(module, nn.ReLU):
            layers = []
            break
    if not layers or layers[-1][2]:
        raise ValueError(f"the explorer runs MLP decoders (Linear and ReLU layers) only; {type(model).__name__}'s is not one")
    if layers[-1][0].shape[0] != 784:
        raise ValueError(f"the explorer draws 28 x 28 images; this decoder gives {layers[-1][0].shape[0]} pixels")
    return layers


def _decode(model: nn.Module, z: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
    """Pixel probabilities sigmoid(logits) from torch's own decoder."""
    logits = model.decode(z) if y is None else model.decode(z, y)
    return torch.sigmoid(logits)


def _b64(tensor: torch.Tensor) -> str:
    """Little-endian bytes of a tensor, row-major, in base64."""
    array = tensor.detach().cpu().contiguous().numpy()
    return base64.b64encode(array.astype(array.dtype.newbyteorder("<")).tobytes()).decode()


def render(data: dict) -> str:
    """The explorer's HTML and script for ``data`` (as ``explorer`` builds it)."""
    ident = f"vx-{data['id']}"
    colour = data["palette"]
    key = ""
    if data["classes"]:
        key = '<div class="vx-labels" role="group" aria-label="label y">' + "".join(
            f'<button type="button" data-y="{k}" aria-pressed="false" '
            f'style="margin:1px;min-width:2em;border:2px solid {colour[k % 10]}">{k}</button>'
            for k in range(data["classes"])
        ) + "</div>"
    elif data["labels"]:
        key = '<div class="vx-key" style="font-size:12px">dots: ' + " ".join(
            f'<span style="color:{colour[k]};font-weight:bold">&#9632;{k}</span>' for k in range(10)
        ) + "</div>"
    return f"""<div class="vaelib-explorer" id="{ident}" data-status="loading" style="font:14px sans-serif;margin:8px 0">
<div style="display:flex;gap:16px;flex-wrap:wrap;align-items:flex-start">
<canvas class="vx-plane" width="320" height="320" tabindex="0" aria-label="latent plane: drag, or use the arrow keys; Home returns to the origin"
 style="border:1px solid #888;touch-action:none;cursor:crosshair;max-width:100%"></canvas>
<div style="max-width:330px"><canvas class="vx-digit" width="196" height="196" style="border:1px solid #888;image-rendering:pixelated"></canvas>
<div class="vx-z" style="font-family:monospace;margin:4px 0"></div>{key}
<div class="vx-status" style="color:#555;font-size:12px">This explorer runs in JavaScript: run the cell (Jupyter, Colab), or open the chapter on the course site.</div></div></div>
<div class="vx-error" role="alert" style="display:none;color:#b00020;font-weight:bold"></div>
<script>
(function () {{
const data = {json.dumps(data)};
const root = (document.currentScript && document.currentScript.parentElement) || document.getElementById("{ident}");
try {{
{_SCRIPT}
}} catch (error) {{
  root.dataset.status = "error";
  const box = root.querySelector(".vx-error"); box.style.display = "block";
  box.textContent = "This explorer failed to start: " + error;
  root.querySelector(".vx-status").textContent = "";
  console.error("vaelib explorer " + root.id + " failed: " + error);
}}
}})();
</script>
</div>"""


_SCRIPT = r"""
function bytes(b64) { const s = atob(b64), out = new Uint8Array(s.length); for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i); return out; }
function half(h) { const s = h & 0x8000 ? -1 : 1, e = (h >> 10) & 31, f = h & 1023;
  if (e === 0) return s * Math.pow(2, -14) * (f / 1024); if (e === 31) return f ? NaN : s * Infinity;
  return s * Math.pow(2, e - 15) * (1 + f / 1024); }
function floats(b64, dtype) { const raw = bytes(b64), view = new DataView(raw.buffer);
  if (dtype === "float16") { const n = raw.length / 2, out = new Float64Array(n); for (let i = 0; i < n; i++) out[i] = half(view.getUint16(2 * i, true)); return out; }
  const n = raw.length / 4, out = new Float64Array(n); for (let i = 0; i < n; i++) out[i] = view.getFloat32(4 * i, true); return out; }
const layers = data.layers.map(l => ({ n: l.in, m: l.out, w: floats(l.w, data.dtype), b: floats(l.b, data.dtype), relu: l.relu }));
layers.forEach(l => { if (l.w.length !== l.n * l.m || l.b.length !== l.m) throw new Error("weights of the wrong size"); });
function decode(z, y) {
  let x = new Float64Array(layers[0].n); x[0] = z[0]; x[1] = z[1];
  if (data.classes) x[2 + y] = 1;
  for (const l of layers) { const out = new Float64Array(l.m);
    for (let j = 0; j < l.m; j++) { let s = l.b[j]; const row = j * l.n; for (let i = 0; i < l.n; i++) s += l.w[row + i] * x[i]; out[j] = l.relu && s < 0 ? 0 : s; }
    x = out; }
  for (let i = 0; i < x.length; i++) x[i] = 1 / (1 + Math.exp(-x[i]));
  return x; }
const plane = root.querySelector(".vx-plane"), digit = root.querySelector(".vx-digit"), label = root.querySelector(".vx-z");
const E = data.extent, S = plane.width, state = { z: [0, 0], y: 0, pixels: null };
const toPx = v => (v + E) / (2 * E) * S, fromPx = p => p / S * 2 * E - E;
const small = document.createElement("canvas"); small.width = 28; small.height = 28;
const pts = data.points, n = pts.length / 2;
let outside = 0; for (let i = 0; i < n; i++) if (Math.abs(pts[2 * i]) > E || Math.abs(pts[2 * i + 1]) > E) outside++;
function drawPlane() { const g = plane.getContext("2d"); g.fillStyle = "#fff"; g.fillRect(0, 0, S, S);
  g.strokeStyle = "#ddd"; g.fillStyle = "#666"; g.font = "10px sans-serif";
  for (let t = Math.ceil(-E); t <= E; t++) { const p = toPx(t); g.beginPath(); g.moveTo(p, 0); g.lineTo(p, S); g.moveTo(0, S - p); g.lineTo(S, S - p); g.stroke();
    const text = String(t), w = g.measureText(text).width;
    g.fillText(text, Math.min(Math.max(p + 2, 2), S - w - 2), S - 2);  // z1 ticks along the bottom
    if (t > -E) g.fillText(text, 2, Math.max(S - p - 2, 10)); }  // z2 ticks up the left side
  g.fillStyle = "#333"; g.fillText("z\u2081 \u2192", S - 30, S - 14); g.fillText("\u2191 z\u2082", 14, 12);
  for (let i = 0; i < n; i++) { g.fillStyle = data.labels.length ? data.palette[data.labels[i] % 10] : "#888888";
    g.fillRect(toPx(pts[2 * i]) - 1.5, S - toPx(pts[2 * i + 1]) - 1.5, 3, 3); }
  g.strokeStyle = "#000"; g.lineWidth = 2; g.beginPath(); g.arc(toPx(state.z[0]), S - toPx(state.z[1]), 6, 0, 2 * Math.PI); g.stroke(); g.lineWidth = 1; }
function show() { state.pixels = decode(state.z, state.y);
  const img = small.getContext("2d").createImageData(28, 28);
  for (let i = 0; i < 784; i++) { const v = Math.round(255 * (1 - state.pixels[i])); img.data.set([v, v, v, 255], 4 * i); }
  small.getContext("2d").putImageData(img, 0, 0);
  const g = digit.getContext("2d"); g.imageSmoothingEnabled = false; g.drawImage(small, 0, 0, digit.width, digit.height);
  label.textContent = "z = (" + state.z[0].toFixed(2) + ", " + state.z[1].toFixed(2) + ")" + (data.classes ? ", y = " + state.y : "");
  root.querySelectorAll("button[data-y]").forEach(b => { const on = Number(b.dataset.y) === state.y;
    b.setAttribute("aria-pressed", String(on)); b.style.fontWeight = on ? "bold" : "normal"; b.style.background = on ? "#ddd" : ""; });
  drawPlane(); }
function setZ(z) { state.z = [Math.max(-E, Math.min(E, z[0])), Math.max(-E, Math.min(E, z[1]))]; show(); }
function fromEvent(e) { const r = plane.getBoundingClientRect();  // inside the border
  const x = e.clientX - r.left - plane.clientLeft, y = e.clientY - r.top - plane.clientTop;
  return [fromPx(x * S / plane.clientWidth), -fromPx(y * S / plane.clientHeight)]; }
plane.addEventListener("pointerdown", e => { plane.setPointerCapture(e.pointerId); plane.focus(); setZ(fromEvent(e)); });
plane.addEventListener("pointermove", e => { if (e.buttons) setZ(fromEvent(e)); });
root.addEventListener("keydown", e => { if (e.key === "Home") { e.preventDefault(); setZ([0, 0]); return; }
  const step = E / data.steps, moves = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, step], ArrowDown: [0, -step] };
  if (moves[e.key]) { e.preventDefault(); setZ([state.z[0] + moves[e.key][0], state.z[1] + moves[e.key][1]]); } });
root.querySelectorAll("button[data-y]").forEach(b => b.addEventListener("click", () => { state.y = Number(b.dataset.y); show(); }));
// the check, at the points torch decoded when the page was made with the same rounded
// weights: the page's float64 sums must match torch's float32 ones to round-off
const torchPixels = floats(data.checks.torch, "float32");
let worst = 0;
data.checks.z.forEach((z, k) => { const p = decode(z, data.classes ? data.checks.y[k] : 0);
  if (p.length !== 784) throw new Error("the decoder gives " + p.length + " pixels, not 784");
  for (let i = 0; i < 784; i++) { const d = Math.abs(p[i] - torchPixels[784 * k + i]); worst = Math.max(worst, Number.isNaN(d) ? Infinity : d); } });
const tolerance = data.checks.tolerance;
root.vaelibExplorer = { decode: decode, setZ: setZ, z: () => state.z.slice(), y: () => state.y, pixels: () => Array.from(state.pixels),
  extent: E, steps: data.steps, checks: { z: data.checks.z, y: data.checks.y, steps: data.checks.steps }, classes: data.classes,
  reference: k => Array.from(torchPixels.subarray(784 * k, 784 * (k + 1))), worst: worst, tolerance: tolerance,
  points: pts, labels: data.labels, palette: data.palette, outside: outside, checkedAt: performance.now() };
const ok = worst <= tolerance;
root.dataset.status = ok ? "ok" : "mismatch";
root.querySelector(".vx-status").textContent = (ok ? "Checked against torch at " : "CHECK FAILED at ") + data.checks.z.length +
  " points: this page's pixels are within " + worst.toExponential(1) + " of torch's with the same " + data.dtype +
  " weights (allowed " + tolerance.toExponential(0) + "); rounding the weights to " + data.dtype + " moved torch's pixels by at most " +
  data.checks.rounding.toExponential(1) + "." +
  (outside ? " " + outside.toLocaleString("en-US") + " of " + n.toLocaleString("en-US") + " code means lie outside the plane and are not drawn." : "");
if (!ok) { const box = root.querySelector(".vx-error"); box.style.display = "block";
  box.textContent = "This explorer's decoder disagrees with torch's (largest pixel difference " + worst.toExponential(2) + "): its pictures are not to be trusted.";
  console.error("vaelib explorer " + root.id + ": decoder disagrees with torch by " + worst); }
show();
"""
