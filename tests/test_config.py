"""brainnet.config, Keras 3's keras.config: each getter tells what brainnet does, each setter
accepts that value and refuses the others with the way to get them."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import brainnet
from brainnet import _confusion_metrics, config, constraints, losses, mixed_precision
from brainnet.layers import Dense, Input, Lambda
from brainnet.models import Sequential


def test_getters_say_what_brainnet_uses():
    assert config.backend() == "torch"
    assert config.image_data_format() == "channels_last"
    layer = Dense(2)
    layer(torch.ones(1, 3))
    assert config.floatx() == "float32" and layer.kernel.dtype == torch.float32  # the weights layers make
    # one ε throughout: the losses' clip, the constraints' divisor, the AUC's end thresholds
    assert config.epsilon() == 1e-7 == losses.EPSILON == constraints.EPSILON == _confusion_metrics.EPSILON
    assert brainnet.config is config and "config" in brainnet.__all__
    # Keras 3's keras.backend has them too (K.epsilon() in hand-written metrics): the same functions
    for name in ("backend", "epsilon", "floatx", "image_data_format", "set_epsilon", "set_floatx",
                 "set_image_data_format"):
        assert getattr(brainnet.backend, name) is getattr(config, name), name


def test_floatx_reads_torchs_default_dtype_and_set_floatx_float32_restores_it():
    try:
        torch.set_default_dtype(torch.float64)
        assert config.floatx() == "float64"
        assert Dense(2)(torch.ones(1, 3, dtype=torch.float64)).dtype == torch.float64  # what layers then make
        config.set_floatx("float32")
        assert config.floatx() == "float32" and torch.get_default_dtype() == torch.float32
    finally:
        torch.set_default_dtype(torch.float32)


def test_float64_the_way_the_fix_says_trains():
    model = Sequential([Input((4,)), Dense(3, activation="relu"), Dense(1)])
    model.to(torch.float64)
    model.compile(optimizer="sgd", loss="mse")
    x, y = np.random.default_rng(0).normal(size=(16, 4)), np.ones((16, 1))
    history = model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    assert model.dtype == torch.float64 and np.isfinite(history.history["loss"]).all()


def test_set_floatx_refuses_what_brainnet_does_not_train_in():
    for value in ("float64", "float16", "bfloat16"):
        with pytest.raises(ValueError, match=rf"set_floatx: expected 'float32', the float type brainnet's layers make "
                                             rf"their weights in, got '{value}'\. Fix: leave it float32; for bfloat16 "
                                             r"compute brainnet\.config\.set_dtype_policy\('mixed_bfloat16'\), for "
                                             r"float64 turn the built model with model\.to\(torch\.float64\)\."):
            config.set_floatx(value)
    with pytest.raises(ValueError, match=r"set_floatx: expected one of \['bfloat16', 'float16', 'float32', "
                                         r"'float64'\] \(Keras's names\), got 'double'\. Fix: set_floatx\('float32'\)\."):
        config.set_floatx("double")
    assert config.floatx() == "float32"


def test_set_epsilon_accepts_brainnets_epsilon_only():
    config.set_epsilon(1e-7)
    assert config.epsilon() == 1e-7
    for value in (1e-5, "1e-7", True):
        with pytest.raises(ValueError, match=r"set_epsilon: expected 1e-07, the fixed ε of brainnet's losses and "
                                             r"constraints, got .*\. Fix: leave it at 1e-7; an optimizer's ε is its "
                                             r"own argument, e\.g\. Adam\(epsilon=1e-4\), and a layer's its own"):
            config.set_epsilon(value)
    assert config.epsilon() == 1e-7


def test_set_image_data_format_keeps_channels_last():
    config.set_image_data_format("channels_last")
    config.set_image_data_format("Channels_Last")  # any case, as Keras
    with pytest.raises(ValueError, match=r"set_image_data_format: expected 'channels_last', brainnet's only layout "
                                         r"\(images \(batch, height, width, channels\)\), got 'channels_first'\. "
                                         r"Fix: leave it channels_last and transpose channels-first arrays once, "
                                         r"x = x\.transpose\(0, 2, 3, 1\) \(volumes: x\.transpose\(0, 2, 3, 4, 1\)\)\."):
        config.set_image_data_format("channels_first")
    with pytest.raises(ValueError, match=r"set_image_data_format: expected one of \['channels_first', "
                                         r"'channels_last'\], got 'nhwc'\. Fix: "
                                         r"set_image_data_format\('channels_last'\)\."):
        config.set_image_data_format("nhwc")
    assert config.image_data_format() == "channels_last"


def test_the_transpose_in_the_fix_gives_channels_last():
    nchw = np.arange(2 * 3 * 4 * 5).reshape(2, 3, 4, 5)  # (batch, channels, height, width)
    nhwc = nchw.transpose(0, 2, 3, 1)
    assert nhwc.shape == (2, 4, 5, 3) and nhwc[1, 2, 3, 0] == nchw[1, 0, 2, 3]


def test_dtype_policy_is_mixed_precisions_global_policy():
    try:
        config.set_dtype_policy("mixed_bfloat16")
        assert mixed_precision.global_policy().name == "mixed_bfloat16" == config.dtype_policy().name
        assert config.dtype_policy().compute_dtype == "bfloat16"
        config.set_dtype_policy(mixed_precision.DTypePolicy("float32"))
        assert config.dtype_policy() == mixed_precision.global_policy() == mixed_precision.DTypePolicy("float32")
        with pytest.raises(ValueError, match=r"set_global_policy: expected one of \['float32', 'mixed_bfloat16'\], "
                                             r"got 'mixed_float16'\..*Fix:"):
            config.set_dtype_policy("mixed_float16")
    finally:
        mixed_precision.set_global_policy("float32")


def test_enable_unsafe_deserialization_allows_no_code_in_files(tmp_path):
    assert config.enable_unsafe_deserialization() is None
    # Files still never hold code: a lambda is refused at save, a config naming a callable at load.
    model = Sequential([Lambda(lambda x: x * 2, input_shape=(3,), name="f"), Dense(1)])
    with pytest.raises(ValueError, match=r"files never store code"):
        model.save(tmp_path / "m.brainnet")
    with pytest.raises(ValueError, match=r"'os\.system'.*files never import code by name"):
        Lambda.from_config({"name": "l", "trainable": True, "function": "os.system", "output_shape": None})
