"""The benchmark's workloads: which network, which data, which batch size and
optimizer, and what test accuracy counts as trained.

=================  ==============================================  =====  ==========================
name               network and data                                batch  optimizer
=================  ==============================================  =====  ==========================
cnn64              seed CNN (2 conv + 2 max-pool + 2 dense), MNIST   64   SGD(0.01, momentum 0.9)
cnn256             the same                                         256   the same
fashion-cnn64      seed CNN, Fashion-MNIST                           64   the same
fashion-cnn256     the same                                         256   the same
lstm               3 × LSTM(64) + softmax, row-wise MNIST           128   Adam(0.001)
transformer        2-block Transformer encoder, row-wise MNIST      128   Adam(0.001)
=================  ==============================================  =====  ==========================

The networks are the recipes' (``brainnet.recipes``: ``teaching_cnn``,
``lstm_stack``, ``transformer_classifier``); the sequence recipes decay
Adam's rate along a cosine, the benchmark keeps it constant in all
contestants (a schedule costs the same everywhere and needs a run length).
Data come from ``brainnet.datasets`` and are normalised as the recipes do:
``x' = (x − 127.5) / 127.5``, images ``(N, 28, 28, 1)``, rows ``(N, 28, 28)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

MEAN = STD = 127.5  # the teaching normalisation, as brainnet.recipes.IMAGE_PREPROCESSING


@dataclass(frozen=True)
class Workload:
    """One benchmark workload.

    Args:
        name: the name given to ``--workloads``.
        description: one line for the report.
        dataset: ``"mnist"`` or ``"fashion-mnist"``.
        network: ``"cnn"``, ``"lstm"`` or ``"transformer"``.
        batch_size: samples per training step.
        optimizer: ``"sgd"`` (SGD, rate 0.01, momentum 0.9) or ``"adam"``
            (Adam, rate 0.001, β 0.9/0.999, ε 1e-7 as Keras).
        target_accuracy: the test accuracy "time to accuracy" waits for.
        steps: training steps per repetition by default (``--steps``).
    """

    name: str
    description: str
    dataset: str
    network: str
    batch_size: int
    optimizer: str
    target_accuracy: float
    steps: int

    @property
    def images(self) -> bool:
        """Whether samples are (28, 28, 1) images (else (28, 28) sequences of rows)."""
        return self.network == "cnn"

    def brainnet_optimizer(self) -> Any:
        """The workload's optimizer as a ``brainnet.optimizers`` instance."""
        from brainnet.optimizers import SGD, Adam

        return SGD(learning_rate=0.01, momentum=0.9) if self.optimizer == "sgd" else Adam(learning_rate=1e-3)

    def torch_optimizer(self, params: Any, fused: bool | None = None) -> torch.optim.Optimizer:
        """The same optimizer as a ``torch.optim`` one (``fused``: PyTorch's
        one-kernel update, or None for its default)."""
        params = [p for p in params if p.requires_grad]
        if self.optimizer == "sgd":
            return torch.optim.SGD(params, lr=0.01, momentum=0.9, fused=fused)
        return torch.optim.Adam(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-7, fused=fused)

    def build_brainnet(self) -> Any:
        """The recipe's brainnet model, built (weights drawn from the current seed), not compiled."""
        from brainnet.recipes.images import teaching_cnn
        from brainnet.recipes.sequences import lstm_stack, transformer_classifier

        return {"cnn": teaching_cnn, "lstm": lstm_stack, "transformer": transformer_classifier}[self.network]()

    def twin(self, style: str) -> torch.nn.Module:
        """The PyTorch twin: ``style`` ``"idiomatic"`` or ``"handwritten"`` (see ``twins``)."""
        from . import twins

        if self.network == "cnn":
            return twins.idiomatic_cnn() if style == "idiomatic" else twins.ChannelsLastCNN()
        if self.network == "lstm":
            return twins.LSTMStack()
        return twins.TransformerClassifier(fused=style == "handwritten")


WORKLOADS: dict[str, Workload] = {w.name: w for w in (
    Workload("cnn64", "the seed CNN on MNIST, batch 64", "mnist", "cnn", 64, "sgd", 0.98, 200),
    Workload("cnn256", "the seed CNN on MNIST, batch 256", "mnist", "cnn", 256, "sgd", 0.98, 50),
    Workload("fashion-cnn64", "the seed CNN on Fashion-MNIST, batch 64", "fashion-mnist", "cnn", 64, "sgd", 0.90, 200),
    Workload("fashion-cnn256", "the seed CNN on Fashion-MNIST, batch 256", "fashion-mnist", "cnn", 256, "sgd", 0.90,
             50),
    Workload("lstm", "3 x LSTM(64) + softmax on row-wise MNIST, batch 128", "mnist", "lstm", 128, "adam", 0.97, 30),
    Workload("transformer", "2-block Transformer encoder on row-wise MNIST, batch 128", "mnist", "transformer", 128,
             "adam", 0.97, 30),
)}


@dataclass(frozen=True)
class Data:
    """Training and test arrays: float32 inputs in [−1, 1] and uint8 labels."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def load_data(workload: Workload, limit: int | None = None) -> Data:
    """The workload's data set through ``brainnet.datasets``, normalised.

    Args:
        workload: which data set and layout.
        limit: keep the first ``limit`` training and ``limit // 5`` test
            samples (as ``brainnet run --limit``); None: all.

    Returns:
        ``Data`` with images ``(N, 28, 28, 1)`` or rows ``(N, 28, 28)``.

    Raises:
        DatasetNotFoundError: the data set is nowhere (see ``brainnet.datasets``).
    """
    from brainnet.datasets import fashion_mnist, mnist

    module = mnist if workload.dataset == "mnist" else fashion_mnist
    (x_train, y_train), (x_test, y_test) = module.load_data()
    if limit is not None:
        x_train, y_train, x_test, y_test = x_train[:limit], y_train[:limit], x_test[: limit // 5], y_test[: limit // 5]
    x_train, x_test = _normalised(x_train), _normalised(x_test)  # (N, 28, 28)
    if workload.images:
        x_train, x_test = x_train[..., None], x_test[..., None]  # (N, 28, 28, 1)
    return Data(x_train, y_train, x_test, y_test)


def _normalised(pixels: np.ndarray) -> np.ndarray:
    """(x − 127.5) / 127.5 in float32, in place: one float32 copy of the data,
    not three (the same values as the out-of-place expression)."""
    x = pixels.astype(np.float32)
    x -= MEAN
    x /= STD
    return x
