"""fit on the real offline digits: it learns, is deterministic, resumes, and stops on NaN."""

import pytest
import torch

import vaelib
from vaelib import VAE, Autoencoder, BetaObjective, NonFiniteLossError, evaluate, fit, load_checkpoint, negative_elbo
from vaelib import speed as speed_module
from vaelib import train as train_module


@pytest.fixture
def digits(offline_digits):
    (train, _), (test, _) = offline_digits
    return train[:1000], test[:300]


def _model():
    return VAE(hidden_dim=64, latent_dim=8)


def _fit(digits, **kwargs):
    vaelib.seed_all(0)
    model = _model()
    history = fit(model, digits[0], digits[1], batch_size=100, device="cpu", progress=False, **kwargs)
    return model, history


def test_fit_lowers_the_test_loss_on_real_digits(digits):
    vaelib.seed_all(0)
    before = evaluate(_model(), digits[1])
    model, history = _fit(digits, epochs=4)
    assert history.epoch == [1, 2, 3, 4] and history.device == "cpu"
    assert all(s > 0 for s in history.seconds)
    assert history.test_loss[-1] < history.test_loss[0] - 10
    assert history.test_loss[-1] < before - 200  # an untrained model is near 543 nats
    assert [row["epoch"] for row in history.rows()] == [1, 2, 3, 4]


def test_fit_is_deterministic_on_cpu(digits):
    model_a, history_a = _fit(digits, epochs=2)
    model_b, history_b = _fit(digits, epochs=2)
    assert history_a.train_loss == history_b.train_loss
    for a, b in zip(model_a.parameters(), model_b.parameters()):
        assert torch.equal(a, b)


def test_checkpoint_round_trips_and_resuming_continues(digits, tmp_path):
    path = tmp_path / "ckpt" / "vae.pt"
    straight, straight_history = _fit(digits, epochs=3)
    _, first = _fit(digits, epochs=2, checkpoint=path)
    assert path.is_file() and sorted(p.name for p in path.parent.iterdir()) == ["vae.pt"]
    restored = _model()
    assert load_checkpoint(path, restored).epoch == [1, 2]
    resumed = _model()
    history = fit(resumed, digits[0], digits[1], epochs=3, batch_size=100, device="cpu", progress=False, checkpoint=path)
    assert history.epoch == [1, 2, 3]
    assert history.train_loss[:2] == first.train_loss
    # resuming restores the random state too, so it matches an uninterrupted run
    assert history.train_loss == pytest.approx(straight_history.train_loss, rel=1e-6)
    for a, b in zip(resumed.parameters(), straight.parameters()):
        torch.testing.assert_close(a, b)


def test_nan_guard_names_the_epoch_and_step_and_restores_the_model(digits, tmp_path):
    calls = {"n": 0}

    def loss_going_bad(model, x, reduction):
        calls["n"] += 1
        loss = negative_elbo(model, x, reduction=reduction)
        return loss * float("nan") if calls["n"] == 10 + 3 else loss  # 10 steps per epoch

    path = tmp_path / "vae.pt"
    vaelib.seed_all(0)
    model = _model()
    with pytest.raises(NonFiniteLossError, match="became nan at epoch 2, step 3"):
        fit(model, digits[0], epochs=3, batch_size=100, device="cpu", progress=False, objective=loss_going_bad, checkpoint=path)
    saved = _model()
    assert load_checkpoint(path, saved).epoch == [1]  # the last good epoch is kept on disk
    for a, b in zip(model.parameters(), saved.parameters()):
        assert torch.equal(a, b)  # and in memory: nothing lost


def test_fit_trains_an_autoencoder_with_its_reconstruction_loss(digits):
    vaelib.seed_all(0)
    model = Autoencoder(hidden_dim=64, latent_dim=8)
    history = fit(model, digits[0], digits[1], epochs=2, batch_size=100, device="cpu", progress=False)
    assert history.test_loss[1] < history.test_loss[0]


def test_fit_rejects_bad_input(digits):
    train = digits[0][:10]
    cases = [
        (dict(train_images=train * 255), r"train_images must hold pixel values in \[0, 1\]"),
        (dict(train_images=train[:, :700]), r"train_images must have last dimension 784"),
        (dict(train_images=train, test_images=train.flatten()), "test_images must have 2 dimensions"),
        (dict(train_images=train[:0]), "train_images is empty"),
        (dict(train_images=train, epochs=0), "epochs must be a positive int, got 0"),
        (dict(train_images=train, batch_size=-1), "batch_size must be a positive int"),
        (dict(train_images=train, lr=0.0), "lr must be positive"),
        (dict(train_images=(train, train[:, 0].long(), train)), "must be \\(images, labels\\), got 3 items"),
    ]
    for kwargs, message in cases:
        with pytest.raises(ValueError, match=message):
            fit(_model(), progress=False, device="cpu", **kwargs)
    with pytest.raises(TypeError, match="objective must be an Objective .* or a loss callable, got 'elbo'"):
        fit(_model(), train, objective="elbo", progress=False)


def test_fit_dataloader_reports_the_negative_elbo_and_learns(digits):
    from vaelib import PerItemDataset, fit_dataloader

    train = digits[0][:500]
    dataset = PerItemDataset(train, torch.zeros(len(train), dtype=torch.int64))
    vaelib.seed_all(0)
    frozen = _model()
    history = fit_dataloader(frozen, dataset, epochs=1, lr=1e-12, device="cpu")  # parameters barely move
    with torch.no_grad():
        losses = torch.stack([negative_elbo(frozen, train, reduction="none") for _ in range(20)])
    assert history.train_loss[0] == pytest.approx(losses.mean().item(), rel=0.01)
    assert history.seconds[0] > 0 and history.device == "cpu"
    vaelib.seed_all(0)
    learner = _model()
    full = PerItemDataset(digits[0], torch.zeros(len(digits[0]), dtype=torch.int64))
    learned = fit_dataloader(learner, full, epochs=3, device="cpu")
    assert learned.train_loss[2] < learned.train_loss[0] - 30


def _recording_loss(seen):
    """The VAE loss, noting torch's float32 matmul precision at every training step."""

    def loss_fn(model, x, reduction):
        seen.add(torch.get_float32_matmul_precision())
        return negative_elbo(model, x, reduction=reduction)

    return loss_fn


def _recording_evaluate(evaluated, monkeypatch):
    """Note torch's float32 matmul precision at every test pass of fit."""
    real_evaluate = train_module.evaluate

    def evaluate_and_record(*args, **kwargs):
        evaluated.add(torch.get_float32_matmul_precision())
        return real_evaluate(*args, **kwargs)

    monkeypatch.setattr(train_module, "evaluate", evaluate_and_record)


@pytest.mark.parametrize("requested", ["highest", "medium"])
def test_fit_applies_matmul_precision_while_training_and_restores_it(digits, requested, monkeypatch):
    monkeypatch.setattr(speed_module, "_cpu_has_bf16", lambda: True)
    before = torch.get_float32_matmul_precision()
    assert before == "highest"  # torch's default; the test pass must see it
    seen, evaluated = set(), set()
    _recording_evaluate(evaluated, monkeypatch)
    with vaelib.training_matmul_precision(requested):
        _, history = _fit(digits, epochs=2, objective=_recording_loss(seen))
    assert seen == {requested} and evaluated == {"highest"}
    assert torch.get_float32_matmul_precision() == before
    assert ("bfloat16" in history.matmul) == (requested == "medium")


def test_fit_trains_under_medium_outside_any_block(digits, monkeypatch):
    monkeypatch.setattr(speed_module, "_cpu_has_bf16", lambda: True)
    seen = set()
    _fit(digits, epochs=1, objective=_recording_loss(seen))
    assert seen == {"medium"} and vaelib.speed.training_precision() == "medium"
    with pytest.raises(ValueError, match="matmul precision must be one of"):
        with vaelib.training_matmul_precision("low"):
            pass


def test_fit_keeps_exact_float32_on_a_cpu_without_bfloat16(digits, monkeypatch):
    monkeypatch.setattr(speed_module, "_cpu_has_bf16", lambda: False)
    seen = set()
    with vaelib.training_matmul_precision("medium"):
        _, history = _fit(digits, epochs=1, objective=_recording_loss(seen))
    assert seen == {"highest"} and history.matmul == "float32"


def test_fit_restores_matmul_precision_when_training_fails(digits, monkeypatch):
    monkeypatch.setattr(speed_module, "_cpu_has_bf16", lambda: True)
    before = torch.get_float32_matmul_precision()

    def broken(model, x, reduction):
        assert torch.get_float32_matmul_precision() == "medium"
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        _fit(digits, epochs=1, objective=broken)
    assert torch.get_float32_matmul_precision() == before


def test_make_adam_is_fused_on_cpu_and_falls_back_without_it(monkeypatch):
    model = _model()
    assert speed_module.make_adam(model, 1e-3, torch.device("cpu")).defaults["fused"] is True
    real_adam = torch.optim.Adam

    def adam_without_fused_cpu(params, lr, fused=None):
        if fused:
            raise RuntimeError("`fused=True` requires all the params to be floating point Tensors of supported devices")
        return real_adam(params, lr=lr)

    monkeypatch.setattr(torch.optim, "Adam", adam_without_fused_cpu)
    fallback = speed_module.make_adam(model, 1e-3, torch.device("cpu"))
    assert not fallback.defaults["fused"] and fallback.defaults["lr"] == 1e-3


def test_flush_subnormal_moments_zeroes_only_subnormal_entries():
    tiny = torch.finfo(torch.float32).tiny
    weight = torch.nn.Parameter(torch.zeros(5))
    optimizer = torch.optim.Adam([weight])
    values = torch.tensor([tiny / 4, -tiny / 1000, tiny, 1e-3, 0.0])
    optimizer.state[weight] = {"step": torch.tensor(3.0), "exp_avg": values.clone(), "exp_avg_sq": values.abs()}
    assert int(((values != 0) & (values.abs() < tiny)).sum()) == 2  # the two subnormals
    speed_module.flush_subnormal_moments(optimizer)
    expected = torch.tensor([0.0, 0.0, tiny, 1e-3, 0.0])
    assert torch.equal(optimizer.state[weight]["exp_avg"], expected)
    assert torch.equal(optimizer.state[weight]["exp_avg_sq"], expected.abs())
    assert optimizer.state[weight]["step"].item() == 3.0


def test_fit_flushes_subnormal_moments_every_16_steps_on_cpu(digits, monkeypatch):
    calls = []
    real_flush = train_module.flush_subnormal_moments
    monkeypatch.setattr(train_module, "flush_subnormal_moments", lambda opt: calls.append(real_flush(opt)))
    _fit(digits, epochs=2)  # 1,000 images in batches of 100: 10 steps an epoch, flushed at step 0
    assert len(calls) == 2
    calls.clear()
    vaelib.seed_all(0)
    fit(_model(), digits[0], epochs=1, batch_size=10, device="cpu", progress=False)  # 100 steps
    assert len(calls) == 7  # steps 0, 16, ..., 96


def test_the_beta_objective_trains_while_the_test_loss_stays_the_true_negative_elbo(digits):
    model, history = _fit(digits, epochs=2, objective=BetaObjective(beta=4.0, free_bits=0.5))
    assert history.objective == {"name": "BetaObjective", "beta": 4.0, "warmup_epochs": 0, "free_bits": 0.5,
                                 "binarize": False}
    assert history.kl_weight == [4.0, 4.0]
    # the test rate is the closed-form mean KL of the trained encoder
    mu, logvar = model.encode(digits[1])
    rate = vaelib.kl_normal_std(mu, logvar).double().mean().item()
    assert history.test_rate[-1] == pytest.approx(rate, rel=1e-5)
    # the test loss is the β = 1 negative ELBO: D + R, not D + 4 R
    torch.manual_seed(0)
    rate_d, distortion = vaelib.rate_distortion(model, digits[1], samples=20)
    true_loss = (rate_d + distortion).mean().item()
    assert history.test_loss[-1] == pytest.approx(true_loss, abs=1.0)
    assert abs(history.test_loss[-1] - (true_loss + 3 * rate)) > 3 * rate - 1.0
    # a plain run records the plain objective, which has no KL weight to schedule
    _, plain = _fit(digits, epochs=1)
    assert plain.kl_weight == [None] and plain.objective == {"name": "NegativeELBO", "binarize": False}


def test_a_larger_beta_buys_a_lower_rate(digits):
    _, low = _fit(digits, epochs=2, objective=BetaObjective(beta=0.5))
    _, high = _fit(digits, epochs=2, objective=BetaObjective(beta=8.0))
    assert high.test_rate[-1] < low.test_rate[-1] / 2


def test_warm_up_raises_the_kl_weight_linearly_step_by_step(digits):
    # 1,000 images in batches of 100: 10 steps per epoch, 20 warm-up steps
    _, history = _fit(digits, epochs=3, objective=BetaObjective(beta=2.0, warmup_epochs=2))
    assert history.kl_weight == pytest.approx([2.0 * 9 / 20, 2.0 * 19 / 20, 2.0])


def test_free_bits_keep_the_rate_up(digits):
    _, plain = _fit(digits, epochs=2, objective=BetaObjective(beta=4.0))
    _, freed = _fit(digits, epochs=2, objective=BetaObjective(beta=4.0, free_bits=1.0))
    assert freed.test_rate[-1] > plain.test_rate[-1] + 1.0


def test_resuming_continues_the_warm_up_and_refuses_another_objective(digits, tmp_path):
    path = tmp_path / "vae.pt"
    _, straight = _fit(digits, epochs=3, objective=BetaObjective(beta=2.0, warmup_epochs=2))
    _fit(digits, epochs=2, objective=BetaObjective(beta=2.0, warmup_epochs=2), checkpoint=path)
    resumed = fit(
        _model(), digits[0], digits[1], epochs=3, batch_size=100, device="cpu", progress=False,
        checkpoint=path, objective=BetaObjective(beta=2.0, warmup_epochs=2),
    )
    assert resumed.kl_weight == pytest.approx(straight.kl_weight)
    assert resumed.train_loss == pytest.approx(straight.train_loss, rel=1e-6)
    with pytest.raises(ValueError, match="resume with the same objective"):
        fit(_model(), digits[0], epochs=4, batch_size=100, device="cpu", progress=False, checkpoint=path,
            objective=BetaObjective(beta=2.0, warmup_epochs=1))


def test_fit_rejects_bad_beta_objectives(digits):
    train = digits[0][:10]
    cases = [
        (lambda: BetaObjective(beta=-1.0), "beta must be a finite number >= 0, got -1.0"),
        (lambda: BetaObjective(free_bits=float("inf")), "free_bits must be a finite number >= 0"),
        (lambda: BetaObjective(warmup_epochs=-1), "warmup_epochs must be an int >= 0"),
        (lambda: BetaObjective(binarize=1), "binarize must be True or False"),
        (lambda: fit(_model(), train, epochs=2, objective=BetaObjective(warmup_epochs=3), progress=False),
         r"warmup_epochs \(3\) is longer than training \(epochs=2\)"),
        (lambda: fit(Autoencoder(hidden_dim=8, latent_dim=2), train, objective=BetaObjective(beta=2.0), progress=False),
         "Autoencoder has none"),
        (lambda: fit(_model(), train, objective=vaelib.ReconstructionLoss(), progress=False), "VAE is a VAE"),
    ]
    for call, message in cases:
        with pytest.raises(ValueError, match=message):
            call()
    with pytest.raises(TypeError, match=r"not its class: write objective=BetaObjective\(\)"):
        fit(_model(), train, objective=BetaObjective, progress=False)


@pytest.mark.parametrize(
    "old, says",
    [
        (dict(beta=4.0, free_bits=0.5), r"fit no longer takes beta=, free_bits=: pass objective=vaelib.BetaObjective\(beta=4.0, free_bits=0.5\)"),
        (dict(warmup_epochs=2, binarize=True), r"BetaObjective\(warmup_epochs=2, binarize=True\)"),
        (dict(binarize=True), r"objective=vaelib.NegativeELBO\(binarize=True\)"),
        (dict(loss_fn=negative_elbo), "loss_fn=: pass the loss as objective="),
        (dict(train_labels=None, test_labels=None), r"fit\(model, \(train_images, train_labels\), ...\)"),
        (dict(matmul_precision="highest"), "with vaelib.training_matmul_precision"),
    ],
)
def test_old_keywords_name_the_new_way(digits, old, says):
    model = _model()
    before = [p.detach().clone() for p in model.parameters()]
    with pytest.raises(TypeError, match=says):
        fit(model, digits[0][:10], progress=False, **old)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_fit_has_at_most_ten_parameters():
    import inspect

    assert len(inspect.signature(fit).parameters) <= 10


def test_binarize_in_the_objective_trains_like_binarizing_the_data(digits):
    """An objective with binarize=True draws the same binary batches as binarizing by
    hand with the same random stream: the batch order, then each batch's pixels."""
    vaelib.seed_all(0)
    model = _model()
    seen = []

    class Recorded(vaelib.NegativeELBO):
        def loss(self, model, x, reduction, labels):
            seen.append(x.clone())
            return super().loss(model, x, reduction, labels)

    fit(model, digits[0][:200], epochs=1, batch_size=100, objective=Recorded(binarize=True), progress=False, device="cpu")
    assert all(set(x.unique().tolist()) <= {0.0, 1.0} for x in seen)
    vaelib.seed_all(0)
    _ = _model()
    order = torch.randperm(200)
    first = torch.bernoulli(digits[0][:200][order[:100]])
    assert torch.equal(seen[0], first)


def test_a_checkpoint_from_before_chapter_6_loads_with_empty_records(digits, tmp_path):
    path = tmp_path / "old.pt"
    _fit(digits, epochs=2, checkpoint=path)
    state = torch.load(path, weights_only=True)
    for key in ("kl_weight", "test_rate", "objective"):
        del state["history"][key]  # the fields chapter 6 and issue 23 added
    torch.save(state, path)
    history = load_checkpoint(path, _model())
    assert history.kl_weight == [None, None] and history.test_rate == [None, None]
    assert len(history.rows()) == 2


def test_a_checkpoint_from_before_one_objective_resumes_under_the_same_beta_only(digits, tmp_path):
    """Checkpoints written while fit took beta, warmup_epochs and free_bits record those
    three fields instead of the objective's settings."""
    path = tmp_path / "old.pt"
    _fit(digits, epochs=1, objective=BetaObjective(beta=2.0), checkpoint=path)
    state = torch.load(path, weights_only=True)
    del state["history"]["objective"]
    state["history"].update(beta=2.0, warmup_epochs=0, free_bits=0.0)
    torch.save(state, path)
    assert load_checkpoint(path, _model()).objective == {"beta": 2.0, "warmup_epochs": 0, "free_bits": 0.0}
    with pytest.raises(vaelib.CheckpointError, match=r"under the objective with\(beta=2.0, warmup_epochs=0"):
        _fit(digits, epochs=2, checkpoint=path)  # the plain objective: beta 1
    _, history = _fit(digits, epochs=2, objective=BetaObjective(beta=2.0), checkpoint=path)
    assert history.epoch == [1, 2]
