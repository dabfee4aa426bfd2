"""TorchModuleWrapper: y = module(x) against NumPy (a Linear, a BatchNorm in
both modes), the module's parameters as the layer's weights (trainable,
frozen, counted in summary, trained by fit), train/eval mode from the
training flag, shapes in symbolic models, save_weights/load_weights with the
buffers, model.save refused, and the errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from brainnet.layers import Dense, Input, Permute, TorchModuleWrapper
from brainnet.models import Model, Sequential

ATOL = 1e-12


def f64(*shape, seed=0):
    return torch.from_numpy(np.random.default_rng(seed).normal(size=shape))


def npy(t):
    return t.detach().cpu().numpy()


def test_linear_is_the_naive_product_and_its_parameters_are_the_weights():
    linear = torch.nn.Linear(4, 3).double()
    layer = TorchModuleWrapper(linear)
    assert layer.name.startswith("torch_module_wrapper")
    x = f64(5, 4)
    y = layer(x)
    want = x.numpy() @ npy(linear.weight).T + npy(linear.bias)  # y = x Wᵀ + b
    np.testing.assert_allclose(npy(y), want, rtol=0, atol=ATOL)
    assert [w is p for w, p in zip(layer.trainable_weights, linear.parameters())] == [True, True]
    assert layer.count_params() == 4 * 3 + 3 and layer.non_trainable_weights == []
    (y ** 2).sum().backward()
    assert linear.weight.grad is not None and linear.weight.grad.abs().sum() > 0


def test_batch_norm_follows_the_training_flag_against_numpy():
    bn = torch.nn.BatchNorm1d(3).double()
    with torch.no_grad():
        bn.weight.copy_(torch.tensor([1.5, 0.5, 2.0]))
        bn.bias.copy_(torch.tensor([0.1, -0.2, 0.3]))
    layer = TorchModuleWrapper(bn)
    x = f64(8, 3, seed=1) * 2 + 1
    xn = x.numpy()
    gamma, beta = npy(bn.weight), npy(bn.bias)
    # training: the batch's mean and (biased) variance; running statistics move by momentum 0.1
    y = layer(x, training=True)
    want = (xn - xn.mean(0)) / np.sqrt(xn.var(0) + 1e-5) * gamma + beta
    np.testing.assert_allclose(npy(y), want, rtol=0, atol=1e-10)
    assert bn.training
    running_mean = 0.9 * 0 + 0.1 * xn.mean(0)
    running_var = 0.9 * 1 + 0.1 * xn.var(0, ddof=1)
    np.testing.assert_allclose(npy(bn.running_mean), running_mean, rtol=0, atol=ATOL)
    # inference: the running statistics, which do not move
    y = layer(x, training=False)
    want = (xn - running_mean) / np.sqrt(running_var + 1e-5) * gamma + beta
    np.testing.assert_allclose(npy(y), want, rtol=0, atol=1e-10)
    assert not bn.training
    np.testing.assert_allclose(npy(bn.running_mean), running_mean, rtol=0, atol=ATOL)


def test_dropout_inside_is_on_in_training_only_and_keywords_reach_the_module():
    class Scaled(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.drop = torch.nn.Dropout(0.5)

        def forward(self, x, factor=1.0):
            return self.drop(x) * factor

    layer = TorchModuleWrapper(Scaled())
    x = torch.ones(200, 10)
    torch.manual_seed(0)
    y = layer(x, training=True)
    assert set(torch.unique(y).tolist()) == {0.0, 2.0}
    assert torch.equal(layer(x, training=False, factor=3.0), 3 * x)


def test_frozen_parameters_are_non_trainable_and_fit_leaves_them():
    torch.manual_seed(0)
    first, second = torch.nn.Linear(5, 6), torch.nn.Linear(6, 6)
    first.weight.requires_grad_(False)
    frozen = TorchModuleWrapper(torch.nn.Linear(6, 4), trainable=False)
    model = Sequential([Input((5,)), TorchModuleWrapper(torch.nn.Sequential(first, torch.nn.Tanh(), second)),
                        frozen, Dense(2, activation="softmax")])
    wrapped = model.layers[0]
    assert wrapped.non_trainable_weights == [first.weight] and len(wrapped.trainable_weights) == 3
    assert all(not p.requires_grad for p in frozen.module.parameters()) and frozen.trainable_weights == []
    before = {id(p): p.detach().clone() for p in model.parameters()}
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 5)).astype("float32")
    y = (x[:, 0] > 0).astype("int64")
    model.compile("adam", "sparse_categorical_crossentropy", device="cpu")
    history = model.fit(x, y, epochs=5, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    for p in [first.weight, *frozen.module.parameters()]:
        assert torch.equal(p, before[id(p)])
    for p in [first.bias, second.weight]:
        assert not torch.equal(p, before[id(p)])


def test_shapes_in_symbolic_models_summary_and_output_shape(capsys):
    inputs = Input((None, 5))
    hidden = TorchModuleWrapper(torch.nn.Linear(5, 8), name="proj")(inputs)  # over every time step
    assert hidden.shape == (None, None, 8)
    # AdaptiveAvgPool1d averages the last axis; output_shape as Keras takes it, batch axis first
    pooled = TorchModuleWrapper(torch.nn.AdaptiveAvgPool1d(1), output_shape=(None, None, 1))(hidden)
    assert pooled.shape == (None, None, 1)
    model = Model(inputs, pooled)
    model.summary()
    out = capsys.readouterr().out
    assert "proj (TorchModuleWrapper)" in out and "(None, None, 8)" in out and "48" in out
    x = f64(2, 7, 5).float()
    np.testing.assert_allclose(npy(model(x)), npy(model.get_layer("proj")(x)).mean(-1, keepdims=True), rtol=1e-6)
    layer = TorchModuleWrapper(torch.nn.Linear(5, 8))
    assert layer.compute_output_shape((None, 3, 5)) == (None, 3, 8)


def test_save_weights_round_trip_with_buffers_and_save_refused(tmp_path):
    def build():
        module = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.BatchNorm1d(6))
        return Sequential([Input((4,)), TorchModuleWrapper(module), Dense(3)])

    torch.manual_seed(0)
    model = build()
    x = f64(16, 4).float().numpy()
    model(torch.from_numpy(x), training=True)  # moves the running statistics
    model.save_weights(tmp_path / "w.weights.safetensors")
    other = build()
    other.load_weights(tmp_path / "w.weights.safetensors")
    assert torch.equal(other.layers[0].module[1].running_mean, model.layers[0].module[1].running_mean)
    np.testing.assert_array_equal(other.predict(x, verbose=0), model.predict(x, verbose=0))
    with pytest.raises(ValueError, match=r"save: expected layers that a JSON config can rebuild, got "
                                         r"TorchModuleWrapper 'torch_module_wrapper\w*' around a torch Sequential, "
                                         r"which only pickling could store \(brainnet files never hold code\)\. "
                                         r"Fix: model\.save_weights\('model\.weights\.safetensors'\), then build "
                                         r"the same model in code"):
        model.save(tmp_path / "m.brainnet")
    assert not (tmp_path / "m.brainnet").exists()


def test_errors_of_torch_module_wrapper():
    with pytest.raises(TypeError, match=r"TorchModuleWrapper: expected a torch\.nn\.Module instance, got the class "
                                        r"Linear\. Fix: TorchModuleWrapper\(torch\.nn\.Linear\(4, 8\)\) \(an "
                                        r"instance: note the parentheses\)\."):
        TorchModuleWrapper(torch.nn.Linear)
    with pytest.raises(TypeError, match=r"got function\. Fix: "):
        TorchModuleWrapper(lambda x: x)
    lazy = torch.nn.LazyLinear(3)
    with pytest.raises(ValueError, match=r"TorchModuleWrapper: expected a module with its parameters made, got a "
                                         r"lazy LazyLinear not yet called\. Fix: call it once on a batch first, "
                                         r"module\(x\[:1\]\), or give it its input size"):
        TorchModuleWrapper(lazy)
    lazy(torch.ones(1, 4))
    assert TorchModuleWrapper(lazy)(torch.ones(2, 4)).shape == (2, 3)  # once called, it wraps
    with pytest.raises(ValueError, match=r"TorchModuleWrapper: expected output_shape as a tuple of sizes, batch axis "
                                         r"first, each an int or None, got 10\. Fix: output_shape=\(None, 10\)"):
        TorchModuleWrapper(torch.nn.Linear(4, 10), output_shape=10)
    layer = TorchModuleWrapper(torch.nn.Linear(4, 10), output_shape=(None, 12))
    with pytest.raises(ValueError, match=r"Layer 'torch_module_wrapper\w*' \(TorchModuleWrapper\) expected outputs of "
                                         r"shape \(None, 12\) \(its output_shape\), got \(2, 10\)\. Fix: give "
                                         r"output_shape the shape the module returns"):
        layer(torch.ones(2, 4))
    with pytest.raises(ValueError, match=r"Layer 'torch_module_wrapper\w*' \(TorchModuleWrapper\) expected inputs that "
                                         r"its torch Linear takes, got shape \(2, 4\), on which the module raised: "
                                         r"mat1 and mat2 shapes cannot be multiplied.*Fix: make the module for these "
                                         r"inputs"):
        TorchModuleWrapper(torch.nn.Linear(3, 2))(torch.ones(2, 4))
    # Keras-style channels-last images into a torch Conv2d: refused when the model is built, with the permute
    with pytest.raises(ValueError, match=r"expected inputs that its torch Conv2d takes, got shape \(None, 28, 28, 1\), "
                                         r"on which the module raised: .*Fix: .*torch's convolutions take channels "
                                         r"first, \(N, C, H, W\), so turn brainnet's \(N, H, W, C\) round first with "
                                         r"Permute\(\(3, 1, 2\)\) in a model \(x\.permute\(0, 3, 1, 2\)\)\."):
        Sequential([Input((28, 28, 1)), TorchModuleWrapper(torch.nn.Conv2d(1, 8, 3))])
    model = Sequential([Input((28, 28, 1)), Permute((3, 1, 2)), TorchModuleWrapper(torch.nn.Conv2d(1, 8, 3))])
    assert model.output_shape == (None, 8, 26, 26)  # the fix works


def test_docstring_example_runs():
    import doctest

    import brainnet.layers.torch_module_wrapper as module

    failures, tried = doctest.testmod(module)
    assert tried >= 2 and failures == 0
