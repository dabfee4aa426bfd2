"""A Transformer encoder that reads MNIST digits row by row.

The material explains self-attention, A = softmax(QKᵀ/√d_k), and the
sinusoidal positional encoding of "Attention Is All You Need"; this program
puts them to work. Each 28 x 28 image is a sequence of 28 rows; every row is
projected to 64 features, the position table is added (attention by itself
cannot tell row 3 from row 20), two encoder blocks let every row attend to
every other (4 heads, d_k = 64 / 4 = 16), and the rows' states are averaged
and classified. It is not a printed program of the material, so there is
nothing to mark as changed.

Run it:

    python examples/mnist_transformer.py                                # 15 epochs, all of MNIST
    BRAINNET_EPOCHS=1 BRAINNET_LIMIT=6000 python examples/mnist_transformer.py   # a quick try

`brainnet run mnist-transformer` runs the same recipe and saves weights and plots.
"""

import os

from brainnet.models import Model
from brainnet.layers import Input, Dense, PositionalEncoding, TransformerEncoder, GlobalAveragePooling1D
from brainnet.datasets import mnist
from brainnet.optimizers import Adam
from brainnet.optimizers.schedules import CosineDecay
from brainnet.utils import set_random_seed

# BRAINNET_EPOCHS (default 15, as `brainnet run mnist-transformer`) and BRAINNET_LIMIT (default: all images) let a test run this quickly.
EPOCHS = int(os.environ.get("BRAINNET_EPOCHS", "15"))
LIMIT = int(os.environ["BRAINNET_LIMIT"]) if os.environ.get("BRAINNET_LIMIT") else None
timesteps, input_dim, output_dim = 28, 28, 10  # rows, pixels per row, digits

set_random_seed(0)  # one seed for the weights, the dropout and the shuffling

(x_train, y_train), (x_test, y_test) = mnist.load_data()
if LIMIT is not None:
    x_train, y_train = x_train[:LIMIT], y_train[:LIMIT]
    x_test, y_test = x_test[: LIMIT // 5], y_test[: LIMIT // 5]
x_train = (x_train.astype("float32") - 127.5) / 127.5  # (N, 28, 28): row t is the input at step t
x_test = (x_test.astype("float32") - 127.5) / 127.5

inputs = Input(shape=(timesteps, input_dim))
x = Dense(64)(inputs)  # each row: 28 pixels -> 64 features (d_model)
x = PositionalEncoding()(x)  # + sin/cos of the row's position
for _ in range(2):  # two encoder blocks: self-attention, then a feed-forward network, each with residual + LayerNorm
    x = TransformerEncoder(intermediate_dim=128, num_heads=4, dropout=0.1)(x)
x = GlobalAveragePooling1D()(x)  # one vector per image: the mean of the 28 row states
outputs = Dense(output_dim, activation="softmax")(x)
model = Model(inputs=inputs, outputs=outputs)
model.summary(show_equations=True)

# Adam whose learning rate falls from 0.001 to 0 along a cosine over all the batches of the run.
steps = EPOCHS * -(-(len(x_train) - len(x_train) // 10) // 128)  # batches in the run, after the 10 % validation split
model.compile(optimizer=Adam(learning_rate=CosineDecay(0.001, decay_steps=steps)), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
model.fit(x_train, y_train, epochs=EPOCHS, batch_size=128, validation_split=0.1)
loss, accuracy = model.evaluate(x_test, y_test)
print(f"test accuracy: {accuracy:.4f}\ntest loss: {loss:.4f}")
probabilities = model.predict(x_test[:5])
for i, (predicted, true) in enumerate(zip(probabilities.argmax(axis=1), y_test[:5])):
    print(f"test image {i}: predicted {predicted}, true {true}")
