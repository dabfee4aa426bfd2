"""The teaching program: a convolutional network that reads handwritten digits.

The printed original was written for Keras; this is the same program on
brainnet. Every line that differs from the original carries one comment
saying what changed and why; every other line is as printed.

Run it:

    python examples/mnist_cnn.py                               # 10 epochs, all of MNIST
    BRAINNET_EPOCHS=1 BRAINNET_LIMIT=6000 python examples/mnist_cnn.py   # a quick try

MNIST is read from $BRAINNET_DATA_DIR/mnist/ (or downloaded once into
~/.cache/brainnet). `brainnet run mnist-cnn` runs the same recipe and also
saves the weights and a plot of the training curves.
"""

import os

# Changed: the imports name brainnet instead of keras; the module and class names are the same.
from brainnet.models import Sequential
from brainnet.layers import Conv2D, MaxPooling2D, Flatten, Dense
from brainnet.optimizers import SGD
from brainnet.datasets import mnist
from brainnet.utils import set_random_seed

# Added: BRAINNET_EPOCHS (default 10, as printed) and BRAINNET_LIMIT (default: all images) let a test run this quickly.
EPOCHS = int(os.environ.get("BRAINNET_EPOCHS", "10"))
LIMIT = int(os.environ["BRAINNET_LIMIT"]) if os.environ.get("BRAINNET_LIMIT") else None

# Added: one seed for the weights and the shuffling, so two runs print the same numbers.
set_random_seed(0)

(x_train, y_train), (x_test, y_test) = mnist.load_data()
# Added: with BRAINNET_LIMIT=N, train on the first N training images and test on the first N // 5.
if LIMIT is not None:
    x_train, y_train = x_train[:LIMIT], y_train[:LIMIT]
    x_test, y_test = x_test[: LIMIT // 5], y_test[: LIMIT // 5]
x_train = ((x_train.astype("float32") - 127.5) / 127.5)[..., None]
x_test = ((x_test.astype("float32") - 127.5) / 127.5)[..., None]

model = Sequential()
model.add(Conv2D(32, (3, 3), activation="relu", input_shape=(28, 28, 1)))
model.add(MaxPooling2D((2, 2)))
model.add(Conv2D(64, (3, 3), activation="relu"))
model.add(MaxPooling2D((2, 2)))
model.add(Flatten())
model.add(Dense(128, activation="relu"))
model.add(Dense(10, activation="softmax"))
# Changed: SGD(lr=0.01, ...) is now SGD(learning_rate=0.01, ...), as in Keras 2.3+; lr= still works but warns (DeprecationWarning).
model.compile(optimizer=SGD(learning_rate=0.01, momentum=0.9), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
# Changed: epochs=EPOCHS instead of epochs=10, so BRAINNET_EPOCHS can shorten the run.
history = model.fit(x_train, y_train, epochs=EPOCHS, batch_size=64, validation_split=0.1)
loss, accuracy = model.evaluate(x_test, y_test)
# Added: print the test results, 4 decimals, as `brainnet run` does.
print(f"test accuracy: {accuracy:.4f}\ntest loss: {loss:.4f}")
probabilities = model.predict(x_test[:5])
# Added: the predicted class is the most probable one; show it next to the true label.
for i, (predicted, true) in enumerate(zip(probabilities.argmax(axis=1), y_test[:5])):
    print(f"test image {i}: predicted {predicted}, true {true}")
