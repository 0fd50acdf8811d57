"""The mutation table: for each displayed equation, the ways to break the code that
evaluates it, each of which its chapter's own check must catch.

Each row breaks one formula (drops a factor, flips a sign, drops a constant, swaps a
product for a quotient) by replacing text that occurs exactly once in one code cell,
named by the cell's id (nbformat 4.5), which stays put when cells are added or moved.
``tests/test_checks_fail_when_broken.py`` runs the rows and says how to try a new one.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import nbformat

ROOT = Path(__file__).resolve().parent.parent


class Mutation(NamedTuple):
    equation: str  # the label of the displayed equation whose check must fail
    notebook: str  # file name in notebooks/
    cell: str  # the code cell's id
    old: str  # text that occurs exactly once in that cell
    new: str  # what replaces it: the formula, broken

    def __str__(self) -> str:
        return f"{self.equation} ({self.notebook}, cell {self.cell}: {self.old!r} -> {self.new!r})"


AE = "00_from_autoencoders_to_vaes.ipynb"
DENSITIES = "01_densities_and_expectation.ipynb"
BAYES = "02_joint_marginal_conditional_bayes.ipynb"
ELBO = "03_jensen_and_the_elbo.ipynb"
REPARAM = "04_reparameterization_trick.ipynb"
MNIST = "05_mnist_vae_on_the_gpu.ipynb"
BETA = "06_rate_distortion_and_beta.ipynb"
CONDITIONAL = "07_conditional_and_convolutional_vaes.ipynb"

MUTATIONS = [
    # chapter 0
    Mutation("ch0-autoencoder", AE, "e8352349", "(1 - x) * torch.log(1 - x_hat)", "torch.log(1 - x_hat)"),
    # the loss's floor, the pixels' summed binary entropies, without its second term
    Mutation("ch0-autoencoder", AE, "e9c21a9e", "torch.special.entr(test_images) + torch.special.entr(1 - test_images)",
             "torch.special.entr(test_images)"),
    # chapter 1
    Mutation("ch1-density", DENSITIES, "c07773fe", "u ** (SHAPE_A - 1)", "u**SHAPE_A"),
    Mutation("ch1-interval", DENSITIES, "263b8ded", "approx = density(x0) * delta", "approx = density(x0) / delta"),
    Mutation("ch1-interval", DENSITIES, "263b8ded", "constant = abs(log_slope) / 2", "constant = abs(log_slope)"),
    Mutation("ch1-normal-peak", DENSITIES, "86c3932e", "math.sqrt(2 * math.pi)", "math.sqrt(math.pi)"),
    Mutation("ch1-normalization", DENSITIES, "2eeb4846", "total, _ = integrate.quad(density, LOW, HIGH)",
             "total, _ = integrate.quad(density, 1.0, HIGH)"),  # the source's bounds
    Mutation("ch1-expectation", DENSITIES, "d1c4f465", "lambda x: x * density(x)", "lambda x: density(x)"),
    Mutation("ch1-monte-carlo", DENSITIES, "00d079a8", "x_draws = HIGH * beta_u.sample", "x_draws = beta_u.sample"),
    Mutation("ch1-mc-error", DENSITIES, "2627df29", "(SHAPE_A + SHAPE_B + 1)", "(SHAPE_A + SHAPE_B)"),
    Mutation("ch1-mc-error", DENSITIES, "d49efb57", "sd_x / np.sqrt(SIZES)", "sd_x / np.array(SIZES)"),
    Mutation("ch1-lotus", DENSITIES, "27e8ea90", "lambda x: f(x) * density(x)", "lambda x: f(x)"),
    Mutation("ch1-mgf", DENSITIES, "27e8ea90", "hyp1f1(SHAPE_A, SHAPE_A + SHAPE_B,", "hyp1f1(SHAPE_A, SHAPE_B,"),
    Mutation("ch1-change-of-variables", DENSITIES, "c78b65a1", "density(-4 * np.log(y)) * 4 / y",
             "density(-4 * np.log(y)) / y"),
    # chapter 2
    Mutation("ch2-joint", BAYES, "01824861", "w * stats.multivariate_normal(m, c).pdf(points)",
             "stats.multivariate_normal(m, c).pdf(points)"),
    Mutation("ch2-marginals", BAYES, "6d8c2d3f", "integrate.trapezoid(joint, GRID, axis=1)  # integrate out z",
             "integrate.trapezoid(joint, GRID, axis=0)  # the source's dx"),
    Mutation("ch2-conditional", BAYES, "d9ae5c50", "slice_ = joint[i] / p_x_closed[i]", "slice_ = joint[i]"),
    Mutation("ch2-bayes", BAYES, "4395e26c", "bayes = likelihood * prior / evidence", "bayes = likelihood * prior"),
    Mutation("ch2-linear-model", BAYES, "36f9623c", "stats.norm(W * z + B, S).pdf(X_OBS)", "stats.norm(W * z, S).pdf(X_OBS)"),
    Mutation("ch2-linear-exact", BAYES, "36f9623c", "post_var_hand = S**2 / (W**2 + S**2)",
             "post_var_hand = S / (W**2 + S**2)"),
    Mutation("ch2-linear-exact", BAYES, "36f9623c", "stats.norm(B, math.sqrt(W**2 + S**2))", "stats.norm(B, W**2 + S**2)"),
    Mutation("ch2-prior-mc", BAYES, "8728d6ce", "z_prior = torch.randn(", "z_prior = 2 * torch.randn("),
    Mutation("ch2-ess", BAYES, "a05697d4", "2 * torch.logsumexp(log_w, -1) - torch.logsumexp(2 * log_w, -1)",
             "torch.logsumexp(log_w, -1) - log_w.max(-1).values"),  # sum(w) / max(w)
    Mutation("ch2-ess", BAYES, "a05697d4", "x[0] @ torch.linalg.solve(cov_x, x[0])", "x[0] @ x[0]"),
    Mutation("ch2-ess", BAYES, "a05697d4", "std_wide = posterior_var.sqrt()", "std_wide = posterior_var"),
    Mutation("ch2-ess", BAYES, "23c8a221", "math.sqrt(W**2 + noise**2 / 2)", "math.sqrt(W**2 + noise**2)"),
    # chapter 3
    Mutation("ch3-jensen", ELBO, "a437839a", "GAMMA_SHAPE * GAMMA_SCALE)  # E[Y]", "GAMMA_SHAPE / GAMMA_SCALE)  # E[Y]"),
    Mutation("ch3-gamma-log", ELBO, "a437839a", "special.digamma(GAMMA_SHAPE) + math.log(GAMMA_SCALE)",
             "special.digamma(GAMMA_SHAPE) - math.log(GAMMA_SCALE)"),
    Mutation("ch3-elbo-jensen", ELBO, "db45d1d2", "q_dist.pdf(z) * (log_joint(z) - q_dist.logpdf(z))",
             "q_dist.pdf(z) * (log_joint(z) + q_dist.logpdf(z))"),
    Mutation("ch3-elbo-jensen", ELBO, "db45d1d2", "+ stats.norm.logpdf(z)", "- stats.norm.logpdf(z)"),
    Mutation("ch3-elbo-jensen", ELBO, "db45d1d2", "np.exp(log_joint(z_q) - q_dist.logpdf(z_q))", "np.exp(log_joint(z_q))"),
    Mutation("ch3-kl-gap", ELBO, "d47f5c51", "kl_divergence(q_normal, post_normal)", "kl_divergence(post_normal, q_normal)"),
    Mutation("ch3-rec-kl", ELBO, "f5e64d37", "elbo_split = reconstruction - kl_prior", "elbo_split = reconstruction + kl_prior"),
    Mutation("ch3-rec-kl", ELBO, "f5e64d37", "kl_prior = vaelib.kl_normal_std(", "kl_prior = 2 * vaelib.kl_normal_std("),
    Mutation("ch3-gaussian-kl", ELBO, "3539c056", "- torch.log(std**2) - 1)", "- torch.log(std**2))"),
    Mutation("ch3-gaussian-kl", ELBO, "3539c056", "0.5 * (mu**2", "(mu**2"),
    Mutation("ch3-elbo-theta", ELBO, "1cf410c7", "kl_divergence(q_z, post_z)", "kl_divergence(post_z, q_z)"),
    Mutation("ch3-elbo-theta", ELBO, "1cf410c7", '"c": -a_post @ true_model.bias', '"c": a_post @ true_model.bias'),
    Mutation("ch3-ppca-elbo", ELBO, "d8c415c6", "var / (2 * s2)", "var / s2"),
    Mutation("ch3-ppca-elbo", ELBO, "d8c415c6", 'phi["logvar"] - 1)', 'phi["logvar"])'),
    Mutation("ch3-ppca-mle", ELBO, "8a7ce5e6", "s2_ml = lam[latent_dim:].mean()", "s2_ml = lam.mean()"),
    Mutation("ch3-ppca-mle", ELBO, "8a7ce5e6", "torch.sqrt(lam[0] - s2_ml)", "torch.sqrt(lam[0])"),
    Mutation("ch3-joint-ascent", ELBO, "1bbd955e", "for t in [*theta.values(), *phi.values()]:", "for t in phi.values():"),
    Mutation("ch3-joint-ascent", ELBO, "1bbd955e", "for t in [*theta.values(), *phi.values()]:", "for t in theta.values():"),
    Mutation("ch3-joint-ascent", ELBO, "1bbd955e", "window / np.minimum.accumulate(window)", "window / window[0]"),
    Mutation("ch3-elbo-1d", ELBO, "1bd679b6", "- 0.5 * (mu**2 + var - math.log(var) - 1)", "- 0.5 * (mu**2 + var - math.log(var))"),
    Mutation("ch3-elbo-1d", ELBO, "1bd679b6", "- W**2 * var / (2 * S**2)", "- W**2 * var / S**2"),
    # chapter 4
    Mutation("ch4-test-functions", REPARAM, "6e779a7e", "(mu**2 + std**2).sum()", "(mu**2 + 2 * std**2).sum()"),
    Mutation("ch4-test-functions", REPARAM, "6e779a7e", "(torch.cos(mu) * torch.exp(-(std**2) / 2)).sum()",
             "(torch.cos(mu) * torch.exp(-(std**2))).sum()"),
    Mutation("ch4-score", REPARAM, "5c20074d", "return f(z)[:, None, None] * score", "return f(z)[:, None, None] ** 2 * score"),
    Mutation("ch4-gaussian-score", REPARAM, "5c20074d", "((z - mu) ** 2 - std**2) / std**3", "((z - mu) ** 2 - std**2) / std**2"),
    Mutation("ch4-gaussian-score", REPARAM, "5c20074d", "[(z - mu) / std**2,", "[(z - mu) / std,"),
    Mutation("ch4-pathwise", REPARAM, "f75a252a", "f(params[0] + params[1] * eps_n)", "f(params[0] + params[1] ** 2 * eps_n)"),
    Mutation("ch4-pathwise", REPARAM, "dfed9445", "mu_param + torch.exp(0.5 * logvar_param) * eps_shared",
             "mu_param + torch.exp(logvar_param) * eps_shared"),  # the exercise's exp(logvar) bug
    Mutation("ch4-pathwise-variance", REPARAM, "bac76f0c", '"sum z^2": 4 * STD0**2,', '"sum z^2": 2 * STD0**2,'),
    Mutation("ch4-pathwise-variance", REPARAM, "bac76f0c", "- math.sin(MU0) ** 2 * math.exp(-(STD0**2)),",
             "- math.sin(MU0) ** 2 * math.exp(-(STD0**2) / 2),"),
    Mutation("ch4-pathwise-variance", REPARAM, "bac76f0c", "0.5 * (1 - math.cos(2 * MU0)", "(1 - math.cos(2 * MU0)"),
    Mutation("ch4-pathwise-variance", REPARAM, "121fe764", '"pathwise": 2 * STD0,', '"pathwise": STD0,'),
    Mutation("ch4-score-variance", REPARAM, "bac76f0c", "(n_other * var_g + n_other**2 * mean_g**2)",
             "(n_other * var_g + n_other * mean_g**2)"),
    Mutation("ch4-score-variance", REPARAM, "bac76f0c", "- exact_grad_1**2", "+ exact_grad_1**2"),
    Mutation("ch4-score-variance", REPARAM, "bac76f0c", "return ((z - MU0) / STD0**2) ** 2", "return ((z - MU0) / STD0) ** 2"),
    Mutation("ch4-score-variance", REPARAM, "bac76f0c", "+ 2 * n_other * mean_g * g_score2", "+ n_other * mean_g * g_score2"),
    Mutation("ch4-elbo-estimate", REPARAM, "051f74a9", "- q.log_prob(z).sum(-1)", "+ q.log_prob(z).sum(-1)"),
    Mutation("ch4-elbo-estimate", REPARAM, "051f74a9", "+ Normal(0.0, 1.0).log_prob(z).sum(-1)",
             "+ Normal(0.0, 2.0).log_prob(z).sum(-1)"),
    Mutation("ch4-score-with-phi", REPARAM, "7d3e9a1c", "return f.detach() * log_q + f", "return f.detach() * log_q"),
    Mutation("ch4-score-with-phi", REPARAM, "7d3e9a1c", "return f.detach() * log_q + f", "return f.detach() * log_q - f"),
    Mutation("ch4-score-with-phi", REPARAM, "7d3e9a1c", "return f.detach() * log_q + f", "return f * log_q + f"),
    Mutation("ch4-score-with-phi", REPARAM, "7d3e9a1c", "return f.detach() * log_q + f", "return -f.detach() * log_q + f"),
    Mutation("ch4-score-with-phi", REPARAM, "fb89fa55", "z = q.sample((n_draws,))  # no gradient reaches (mu_q, log_std) through z",
             "z = q.rsample((n_draws,))  # no gradient reaches (mu_q, log_std) through z"),
    Mutation("ch4-score-with-phi", REPARAM, "fb89fa55", "return -score_surrogate(f, q.log_prob(z).sum(-1)).mean(0).sum()",
             "return -(f.detach() * q.log_prob(z).sum(-1)).mean(0).sum()"),  # the ELBO loss without the second term
    Mutation("ch4-score-with-phi", REPARAM, "fb89fa55", "lambda z: (f_at(z) - 1) * score_mu(z)", "lambda z: (f_at(z) + 1) * score_mu(z)"),
    Mutation("ch4-score-with-phi", REPARAM, "d49e9430", '"score function": (log_px - 1) ** 2 / post_std**2,',
             '"score function": log_px**2 / post_std**2,'),  # the variance at the posterior without the second term
    # chapter 5
    Mutation("ch5-loss", MNIST, "d31b4206", "1 + logvar - mu**2 - logvar.exp()", "logvar - mu**2 - logvar.exp()"),
    # the cross-entropy's split without the pixels' entropies
    Mutation("ch5-cross-entropy", MNIST, "849b7f50", "Bernoulli(probs=x_grey).entropy().sum()\n    + ", ""),
    Mutation("ch5-cb", MNIST, "cb000001", "2 * math.atanh(1 - 2 * lam)", "math.atanh(1 - 2 * lam)"),
    Mutation("ch5-gaussian-nll", MNIST, "8491b001", "+ 784 / 2 * math.log(2 * math.pi * sigma2)",
             "+ 784 / 2 * math.log(math.pi * sigma2)"),
    Mutation("ch5-implied-beta", MNIST, "8491b001", "beta = n / (2 * sigma2)", "beta = n / sigma2"),
    Mutation("ch5-importance", MNIST, "1e81cbc7", "- Normal(mu_8, std_8).log_prob(z_k).sum(-1)", ""),
    # the estimate without its 1/K: caught by the formula check
    Mutation("ch5-importance", MNIST, "1e81cbc7", "torch.logsumexp(log_ratio.double(), 0) - math.log(50)",
             "torch.logsumexp(log_ratio.double(), 0)"),
    # the aggregate posterior's variance without the encoder's own variances
    Mutation("ch5-aggregate-variance", MNIST, "6e24f9e1", "mu_train.var(0) + logvar_train.exp().mean(0)", "mu_train.var(0)"),
    # chapter 6
    Mutation("ch6-rd", BETA, "c6000008", "rate + distortion, loss", "distortion, loss"),
    # the remedies' bound with the distortion subtracted: caught in smoke mode too
    Mutation("ch6-rd", BETA, "c6000032", 'r["loss"] = r["rate"] + r["distortion"]', 'r["loss"] = r["rate"] - r["distortion"]'),
    Mutation("ch6-beta", BETA, "c6000010", "by_hand = (d_b + beta * r_b)", "by_hand = (d_b + r_b)"),
    Mutation("ch6-beta", BETA, "c6000010", "(beta - 1) * r_b", "beta * r_b"),
    # the information with each draw's own code alone where the mixture belongs
    Mutation("ch6-mi", BETA, "c6000018", "info_dist = (codes.log_prob(z) - log_q)", "info_dist = (codes.log_prob(z))"),
    Mutation("ch6-warmup", BETA, "c6000028", "(e * steps - 1)", "(e * steps)"),
    # the warm-up's weight left off the rate: the loss of a training step is then 𝒟 + R
    Mutation("ch6-warmup", BETA, "c6000028", "by_hand = (d_s + warmup_weight(s) * r_s)", "by_hand = (d_s + r_s)"),
    Mutation("ch6-free-bits", BETA, "c6000030", "kl_j.clamp(min=FREE_BITS).sum()", "kl_j.sum()"),
    # chapter 7: the conditional bound with its KL added instead of subtracted
    Mutation("ch7-elbo", CONDITIONAL, "c7000008", "by_hand = by_hand + kl_divergence(", "by_hand = by_hand - kl_divergence("),
    # chapter 7: the code's share of the blur taken as a sample variance (n - 1)
    Mutation("ch7-blur", CONDITIONAL, "c7000028", "probs.var(0, correction=0)", "probs.var(0, correction=1)"),
    Mutation("ch7-blur", CONDITIONAL, "c7000028", "total = (mean * (1 - mean))", "total = (mean * mean)"),
    # the grey at a fixed z taken at the picture averaged over z, the code's share left in it
    Mutation("ch7-blur", CONDITIONAL, "c7000028", "noise = (probs * (1 - probs)).mean(0).sum(-1)",
             "noise = (mean * (1 - mean)).sum(-1)"),
]


def mutated_notebook(mutation: Mutation) -> tuple[nbformat.NotebookNode, int]:
    """The mutation's notebook with its text replaced, and the mutated cell's index."""
    path = ROOT / "notebooks" / mutation.notebook
    if not path.is_file():
        raise LookupError(f"update the row {mutation}: notebooks/{mutation.notebook} does not exist")
    nb = nbformat.read(path, as_version=4)
    index = next((i for i, cell in enumerate(nb.cells) if cell.get("id") == mutation.cell), None)
    if index is None or nb.cells[index].cell_type != "code":
        raise LookupError(f"update the row {mutation}: {mutation.notebook} has no code cell with id {mutation.cell}")
    source = nb.cells[index].source
    count = source.count(mutation.old)
    if count != 1:
        raise LookupError(
            f"update the row {mutation}: its text occurs {count} times in the cell, not once; "
            "the cell has changed since the row was written"
        )
    nb.cells[index].source = source.replace(mutation.old, mutation.new)
    return nb, index
