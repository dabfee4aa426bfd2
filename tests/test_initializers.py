"""brainnet.initializers against NumPy statistics and Keras 3's formulas, and as layer arguments."""

import json
import math

import numpy as np
import pytest
import torch

import brainnet
from brainnet import initializers
from brainnet.layers import GRU, LSTM, BatchNormalization, Conv1D, Conv2D, Dense, Embedding, LayerNormalization
from brainnet.layers import SimpleRNN, LSTMCell
from brainnet.models import Sequential, load_model

TRUNC = 0.87962566103423978  # std of N(0, 1) cut at ±2 (Keras's correction factor)


def test_truncation_factor_is_the_std_of_a_standard_normal_cut_at_two():
    # Var of N(0,1) cut at ±2: 1 − 2·2·φ(2)/(Φ(2) − Φ(−2)), by hand
    phi = math.exp(-2) / math.sqrt(2 * math.pi)
    mass = math.erf(2 / math.sqrt(2))
    assert abs(math.sqrt(1 - 4 * phi / mass) - TRUNC) < 1e-9


def _fans(shape):  # Keras's rule, written out by hand
    if len(shape) == 2:
        return shape[0], shape[1]
    receptive = int(np.prod(shape[:-2]))
    return shape[-2] * receptive, shape[-1] * receptive


@pytest.mark.parametrize("shape", [(400, 300), (3, 3, 64, 32), (5,)])
def test_compute_fans_as_keras(shape):
    want = (shape[0], shape[0]) if len(shape) == 1 else _fans(shape)
    assert initializers.compute_fans(shape) == want


SHAPE = (600, 400)
FAN_IN, FAN_OUT = SHAPE


@pytest.mark.parametrize("name, kind, param", [
    ("glorot_uniform", "uniform", math.sqrt(6 / (FAN_IN + FAN_OUT))),
    ("he_uniform", "uniform", math.sqrt(6 / FAN_IN)),
    ("lecun_uniform", "uniform", math.sqrt(3 / FAN_IN)),
    ("random_uniform", "uniform", 0.05),
    ("glorot_normal", "truncated", math.sqrt(2 / (FAN_IN + FAN_OUT))),
    ("he_normal", "truncated", math.sqrt(2 / FAN_IN)),
    ("lecun_normal", "truncated", math.sqrt(1 / FAN_IN)),
    ("random_normal", "normal", 0.05),
    ("truncated_normal", "cut", 0.05),
])
def test_statistics_against_numpy(name, kind, param):
    torch.manual_seed(0)
    w = initializers.get(name)(SHAPE).numpy().astype(np.float64)
    assert abs(w.mean()) < 0.01 * max(param, 0.05)
    if kind == "uniform":  # U(−l, l): std l/√3, every value within ±l, the ends reached
        assert np.abs(w).max() <= param and np.abs(w).max() > 0.999 * param
        assert abs(w.std() / (param / math.sqrt(3)) - 1) < 0.01
    elif kind == "truncated":  # Keras's variance scaling: the std after the cut is the target
        assert abs(w.std() / param - 1) < 0.01
        bound = 2 * param / TRUNC
        assert np.abs(w).max() <= bound * (1 + 1e-6) and np.abs(w).max() > 0.99 * bound
    elif kind == "normal":
        assert abs(w.std() / param - 1) < 0.01 and np.abs(w).max() > 4 * param
    else:  # TruncatedNormal(stddev): cut at ±2·stddev, spread TRUNC·stddev
        assert np.abs(w).max() <= 2 * param * (1 + 1e-6)
        assert abs(w.std() / (TRUNC * param) - 1) < 0.01


def test_he_normal_is_keras_truncated_normal_not_a_plain_normal():
    torch.manual_seed(1)
    w = brainnet.layers.Dense(500, kernel_initializer="he_normal")
    w(torch.zeros(1, 800))
    k = w.kernel.detach().numpy()
    sigma = math.sqrt(2 / 800)
    assert np.abs(k).max() <= 2 * sigma / TRUNC * (1 + 1e-6)  # a plain normal would pass 2.27σ here
    assert abs(k.std() / sigma - 1) < 0.01


def test_variance_scaling_modes_and_distributions():
    torch.manual_seed(2)
    shape = (3, 3, 40, 60)  # fan_in 360, fan_out 540
    fan_in, fan_out = _fans(shape)
    for mode, n in (("fan_in", fan_in), ("fan_out", fan_out), ("fan_avg", (fan_in + fan_out) / 2)):
        w = initializers.VarianceScaling(3.0, mode, "untruncated_normal")(shape).numpy()
        assert abs(w.std() / math.sqrt(3.0 / n) - 1) < 0.02, mode
        u = initializers.VarianceScaling(3.0, mode, "uniform")(shape).numpy()
        assert np.abs(u).max() <= math.sqrt(9.0 / n)
    assert initializers.VarianceScaling(distribution="normal").distribution == "truncated_normal"  # Keras's alias


def test_constants_identity_and_orthogonal():
    assert torch.equal(initializers.Zeros()((2, 3)), torch.zeros(2, 3))
    assert torch.equal(initializers.Ones()((4,)), torch.ones(4))
    assert torch.equal(initializers.Constant(0.3)((2, 2)), torch.full((2, 2), 0.3))
    assert torch.equal(initializers.Identity(2.0)((3, 4)), 2 * torch.eye(3, 4))
    tall = initializers.Orthogonal(gain=1.5, seed=0)((3, 3, 4, 8)).numpy().astype(np.float64).reshape(36, 8)
    np.testing.assert_allclose(tall.T @ tall, 1.5 ** 2 * np.eye(8), atol=1e-5)  # orthogonal columns
    wide = initializers.Orthogonal()((4, 16)).numpy().astype(np.float64)
    np.testing.assert_allclose(wide @ wide.T, np.eye(4), atol=1e-5)  # fewer rows: orthonormal rows


def test_seeds_repeat_and_unseeded_follow_torch_generator():
    a = initializers.HeNormal(seed=7)((20, 30))
    assert torch.equal(a, initializers.HeNormal(seed=7)((20, 30)))
    assert torch.equal(a, initializers.get({"class_name": "HeNormal", "config": {"seed": 7}})((20, 30)))
    assert not torch.equal(a, initializers.HeNormal(seed=8)((20, 30)))
    init = initializers.RandomUniform()
    torch.manual_seed(3)
    first, second = init((10,)), init((10,))
    assert not torch.equal(first, second)  # unseeded: new values each call
    torch.manual_seed(3)
    assert torch.equal(first, init((10,)))


def test_get_names_classes_instances_functions_and_config_round_trip():
    assert type(initializers.get("he_normal")) is initializers.HeNormal
    assert type(initializers.get("HeNormal")) is initializers.HeNormal
    assert type(initializers.get("normal")) is initializers.RandomNormal
    assert type(initializers.get(initializers.GlorotNormal)) is initializers.GlorotNormal
    fn = lambda shape, dtype=None: torch.full(shape, 2.0)  # noqa: E731
    assert initializers.get(fn) is fn and initializers.get(None) is None
    for init in (initializers.RandomNormal(0.1, 0.2, seed=1), initializers.VarianceScaling(2.0, "fan_out", "uniform"),
                 initializers.Orthogonal(0.5), initializers.Constant(3.0), initializers.TruncatedNormal(stddev=1.0)):
        saved = json.loads(json.dumps(initializers.serialize(init)))
        again = initializers.get(saved)
        assert type(again) is type(init) and again.get_config() == init.get_config()
    assert initializers.serialize(initializers.HeNormal()) == "he_normal"
    assert initializers.serialize(initializers.RandomUniform()) == "random_uniform"


def test_errors_teach():
    with pytest.raises(ValueError, match=r"initializers\.get: expected an initializer among zeros, .* got "
                                         r"'he_normall'\. Fix: initializer='he_normal'\."):
        initializers.get("he_normall")
    with pytest.raises(ValueError, match=r"Dense: expected kernel_initializer among .* got 'glorot'\. "
                                         r"Fix: kernel_initializer='glorot_uniform'\."):
        Dense(3, kernel_initializer="glorot")
    with pytest.raises(ValueError, match=r"Dense: expected bias_initializer among .* got None\. "
                                         r"Fix: bias_initializer='zeros'\."):
        Dense(3, bias_initializer=None)
    with pytest.raises(ValueError, match=r"RandomNormal: expected stddev to be a number > 0, got -1\. "
                                         r"Fix: RandomNormal\(mean=0\.0, stddev=0\.05\)\."):
        initializers.RandomNormal(stddev=-1)
    with pytest.raises(ValueError, match=r"TruncatedNormal: expected stddev to be a number > 0, got 0"):
        initializers.TruncatedNormal(stddev=0)
    with pytest.raises(ValueError, match=r"RandomNormal: expected mean to be a finite number, got 'a'"):
        initializers.RandomNormal(mean="a")
    with pytest.raises(ValueError, match=r"RandomUniform: expected minval < maxval, got minval=1, maxval=0\. Fix:"):
        initializers.RandomUniform(1, 0)
    with pytest.raises(ValueError, match=r"VarianceScaling: expected scale to be a number > 0, got 0\. "
                                         r"Fix: VarianceScaling\(scale=2\.0\)\."):
        initializers.VarianceScaling(0)
    with pytest.raises(ValueError, match=r"VarianceScaling: expected mode among 'fan_in', 'fan_out', 'fan_avg', "
                                         r"got 'fan'\. Fix: VarianceScaling\(mode='fan_in'\)"):
        initializers.VarianceScaling(mode="fan")
    with pytest.raises(ValueError, match=r"VarianceScaling: expected distribution among 'truncated_normal', "
                                         r"'untruncated_normal', 'uniform', got 'gaussian'\. Fix:"):
        initializers.VarianceScaling(distribution="gaussian")
    with pytest.raises(ValueError, match=r"HeNormal: expected seed to be an integer or None, got 1\.5\. "
                                         r"Fix: HeNormal\(seed=42\)"):
        initializers.HeNormal(seed=1.5)
    with pytest.raises(ValueError, match=r"Orthogonal: expected a shape of at least 2 axes \(a matrix\), got "
                                         r"\(4,\)\. Fix: use Orthogonal on kernels"):
        initializers.Orthogonal()((4,))
    with pytest.raises(ValueError, match=r"Identity: expected a shape of exactly 2 axes \(a matrix\), got "
                                         r"\(3, 3, 2\)\. Fix: use Identity on Dense or recurrent kernels only\."):
        initializers.Identity()((3, 3, 2))
    with pytest.raises(ValueError, match=r"Dense: expected the initializer .* to return a value of shape "
                                         r"\(4, 2\), got \(2, 4\)\. Fix: return a tensor or array of the shape"):
        Dense(2, kernel_initializer=lambda shape, dtype=None: np.zeros(shape[::-1]))(torch.zeros(1, 4))
    with pytest.raises(ValueError, match=r"save: expected a brainnet\.initializers\.Initializer, got the function"):
        initializers.serialize(lambda shape: torch.zeros(shape))


def test_dense_conv_and_lstm_kernels_get_keras_fans():
    torch.manual_seed(4)
    dense = Dense(300, kernel_initializer="he_uniform")
    dense(torch.zeros(1, 200))
    assert abs(float(dense.kernel.abs().max()) / math.sqrt(6 / 200) - 1) < 0.01
    conv = Conv2D(64, (5, 3), kernel_initializer="lecun_uniform", bias_initializer="ones")
    conv(torch.zeros(1, 8, 8, 12))
    fan_in = 5 * 3 * 12  # Keras's (kh, kw, in, out): receptive field × input channels
    k = conv.kernel.detach()
    assert tuple(k.shape) == (64, 12, 5, 3) and k.is_contiguous(memory_format=torch.channels_last)
    assert abs(float(k.abs().max()) / math.sqrt(3 / fan_in) - 1) < 0.01 and torch.equal(conv.bias, torch.ones(64))
    glorot = Conv2D(40, 3)
    glorot(torch.zeros(1, 5, 5, 24))
    assert abs(float(glorot.kernel.abs().max()) / math.sqrt(6 / (9 * 24 + 9 * 40)) - 1) < 0.01
    conv1 = Conv1D(32, 4, kernel_initializer=initializers.VarianceScaling(1.0, "fan_out", "uniform"))
    conv1(torch.zeros(1, 6, 10))
    assert abs(float(conv1.kernel.abs().max()) / math.sqrt(3 / (4 * 32)) - 1) < 0.01
    lstm = LSTM(50, kernel_initializer="he_normal", recurrent_initializer=initializers.Orthogonal(gain=2.0),
                bias_initializer="ones", unit_forget_bias=True)
    lstm(torch.zeros(1, 2, 80))
    assert abs(float(lstm.kernel.std()) / math.sqrt(2 / 80) - 1) < 0.02  # kernel (80, 200): fan_in 80
    u = lstm.recurrent_kernel.detach().numpy().astype(np.float64)  # (50, 200): orthonormal rows times 2
    np.testing.assert_allclose(u @ u.T, 4 * np.eye(50), atol=1e-4)
    assert torch.equal(lstm.bias, torch.ones(200))
    zeros = LSTM(3, bias_initializer="random_normal", unit_forget_bias=True)
    zeros(torch.zeros(1, 2, 4))
    assert torch.equal(zeros.bias[3:6], torch.ones(3)) and not torch.equal(zeros.bias[:3], torch.ones(3))
    no_forget = LSTM(3, unit_forget_bias=False)
    no_forget(torch.zeros(1, 2, 4))
    assert not no_forget.bias.any()


def test_other_layers_take_their_initializers():
    gru = GRU(4, kernel_initializer="zeros", recurrent_initializer="identity", bias_initializer="ones")
    gru(torch.zeros(1, 2, 3))
    assert not gru.kernel.any() and torch.equal(gru.recurrent_kernel, torch.eye(4, 12))
    assert torch.equal(gru.bias, torch.ones(2, 12))
    rnn = SimpleRNN(3, recurrent_initializer="zeros")
    rnn(torch.zeros(1, 2, 3))
    assert not rnn.recurrent_kernel.any()
    cell = LSTMCell(2, kernel_initializer="ones")
    cell(torch.zeros(1, 3), cell.get_initial_state(1))
    assert torch.equal(cell.kernel, torch.ones(3, 8))
    emb = Embedding(10, 4, embeddings_initializer=initializers.Constant(0.5))
    emb(torch.tensor([[1, 2]]))
    assert torch.equal(emb.embeddings, torch.full((10, 4), 0.5))
    bn = BatchNormalization(gamma_initializer="zeros", beta_initializer="ones",
                            moving_mean_initializer=initializers.Constant(2.0), moving_variance_initializer="zeros")
    bn(torch.zeros(2, 3), training=False)
    assert not bn.gamma.any() and torch.equal(bn.beta, torch.ones(3))
    assert torch.equal(bn.moving_mean, torch.full((3,), 2.0)) and not bn.moving_variance.any()
    ln = LayerNormalization(gamma_initializer=initializers.Constant(3.0), beta_initializer="ones")
    ln(torch.zeros(2, 5))
    assert torch.equal(ln.gamma, torch.full((5,), 3.0)) and torch.equal(ln.beta, torch.ones(5))


def test_initializers_survive_config_round_trip_and_save_load(tmp_path):
    torch.manual_seed(5)
    model = Sequential([
        Conv2D(4, 3, kernel_initializer="he_normal", bias_initializer=initializers.Constant(0.1),
               input_shape=(6, 6, 1)),
        brainnet.layers.Flatten(),
        Dense(3, kernel_initializer=initializers.RandomNormal(stddev=0.2, seed=3)),
    ])
    cfg = model.layers[2].get_config()
    assert cfg["kernel_initializer"] == {"class_name": "RandomNormal",
                                         "config": {"mean": 0.0, "stddev": 0.2, "seed": 3}}
    assert model.layers[0].get_config()["kernel_initializer"] == "he_normal"
    again = Dense.from_config(json.loads(json.dumps(cfg)))
    assert again.kernel_initializer.get_config() == model.layers[2].kernel_initializer.get_config()
    model.save(tmp_path / "m.keras")
    loaded = load_model(tmp_path / "m.keras")
    assert type(loaded.layers[0].kernel_initializer) is initializers.HeNormal
    assert loaded.layers[0].bias_initializer.get_config() == {"value": 0.1}
    x = np.random.default_rng(0).normal(size=(2, 6, 6, 1)).astype("float32")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)


def test_add_weight_takes_objects_and_class_names():
    from brainnet.layers import Layer

    class Scale(Layer):
        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1],), initializer=initializers.Constant(2.0))
            self.v = self.add_weight(shape=(2, 2), initializer="Identity")

        def call(self, x):
            return x * self.w

    layer = Scale()
    layer(torch.ones(1, 3))
    assert torch.equal(layer.w, torch.full((3,), 2.0)) and torch.equal(layer.v, torch.eye(2))
