"""The course's diagrams: the graphical model (chapter 3), the VAE's flow (chapter 5) and
the reparameterization graph (chapter 4). Each draws on (and returns) an ``Axes``.

Each diagram is a small declarative description (a ``_Diagram``) that one routine,
``_draw_diagram``, draws; the tests read the same description. Coordinates are inches
at the design size, so a figure of the design size draws text at its nominal size.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.patches import FancyBboxPatch
from matplotlib.path import Path




@dataclass(frozen=True)
class _Node:
    label: str
    xy: tuple[float, float]
    kind: str  # a key of _NODE_STYLE


@dataclass(frozen=True)
class _Edge:
    src: str
    dst: str
    kind: str  # a key of _EDGE_STYLE
    label: str = ""
    rad: float = 0.0  # curvature ("arc3"); the label sits at the curve's midpoint
    route: str = ""  # another matplotlib connectionstyle, with label_xy for its label
    label_xy: tuple[float, float] | None = None


@dataclass(frozen=True)
class _Diagram:
    title: str
    nodes: dict[str, _Node]
    edges: tuple[_Edge, ...]
    size: tuple[float, float]  # (width, height) in inches; the data limits are (0, w) × (0, h)
    notes: tuple[tuple[float, float, str], ...] = ()  # (x, y, text), small and grey
    plate: tuple[float, float, float, float, str] | None = None  # (x, y, width, height, label)
    fontsize: float = 11.0  # of the nodes' labels
    label_fontsize: float = 10.0  # of the edges' labels

    def __post_init__(self):
        for edge in self.edges:
            if edge.src not in self.nodes or edge.dst not in self.nodes:
                raise ValueError(f"edge {edge.src} -> {edge.dst} names an unknown node")


def _pointed_box(x0: float, y0: float, width: float, height: float, mutation_size: float) -> Path:
    """A box with pointed ends (a stretched diamond): the shape of a random node."""
    pad = 0.3 * mutation_size
    x0, y0, x1, y1 = x0 - pad, y0 - pad, x0 + width + pad, y0 + height + pad
    tip, ymid = (y1 - y0) / 2, (y0 + y1) / 2
    return Path([(x0, y0), (x1, y0), (x1 + tip, ymid), (x1, y1), (x0, y1), (x0 - tip, ymid), (x0, y0)], closed=True)


_NODE_STYLE = {  # kind -> the bbox of the node's text
    "latent": {"boxstyle": "circle,pad=0.5", "fc": "white", "ec": "black"},
    "observed": {"boxstyle": "circle,pad=0.5", "fc": "0.78", "ec": "black"},
    "value": {"boxstyle": "round,pad=0.45", "fc": "white", "ec": "black"},
    "network": {"boxstyle": "round,pad=0.5", "fc": "#dce9f5", "ec": "#1f4e79"},
    "random": {"boxstyle": _pointed_box, "fc": "#fde5c0", "ec": "#a35200"},
    "loss": {"boxstyle": "round,pad=0.45", "fc": "#fbe3e3", "ec": "#9c1c1c"},
}
_EDGE_STYLE = {  # kind -> the arrow's properties
    "forward": {"arrowstyle": "-|>", "color": "black", "linestyle": "-"},
    "generative": {"arrowstyle": "-|>", "color": "black", "linestyle": "-"},
    "inference": {"arrowstyle": "-|>", "color": "#1f4e79", "linestyle": "--"},
    "loss": {"arrowstyle": "-|>", "color": "#9c1c1c", "linestyle": "-"},
    "gradient": {"arrowstyle": "-|>", "color": "#d62728", "linestyle": "--"},
    "blocked": {"arrowstyle": "-", "color": "#d62728", "linestyle": ":"},  # drawn with a cross
}


def _edge_label_xy(spec: _Diagram, edge: _Edge) -> tuple[float, float]:
    """The midpoint of an "arc3" edge: a quadratic Bézier curve bulging by ``rad``."""
    if edge.label_xy is not None:
        return edge.label_xy
    (x0, y0), (x1, y1) = spec.nodes[edge.src].xy, spec.nodes[edge.dst].xy
    return (x0 + x1) / 2 + edge.rad * (y1 - y0) / 2, (y0 + y1) / 2 - edge.rad * (x1 - x0) / 2


def _draw_edge(ax: Axes, spec: _Diagram, edge: _Edge, boxes: dict, scale: float) -> None:
    """One edge: an annotation whose arrow is clipped at the two nodes' boxes, and its label."""
    style = _EDGE_STYLE[edge.kind]
    arrow = {**style, "lw": 1.4 * scale, "mutation_scale": 14 * scale, "shrinkA": 1, "shrinkB": 1}
    arrow.update(connectionstyle=edge.route or f"arc3,rad={edge.rad}", patchA=boxes[edge.src], patchB=boxes[edge.dst])
    src, dst = spec.nodes[edge.src].xy, spec.nodes[edge.dst].xy
    ax.annotate("", xy=dst, xytext=src, arrowprops=arrow, gid=f"{edge.kind}:{edge.src}->{edge.dst}")
    text = {"ha": "center", "va": "center", "color": style["color"]}
    if edge.kind == "blocked":
        ax.text(*_edge_label_xy(spec, edge), r"$\times$", fontsize=20 * scale, **text)
    elif edge.label:
        bbox = {"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none"}
        ax.text(*_edge_label_xy(spec, edge), edge.label, fontsize=spec.label_fontsize * scale, bbox=bbox, **text)


def _draw_diagram(spec: _Diagram, ax: Axes | None) -> Axes:
    """Draw ``spec`` on ``ax`` (on a new figure of the design size when None) and return it.

    Nodes are boxed texts, edges are arrows clipped at the boxes. Text, lines and arrow
    heads shrink with an ``ax`` smaller than the design size, so nothing overflows.
    """
    width, height = spec.size
    if ax is None:
        fig, ax = plt.subplots(figsize=(width, height + 0.4))
        fig.subplots_adjust(left=0, right=1, bottom=0, top=height / (height + 0.4))
    box_w, box_h = ax.get_position().size * ax.figure.get_size_inches()
    scale = min(1.0, box_w / width, box_h / height)
    ax.set(xlim=(0, width), ylim=(0, height), aspect="equal")
    ax.set_title(spec.title, fontsize=12 * scale)
    ax.set_axis_off()
    if spec.plate is not None:
        x, y, w, h, label = spec.plate
        ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0,rounding_size=0.1", fc="none", lw=scale))
        ax.text(x + w - 0.1, y + 0.1, label, ha="right", va="bottom", fontsize=10 * scale)
    for x, y, note in spec.notes:
        ax.text(x, y, note, ha="center", va="center", fontsize=9.5 * scale, color="0.3")
    boxes = {}
    for name, node in spec.nodes.items():
        text = ax.text(*node.xy, node.label, ha="center", va="center", fontsize=spec.fontsize * scale, gid=name)
        text.set_bbox({**_NODE_STYLE[node.kind], "lw": 1.2 * scale})
        boxes[name] = text.get_bbox_patch()
    for edge in spec.edges:
        _draw_edge(ax, spec, edge, boxes, scale)
    return ax


def _graphical_model_spec(plate_label: str = "$n$ images") -> _Diagram:
    """The VAE's graphical model: z → x generates, x ⇢ z infers, once per data point."""
    nodes = {"z": _Node("$z$", (2.2, 2.15), "latent"), "x": _Node("$x$", (2.2, 0.75), "observed")}
    edges = (
        _Edge("z", "x", "generative", "decoder\n" r"$p_\theta(x \mid z)$", rad=0.6, label_xy=(1.15, 1.45)),
        _Edge("x", "z", "inference", "encoder\n" r"$q_\phi(z \mid x)$", rad=0.6, label_xy=(3.25, 1.45)),
    )
    notes = ((2.2, 2.75, r"prior $p(z) = \mathcal{N}(0, I)$"),)
    plate = (0.3, 0.1, 3.8, 2.95, plate_label)
    return _Diagram("the VAE as a graphical model", nodes, edges, (4.4, 3.15), notes, plate, fontsize=14)


def graphical_model(ax: Axes | None = None, plate_label: str = "$n$ images") -> Axes:
    """The VAE's graphical model, in plate notation.

    The latent z (unshaded) generates the observed image x (shaded) through the
    decoder's likelihood p_θ(x | z) (solid arrow), with the prior p(z) = N(0, I) on z;
    the encoder q_φ(z | x) infers z back from x (dashed arrow). The plate repeats this
    for each of the n images (``plate_label`` names them). Draws on ``ax`` (a new
    figure when None) and returns it. Introduced in chapter 3.
    """
    return _draw_diagram(_graphical_model_spec(plate_label), ax)


def _vae_flow_spec() -> _Diagram:
    """One image through the VAE, and where the loss's two terms attach."""
    y, y_loss, y_bar = 2.35, 1.2, 0.4  # rows: the forward pass, the loss, the x → recon bar
    nodes = {
        "x": _Node("$x$", (0.35, y), "observed"),
        "encoder": _Node("encoder\n" r"$q_\phi(z \mid x)$", (1.45, y), "network"),
        "mu_logvar": _Node(r"$\mu,\ \log\sigma^2$", (2.95, y), "value"),
        "eps": _Node(r"$\varepsilon \sim \mathcal{N}(0, I)$", (4.5, 3.3), "random"),
        "z": _Node(r"$z = \mu + \sigma \odot \varepsilon$", (4.5, y), "value"),
        "decoder": _Node("decoder\n" r"$p_\theta(x \mid z)$", (6.05, y), "network"),
        "x_hat": _Node(r"logits / $\hat{x}$", (7.45, y), "value"),
        "kl": _Node("KL term\n" r"$\mathrm{KL}(q_\phi(z \mid x)\,\|\,p(z))$", (2.95, y_loss), "loss"),
        "loss": _Node("loss = negative ELBO\n= reconstruction + KL\n(nats per image)", (5.15, y_loss), "loss"),
        "recon": _Node("reconstruction term\n" r"$-\log p_\theta(x \mid z)$", (7.45, y_loss), "loss"),
    }
    bar = (y - y_bar) / math.dist(nodes["x"].xy, nodes["recon"].xy)  # depth below x, a fraction of |x → recon|
    chain = ("x", "encoder", "mu_logvar", "z", "decoder", "x_hat")
    edges = tuple(_Edge(a, b, "forward") for a, b in itertools.pairwise(chain)) + (
        _Edge("eps", "z", "forward"),
        _Edge("mu_logvar", "kl", "loss", "closed form"),
        _Edge("x_hat", "recon", "loss"),
        _Edge("x", "recon", "loss", "compared with $x$", route=f"bar,angle=180,fraction={bar}", label_xy=(2, y_bar)),
        _Edge("kl", "loss", "loss"),
        _Edge("recon", "loss", "loss"),
    )
    return _Diagram("a VAE, one image: encode, sample, decode, score", nodes, edges, (8.3, 3.75))


def vae_flow_diagram(ax: Axes | None = None) -> Axes:
    """The VAE's forward pass and its loss, for one image x.

    The encoder q_φ(z | x) maps x to μ and log σ²; z = μ + σ ⊙ ε with ε ~ N(0, I) as a
    side input; the decoder p_θ(x | z) maps z to logits (x̂ = sigmoid(logits)). The
    loss is the negative ELBO = reconstruction −log p_θ(x | z) (the decoder's output
    against x) + KL(q_φ(z | x) ‖ p(z)) (in closed form from μ and log σ²), in nats per
    image. Draws on ``ax`` (a new figure when None) and returns it. Introduced in chapter 5.
    """
    return _draw_diagram(_vae_flow_spec(), ax)


def _reparameterization_spec(reparameterized: bool) -> _Diagram:
    """One draw of z as a computation graph, with the gradients of f(z) drawn backwards."""
    nodes = {
        "mu": _Node(r"$\mu$", (0.5, 2.25), "value"),
        "logvar": _Node(r"$\log\sigma^2$", (0.5, 0.95), "value"),
        "std": _Node(r"$\sigma = \exp(\frac{1}{2}\log\sigma^2)$", (2.05, 0.95), "value"),
        "f": _Node("$f(z)$", (5.3, 1.6), "value"),
    }
    forward = [_Edge("mu", "z", "forward"), _Edge("logvar", "std", "forward"), _Edge("std", "z", "forward")]
    backward = [_Edge("f", "z", "gradient", r"$\partial f / \partial z$", rad=0.5)]
    if reparameterized:
        nodes["z"] = _Node(r"$z = \mu + \sigma\,\varepsilon$", (3.75, 1.6), "value")
        nodes["eps"] = _Node(r"$\varepsilon \sim \mathcal{N}(0, I)$", (3.75, 0.35), "random")
        forward.append(_Edge("eps", "z", "forward"))
        backward += [
            _Edge("z", "mu", "gradient", r"$\partial f / \partial \mu$", rad=0.35),
            _Edge("z", "std", "gradient", r"$\partial f / \partial \sigma$", rad=-0.6),
            _Edge("std", "logvar", "gradient", r"$\partial f / \partial \log\sigma^2$", rad=-0.5),
        ]
        title = r"reparameterized: $z = \mu + \sigma\,\varepsilon$"
    else:
        nodes["z"] = _Node(r"$z \sim \mathcal{N}(\mu, \sigma^2)$", (3.75, 1.6), "random")
        backward += [_Edge("z", "mu", "blocked", rad=0.35), _Edge("z", "std", "blocked", rad=-0.6)]
        title = r"sampled: $z \sim \mathcal{N}(\mu, \sigma^2)$"
    forward.append(_Edge("z", "f", "forward"))
    blocked = "sample() returns z detached from the graph:\n" r"no gradient reaches $\mu$ or $\log\sigma^2$"
    notes = () if reparameterized else ((3.75, 0.35, blocked),)
    return _Diagram(title, nodes, tuple(forward + backward), (5.8, 2.9), notes, fontsize=12, label_fontsize=11)


def reparameterization_graph(ax: Axes | None = None, reparameterized: bool = True) -> Axes:
    """The computation graph of one draw of z, forward (black) and backward (red, ∂f/∂·).

    Reparameterized, z = μ + σ ε with σ = exp(½ log σ²) and the random input
    ε ~ N(0, I): the gradient of f(z) flows back through z to μ and log σ², and none
    into ε. Otherwise z ~ N(μ, σ²) is itself a sampling node: the gradient stops at z
    (crosses), and nothing reaches μ or log σ². Side by side::

        grid = dict(left=0, right=1, bottom=0, wspace=0)
        fig, axes = plt.subplots(1, 2, figsize=(11.6, 3.2), gridspec_kw=grid)
        reparameterization_graph(axes[0], reparameterized=False)
        reparameterization_graph(axes[1])

    Draws on ``ax`` (a new figure when None) and returns it. Introduced in chapter 4.
    """
    return _draw_diagram(_reparameterization_spec(reparameterized), ax)
