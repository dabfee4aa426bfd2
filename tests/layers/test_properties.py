"""Property-based tests: any layer configuration on any input shape either
computes a correct output or raises a brainnet error, never an internal one.

Hypothesis draws layer arguments (mostly valid, sometimes the mistakes users
make: 0, −1, 2.5, "3", None, True, an unknown string) and input shapes
(mostly fitting, sometimes of the wrong rank or too small). For each draw:

* a brainnet error is a ``ValueError`` or ``TypeError`` whose message holds
  ``Fix:`` (the teaching error format: expected, got, fix);
* otherwise the output's shape equals ``compute_output_shape`` of the input
  shape, both with the batch size and with ``None`` in its place, and every
  output value is finite;
* anything else (``IndexError``, torch's ``RuntimeError``,
  ``AttributeError``, a wrong shape, a NaN) fails the test.

Bounded for the suite: ``max_examples`` per test and derandomized (the same
examples every run; no example database written). For a longer hunt:
``HYPOTHESIS_PROFILE=explore pytest tests/layers/test_properties.py``
(random, 1,000 examples per test).
"""

from __future__ import annotations

import os
from typing import Any, Callable

import pytest
import torch
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from brainnet.layers import (
    GRU, LSTM, Activation, AdditiveAttention, Add, Attention, AveragePooling2D, BatchNormalization,
    Bidirectional, Concatenate, Conv1D, Conv2D, Dense, Dropout, Embedding, Flatten, GlobalAveragePooling1D,
    GlobalAveragePooling2D, GlobalMaxPooling1D, LayerNormalization, MaxPooling2D, MultiHeadAttention, Multiply,
    PositionalEncoding, PositionEmbedding, Reshape, SimpleRNN, TimeDistributed, TransformerDecoder,
    TransformerEncoder, Average, AveragePooling1D, GlobalMaxPooling2D, LeakyReLU, MaxPooling1D, ReLU, Rescaling,
    Softmax, GroupNormalization, UnitNormalization, RNN, SimpleRNNCell, LSTMCell, GRUCell, Conv1DTranspose, Conv2DTranspose, Cropping1D, Cropping2D,
    UpSampling1D, UpSampling2D, ZeroPadding1D, ZeroPadding2D,
    GaussianNoise, GaussianDropout,
    Permute, RepeatVector,
    Subtract, Maximum, Minimum, Dot,
    Normalization,
    Masking, Identity, ActivityRegularization,
    Resizing, CenterCrop, RandomCrop, RandomBrightness,
    ELU, PReLU,
    DepthwiseConv1D, DepthwiseConv2D, SeparableConv1D, SeparableConv2D,
    Conv3D, Conv3DTranspose, MaxPooling3D, AveragePooling3D, GlobalAveragePooling3D, GlobalMaxPooling3D,
    UpSampling3D, ZeroPadding3D, Cropping3D, ConvLSTM1D, ConvLSTM2D, ConvLSTM3D,
)

settings.register_profile("brainnet", max_examples=100, deadline=None, derandomize=True, database=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("explore", max_examples=1000, deadline=None, database=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "brainnet"))

BRAINNET_ERRORS = (ValueError, TypeError)
BAD = [0, -1, 2.5, "3", None, True]  # the wrong values users pass for a count


# ------------------------------------------------------------------ strategies
def mostly(good: st.SearchStrategy, bad: list = BAD) -> st.SearchStrategy:
    """``good`` 19 times in 20, else one of the ``bad`` values (a few bad
    arguments per test, and most draws still reach the layer's computation;
    Hypothesis shrinks towards ``good``)."""
    return st.integers(0, 19).flatmap(lambda i: st.sampled_from(bad) if i == 19 else good)


@st.composite
def shapes(draw, min_rank: int, max_rank: int, max_dim: int = 6, rank: int | None = None) -> tuple[int, ...]:
    """Input shapes, batch axis first (1 to 3 samples), of rank ``rank`` nine
    times in ten when given (the layer's), else of any rank in
    [min_rank, max_rank]; one in ten has an empty axis."""
    if rank is None or draw(st.integers(0, 9)) == 9:
        rank = draw(st.integers(min_rank, max_rank))
    shape = [draw(st.integers(1, 3))] + [draw(st.integers(1, max_dim)) for _ in range(rank - 1)]
    if len(shape) > 1 and draw(st.integers(0, 9)) == 9:
        shape[draw(st.integers(1, len(shape) - 1))] = 0
    return tuple(shape)


counts = mostly(st.integers(1, 6))
rates = mostly(st.sampled_from([0.0, 0.1, 0.5]), [1.0, -0.1, "0.5", None, 2])
bools = st.booleans()
activation_names = mostly(st.sampled_from([None, "relu", "tanh", "sigmoid", "softmax", "linear", "gelu"]), ["rleu", 3])


def sometimes(strategy: st.SearchStrategy, often: Any = None) -> st.SearchStrategy:
    """``often`` 3 times in 4, else a draw from ``strategy``."""
    return st.integers(0, 3).flatmap(lambda i: strategy if i == 3 else st.just(often))


def tensor(shape: tuple[int, ...], seed: int = 0) -> torch.Tensor:
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed))


# ------------------------------------------------------------------ the property
def run(build: Callable[[], Any], inputs: Any, call: Callable[[Any, Any], Any] | None = None) -> tuple[Any, Any]:
    """``(layer, output)``; ``(None or layer, None)`` after a brainnet error.

    Any other exception propagates and fails the test.
    """
    try:
        layer = build()
    except BRAINNET_ERRORS as err:
        check_teaching(err)
        event("brainnet error from the constructor")
        return None, None
    try:
        out = call(layer, inputs) if call else layer(inputs)
    except BRAINNET_ERRORS as err:
        check_teaching(err)
        event("brainnet error from the call")
        return layer, None
    event("an output")  # --hypothesis-show-statistics: how often each outcome came up
    return layer, out


def check_teaching(err: Exception) -> None:
    assert "Fix:" in str(err), f"{type(err).__name__} without a fix: {err}"


def _shape_of(inputs: Any) -> Any:
    return [tuple(x.shape) for x in inputs] if isinstance(inputs, (list, tuple)) else tuple(inputs.shape)


def _unbatched(shape: Any) -> Any:
    return [(None, *s[1:]) for s in shape] if isinstance(shape, list) else (None, *shape[1:])


def _outputs(out: Any) -> list[torch.Tensor]:
    return list(out) if isinstance(out, (list, tuple)) else [out]


def _expected(shape: Any) -> list[tuple]:
    return [tuple(s) for s in shape] if isinstance(shape, list) else [tuple(shape)]


def check_output(layer: Any, inputs: Any, out: Any, input_shape: Any = None) -> None:
    """Shape equal to ``compute_output_shape`` (with and without the batch size); finite values."""
    input_shape = _shape_of(inputs) if input_shape is None else input_shape
    got = [tuple(t.shape) for t in _outputs(out)]
    assert _expected(layer.compute_output_shape(input_shape)) == got
    symbolic = _expected(layer.compute_output_shape(_unbatched(input_shape)))
    assert symbolic == [(None, *g[1:]) for g in got]
    for t in _outputs(out):
        assert bool(torch.isfinite(t).all()), f"non-finite output of {layer!r}"


def run_and_check(build: Callable[[], Any], inputs: Any, call: Callable | None = None) -> Any:
    layer, out = run(build, inputs, call)
    if out is not None:
        check_output(layer, inputs, out)
    return layer, out


# ------------------------------------------------------------------ core
@given(units=counts, activation=activation_names, use_bias=bools, shape=shapes(1, 4, rank=2), other=shapes(1, 4, rank=2))
def test_dense(units, activation, use_bias, shape, other):
    layer, out = run_and_check(lambda: Dense(units, activation=activation, use_bias=use_bias), tensor(shape))
    if out is not None:  # a second call on another shape: the same features work, others are refused
        run_and_check(lambda: layer, tensor(other))


@given(shape=shapes(1, 5))
def test_flatten(shape):
    run_and_check(Flatten, tensor(shape))


@given(target=st.lists(mostly(st.sampled_from([-1, 1, 2, 3, 4, 6]), [0, -2]), min_size=0, max_size=3),
       shape=shapes(1, 4))
def test_reshape(target, shape):
    run_and_check(lambda: Reshape(target), tensor(shape))


@given(rate=rates, name=activation_names, shape=shapes(1, 4), training=bools)
def test_dropout_and_activation(rate, name, shape, training):
    run_and_check(lambda: Dropout(rate), tensor(shape), lambda layer, x: layer(x, training=training))
    run_and_check(lambda: Activation(name), tensor(shape))


@given(rate=rates, stddev=mostly(st.sampled_from([0.0, 0.1, 2.0]), [-1.0, "0.1", None, float("inf")]),
       seed=mostly(st.integers(0, 9), [1.5, "1"]), shape=shapes(1, 4), training=bools)
def test_noise(rate, stddev, seed, shape, training):
    call = lambda layer, x: layer(x, training=training)  # noqa: E731
    run_and_check(lambda: GaussianNoise(stddev, seed=seed), tensor(shape), call)
    run_and_check(lambda: GaussianDropout(rate, seed=seed), tensor(shape), call)


@given(n=counts, dims=mostly(st.integers(1, 3).flatmap(lambda k: st.permutations(list(range(1, k + 1)))),
                            [(0, 1), (1, 1), (), None, "21"]),
       shape=shapes(1, 5, rank=3))
def test_repeat_vector_and_permute(n, dims, shape):
    run_and_check(lambda: RepeatVector(n), tensor(shape))
    run_and_check(lambda: Permute(dims), tensor(shape))


# ------------------------------------------------------------------ convolution and pooling
kernels = mostly(st.one_of(st.integers(1, 4), st.tuples(st.integers(1, 4), st.integers(1, 4))),
                 [0, -1, 2.5, "3", None, (3,), (3, 3, 3)])
paddings = mostly(st.sampled_from(["valid", "same", "SAME", "causal"]), ["full", None])


@given(filters=counts, kernel_size=kernels, strides=kernels, padding=paddings, activation=activation_names,
       dilation_rate=sometimes(kernels, 1), groups=sometimes(mostly(st.integers(1, 3)), 1),
       shape=shapes(2, 5, max_dim=8, rank=4))
def test_conv2d(filters, kernel_size, strides, padding, activation, dilation_rate, groups, shape):
    run_and_check(lambda: Conv2D(filters, kernel_size, strides=strides, padding=padding, activation=activation,
                                 dilation_rate=dilation_rate, groups=groups), tensor(shape))


@given(cls=st.sampled_from([DepthwiseConv2D, SeparableConv2D]), filters=counts, kernel_size=kernels,
       strides=sometimes(kernels, 1), padding=paddings, depth_multiplier=sometimes(counts, 1),
       dilation_rate=sometimes(kernels, 1), shape=shapes(2, 5, max_dim=8, rank=4))
def test_depthwise_and_separable_conv2d(cls, filters, kernel_size, strides, padding, depth_multiplier, dilation_rate,
                                        shape):
    first = (filters,) if cls is SeparableConv2D else ()
    run_and_check(lambda: cls(*first, kernel_size, strides=strides, padding=padding, depth_multiplier=depth_multiplier,
                              dilation_rate=dilation_rate), tensor(shape))


@given(cls=st.sampled_from([DepthwiseConv1D, SeparableConv1D]), filters=counts, kernel_size=mostly(st.integers(1, 5)),
       strides=sometimes(mostly(st.integers(1, 3)), 1), padding=paddings, depth_multiplier=sometimes(counts, 1),
       dilation_rate=sometimes(mostly(st.integers(1, 3)), 1), shape=shapes(1, 4, max_dim=8, rank=3))
def test_depthwise_and_separable_conv1d(cls, filters, kernel_size, strides, padding, depth_multiplier, dilation_rate,
                                        shape):
    first = (filters,) if cls is SeparableConv1D else ()
    run_and_check(lambda: cls(*first, kernel_size, strides=strides, padding=padding, depth_multiplier=depth_multiplier,
                              dilation_rate=dilation_rate), tensor(shape))


output_paddings = sometimes(mostly(st.one_of(st.integers(0, 2), st.tuples(st.integers(0, 2), st.integers(0, 2))),
                                  [-1, 2.5, "1", True, (1,), (1, 1, 1)]))


@given(filters=counts, kernel_size=kernels, strides=kernels, padding=paddings, output_padding=output_paddings,
       dilation_rate=sometimes(kernels, 1), activation=activation_names, shape=shapes(2, 5, max_dim=6, rank=4))
def test_conv2d_transpose(filters, kernel_size, strides, padding, output_padding, dilation_rate, activation, shape):
    run_and_check(lambda: Conv2DTranspose(filters, kernel_size, strides=strides, padding=padding,
                                          output_padding=output_padding, dilation_rate=dilation_rate,
                                          activation=activation), tensor(shape))


@given(filters=counts, kernel_size=mostly(st.integers(1, 5)), strides=mostly(st.integers(1, 3)), padding=paddings,
       output_padding=sometimes(mostly(st.integers(0, 2), [-1, "1", (1, 1)])),
       dilation_rate=sometimes(mostly(st.integers(1, 3)), 1), shape=shapes(1, 4, max_dim=8, rank=3))
def test_conv1d_transpose(filters, kernel_size, strides, padding, output_padding, dilation_rate, shape):
    run_and_check(lambda: Conv1DTranspose(filters, kernel_size, strides=strides, padding=padding,
                                          output_padding=output_padding, dilation_rate=dilation_rate), tensor(shape))


margins = mostly(st.one_of(st.integers(0, 3), st.tuples(st.integers(0, 3), st.integers(0, 3)),
                           st.tuples(st.tuples(st.integers(0, 3), st.integers(0, 3)),
                                     st.tuples(st.integers(0, 3), st.integers(0, 3)))),
                 [-1, 2.5, "1", None, True, (1,), ((1, 2), 3)])


@given(cls=st.sampled_from([ZeroPadding2D, Cropping2D, UpSampling2D]), value=margins,
       interpolation=mostly(st.sampled_from(["nearest", "bilinear"]), ["bicubic", None]),
       shape=shapes(2, 5, max_dim=6, rank=4))
def test_resizing2d(cls, value, interpolation, shape):
    def build():
        if cls is UpSampling2D:  # size: the positive ones of the same draws
            return UpSampling2D(value, interpolation=interpolation)
        return cls(value)

    run_and_check(build, tensor(shape))


@given(cls=st.sampled_from([ZeroPadding1D, Cropping1D, UpSampling1D]),
       value=mostly(st.one_of(st.integers(0, 3), st.tuples(st.integers(0, 3), st.integers(0, 3))),
                    [-1, 2.5, "1", None, True, (1,)]),
       shape=shapes(1, 4, max_dim=8, rank=3))
def test_resizing1d(cls, value, shape):
    run_and_check(lambda: cls(value), tensor(shape))


@given(cls=st.sampled_from([Resizing, CenterCrop, RandomCrop]), height=counts, width=counts,
       interpolation=mostly(st.sampled_from(["bilinear", "nearest"]), ["bicubic", None]), crop=bools,
       factor=mostly(st.sampled_from([0.1, 0.5, (-0.2, 0.3)]), [1.5, "0.1", None, (0.3, -0.2)]),
       shape=shapes(2, 5, max_dim=8, rank=4), training=bools)
def test_image_preprocessing(cls, height, width, interpolation, crop, factor, shape, training):
    def build():
        if cls is Resizing:
            return Resizing(height, width, interpolation=interpolation, crop_to_aspect_ratio=crop)
        return cls(height, width)

    call = lambda layer, x: layer(x, training=training)  # noqa: E731
    run_and_check(build, tensor(shape), call)
    run_and_check(lambda: RandomBrightness(factor, seed=1), tensor(shape), call)


@given(cls=st.sampled_from([MaxPooling2D, AveragePooling2D]), pool_size=kernels,
       strides=st.one_of(st.none(), kernels), padding=paddings, shape=shapes(2, 5, max_dim=8, rank=4))
def test_pooling2d(cls, pool_size, strides, padding, shape):
    run_and_check(lambda: cls(pool_size, strides=strides, padding=padding), tensor(shape))


# ------------------------------------------------------------------ volumes (batch, depth, height, width, channels)
triples = mostly(st.one_of(st.integers(1, 3), st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(1, 3))),
                 [0, -1, 2.5, "3", None, (3, 3), (3, 3, 3, 3)])
margins3d = mostly(st.one_of(st.integers(0, 2), st.tuples(st.integers(0, 2), st.integers(0, 2), st.integers(0, 2)),
                             st.tuples(*[st.tuples(st.integers(0, 2), st.integers(0, 2))] * 3)),
                   [-1, 2.5, "1", None, True, (1, 1), ((1, 2), 3, 1)])


@given(filters=counts, kernel_size=triples, strides=triples, padding=paddings, activation=activation_names,
       dilation_rate=sometimes(triples, 1), groups=sometimes(mostly(st.integers(1, 3)), 1),
       shape=shapes(3, 6, max_dim=5, rank=5))
def test_conv3d(filters, kernel_size, strides, padding, activation, dilation_rate, groups, shape):
    run_and_check(lambda: Conv3D(filters, kernel_size, strides=strides, padding=padding, activation=activation,
                                 dilation_rate=dilation_rate, groups=groups), tensor(shape))


@given(filters=counts, kernel_size=triples, strides=triples, padding=paddings,
       output_padding=sometimes(mostly(st.one_of(st.integers(0, 2), st.tuples(*[st.integers(0, 2)] * 3)),
                                       [-1, "1", True, (1, 1)])),
       dilation_rate=sometimes(triples, 1), shape=shapes(3, 6, max_dim=4, rank=5))
def test_conv3d_transpose(filters, kernel_size, strides, padding, output_padding, dilation_rate, shape):
    run_and_check(lambda: Conv3DTranspose(filters, kernel_size, strides=strides, padding=padding,
                                          output_padding=output_padding, dilation_rate=dilation_rate), tensor(shape))


@given(cls=st.sampled_from([MaxPooling3D, AveragePooling3D]), pool_size=triples,
       strides=st.one_of(st.none(), triples), padding=paddings, shape=shapes(3, 6, max_dim=5, rank=5))
def test_pooling3d(cls, pool_size, strides, padding, shape):
    run_and_check(lambda: cls(pool_size, strides=strides, padding=padding), tensor(shape))


@given(cls=st.sampled_from([ZeroPadding3D, Cropping3D, UpSampling3D, GlobalAveragePooling3D, GlobalMaxPooling3D]),
       value=margins3d, keepdims=bools, shape=shapes(3, 6, max_dim=5, rank=5))
def test_resizing_and_global_pooling3d(cls, value, keepdims, shape):
    if cls in (GlobalAveragePooling3D, GlobalMaxPooling3D):
        run_and_check(lambda: cls(keepdims=keepdims), tensor(shape))
    else:  # UpSampling3D: the positive ones of the same draws are its sizes
        run_and_check(lambda: cls(value), tensor(shape))


@given(filters=counts, kernel_size=kernels, strides=sometimes(kernels, 1), padding=paddings,
       dilation_rate=sometimes(kernels, 1), return_sequences=bools, return_state=bools, go_backwards=bools,
       shape=shapes(3, 6, max_dim=5, rank=5))
def test_conv_lstm2d(filters, kernel_size, strides, padding, dilation_rate, return_sequences, return_state,
                     go_backwards, shape):
    run_and_check(lambda: ConvLSTM2D(filters, kernel_size, strides=strides, padding=padding,
                                     dilation_rate=dilation_rate, return_sequences=return_sequences,
                                     return_state=return_state, go_backwards=go_backwards), tensor(shape))


@given(filters=counts, kernel_size=kernels, strides=sometimes(kernels, 1), padding=paddings,
       return_sequences=bools, return_state=bools, shape=shapes(3, 6, max_dim=5, rank=4))
def test_conv_lstm1d(filters, kernel_size, strides, padding, return_sequences, return_state, shape):
    run_and_check(lambda: ConvLSTM1D(filters, kernel_size, strides=strides, padding=padding,
                                     return_sequences=return_sequences, return_state=return_state), tensor(shape))


@given(filters=counts, kernel_size=kernels, dilation_rate=sometimes(kernels, 1), padding=paddings,
       go_backwards=bools, shape=shapes(3, 6, max_dim=4, rank=6))
def test_conv_lstm3d(filters, kernel_size, dilation_rate, padding, go_backwards, shape):
    run_and_check(lambda: ConvLSTM3D(filters, kernel_size, dilation_rate=dilation_rate, padding=padding,
                                     go_backwards=go_backwards, return_sequences=True), tensor(shape))


@given(cls=st.sampled_from([MaxPooling1D, AveragePooling1D]), pool_size=mostly(st.integers(1, 4)),
       strides=st.one_of(st.none(), mostly(st.integers(1, 3))), padding=paddings, shape=shapes(1, 4, max_dim=8, rank=3))
def test_pooling1d(cls, pool_size, strides, padding, shape):
    run_and_check(lambda: cls(pool_size, strides=strides, padding=padding), tensor(shape))


@given(layer=st.sampled_from(["relu", "leaky", "softmax", "rescaling", "elu", "prelu"]), value=mostly(st.floats(0, 3)),
       axis=st.integers(-3, 2), shared=mostly(st.one_of(st.none(), st.lists(st.integers(1, 4), max_size=2)),
                                            [0, [0], "1", 1.5]), shape=shapes(1, 5))
def test_activation_layers(layer, value, axis, shared, shape):
    build = {"relu": lambda: ReLU(max_value=value), "leaky": lambda: LeakyReLU(negative_slope=value),
             "softmax": lambda: Softmax(axis=axis), "rescaling": lambda: Rescaling(value, offset=-1.0),
             "elu": lambda: ELU(value), "prelu": lambda: PReLU(alpha_initializer="random_normal",
                                                              shared_axes=shared)}[layer]
    run_and_check(build, tensor(shape))


@given(value=mostly(st.sampled_from([0.0, 1.0, -1.0]), ["0", None, True]),
       l1=mostly(st.sampled_from([0.0, 0.01]), [-1.0, "0.1", None]), shape=shapes(1, 4, rank=3))
def test_passthrough_layers(value, l1, shape):
    run_and_check(lambda: Masking(value), tensor(shape))
    run_and_check(Identity, tensor(shape))
    run_and_check(lambda: ActivityRegularization(l1=l1, l2=0.01), tensor(shape))


@given(cls=st.sampled_from([GlobalAveragePooling2D, GlobalAveragePooling1D, GlobalMaxPooling1D, GlobalMaxPooling2D]),
       shape=shapes(1, 5), mask=sometimes(shapes(1, 3, rank=2)))
def test_global_pooling(cls, shape, mask):
    run_and_check(cls, tensor(shape))
    if cls is GlobalAveragePooling1D and mask is not None:
        run_and_check(cls, tensor(shape), lambda layer, x: layer(x, mask=tensor(mask) > 0))


@given(filters=counts, kernel_size=mostly(st.integers(1, 5)), strides=mostly(st.integers(1, 3)),
       padding=paddings, dilation_rate=sometimes(mostly(st.integers(1, 3)), 1),
       groups=sometimes(mostly(st.integers(1, 3)), 1), shape=shapes(1, 4, max_dim=8, rank=3))
def test_conv1d(filters, kernel_size, strides, padding, dilation_rate, groups, shape):
    run_and_check(lambda: Conv1D(filters, kernel_size, strides=strides, padding=padding,
                                 dilation_rate=dilation_rate, groups=groups), tensor(shape))


# ------------------------------------------------------------------ recurrent
@given(cls=st.sampled_from([SimpleRNN, LSTM, GRU]), units=counts, return_sequences=bools, return_state=bools,
       go_backwards=bools, dropout=rates, recurrent_dropout=rates, training=bools, shape=shapes(1, 4, max_dim=5, rank=3),
       states=sometimes(st.lists(shapes(1, 3, max_dim=6, rank=2), min_size=1, max_size=3)),
       mask=sometimes(shapes(1, 3, max_dim=5, rank=2)))
def test_recurrent(cls, units, return_sequences, return_state, go_backwards, dropout, recurrent_dropout,
                   training, shape, states, mask):
    def build():
        return cls(units, return_sequences=return_sequences, return_state=return_state, go_backwards=go_backwards,
                   dropout=dropout, recurrent_dropout=recurrent_dropout)

    initial_state = None if states is None else [tensor(s, i) for i, s in enumerate(states)]
    step_mask = None if mask is None else tensor(mask) > -0.5

    def call(layer, x):
        return layer(x, training=training, initial_state=initial_state, mask=step_mask)

    run_and_check(build, tensor(shape), call)


@given(cells=st.lists(st.tuples(st.sampled_from([SimpleRNNCell, LSTMCell, GRUCell]), counts), min_size=1, max_size=3),
       stacked=bools, return_sequences=bools, return_state=bools, go_backwards=bools, dropout=rates, training=bools,
       shape=shapes(1, 4, max_dim=5, rank=3), states=sometimes(st.lists(shapes(1, 3, max_dim=6, rank=2), min_size=1,
       max_size=3)), mask=sometimes(shapes(1, 3, max_dim=5, rank=2)))
def test_rnn_of_cells(cells, stacked, return_sequences, return_state, go_backwards, dropout, training, shape, states,
                      mask):
    def build():
        made = [cls(units, dropout=dropout) for cls, units in cells]
        return RNN(made if stacked else made[0], return_sequences=return_sequences, return_state=return_state,
                   go_backwards=go_backwards)

    initial_state = None if states is None else [tensor(s, i) for i, s in enumerate(states)]
    step_mask = None if mask is None else tensor(mask) > -0.5

    def call(layer, x):
        return layer(x, training=training, initial_state=initial_state, mask=step_mask)

    run_and_check(build, tensor(shape), call)


@given(cls=st.sampled_from([SimpleRNN, LSTM, GRU]), units=st.integers(1, 4), merge_mode=mostly(st.sampled_from(
       ["concat", "sum", "mul", "ave", None]), ["max"]), return_sequences=bools, return_state=bools,
       shape=shapes(1, 4, max_dim=5, rank=3))
def test_bidirectional(cls, units, merge_mode, return_sequences, return_state, shape):
    def build():
        return Bidirectional(cls(units, return_sequences=return_sequences, return_state=return_state),
                             merge_mode=merge_mode)

    run_and_check(build, tensor(shape))


# ------------------------------------------------------------------ attention
@st.composite
def query_value_key(draw, max_rank: int = 4) -> list[tuple[int, ...]]:
    """[query, value] or [query, value, key] shapes: mostly (B, T, d) with a shared B, sometimes not."""
    batch = draw(st.integers(1, 3))
    batches = st.integers(1, 3) if draw(st.integers(0, 9)) == 9 else st.just(batch)
    ranks = st.integers(2, max_rank) if draw(st.integers(0, 9)) == 9 else st.just(3)
    d = draw(st.integers(1, 5))
    dims = st.one_of(st.just(d), st.integers(1, 5))
    out = []
    for _ in range(draw(st.sampled_from([2, 3, 2, 1]))):
        rank = draw(ranks)
        out.append((draw(batches), *[draw(st.integers(1, 5)) for _ in range(rank - 2)], draw(dims)))
    return out


@given(cls=st.sampled_from([Attention, AdditiveAttention]), use_scale=bools,
       score_mode=mostly(st.sampled_from(["dot", "concat"]), ["cosine"]), scale_by_dk=bools, shapes_=query_value_key(),
       causal=bools, scores=bools,
       masks=sometimes(st.lists(st.one_of(st.none(), shapes(1, 3, max_dim=5, rank=2)), min_size=1, max_size=3)))
def test_attention(cls, use_scale, score_mode, scale_by_dk, shapes_, causal, scores, masks):
    def build():
        if cls is AdditiveAttention:
            return AdditiveAttention(use_scale=use_scale)
        return Attention(use_scale=use_scale, score_mode=score_mode, scale_by_dk=scale_by_dk)

    inputs = [tensor(s, i) for i, s in enumerate(shapes_)]
    mask = None if masks is None else [None if m is None else tensor(m) > -0.5 for m in masks]
    layer, out = run(build, inputs, lambda layer, x: layer(x, mask=mask, use_causal_mask=causal,
                                                            return_attention_scores=scores))
    if out is None:
        return
    output, weights = out if scores else (out, None)
    check_output(layer, inputs, output)
    if weights is not None:
        query, value = shapes_[0], shapes_[1]
        assert tuple(weights.shape) == (query[0], query[1], value[1])
        torch.testing.assert_close(weights.sum(-1), torch.ones(weights.shape[:-1]))


@given(num_heads=counts, key_dim=counts, value_dim=st.one_of(st.none(), counts),
       output_shape=st.one_of(st.none(), counts), shapes_=query_value_key(), causal=bools, scores=bools,
       mask=sometimes(st.tuples(st.integers(1, 3), st.integers(1, 5), st.integers(1, 5))),
       masks=sometimes(st.lists(st.one_of(st.none(), shapes(1, 3, max_dim=5, rank=2)), min_size=2, max_size=3)))
def test_multi_head_attention(num_heads, key_dim, value_dim, output_shape, shapes_, causal, scores, mask, masks):
    def build():
        return MultiHeadAttention(num_heads, key_dim, value_dim=value_dim, output_shape=output_shape)

    inputs = [tensor(s, i) for i, s in enumerate(shapes_)]
    attention_mask = None if mask is None else tensor(mask) > -0.5
    step_masks = None if masks is None else [None if m is None else tensor(m) > -0.5 for m in masks]

    def call(layer, x):
        return layer(*x, attention_mask=attention_mask, mask=step_masks, use_causal_mask=causal,
                     return_attention_scores=scores)

    layer, out = run(build, inputs, call)
    if out is None:
        return
    output, weights = out if scores else (out, None)
    check_output(layer, inputs, output)
    if weights is not None:
        assert tuple(weights.shape) == (shapes_[0][0], layer.num_heads, shapes_[0][1], shapes_[1][1])


# ------------------------------------------------------------------ embedding, normalization
@given(input_dim=counts, output_dim=counts, mask_zero=bools, shape=shapes(1, 3, rank=2),
       high=st.integers(0, 8), negative=bools, floats=bools)
def test_embedding(input_dim, output_dim, mask_zero, shape, high, negative, floats):
    ids = torch.randint(0, high + 1, shape, generator=torch.Generator().manual_seed(0))
    if negative and ids.numel():
        ids.view(-1)[0] = -1
    run_and_check(lambda: Embedding(input_dim, output_dim, mask_zero=mask_zero), ids.float() if floats else ids)


@given(axis=mostly(st.just(-1), [0, 1, 2, -2, "-1", None]), momentum=mostly(st.just(0.99), [1.5, -0.1, "0.9", None]),
       epsilon=mostly(st.just(1e-3), [0, -1e-3, "1e-3", None]), center=bools, scale=bools, shape=shapes(1, 4),
       training=bools)
def test_batch_normalization(axis, momentum, epsilon, center, scale, shape, training):
    def build():
        return BatchNormalization(axis=axis, momentum=momentum, epsilon=epsilon, center=center, scale=scale)

    run_and_check(build, tensor(shape), lambda layer, x: layer(x, training=training))


@given(axis=st.one_of(st.just(-1), st.integers(-4, 4), st.lists(st.integers(-4, 4), min_size=0, max_size=3),
                      st.sampled_from(["-1", None, 1.0])),
       epsilon=mostly(st.just(1e-3), [0, -1.0, "1e-3", None]), shape=shapes(1, 4))
def test_layer_normalization(axis, epsilon, shape):
    run_and_check(lambda: LayerNormalization(axis=axis, epsilon=epsilon), tensor(shape))


@given(groups=mostly(st.sampled_from([1, 2, 3, 4, -1]), [0, -2, 2.5, "2", None, True]),
       axis=st.one_of(st.just(-1), st.integers(-4, 4), st.sampled_from(["-1", None])),
       epsilon=mostly(st.just(1e-3), [0, -1.0, "1e-3", None]), shape=shapes(1, 4))
def test_group_normalization(groups, axis, epsilon, shape):
    run_and_check(lambda: GroupNormalization(groups=groups, axis=axis, epsilon=epsilon), tensor(shape))


@given(axis=st.one_of(st.just(-1), st.integers(-4, 4), st.lists(st.integers(-4, 4), min_size=0, max_size=3),
                      st.sampled_from(["-1", None, 1.0])), shape=shapes(1, 4))
def test_unit_normalization(axis, shape):
    run_and_check(lambda: UnitNormalization(axis=axis), tensor(shape))


@given(axis=st.one_of(st.just(-1), st.integers(-4, 4), st.none(), st.lists(st.integers(-4, 4), max_size=2),
                      st.sampled_from(["-1", 1.5])),
       given=bools, invert=bools, shape=shapes(1, 4))
def test_normalization(axis, given, invert, shape):
    # adapt on the batch itself (or given statistics), then the call
    def build():
        return Normalization(axis=axis, mean=0.5 if given else None, variance=2.0 if given else None, invert=invert)

    def call(layer, x):
        if not given:
            layer.adapt(x.numpy())
        return layer(x)

    run_and_check(build, tensor(shape), call)


# ------------------------------------------------------------------ Transformer pieces
@given(cls=st.sampled_from([TransformerEncoder, TransformerDecoder]), intermediate_dim=counts, num_heads=counts,
       dropout=rates, shape=shapes(1, 4, max_dim=6, rank=3), training=bools)
def test_transformer_blocks(cls, intermediate_dim, num_heads, dropout, shape, training):
    run_and_check(lambda: cls(intermediate_dim, num_heads, dropout=dropout), tensor(shape),
                  lambda layer, x: layer(x, training=training))


@given(intermediate_dim=counts, num_heads=counts, decoder=shapes(1, 4, max_dim=6, rank=3),
       encoder=shapes(1, 4, max_dim=6, rank=3), causal=bools)
def test_transformer_decoder_with_an_encoder_sequence(intermediate_dim, num_heads, decoder, encoder, causal):
    run_and_check(lambda: TransformerDecoder(intermediate_dim, num_heads), [tensor(decoder), tensor(encoder, 1)],
                  lambda layer, x: layer(x[0], x[1], use_causal_mask=causal))


@given(cls=st.sampled_from([PositionalEncoding, PositionEmbedding]), length=counts, shape=shapes(1, 4, rank=3),
       wavelength=mostly(st.sampled_from([10000.0, 100, 2.5]), [0, -1.0, "1e4", None, 1]))
def test_positions(cls, length, shape, wavelength):
    def build():
        return PositionalEncoding(length, max_wavelength=wavelength) if cls is PositionalEncoding else cls(length)

    run_and_check(build, tensor(shape))


# ------------------------------------------------------------------ merging, wrappers
@given(cls=st.sampled_from([Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate, Dot]), axis=st.one_of(st.just(-1), st.integers(-4, 4),
       st.sampled_from(["1", None, 1.5])), shapes_=st.lists(shapes(1, 4, max_dim=3), min_size=0, max_size=3),
       same=bools)
def test_merging(cls, axis, shapes_, same):
    if same and shapes_:
        shapes_ = [shapes_[0]] * len(shapes_)
    inputs = [tensor(s, i) for i, s in enumerate(shapes_)]
    run_and_check(lambda: cls(axis=axis) if cls is Concatenate else cls(axes=axis) if cls is Dot else cls(), inputs)


@given(units=counts, shape=shapes(1, 5, rank=3))
def test_time_distributed_dense(units, shape):
    run_and_check(lambda: TimeDistributed(Dense(units)), tensor(shape))


# ------------------------------------------------------------------ stacks of layers
IMAGE_LAYERS = [
    lambda d: Conv2D(d.draw(counts), d.draw(kernels), padding=d.draw(paddings)),
    lambda d: SeparableConv2D(d.draw(counts), d.draw(kernels), padding=d.draw(paddings)),
    lambda d: DepthwiseConv2D(d.draw(kernels), padding=d.draw(paddings), depth_multiplier=d.draw(counts)),
    lambda d: MaxPooling2D(d.draw(kernels)),
    lambda d: AveragePooling2D(d.draw(kernels), padding=d.draw(paddings)),
    lambda d: BatchNormalization(),
    lambda d: GlobalAveragePooling2D(),
    lambda d: Flatten(),
    lambda d: Dense(d.draw(counts), activation=d.draw(activation_names)),
    lambda d: Dropout(d.draw(rates)),
    lambda d: Reshape(d.draw(st.lists(st.sampled_from([-1, 1, 2, 4]), min_size=1, max_size=3))),
    lambda d: Conv2DTranspose(d.draw(counts), d.draw(kernels), strides=d.draw(kernels), padding=d.draw(paddings)),
    lambda d: UpSampling2D(d.draw(kernels)),
    lambda d: ZeroPadding2D(d.draw(margins)),
    lambda d: Cropping2D(d.draw(margins)),
]
SEQUENCE_LAYERS = [
    lambda d: Conv1D(d.draw(counts), d.draw(counts), padding=d.draw(paddings)),
    lambda d: d.draw(st.sampled_from([SimpleRNN, LSTM, GRU]))(d.draw(counts), return_sequences=d.draw(bools)),
    lambda d: Bidirectional(LSTM(d.draw(st.integers(1, 4)), return_sequences=d.draw(bools))),
    lambda d: LayerNormalization(),
    lambda d: Dense(d.draw(counts)),
    lambda d: GlobalAveragePooling1D(),
    lambda d: GlobalMaxPooling1D(),
    lambda d: TransformerEncoder(d.draw(counts), d.draw(st.integers(1, 3))),
    lambda d: PositionalEncoding(),
    lambda d: TimeDistributed(Dense(d.draw(counts))),
    lambda d: Conv1DTranspose(d.draw(counts), d.draw(counts), strides=d.draw(counts), padding=d.draw(paddings)),
    lambda d: d.draw(st.sampled_from([UpSampling1D, ZeroPadding1D, Cropping1D]))(d.draw(counts)),
]


@pytest.mark.parametrize("family, min_rank, max_rank", [(IMAGE_LAYERS, 3, 4), (SEQUENCE_LAYERS, 2, 3)],
                         ids=["images", "sequences"])
@given(data=st.data())
def test_sequential_stacks(family, min_rank, max_rank, data):
    # A Sequential of 1-4 random layers built from an input_shape: each layer's
    # compute_output_shape feeds the next, so a wrong one shows in the model's output.
    shape = data.draw(shapes(min_rank, max_rank, max_dim=7))
    count = data.draw(st.integers(1, 4))

    def build():
        from brainnet.models import Sequential

        layers = [data.draw(st.sampled_from(family))(data) for _ in range(count)]
        first = type(layers[0]).from_config({**layers[0].get_config(), "input_shape": shape[1:]})
        return Sequential([first, *layers[1:]])

    run_and_check(build, tensor(shape), lambda model, x: model(x, training=False))


def test_a_non_teaching_error_fails_the_property():
    # The property itself can fail: an IndexError propagates, a ValueError without a fix is refused.
    def index_error():
        raise IndexError("tuple index out of range")

    with pytest.raises(IndexError):
        run(index_error, None)
    with pytest.raises(AssertionError, match="ValueError without a fix"):
        run(lambda: Dense(4), torch.zeros(2, 3), lambda layer, x: (_ for _ in ()).throw(ValueError("bad")))
