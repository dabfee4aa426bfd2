"""The speed options: bfloat16 mixed precision, jit_compile, fused CUDA optimizers.

On CPU these check the arithmetic and the errors; ``test_cuda_*`` run only
where CUDA is (the lent GPU machine: ``BRAINNET_DEVICE=cuda pytest tests/training``).
"""

import numpy as np
import pytest
import torch

from brainnet import mixed_precision
from brainnet.layers import Conv2D, Dense, Flatten, MaxPooling2D
from brainnet.models import Sequential, load_model
from brainnet.utils import set_random_seed

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA (run on the GPU machine)")


@pytest.fixture(autouse=True)
def _float32_policy():
    yield
    mixed_precision.set_global_policy("float32")


def _data(n=96, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 8, 8, 1)).astype("float32"), rng.integers(0, 10, n)


def _model(jit_compile="auto", device=None, conv=True):
    set_random_seed(0)
    layers = ([Conv2D(4, 3, activation="relu", input_shape=(8, 8, 1)), MaxPooling2D(2)] if conv else [])
    model = Sequential(layers + [Flatten(**({} if conv else {"input_shape": (8, 8, 1)})),
                                 Dense(10, activation="softmax")])
    model.compile("sgd", "sparse_categorical_crossentropy", ["accuracy"], device=device, jit_compile=jit_compile)
    return model


def _weights(model):
    return [p.detach().cpu().clone() for p in model.parameters()]


def test_mixed_bfloat16_computes_in_bfloat16_and_keeps_float32_weights():
    x, y = _data()
    reference = _model()
    h_ref = reference.fit(x, y, batch_size=32, epochs=2, verbose=0)
    mixed_precision.set_global_policy("mixed_bfloat16")
    model = _model()
    seen = []
    model.layers[-1].register_forward_hook(lambda mod, args, out: seen.append(out.dtype))
    history = model.fit(x, y, batch_size=32, epochs=2, verbose=0)
    assert seen and all(d == torch.bfloat16 for d in seen), seen
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert model.predict(x[:4]).dtype == np.float32
    # bfloat16 keeps 8 bits of mantissa: the same training, to about 1e-2 relative.
    np.testing.assert_allclose(history.history["loss"], h_ref.history["loss"], rtol=1e-2)
    diff = max((a - b).abs().max().item() for a, b in zip(_weights(model), _weights(reference)))
    assert 0 < diff < 1e-2, diff  # not float32 arithmetic, yet close to it


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "SimpleRNN"])
def test_recurrent_layers_under_mixed_bfloat16_run_their_recurrence_in_float32(kind):
    # oneDNN has no bfloat16 LSTM on CPUs without AVX-512 BF16 (it failed to create the
    # kernel), and on CUDA autocast would run cuDNN's RNNs in float16: brainnet runs the
    # fused recurrence in float32 under any mixed policy.
    from brainnet import layers

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(32, 6, 5)).astype("float32"), rng.integers(0, 3, 32)
    mixed_precision.set_global_policy("mixed_bfloat16")
    set_random_seed(0)
    model = Sequential([getattr(layers, kind)(8, return_sequences=True, input_shape=(6, 5)),
                        getattr(layers, kind)(4), Dense(3, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", device="cpu")
    history = model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model.layers[0](torch.from_numpy(x), training=False)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, model.layers[0](torch.from_numpy(x), training=False))  # as without autocast


def test_policy_is_read_at_compile():
    mixed_precision.set_global_policy("mixed_bfloat16")
    model = _model()
    mixed_precision.set_global_policy("float32")
    assert model.trainer.policy.compute_dtype == "bfloat16"
    assert _model().trainer.policy.compute_dtype == "float32"


def test_unknown_policy_is_refused():
    with pytest.raises(ValueError, match=r"expected one of \['float32', 'mixed_bfloat16'\], got 'mixed_float16'"
                       r"\. float16 needs loss scaling.*Fix: mixed_precision\.set_global_policy"):
        mixed_precision.set_global_policy("mixed_float16")
    with pytest.raises(ValueError, match="got 'float64'"):
        mixed_precision.set_global_policy("float64")


def test_bad_jit_compile_is_refused():
    with pytest.raises(ValueError, match=r"expected jit_compile to be True, False or 'auto', got 'yes'\. Fix:"):
        _model(jit_compile="yes")


def test_jit_compile_trains_like_eager_on_cpu(tmp_path):
    x, y = _data()  # 96 samples, batch 32: one batch shape, one compiled graph
    eager = _model(conv=False, device="cpu")
    h_eager = eager.fit(x, y, batch_size=32, epochs=2, verbose=0)
    compiled = _model(jit_compile=True, conv=False, device="cpu")
    h_compiled = compiled.fit(x, y, batch_size=32, epochs=2, verbose=0)
    assert compiled.trainer._compiled_forward is not None
    np.testing.assert_allclose(h_compiled.history["loss"], h_eager.history["loss"], rtol=1e-5)
    for a, b in zip(_weights(compiled), _weights(eager)):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    compiled.save(tmp_path / "m.brainnet")  # the setting travels with the file
    assert load_model(tmp_path / "m.brainnet").trainer.jit_compile is True


def test_cudnn_autotunes_on_cuda_only_and_not_when_determinism_is_asked(monkeypatch):
    from brainnet.training.trainer import cudnn_autotune

    cudnn = torch.backends.cudnn
    monkeypatch.setattr(cudnn, "benchmark", False)
    with cudnn_autotune(torch.device("cuda")):
        assert cudnn.benchmark is True
    assert cudnn.benchmark is False  # put back
    with cudnn_autotune(torch.device("cpu")):
        assert cudnn.benchmark is False
    monkeypatch.setattr(cudnn, "deterministic", True)
    with cudnn_autotune(torch.device("cuda")):
        assert cudnn.benchmark is False
    monkeypatch.setattr(cudnn, "deterministic", False)
    torch.use_deterministic_algorithms(True)
    try:
        with cudnn_autotune(torch.device("cuda")):
            assert cudnn.benchmark is False
    finally:
        torch.use_deterministic_algorithms(False)
    seen = []
    monkeypatch.setattr(cudnn, "benchmark", False)

    from brainnet.callbacks import Callback

    class Probe(Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append(cudnn.benchmark)

    x, y = _data(32)
    _model(device="cpu").fit(x, y, epochs=1, verbose=0, callbacks=[Probe()])
    assert seen == [False]  # on the CPU nothing changes
    if torch.cuda.is_available():
        _model(device="cuda").fit(x, y, epochs=1, verbose=0, callbacks=[Probe()])
        assert seen == [False, True] and cudnn.benchmark is False


@cuda
def test_cuda_fused_optimizer_and_compiled_bfloat16_step():
    x, y = _data(200)
    eager = _model(device="cuda")
    h_eager = eager.fit(x, y, batch_size=32, epochs=3, verbose=0)
    assert eager.trainer.optimizer.torch_optimizer.defaults.get("fused") is True
    mixed_precision.set_global_policy("mixed_bfloat16")
    fast = _model(jit_compile=True, device="cuda")
    h_fast = fast.fit(x, y, batch_size=32, epochs=3, verbose=0)  # 200 = 6×32 + 8: the last batch eager
    np.testing.assert_allclose(h_fast.history["loss"], h_eager.history["loss"], rtol=2e-2)
    assert fast.evaluate(x, y, verbose=0)[0] == pytest.approx(eager.evaluate(x, y, verbose=0)[0], rel=2e-2)


@cuda
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_cuda_graph_step_follows_a_schedule_and_saves_a_portable_state(optimizer, tmp_path, monkeypatch):
    # The same arithmetic as the eager step: measured equal on an H100 (shuffle off: bit for bit).
    from brainnet.optimizers import SGD, Adam
    from brainnet.schedules import CosineDecay

    x, y = _data(200)

    def make(jit):
        set_random_seed(0)
        model = Sequential([Flatten(input_shape=(8, 8, 1)), Dense(16, activation="relu"),
                            Dense(10, activation="softmax")])
        schedule = CosineDecay(0.01, 30)
        opt = (SGD(schedule, momentum=0.9, weight_decay=0.01) if optimizer == "sgd"
               else Adam(schedule, weight_decay=0.01))
        model.compile(opt, "sparse_categorical_crossentropy", ["accuracy"], device="cuda", jit_compile=jit)
        return model

    eager, graphed = make(False), make(True)
    xd, yd = torch.from_numpy(x).cuda(), torch.from_numpy(y).cuda()  # the same arrays for both graphed fits
    set_random_seed(1)  # the same shuffling for both
    h_eager = eager.fit(x, y, batch_size=32, epochs=4, verbose=0)
    set_random_seed(1)
    h_graph = graphed.fit(xd, yd, batch_size=32, epochs=4, verbose=0)
    step = graphed.trainer.graph_step
    assert step is not None and step.replays == 4 * 6 - 3 and step.eager_steps == 3 + 4
    assert graphed.trainer.optimizer.iterations == eager.trainer.optimizer.iterations == 28
    assert h_graph.history.keys() == h_eager.history.keys()
    for key in h_eager.history:  # loss and accuracy, summed inside the graph
        np.testing.assert_allclose(h_graph.history[key], h_eager.history[key], rtol=1e-5, err_msg=key)
    assert step.record_in_graph and step.captures == 1
    set_random_seed(2)  # a second fit replays the first one's graph
    h_eager = eager.fit(x, y, batch_size=32, epochs=1, verbose=0)
    set_random_seed(2)
    h_graph = graphed.fit(xd, yd, batch_size=32, epochs=1, verbose=0)
    assert graphed.trainer.graph_step is step and step.captures == 1 and step.eager_steps == 3 + 5
    for key in h_eager.history:
        np.testing.assert_allclose(h_graph.history[key], h_eager.history[key], rtol=1e-5, err_msg=key)
    for a, b in zip(_weights(graphed), _weights(eager)):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    graphed.save(tmp_path / "g.brainnet")
    monkeypatch.setenv("BRAINNET_DEVICE", "cpu")  # as on a machine without a GPU
    restored = load_model(tmp_path / "g.brainnet")  # with the optimizer state saved on the GPU
    assert restored.trainer.optimizer.iterations == 35
    assert next(restored.parameters()).device.type == "cpu"
    restored.trainer.jit_compile = False  # torch.compile on the CPU is tested apart; here: the state's portability
    restored.fit(x, y, batch_size=32, epochs=1, verbose=0)


@cuda
@pytest.mark.parametrize("masked", [False, True])
def test_cuda_graph_step_with_embedding_and_masked_lstm(masked):
    # Embedding's index check and an RNN's mask read values on the host; while
    # capturing they step aside (checked on the CPU with host reads counted:
    # test_graph_step.py::test_graphed_token_model_reads_nothing_back_and_trains_as_eager).
    from brainnet.layers import LSTM, Embedding

    rng = np.random.default_rng(0)
    tokens, labels = rng.integers(1, 50, (96, 12)), rng.integers(0, 3, 96)
    if masked:
        tokens[:, 9:] = 0

    def run(jit):
        set_random_seed(0)
        model = Sequential([Embedding(50, 8, mask_zero=masked, input_shape=(12,)), LSTM(8),
                            Dense(3, activation="softmax")])
        model.compile("sgd", "sparse_categorical_crossentropy", ["accuracy"], device="cuda", jit_compile=jit)
        set_random_seed(1)
        return model, model.fit(tokens, labels, batch_size=16, epochs=2, verbose=0)

    eager, graphed = run(False), run(True)
    assert graphed[0].trainer.graph_step.captures == 1
    np.testing.assert_allclose(graphed[1].history["loss"], eager[1].history["loss"], rtol=1e-4)


@cuda
def test_cuda_graph_step_with_a_seeded_augmentation_layer():
    from brainnet.layers import RandomFlip

    x, y = _data()
    set_random_seed(0)
    model = Sequential([RandomFlip("horizontal", seed=0, input_shape=(8, 8, 1)), Conv2D(4, 3), Flatten(),
                        Dense(10, activation="softmax")])
    model.compile("sgd", "sparse_categorical_crossentropy", ["accuracy"], device="cuda", jit_compile=True)
    history = model.fit(x, y, batch_size=16, epochs=2, verbose=0)
    step = model.trainer.graph_step
    assert step is not None and step.captures == 1 and np.isfinite(history.history["loss"]).all()
    layer = model.layers[0]
    first = layer(torch.ones(8, 8, 8, 1, device="cuda"), training=True)
    assert not torch.equal(first, layer(torch.ones(8, 8, 8, 1, device="cuda"), training=True))


@cuda
def test_cuda_lstm_under_mixed_bfloat16_runs_its_recurrence_in_float32():
    # PyTorch's autocast would run cuDNN's RNN in float16 whatever the policy's dtype.
    import warnings

    from brainnet.layers import LSTM

    mixed_precision.set_global_policy("mixed_bfloat16")
    model = Sequential([LSTM(8, input_shape=(12, 5)), Dense(3, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", device="cuda")
    seen = []
    model.layers[0].register_forward_hook(lambda module, args, out: seen.append(out.dtype))
    rng = np.random.default_rng(0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # cuDNN's "weights are not part of single contiguous chunk" included
        history = model.fit(rng.normal(size=(64, 12, 5)).astype("float32"), rng.integers(0, 3, 64), verbose=0)
    assert set(seen) == {torch.float32} and np.isfinite(history.history["loss"]).all()


@cuda
def test_cuda_graph_step_with_sample_weights_and_a_weighted_metric():
    # The weights are gathered inside the graph like the labels (simulated on the CPU in
    # tests/training/test_sample_weight.py); here the real capture against the eager loop.
    x, y = _data(192)
    w = np.linspace(0.2, 2.0, 192).astype("float32")

    def run(jit):
        set_random_seed(0)
        model = Sequential([Flatten(input_shape=(8, 8, 1)), Dense(16, activation="relu"),
                            Dense(10, activation="softmax")])
        model.compile("sgd", "sparse_categorical_crossentropy", ["accuracy"], weighted_metrics=["accuracy"],
                      device="cuda", jit_compile=jit)
        set_random_seed(1)
        return model, model.fit(x, y, sample_weight=w, batch_size=32, epochs=3, verbose=0)

    (_, h_eager), (graphed, h_graph) = run(False), run(True)
    assert graphed.trainer.graph_step is not None and graphed.trainer.graph_step.captures == 1
    assert h_graph.history.keys() == h_eager.history.keys()
    for key in h_eager.history:
        np.testing.assert_allclose(h_graph.history[key], h_eager.history[key], rtol=1e-4, err_msg=key)


@cuda
def test_cuda_graph_step_with_seeded_gaussian_noise_and_an_rnn_of_cells():
    from brainnet.layers import RNN, GaussianNoise, LSTMCell

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(96, 7, 5)).astype("float32"), rng.integers(0, 3, 96)
    set_random_seed(0)
    model = Sequential([GaussianNoise(0.1, seed=3, input_shape=(7, 5)), RNN(LSTMCell(8)),
                        Dense(3, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", device="cuda", jit_compile=True)
    history = model.fit(x, y, batch_size=16, epochs=3, verbose=0)
    step = model.trainer.graph_step
    assert step is not None and step.captures == 1 and np.isfinite(history.history["loss"]).all()
    assert history.history["loss"][-1] < history.history["loss"][0]
    noise = model.layers[0]
    ones = torch.ones(4, 7, 5, device="cuda")
    assert not torch.equal(noise(ones, training=True), noise(ones, training=True))  # the generator moves on


# The layers whose capture matters most on CUDA (randperm, cuDNN's 3-D and transposed convolutions,
# attention, the constants the augmentation layers now make on the device); all of them, and more,
# run through the simulated capture on the CPU in tests/training/test_graph_step_layers.py.
_CUDA_LAYERS = ["MixUp", "CutMix", "RandomGrayscale", "RandomColorJitter", "RandomSharpness", "RandomRotation",
                "RandomErasing-per-channel", "AlphaDropout", "SpatialDropout3D", "ConvLSTM3D", "Conv3DTranspose",
                "GroupQueryAttention", "StackedRNNCells-masked", "TorchModuleWrapper", "AutoContrast",
                "RMSNormalization", "EinsumDense"]
_DRAWS_NOTHING = {"AutoContrast", "RMSNormalization", "EinsumDense", "Conv3DTranspose"}


@cuda
@pytest.mark.filterwarnings("ignore:Layer .* got images without labels")
@pytest.mark.parametrize("name", _CUDA_LAYERS)
def test_cuda_graph_step_captures_the_layers_added_on_2026_12_05(name):
    from test_graph_step_layers import CASES, _inputs

    x, y = _inputs(CASES[name]())  # 80 samples: 5 batches of 16

    def run(jit):
        set_random_seed(0)
        model = CASES[name]()
        model.compile("sgd", "sparse_categorical_crossentropy", ["accuracy"], device="cuda", jit_compile=jit)
        set_random_seed(1)
        return model, model.fit(x, y, batch_size=16, epochs=2, verbose=0)

    graphed, h_graph = run(True)
    step = graphed.trainer.graph_step
    assert step is not None and (step.captures, step.replays) == (1, 7)
    assert np.isfinite(h_graph.history["loss"]).all()
    if name in _DRAWS_NOTHING:  # random layers: compared with the eager step on the CPU (simulated capture)
        _, h_eager = run(False)
        for key in h_eager.history:
            np.testing.assert_allclose(h_graph.history[key], h_eager.history[key], rtol=1e-4, err_msg=key)
