"""Every figure function returns a labelled Figure and rejects bad input; every diagram
draws its description, and the description says what the chapter claims."""

import itertools

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from matplotlib.colors import to_hex
from matplotlib.text import Annotation
from matplotlib.transforms import Bbox

import vaelib
from vaelib import (
    VAE,
    Autoencoder,
    History,
    graphical_model,
    image_grid,
    interpolation_strip,
    latent_manifold,
    latent_scatter,
    reconstruction_grid,
    reparameterization_graph,
    training_curves,
    vae_flow_diagram,
)
from vaelib.diagrams import _Diagram, _Edge, _graphical_model_spec, _Node, _reparameterization_spec, _vae_flow_spec


def test_image_grid_tiles_rows():
    fig = image_grid(torch.rand(10, 784), ncol=4, title="ten")
    ax = fig.axes[0]
    assert ax.get_title() == "ten"
    assert ax.images[0].get_array().shape == (3 * 28, 4 * 28)
    with pytest.raises(ValueError, match="square number of pixels"):
        image_grid(torch.rand(2, 10))


def test_reconstruction_grid_pairs_rows():
    fig = reconstruction_grid(torch.rand(5, 784), torch.rand(5, 784))
    assert fig.axes[0].images[0].get_array().shape == (56, 5 * 28)
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["original", "reconstruction"]
    with pytest.raises(ValueError, match="same shape"):
        reconstruction_grid(torch.rand(5, 784), torch.rand(4, 784))


def test_latent_scatter_labels():
    fig = latent_scatter(torch.randn(50, 3), torch.arange(50) % 10)
    ax = fig.axes[0]
    assert ax.get_xlabel() == "$z_1$" and ax.get_ylabel() == "$z_2$"
    assert len(ax.collections[0].get_offsets()) == 50
    with pytest.raises(ValueError, match="one label per row"):
        latent_scatter(torch.randn(50, 2), torch.arange(49))


def test_latent_manifold_needs_two_latents():
    vaelib.seed_all(0)
    fig = latent_manifold(VAE(hidden_dim=16, latent_dim=2), n=5)
    assert fig.axes[0].images[0].get_array().shape == (5 * 28, 5 * 28)
    assert "Phi^{-1}" in fig.axes[0].get_xlabel()
    with pytest.raises(ValueError, match="latent_dim 2, got 20"):
        latent_manifold(VAE())


def test_interpolation_strip_works_for_vae_and_autoencoder():
    vaelib.seed_all(0)
    x_a, x_b = torch.rand(784), torch.rand(784)
    for model in (VAE(hidden_dim=16, latent_dim=4), Autoencoder(hidden_dim=16, latent_dim=4)):
        fig = interpolation_strip(model, x_a, x_b, steps=7)
        assert fig.axes[0].images[0].get_array().shape == (28, 7 * 28)


def test_training_curves_plot_both_losses():
    history = History(device="cpu")
    history.append(200.0, 190.0, 0.5)
    history.append(150.0, 149.0, 0.4)
    ax = training_curves(history).axes[0]
    assert [line.get_label() for line in ax.get_lines()] == ["train", "test"]
    assert ax.get_ylabel() == "loss (nats per image)" and "(cpu)" in ax.get_title()


# The diagrams: each is drawn from a description (a _Diagram) that the tests read too.

DIAGRAMS = {
    "graphical_model": (graphical_model, _graphical_model_spec),
    "vae_flow": (vae_flow_diagram, _vae_flow_spec),
    "reparameterized": (reparameterization_graph, lambda: _reparameterization_spec(True)),
    "sampled": (
        lambda ax=None: reparameterization_graph(ax, reparameterized=False),
        lambda: _reparameterization_spec(False),
    ),
}


def _arrows(ax):
    """The Axes' arrows by gid ("kind:src->dst")."""
    return {a.get_gid(): a.arrow_patch for a in ax.texts if isinstance(a, Annotation)}


def _node_boxes(ax, spec):
    return {t.get_gid(): t.get_bbox_patch() for t in ax.texts if t.get_gid() in spec.nodes}


def _reached(spec, start, kind="gradient"):
    """The nodes that ``kind`` edges reach from ``start``, following them."""
    reached, frontier = set(), [start]
    while frontier:
        node = frontier.pop()
        for edge in spec.edges:
            if edge.kind == kind and edge.src == node and edge.dst not in reached:
                reached.add(edge.dst)
                frontier.append(edge.dst)
    return reached


@pytest.mark.parametrize("name", DIAGRAMS)
def test_diagram_draws_every_node_and_edge_once(name):
    draw, build = DIAGRAMS[name]
    spec, ax = build(), draw()
    nodes = {t.get_gid(): t.get_text() for t in ax.texts if t.get_gid() in spec.nodes}
    assert nodes == {key: node.label for key, node in spec.nodes.items()}
    assert None not in _node_boxes(ax, spec).values()  # every node is a boxed text
    arrows = _arrows(ax)
    assert len(arrows) == len(spec.edges) == len({f"{e.kind}:{e.src}->{e.dst}" for e in spec.edges})
    assert set(arrows) == {f"{e.kind}:{e.src}->{e.dst}" for e in spec.edges}
    texts = [t.get_text() for t in ax.texts]
    assert all(edge.label in texts for edge in spec.edges if edge.label)
    assert ax.get_title() == spec.title and not ax.axison and ax.get_aspect() == 1.0


@pytest.mark.parametrize("name", DIAGRAMS)
def test_diagram_arrows_run_from_box_edge_to_box_edge(name):
    """Every arrow touches its two nodes' boxes, and its shaft enters no box (its own included)."""
    draw, build = DIAGRAMS[name]
    spec, ax = build(), draw()
    ax.figure.canvas.draw()
    boxes = _node_boxes(ax, spec)
    for edge in spec.edges:
        arrow = _arrows(ax)[f"{edge.kind}:{edge.src}->{edge.dst}"]
        path = arrow.get_transform().transform_path(arrow.get_path())  # in pixels, curves flattened below
        shaft, *head = path.to_polygons(closed_only=False)  # the head's wings may graze a box's corner
        points = np.concatenate([shaft, *head])
        for key, box in boxes.items():
            inside = [p for p in shaft if box.contains_point(p)]
            assert not inside, f"{edge.src} -> {edge.dst} enters {key} at {inside[0]}"
        for end in (edge.src, edge.dst):
            near = boxes[end].get_window_extent().padded(6)  # the clipped end sits a few pixels out
            assert any(near.contains(*p) for p in points), f"{edge.src} -> {edge.dst} does not reach {end}"


def _text_extents(ax):
    """Window extents of every non-empty text (its box where it has one), and the title."""
    renderer = ax.figure.canvas.get_renderer()
    texts = [t for t in ax.texts if t.get_text()] + [ax.title]
    return [(t.get_text(), (t.get_bbox_patch() or t).get_window_extent(renderer)) for t in texts]


@pytest.mark.parametrize("name", DIAGRAMS)
def test_diagram_text_fits_and_does_not_overlap(name):
    draw, _ = DIAGRAMS[name]
    ax = draw()
    ax.figure.canvas.draw()
    extents = _text_extents(ax)
    for text, extent in extents:
        assert ax.figure.bbox.contains(extent.x0, extent.y0) and ax.figure.bbox.contains(extent.x1, extent.y1), text
    for (a, box_a), (b, box_b) in itertools.combinations(extents, 2):
        overlap = Bbox.intersection(box_a, box_b)
        assert overlap is None or overlap.width * overlap.height < 1.0, f"{a!r} overlaps {b!r}"


def test_reparameterized_gradients_reach_mu_and_logvar_but_not_eps():
    spec = _reparameterization_spec(reparameterized=True)
    assert _reached(spec, "f") == {"z", "mu", "std", "logvar"}
    assert not [e for e in spec.edges if e.dst == "eps" and e.kind != "forward"]
    assert spec.nodes["eps"].kind == "random" and spec.nodes["z"].kind != "random"
    forward = {(e.src, e.dst) for e in spec.edges if e.kind == "forward"}
    assert {("mu", "z"), ("std", "z"), ("eps", "z"), ("logvar", "std"), ("z", "f")} == forward
    assert all((e.dst, e.src) in forward for e in spec.edges if e.kind == "gradient")  # each runs a forward edge back
    assert spec.nodes["z"].label == r"$z = \mu + \sigma\,\varepsilon$"


def test_sampled_gradient_stops_at_z():
    spec = _reparameterization_spec(reparameterized=False)
    assert _reached(spec, "f") == {"z"}
    assert "eps" not in spec.nodes and spec.nodes["z"].kind == "random"
    assert {(e.src, e.dst) for e in spec.edges if e.kind == "blocked"} == {("z", "mu"), ("z", "std")}
    ax = reparameterization_graph(reparameterized=False)
    assert [t.get_text() for t in ax.texts].count(r"$\times$") == 2  # one cross on each blocked path
    arrows = _arrows(ax)
    assert arrows["blocked:z->mu"].get_arrowstyle().__class__.__name__ == "Curve"  # no arrow head: nothing arrives


def test_gradient_arrows_look_unlike_forward_arrows():
    arrows = _arrows(reparameterization_graph())
    forward, gradient = arrows["forward:z->f"], arrows["gradient:f->z"]
    assert to_hex(gradient.get_edgecolor()) != to_hex(forward.get_edgecolor())
    assert gradient.get_linestyle() == "--" and forward.get_linestyle() == "-"


def test_graphical_model_arrows_and_shading():
    spec = _graphical_model_spec()
    kinds = {(e.src, e.dst): e.kind for e in spec.edges}
    assert kinds == {("z", "x"): "generative", ("x", "z"): "inference"}
    ax = graphical_model()
    arrows = _arrows(ax)
    assert arrows["inference:x->z"].get_linestyle() == "--"
    assert arrows["generative:z->x"].get_linestyle() == "-"
    boxes = _node_boxes(ax, spec)
    assert to_hex(boxes["z"].get_facecolor()) == "#ffffff" and to_hex(boxes["x"].get_facecolor()) != "#ffffff"
    texts = " ".join(t.get_text() for t in ax.texts)
    for part in (r"$p_\theta(x \mid z)$", r"$q_\phi(z \mid x)$", r"$p(z) = \mathcal{N}(0, I)$", "$n$ images"):
        assert part in texts
    assert len(ax.patches) == 1  # the plate


def test_vae_flow_loss_terms_attach_where_they_are_computed():
    spec = _vae_flow_spec()
    into = {key: {e.src for e in spec.edges if e.dst == key} for key in spec.nodes}
    assert into["recon"] == {"x_hat", "x"}  # the decoder's output against the data
    assert into["kl"] == {"mu_logvar"}  # in closed form from mu and logvar
    assert into["loss"] == {"recon", "kl"} and into["z"] == {"mu_logvar", "eps"}
    assert spec.nodes["eps"].kind == "random" and spec.nodes["x"].kind == "observed"
    assert r"-\log p_\theta(x \mid z)" in spec.nodes["recon"].label
    assert r"\mathrm{KL}(q_\phi(z \mid x)\,\|\,p(z))" in spec.nodes["kl"].label
    assert "negative ELBO" in spec.nodes["loss"].label and "nats per image" in spec.nodes["loss"].label


@pytest.mark.parametrize("name", DIAGRAMS)
def test_diagram_makes_a_figure_or_uses_the_given_axes(name):
    draw, build = DIAGRAMS[name]
    before = len(plt.get_fignums())
    ax = draw()
    assert len(plt.get_fignums()) == before + 1
    width, height = build().size
    assert tuple(ax.figure.get_size_inches()) == pytest.approx((width, height + 0.4))
    _, axes = plt.subplots(1, 2)
    assert draw(axes[1]) is axes[1] and len(plt.get_fignums()) == before + 2
    assert not axes[0].texts and len(axes[1].texts) == len(ax.texts)


def test_diagrams_shrink_to_fit_small_axes():
    """The docstring's side-by-side call, on matplotlib's default (small) figure size."""
    fig, axes = plt.subplots(1, 2)
    reparameterization_graph(axes[0], reparameterized=False)
    reparameterization_graph(axes[1])
    fig.canvas.draw()
    for ax in axes:
        frame = ax.get_window_extent().padded(1)
        for text, extent in _text_extents(ax):
            if text != ax.get_title():
                assert frame.contains(extent.x0, extent.y0) and frame.contains(extent.x1, extent.y1), text
        assert max(t.get_fontsize() for t in ax.texts) < 11


def test_diagram_rejects_an_edge_to_an_unknown_node():
    with pytest.raises(ValueError, match="edge z -> w names an unknown node"):
        _Diagram("t", {"z": _Node("$z$", (0, 0), "latent")}, (_Edge("z", "w", "forward"),), (1, 1))


def test_graphical_model_names_its_plate():
    ax = graphical_model(plate_label="$n$ data points")
    assert "$n$ data points" in [text.get_text() for text in ax.texts]
    assert "$n$ images" not in [text.get_text() for text in ax.texts]
