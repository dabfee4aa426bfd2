"""The material's LSTM stack, reading MNIST digits row by row.

The material prints a stack of three LSTM layers,
`LSTM(64, return_sequences=True, input_shape=(timesteps, input_dim))` and two
more, then `Dense(output_dim, activation='softmax')`, without data. Here it
reads real handwritten digits: each 28 x 28 image is a sequence of
timesteps = 28 rows of input_dim = 28 pixels, and output_dim = 10 digits.
Every line that differs from the printed program carries one comment saying
what changed and why; the unmarked lines are the printed model and the
compile / evaluate / predict calls of the material's CNN program.

Run it:

    python examples/mnist_lstm.py                                # 12 epochs, all of MNIST (~3 min on 2 cores)
    BRAINNET_EPOCHS=1 BRAINNET_LIMIT=6000 python examples/mnist_lstm.py   # a quick try

`brainnet run mnist-lstm` runs the same recipe and also saves the weights and
a plot of the training curves.
"""

import os

# Changed: the imports name brainnet instead of keras; the module and class names are the same.
from brainnet.models import Sequential
from brainnet.layers import LSTM, Dense
from brainnet.optimizers import Adam
from brainnet.optimizers.schedules import CosineDecay
from brainnet.datasets import mnist
from brainnet.utils import set_random_seed

# Added: BRAINNET_EPOCHS (default 12, as `brainnet run mnist-lstm`) and BRAINNET_LIMIT (default: all images) let a test run this quickly.
EPOCHS = int(os.environ.get("BRAINNET_EPOCHS", "12"))
LIMIT = int(os.environ["BRAINNET_LIMIT"]) if os.environ.get("BRAINNET_LIMIT") else None
# Added: the printed program leaves these three names to the reader; for MNIST read row by row they are:
timesteps, input_dim, output_dim = 28, 28, 10

# Added: one seed for the weights and the shuffling, so two runs print the same numbers.
set_random_seed(0)

# Added: the data. Each image (28, 28) is already a sequence: row t is the input x_t at time step t.
(x_train, y_train), (x_test, y_test) = mnist.load_data()
if LIMIT is not None:
    x_train, y_train = x_train[:LIMIT], y_train[:LIMIT]
    x_test, y_test = x_test[: LIMIT // 5], y_test[: LIMIT // 5]
# Added: pixels 0..255 scaled to [-1, 1], as in the CNN program; shape stays (N, timesteps, input_dim).
x_train = (x_train.astype("float32") - 127.5) / 127.5
x_test = (x_test.astype("float32") - 127.5) / 127.5

model = Sequential()
model.add(LSTM(64, return_sequences=True, input_shape=(timesteps, input_dim)))
model.add(LSTM(64, return_sequences=True))
# Note: the last LSTM returns only its final state h_28 (no return_sequences=True), one vector per image;
# with return_sequences=True here, Dense would give one prediction per row, (N, 28, 10), not one per image.
model.add(LSTM(64))
model.add(Dense(output_dim, activation="softmax"))
# Changed: optimizer="adam" becomes Adam whose learning rate falls from 0.001 to 0 along a cosine over the
# whole run (CosineDecay, one step per batch): small steps at the end settle the weights.
steps = EPOCHS * -(-(len(x_train) - len(x_train) // 10) // 128)  # batches in the run, after the 10 % validation split
optimizer = Adam(learning_rate=CosineDecay(0.001, decay_steps=steps))
# Changed: the labels are digits 0..9, not one-hot vectors, so the loss is the sparse cross-entropy
# (categorical_crossentropy would need to_categorical(y_train) first; brainnet says so if you mix them).
model.compile(loss="sparse_categorical_crossentropy", optimizer=optimizer, metrics=["accuracy"])
# Added: the training call (batch 128, 10% held out to watch for overfitting).
model.fit(x_train, y_train, epochs=EPOCHS, batch_size=128, validation_split=0.1)
loss, accuracy = model.evaluate(x_test, y_test)
# Added: print the test results, 4 decimals, as `brainnet run` does.
print(f"test accuracy: {accuracy:.4f}\ntest loss: {loss:.4f}")
probabilities = model.predict(x_test[:5])
for i, (predicted, true) in enumerate(zip(probabilities.argmax(axis=1), y_test[:5])):
    print(f"test image {i}: predicted {predicted}, true {true}")
