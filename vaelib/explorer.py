"""An interactive latent explorer for a model with a 2-D latent space, in plain JavaScript.

``explorer(model, images, labels)`` returns an object that a notebook displays as HTML:
a latent plane to move a point over (mouse, touch, arrow keys) and the digit decoded
there, drawn large, with z printed. The decoder's weights are embedded in the page
(float16 by default) and its arithmetic (matrix products, ReLU, sigmoid) runs in the
page, so it works on the static site with no network, in Colab and in Jupyter.

It is checked like the equations: torch decodes a few check points when the explorer is
rendered and the page embeds the results; on load, the page decodes the same points
itself and shows a visible error if they disagree beyond the rounding of its weights.
"""

from __future__ import annotations

import base64
import json
import uuid

import numpy as np
import torch
from torch import nn

MAX_BYTES = 1_500_000  # one explorer's share of a page
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
    plane spans ``[-extent, extent]`` on both axes (3: where N(0, I) puts most of its
    mass per axis, 99.7%). ``images`` (with optional ``labels``) are drawn as dots at their
    code means, coloured by label. ``dtype`` is how the weights are embedded. Introduced
    in chapter 5.
    """
    layers = _decoder_layers(model)
    latent = model.latent_dim
    classes = getattr(model, "num_classes", 0) if getattr(model, "conditional", False) else 0
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {DTYPES}, got {dtype!r}")
    if not extent > 0:
        raise ValueError(f"extent must be positive, got {extent!r}")
    if classes and images is not None and labels is None:
        raise ValueError("a conditional model encodes images with their labels: pass labels too")
    model = model.eval()
    device = next(model.parameters()).device
    generator = torch.Generator().manual_seed(seed)
    z = (torch.rand(check_points, latent, generator=generator) * 2 - 1) * extent
    y = torch.arange(check_points) % classes if classes else None
    with torch.no_grad():
        reference = _decode(model, z.to(device), None if y is None else y.to(device)).cpu().double()
    embedded = [(w.to(dtype=getattr(torch, dtype)), b.to(dtype=getattr(torch, dtype)), relu) for w, b, relu in layers]
    rounded = _decode_layers(embedded, z.double(), y, classes)
    # the page computes in float64 from the embedded weights, as `rounded` does; allow
    # for the rounding of the weights, measured on the check points, with room to spare
    tolerance = 4 * (rounded - reference).abs().max().item() + 1e-6
    data = {
        "id": uuid.uuid4().hex[:10],
        "extent": float(extent),
        "latent": latent,
        "classes": classes,
        "dtype": dtype,
        "model": type(model).__name__,
        "layers": [
            {"in": w.shape[1], "out": w.shape[0], "w": _b64(w), "b": _b64(b), "relu": relu} for w, b, relu in embedded
        ],
        "checks": {
            "z": z.tolist(),
            "y": [] if y is None else y.tolist(),
            "pixels": _b64(reference.float()),
            "tolerance": tolerance,
        },
        "points": [],
        "labels": [],
        "palette": PALETTE,
    }
    if images is not None:
        codes = _code_means(model, images.to(device), None if labels is None else labels.to(device)).cpu()
        data["points"] = [round(v, 3) for v in codes.flatten().tolist()]
        data["labels"] = [] if labels is None else [int(v) for v in labels.tolist()]
    result = Explorer(data)
    if result.nbytes > MAX_BYTES:
        raise ValueError(
            f"this explorer would put {result.nbytes:,} bytes in the page, more than {MAX_BYTES:,}: "
            "use dtype='float16', fewer images, or a smaller decoder"
        )
    return result


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
    return layers


def _decode(model: nn.Module, z: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
    """Pixel probabilities sigmoid(logits) from torch's own decoder."""
    logits = model.decode(z) if y is None else model.decode(z, y)
    return torch.sigmoid(logits)


def _decode_layers(layers, z: torch.Tensor, y: torch.Tensor | None, classes: int) -> torch.Tensor:
    """The page's arithmetic, in float64, from the embedded weights."""
    x = z if y is None else torch.cat([z, nn.functional.one_hot(y, classes).double()], dim=-1)
    for w, b, relu in layers:
        x = x @ w.double().T + b.double()
        if relu:
            x = x.clamp(min=0)
    return torch.sigmoid(x)


def _code_means(model: nn.Module, images: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
    with torch.no_grad():
        codes = model.encode(images) if labels is None or not getattr(model, "conditional", False) else model.encode(images, labels)
    return codes[0] if isinstance(codes, tuple) else codes


def _b64(tensor: torch.Tensor) -> str:
    """Little-endian bytes of a tensor, row-major, in base64."""
    array = tensor.detach().cpu().contiguous().numpy()
    return base64.b64encode(array.astype(array.dtype.newbyteorder("<")).tobytes()).decode()


def render(data: dict) -> str:
    """The explorer's HTML and script for ``data`` (as ``explorer`` builds it)."""
    ident = f"vx-{data['id']}"
    buttons = ""
    if data["classes"]:
        buttons = '<div class="vx-labels" role="group" aria-label="label y">' + "".join(
            f'<button type="button" data-y="{k}" style="margin:1px;min-width:2em">{k}</button>'
            for k in range(data["classes"])
        ) + "</div>"
    return f"""<div class="vaelib-explorer" id="{ident}" data-status="loading" style="font:14px sans-serif;margin:8px 0">
<div style="display:flex;gap:16px;flex-wrap:wrap;align-items:flex-start">
<canvas class="vx-plane" width="320" height="320" tabindex="0" aria-label="latent plane: drag, or use the arrow keys"
 style="border:1px solid #888;touch-action:none;cursor:crosshair;max-width:100%"></canvas>
<div><canvas class="vx-digit" width="196" height="196" style="border:1px solid #888;image-rendering:pixelated"></canvas>
<div class="vx-z" style="font-family:monospace;margin:4px 0"></div>{buttons}
<div class="vx-status" style="color:#555;font-size:12px"></div></div></div>
<div class="vx-error" role="alert" style="display:none;color:#b00020;font-weight:bold"></div>
<script>
(function () {{
const data = {json.dumps(data)};
const root = document.getElementById("{ident}");
{_SCRIPT}
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
function drawPlane() { const g = plane.getContext("2d"); g.fillStyle = "#fff"; g.fillRect(0, 0, S, S);
  g.strokeStyle = "#ddd"; g.fillStyle = "#666"; g.font = "10px sans-serif";
  for (let t = Math.ceil(-E); t <= E; t++) { const p = toPx(t); g.beginPath(); g.moveTo(p, 0); g.lineTo(p, S); g.moveTo(0, S - p); g.lineTo(S, S - p); g.stroke();
    g.fillText(String(t), p + 2, S - 2); if (t) g.fillText(String(t), 2, S - p - 2); }
  const pts = data.points;
  for (let i = 0; i < pts.length / 2; i++) { g.fillStyle = data.labels.length ? data.palette[data.labels[i] % 10] : "#888";
    g.fillRect(toPx(pts[2 * i]) - 1.5, S - toPx(pts[2 * i + 1]) - 1.5, 3, 3); }
  g.strokeStyle = "#000"; g.lineWidth = 2; g.beginPath(); g.arc(toPx(state.z[0]), S - toPx(state.z[1]), 6, 0, 2 * Math.PI); g.stroke(); g.lineWidth = 1; }
function show() { state.pixels = decode(state.z, state.y);
  const img = small.getContext("2d").createImageData(28, 28);
  for (let i = 0; i < 784; i++) { const v = Math.round(255 * (1 - state.pixels[i])); img.data.set([v, v, v, 255], 4 * i); }
  small.getContext("2d").putImageData(img, 0, 0);
  const g = digit.getContext("2d"); g.imageSmoothingEnabled = false; g.drawImage(small, 0, 0, digit.width, digit.height);
  label.textContent = "z = (" + state.z[0].toFixed(2) + ", " + state.z[1].toFixed(2) + ")" + (data.classes ? ", y = " + state.y : "");
  drawPlane(); }
function setZ(z) { state.z = [Math.max(-E, Math.min(E, z[0])), Math.max(-E, Math.min(E, z[1]))]; show(); }
function fromEvent(e) { const r = plane.getBoundingClientRect(); return [fromPx((e.clientX - r.left) * S / r.width), -fromPx((e.clientY - r.top) * S / r.height)]; }
plane.addEventListener("pointerdown", e => { plane.setPointerCapture(e.pointerId); plane.focus(); setZ(fromEvent(e)); });
plane.addEventListener("pointermove", e => { if (e.buttons) setZ(fromEvent(e)); });
plane.addEventListener("keydown", e => { const step = E / 30, moves = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, step], ArrowDown: [0, -step] };
  if (moves[e.key]) { e.preventDefault(); setZ([state.z[0] + moves[e.key][0], state.z[1] + moves[e.key][1]]); } });
root.querySelectorAll("button[data-y]").forEach(b => b.addEventListener("click", () => { state.y = Number(b.dataset.y); show(); }));
// the check: the page's decoder against torch's, at the points torch decoded
const refs = floats(data.checks.pixels, "float32");
let worst = 0;
data.checks.z.forEach((z, k) => { const p = decode(z, data.classes ? data.checks.y[k] : 0);
  for (let i = 0; i < p.length; i++) worst = Math.max(worst, Math.abs(p[i] - refs[k * p.length + i])); });
root.vaelibExplorer = { decode: decode, setZ: setZ, z: () => state.z.slice(), y: () => state.y, pixels: () => Array.from(state.pixels), worst: worst, tolerance: data.checks.tolerance };
const ok = worst <= data.checks.tolerance;
root.dataset.status = ok ? "ok" : "mismatch";
root.querySelector(".vx-status").textContent = (ok ? "checked against torch at " : "CHECK FAILED at ") + data.checks.z.length + " points: largest difference " + worst.toExponential(1) + " (allowed " + data.checks.tolerance.toExponential(1) + ", " + data.dtype + " weights)";
if (!ok) { const box = root.querySelector(".vx-error"); box.style.display = "block"; box.textContent = "This explorer's decoder disagrees with torch's (largest pixel difference " + worst.toExponential(2) + "): its pictures are not to be trusted.";
  console.error("vaelib explorer " + root.id + ": decoder disagrees with torch by " + worst); }
show();
"""
