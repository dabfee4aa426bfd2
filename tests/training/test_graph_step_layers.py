"""Layers trained through the CUDA-graph training step, in its CPU simulation.

Each case is a small model holding one layer (those added after the graph
step was, and the older random ones), fitted twice with the same seeds:
on the eager step and on the simulated graph step of ``test_graph_step.py``
(3 eager warm-up steps, one capture that draws no random numbers, then
replays). The captured body runs as on CUDA while capturing (``capturing()``
true in every module that asks) under a probe that records what a CUDA graph
cannot hold: a value read back to the host (``.item()``, ``bool(tensor)``,
``.tolist()``, ``.numpy()``), a shape made from values (``nonzero``, boolean
indexing), host data copied onto the device inside the step
(``torch.tensor``/``new_tensor``: a synchronising copy, refused while
capturing) and draws from Python's or NumPy's random state (a graph would
replay one batch's draw forever). The fits must capture once, read nothing
back and give the eager History and weights; random layers draw the same
numbers on both steps (their seeded generators and torch's are registered
with the graph, which advances them at each replay).
"""

from __future__ import annotations

import random
import sys

import numpy as np
import pytest
import torch

from brainnet import layers as L
from brainnet.layers import _call_inputs
from brainnet.models import Model, Sequential
from brainnet.optimizers import SGD
from brainnet.training import jit as jit_module
from brainnet.utils import set_random_seed
from test_graph_step import SimulatedGraphStep, _HostReads, _same, use_simulated_graphs

_IMAGES = (6, 6, 3)


class _Probe(_HostReads):
    """``_HostReads`` plus host data copied in (``lift_fresh``: torch.tensor, new_tensor)
    and boolean indexing (``x[mask]``, whose shape is the count of True: a ``nonzero``)."""

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = func.__name__.split(".")[0]
        if name == "lift_fresh":
            self.seen.append("lift_fresh")
        if name in ("index", "index_put", "index_put_", "_index_put_impl_") and any(
                isinstance(i, torch.Tensor) and i.dtype == torch.bool for i in args[1]):
            self.seen.append("nonzero")
        return super().__torch_dispatch__(func, types, args, kwargs)


def _numpy_state():
    kind, keys, *rest = np.random.get_state()
    return kind, keys.tolist(), rest


@pytest.fixture
def probed(monkeypatch):
    """``(use, reads)``: ``use(flag)`` as ``test_graph_step.simulated``, and the list of
    what the captured bodies (and replays) did that a CUDA graph cannot hold."""
    use = use_simulated_graphs(monkeypatch)
    # A seeded layer's generator must be registered with the graph (PyTorch ≥ 2.5 on CUDA;
    # this CPU build lacks the method): a stand-in, as in test_graph_step.py.
    monkeypatch.setattr(torch.cuda.CUDAGraph, "register_generator_state", lambda self, g: None, raising=False)
    state = {"capturing": False}
    reads: list[str] = []
    asked = [m for name, m in sys.modules.items()
             if name.startswith("brainnet") and getattr(m, "capturing", None) is _call_inputs.capturing]
    for module in asked:
        monkeypatch.setattr(module, "capturing", lambda t: state["capturing"])

    def host_read(name, method):
        def read(self, *args, **kwargs):
            if state["capturing"]:
                reads.append(name)
            return method(self, *args, **kwargs)
        return read

    for name in ("tolist", "numpy"):
        monkeypatch.setattr(torch.Tensor, name, host_read(name, getattr(torch.Tensor, name)))

    class Probed(SimulatedGraphStep):
        def _captured(self, body):
            def watched():
                probe = _Probe()
                python, numpy = random.getstate(), _numpy_state()
                state["capturing"] = True
                try:
                    with probe:
                        return body()
                finally:
                    state["capturing"] = False
                    reads.extend(probe.seen)
                    if random.getstate() != python:
                        reads.append("python random")
                    if _numpy_state() != numpy:
                        reads.append("numpy random")
            return super()._captured(watched)

    monkeypatch.setattr(jit_module, "CudaGraphStep", Probed)
    return use, reads


# ------------------------------------------------------------------ the models
def _images(layer):
    return lambda: Sequential([L.Input(_IMAGES), layer(), L.Flatten(), L.Dense(3, activation="softmax")])


def _vectors(*middle):
    return lambda: Sequential([L.Input((8,)), L.Dense(8, activation="selu"), *[m() for m in middle],
                               L.Dense(3, activation="softmax")])


def _sequence(shape, layer):
    return lambda: Sequential([L.Input(shape), layer(), L.Flatten(), L.Dense(3, activation="softmax")])


def _gqa():
    x = L.Input((5, 8))
    attended = L.GroupQueryAttention(head_dim=4, num_query_heads=4, num_key_value_heads=2, dropout=0.2)(
        x, x, use_causal_mask=True)
    return Model(x, L.Dense(3, activation="softmax")(L.Flatten()(attended)))


def _stacked_cells(masked):
    def build():
        cells = L.StackedRNNCells([L.SimpleRNNCell(4, dropout=0.2), L.LSTMCell(4, recurrent_dropout=0.2)])
        front = [L.Input((5,)), L.Embedding(20, 3, mask_zero=True)] if masked else [L.Input((5, 3))]
        return Sequential([*front, L.RNN(cells), L.Dense(3, activation="softmax")])
    return build


def _torch_module():
    module = torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.BatchNorm1d(8), torch.nn.ReLU(),
                                 torch.nn.Dropout(0.2))
    return Sequential([L.Input((8,)), L.TorchModuleWrapper(module), L.Dense(3, activation="softmax")])


_UNIT = {"value_range": (0, 1)}  # images in [0, 1]
CASES = {
    "MixUp": _images(lambda: L.MixUp(alpha=0.5, seed=1)),
    "CutMix": _images(lambda: L.CutMix(seed=1)),
    "RandomInvert": _images(lambda: L.RandomInvert(0.5, seed=1, **_UNIT)),
    "Solarization": _images(lambda: L.Solarization(0.2, (0.3, 0.7), seed=1, **_UNIT)),
    "RandomPosterization": _images(lambda: L.RandomPosterization((2, 6), seed=1, **_UNIT)),
    "RandomGrayscale": _images(lambda: L.RandomGrayscale(0.5, seed=1)),
    "AutoContrast": _images(lambda: L.AutoContrast(**_UNIT)),
    "RandomSaturation": _images(lambda: L.RandomSaturation(0.7, seed=1, **_UNIT)),
    "RandomHue": _images(lambda: L.RandomHue(0.5, seed=1, **_UNIT)),
    "RandomSharpness": _images(lambda: L.RandomSharpness(0.8, seed=1, **_UNIT)),
    "RandomColorDegeneration": _images(lambda: L.RandomColorDegeneration(0.8, seed=1, **_UNIT)),
    # the policies: their operations' draws (and AugMix's Gamma draws) come from generators on the device
    "Pipeline": _images(lambda: L.Pipeline([L.RandomFlip(seed=1), L.RandomColorDegeneration(0.5, seed=2, **_UNIT),
                                            L.Rescaling(2.0)])),
    "RandAugment": _images(lambda: L.RandAugment(num_ops=3, seed=1, **_UNIT)),
    "AugMix": _images(lambda: L.AugMix(seed=1, **_UNIT)),
    "AugMix-unseeded": _images(lambda: L.AugMix(alpha=0.5, all_ops=False, **_UNIT)),
    "RandomColorJitter": _images(lambda: L.RandomColorJitter(
        brightness_factor=0.2, contrast_factor=0.3, saturation_factor=(0.3, 0.7), hue_factor=0.3, seed=1, **_UNIT)),
    "AlphaDropout": _vectors(lambda: L.AlphaDropout(0.2, seed=1)),
    "SpatialDropout3D": _sequence((3, 3, 3, 2), lambda: L.SpatialDropout3D(0.5)),
    "RMSNormalization": _vectors(L.RMSNormalization),
    "EinsumDense": _sequence((5, 4), lambda: L.EinsumDense("abc,cde->abde", (None, 2, 3), bias_axes="de",
                                                            activation="relu")),
    "ConvLSTM1D": _sequence((3, 6, 2), lambda: L.ConvLSTM1D(2, 3, dropout=0.2, recurrent_dropout=0.2,
                                                              return_sequences=True)),
    "ConvLSTM3D": _sequence((2, 3, 3, 3, 1), lambda: L.ConvLSTM3D(2, 2, padding="same", recurrent_dropout=0.2)),
    "Conv3DTranspose": _sequence((2, 2, 2, 1), lambda: L.Conv3DTranspose(2, 2, strides=2, activation="relu")),
    "GroupQueryAttention": _gqa,
    "StackedRNNCells": _stacked_cells(masked=False),
    "StackedRNNCells-masked": _stacked_cells(masked=True),
    "TorchModuleWrapper": _torch_module,
    # older random layers, checked alike (the geometric ones and RandomErasing copied host data in)
    "RandomShear": _images(lambda: L.RandomShear(0.3, 0.2, seed=1)),
    "RandomPerspective": _images(lambda: L.RandomPerspective(0.8, 0.5, seed=1)),
    "RandomGaussianBlur": _images(lambda: L.RandomGaussianBlur(0.8, seed=1, **_UNIT)),
    "Equalization": _images(lambda: L.Equalization(**_UNIT)),
    "RandomElasticTransform": _images(lambda: L.RandomElasticTransform(0.8, 0.5, seed=1, **_UNIT)),
    "RandomFlip": _images(lambda: L.RandomFlip(seed=1)),
    "RandomRotation": _images(lambda: L.RandomRotation(0.2, seed=1)),
    "RandomTranslation": _images(lambda: L.RandomTranslation(0.2, 0.2, fill_mode="mirror", seed=1)),
    "RandomZoom": _images(lambda: L.RandomZoom(0.2, fill_mode="constant", fill_value=0.5, seed=1)),
    "RandomCrop": _images(lambda: L.RandomCrop(4, 4, seed=1)),
    "RandomBrightness": _images(lambda: L.RandomBrightness(0.2, seed=1, **_UNIT)),
    "RandomContrast": _images(lambda: L.RandomContrast(0.2, seed=1)),
    "RandomErasing": _images(lambda: L.RandomErasing(p=0.8, value=0.5, seed=1)),
    "RandomErasing-per-channel": _images(lambda: L.RandomErasing(p=0.8, value=[0.1, 0.2, 0.3], seed=1)),
    "RandomErasing-random": _images(lambda: L.RandomErasing(p=0.8, value="random", seed=1)),
    "GaussianNoise": _vectors(lambda: L.GaussianNoise(0.2, seed=1)),
    "GaussianDropout": _vectors(lambda: L.GaussianDropout(0.2)),
    # layers that write to their weights in training, or compute with buffers made at build
    "SpectralNormalization": _vectors(lambda: L.SpectralNormalization(L.Dense(8), power_iterations=2)),
    "STFTSpectrogram": _sequence((64, 2), lambda: L.STFTSpectrogram(frame_length=16, frame_step=8)),
    "MelSpectrogram": _sequence((256,), lambda: L.MelSpectrogram(fft_length=64, sequence_stride=32,
                                                                 sampling_rate=8000, num_mel_bins=8)),
}


def _inputs(model, n=80):
    rng = np.random.default_rng(0)
    shape = tuple(model.inputs[0].shape[1:])  # the Input's sample shape
    if isinstance(model.layers[0], L.Embedding):  # token ids, padded ends of several lengths
        x = rng.integers(1, 20, (n, *shape))
        for i, length in enumerate(rng.integers(2, 6, n)):
            x[i, length:] = 0
    else:
        x = rng.uniform(0.0, 1.0, (n, *shape)).astype("float32")
    return x, rng.integers(0, 3, n)


def _fit(use, name, x, y, graphed):
    use(graphed)
    set_random_seed(0)
    model = CASES[name]()
    model.compile(SGD(0.05, momentum=0.9), "sparse_categorical_crossentropy", ["accuracy"], device="cpu")
    set_random_seed(1)  # the same shuffling and the same draws of torch's generator
    return model, model.fit(x, y, batch_size=16, epochs=2, verbose=0)


@pytest.mark.filterwarnings("ignore:Layer .* got images without labels")
@pytest.mark.parametrize("name", list(CASES))
def test_layer_trains_on_the_graph_step_as_eager_reading_nothing_back(probed, name):
    use, reads = probed
    x, y = _inputs(CASES[name]())
    eager = _fit(use, name, x, y, False)
    assert eager[0].trainer.graph_step is None
    graphed = _fit(use, name, x, y, True)
    step = graphed[0].trainer.graph_step
    # 80 samples = 5 batches of 16, 2 epochs: 3 warm-up steps, one capture, 7 replays
    assert (step.captures, step.eager_steps, step.replays) == (1, 3, 7)
    assert reads == [], f"{name}: a CUDA graph cannot hold {sorted(set(reads))}"
    _same(graphed, eager)


# What the probe must see: each of these would fail a CUDA graph's capture or bake one batch's value into it.
_UNHOLDABLE = {
    "_local_scalar_dense": lambda x: x * float(x.mean()),  # .item(), float(t), bool(t)
    "tolist": lambda x: x * (1.0 + 0.0 * x.detach()[0, 0].tolist()),
    "numpy": lambda x: x + 0.0 * float(np.asarray(x.detach()).mean()),
    "nonzero": lambda x: x + 0.0 * x[x > 0.5].sum(),  # boolean indexing: a shape made from values
    "lift_fresh": lambda x: x * x.new_tensor([1.0]),  # host data copied onto the device
    "python random": lambda x: x * random.uniform(0.9, 1.1),
    "numpy random": lambda x: x * np.random.uniform(0.9, 1.1),
}


@pytest.mark.parametrize("read", list(_UNHOLDABLE))
def test_the_probe_sees_what_a_graph_cannot_hold(probed, read):
    use, reads = probed
    rng = np.random.default_rng(0)
    x, y = rng.uniform(0.0, 1.0, (48, 8)).astype("float32"), rng.integers(0, 3, 48)
    use(True)
    model = Sequential([L.Input((8,)), L.Lambda(_UNHOLDABLE[read]), L.Dense(3, activation="softmax")])
    model.compile(SGD(0.05), "sparse_categorical_crossentropy", device="cpu")
    model.fit(x, y, batch_size=16, epochs=2, verbose=0)
    assert model.trainer.graph_step.captures == 1
    assert read in reads
