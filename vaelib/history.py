"""``History``: what ``fit`` records per epoch, and what a checkpoint stores of a run.

It lives apart from the training loop because both the loop (``train.py``) and the
checkpoint files (``checkpoint.py``) need it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

_LEGACY_OBJECTIVE = ("beta", "warmup_epochs", "free_bits")  # before issue 23: three fields
_RECORDS = ("epoch", "train_loss", "test_loss", "seconds", "kl_weight", "test_rate")


@dataclass
class History:
    """Per-epoch records of ``fit``: train and test loss (nats per image) and seconds.

    ``train_loss`` is the objective the optimizer minimized, averaged over the epoch's
    batches: for a VAE trained on ``BetaObjective(beta=4)``, that is the β objective,
    not the ELBO. ``test_loss`` is always the model's own loss on the test images as
    given, whatever the objective: the negative ELBO itself (β = 1, no free bits) for
    a VAE, estimated with one draw of z per test image, and the reconstruction loss for
    an autoencoder. ``test_rate`` is the ELBO's KL term on the test images, the rate in
    nats per image, exact (None without test images or for an autoencoder).
    ``kl_weight`` is the weight on the KL term at each epoch's last step (β once any
    warm-up is over), None for an objective without one. ``seconds`` times the
    training pass of each epoch (the test pass is not included). ``matmul`` says which
    float32 matrix-product setting training ran under: the formats it permitted, not
    which one the library then chose. ``objective`` is the objective's settings
    (``Objective.settings()``): a checkpoint resumes only under the same ones.
    Introduced in chapter 0.
    """

    device: str = "cpu"
    matmul: str = "float32"
    objective: dict = field(default_factory=dict)
    epoch: list = field(default_factory=list)
    train_loss: list = field(default_factory=list)
    test_loss: list = field(default_factory=list)
    seconds: list = field(default_factory=list)
    kl_weight: list = field(default_factory=list)
    test_rate: list = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.epoch)

    def append(
        self,
        train_loss: float,
        test_loss: float | None,
        seconds: float,
        kl_weight: float | None = None,
        test_rate: float | None = None,
    ) -> None:
        self.epoch.append(len(self.epoch) + 1)
        self.train_loss.append(train_loss)
        self.test_loss.append(test_loss)
        self.seconds.append(seconds)
        self.kl_weight.append(kl_weight)
        self.test_rate.append(test_rate)

    def rows(self) -> list[dict]:
        """One dict per epoch, ready for ``pandas.DataFrame`` or printing."""
        return [dict(zip(_RECORDS, values)) for values in zip(*(getattr(self, key) for key in _RECORDS))]

    @classmethod
    def from_dict(cls, record: dict) -> History:
        """A history from ``dataclasses.asdict(history)``, as a checkpoint stores it.

        Records from older checkpoints are brought up to date: without ``kl_weight`` and
        ``test_rate`` (before chapter 6) they get None for each epoch; the β, warm-up and
        free-bits fields (before ``fit`` took one objective) become the objective's
        settings. Raises ``TypeError`` for a field it does not know.
        """
        record = dict(record)
        legacy = {key: record.pop(key) for key in _LEGACY_OBJECTIVE if key in record}
        if legacy and "objective" not in record:
            record["objective"] = legacy
        history = cls(**record)
        for key in ("kl_weight", "test_rate"):
            records = getattr(history, key)
            records[:0] = [None] * (len(history) - len(records))
        return history
