"""model.inputs / model.outputs / model.input / model.output and
layer.output / layer.input, as Keras 3 gives them: a Sequential model with a
known input shape keeps a graph of symbolic tensors, so the feature
extractors of Keras's guides (``Model(model.inputs, [layer.output for layer in
model.layers])``) work and share the model's weights."""

from __future__ import annotations

import copy
import io

import numpy as np
import pytest
import torch

from brainnet.layers import Conv2D, Dense, Flatten, Input, MaxPooling2D
from brainnet.models import Model, Sequential


def cnn():
    torch.manual_seed(0)
    return Sequential([Conv2D(4, 3, activation="relu", input_shape=(12, 12, 1)), MaxPooling2D(),
                       Conv2D(6, 3, activation="relu", name="middle"), Flatten(), Dense(3, activation="softmax")])


def by_hand(model, x, upto):
    """Each layer's output, one layer after the other on real tensors."""
    outs, h = [], torch.as_tensor(x)
    for layer in model.layers[:upto]:
        h = layer(h)
        outs.append(h.detach().numpy())
    return outs


def test_a_feature_extractor_from_a_sequential_model_gives_each_layers_output():
    model = cnn()
    x = np.random.default_rng(0).normal(size=(5, 12, 12, 1)).astype("float32")
    extractor = Model(inputs=model.inputs, outputs=[layer.output for layer in model.layers])
    got = extractor.predict(x, verbose=0)
    want = by_hand(model, x, len(model.layers))
    assert [g.shape for g in got] == [w.shape for w in want] == [
        (5, 10, 10, 4), (5, 5, 5, 4), (5, 3, 3, 6), (5, 54), (5, 3)]
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-6, atol=1e-6)
    # Keras's other spelling: model.input and one layer by name
    middle = Model(inputs=model.input, outputs=model.get_layer(name="middle").output)
    np.testing.assert_allclose(middle.predict(x, verbose=0), want[2], rtol=1e-6, atol=1e-6)
    # the extractor shares the weights: train the model, the extractor follows
    model.compile("sgd", "sparse_categorical_crossentropy", device="cpu")
    model.fit(x, np.array([0, 1, 2, 0, 1]), epochs=2, verbose=0)
    np.testing.assert_allclose(middle.predict(x, verbose=0), by_hand(model, x, 3)[2], rtol=1e-6, atol=1e-6)


def test_inputs_outputs_of_sequential_and_functional_models():
    model = cnn()
    (inp,), (out,) = model.inputs, model.outputs
    assert model.input is inp and model.output is out
    assert inp.shape == (None, 12, 12, 1) and out.shape == (None, 3)
    assert model.layers[0].input is inp and model.layers[-1].output is out
    model.add(Dense(2))  # the graph follows the layers
    assert model.output.shape == (None, 2) and model.input is inp
    model.pop()
    assert model.output is out  # back to the graph before the add
    leading = Input((4,))
    seq = Sequential([leading, Dense(3)])
    assert seq.input is leading  # a leading Input is the model's input
    a, b = Input((3,), name="a"), Input((2,), name="b")
    hidden = Dense(4)(a)
    functional = Model([a, b], [hidden, Dense(1)(b)])
    assert functional.input == [a, b] and len(functional.output) == 2
    assert functional.layers[0].output is a and functional.layers[2].output is hidden  # InputLayers first


def test_a_model_with_a_one_element_input_list_takes_one_array():
    inp = Input((3,))
    model = Model(inputs=[inp], outputs=Dense(2)(inp))
    x = np.ones((4, 3), "float32")
    np.testing.assert_array_equal(model.predict(x, verbose=0), model.predict([x], verbose=0))


def test_pickling_and_deepcopy_keep_the_graph():
    model = cnn()
    model.layers[2].output  # makes the graph
    buffer = io.BytesIO()
    torch.save(model, buffer)
    buffer.seek(0)
    loaded = torch.load(buffer, weights_only=False)
    assert loaded.layers[2].output.shape == (None, 3, 3, 6) and loaded.layers[2].output.node.layer is loaded.layers[2]
    twin = copy.deepcopy(model)
    assert twin.layers[0].__dict__["_sequential"] is twin and twin.output.node.layer is twin.layers[-1]


def test_a_subclass_may_still_name_its_own_attributes_output_and_input():
    class Net(Model):
        def __init__(self):
            super().__init__()
            self.output = Dense(3)  # as PyTorch code often names it
            self.input = None

        def call(self, x):
            return self.output(x)

    net = Net()
    assert net(torch.ones(2, 4)).shape == (2, 3)
    assert isinstance(net.output, Dense) and net.input is None
    assert [n for n, _ in net.named_parameters()] == ["output.kernel", "output.bias"]


def test_output_of_a_layer_never_called_on_an_input_and_of_an_unbuilt_model():
    with pytest.raises(ValueError, match=r"Layer 'lonely' \(Dense\): expected a layer called on a symbolic input for "
                                         r"its output, got one never called on an Input \(and not in a Sequential "
                                         r"model whose input shape is known\)\. Fix: x = Input\(shape=\.\.\.\); y = "
                                         r"lonely\(x\)"):
        Dense(3, name="lonely").output
    unbuilt = Sequential([Dense(3, name="first")], name="unbuilt")
    with pytest.raises(ValueError, match=r"Sequential 'unbuilt': expected a model whose input shape is known for its "
                                         r"symbolic inputs and outputs \(model\.inputs, layer\.output\), got one whose "
                                         r"input shape is not known yet\. Fix: give input_shape= to the first layer"):
        unbuilt.inputs
    with pytest.raises(ValueError, match=r"Sequential 'unbuilt': expected a model whose input shape is known"):
        unbuilt.layers[0].input
    unbuilt.build((None, 5))  # the fix: then it works
    assert unbuilt.layers[0].output.shape == (None, 3)


def test_build_by_hand_records_the_input_shape_of_a_sequential_model(capsys):
    model = Sequential([Dense(3), Dense(2)])
    model.build((None, 5))  # as Keras: then summary, output_shape and the graph work
    assert model.built and model.input_shape == (None, 5) and model.output_shape == (None, 2)
    model.summary()
    printed = capsys.readouterr().out
    assert "(None, 3)" in printed and "unbuilt" not in printed
    assert model.layers[1].output.shape == (None, 2)
