"""Several kinds of input in one model: a handwritten digit seen as a picture
and read as a sequence.

A functional model can take more than one input. Here each MNIST digit comes
in twice: as a 28 x 28 picture, which a convolution branch looks at (the
visual-cortex network), and as its 28 columns read from left to right, a
sequence that an LSTM branch reads one step at a time (the memory network).
Each branch ends in a summary vector; Concatenate joins the two summaries
and one softmax layer answers. Training is one call,
model.fit([x_image, x_columns], y): the loss's gradient flows back through
Concatenate into both branches, so they learn together.

Run it:

    python examples/two_input_mnist.py                                   # 5 epochs, all of MNIST
    BRAINNET_EPOCHS=1 BRAINNET_LIMIT=6000 python examples/two_input_mnist.py   # a quick try

MNIST is read from $BRAINNET_DATA_DIR/mnist/ (or downloaded once into
~/.cache/brainnet). `brainnet run mnist-two-input` trains the same model,
then each branch alone for comparison, and saves weights and plots.
"""

import os

from brainnet.models import Model
from brainnet.layers import Input, Conv2D, MaxPooling2D, Flatten, Dense, LSTM, Concatenate
from brainnet.optimizers import Adam
from brainnet.optimizers.schedules import CosineDecay
from brainnet.datasets import mnist
from brainnet.utils import set_random_seed

# BRAINNET_EPOCHS (default 5) and BRAINNET_LIMIT (default: all images) let a test run this quickly.
EPOCHS = int(os.environ.get("BRAINNET_EPOCHS", "5"))
LIMIT = int(os.environ["BRAINNET_LIMIT"]) if os.environ.get("BRAINNET_LIMIT") else None

# One seed for the weights and the shuffling, so two runs print the same numbers.
set_random_seed(0)

# The data: 28 x 28 pictures with pixels scaled to [-1, 1], as in the other examples.
(x_train, y_train), (x_test, y_test) = mnist.load_data()
if LIMIT is not None:  # with BRAINNET_LIMIT=N: the first N training images, the first N // 5 test images
    x_train, y_train = x_train[:LIMIT], y_train[:LIMIT]
    x_test, y_test = x_test[: LIMIT // 5], y_test[: LIMIT // 5]
x_train = (x_train.astype("float32") - 127.5) / 127.5
x_test = (x_test.astype("float32") - 127.5) / 127.5

# Two views of the same digits. The picture gets a channel axis: (N, 28, 28, 1), as Conv2D expects.
images_train, images_test = x_train[..., None], x_test[..., None]
# The columns: swapping the height and width axes makes step t of the sequence column t of the picture,
# its 28 pixels from top to bottom: (N, 28 steps, 28 features), as LSTM expects.
columns_train, columns_test = x_train.transpose(0, 2, 1), x_test.transpose(0, 2, 1)

# Input 1, the picture: a convolution layer finds 32 local patterns (strokes, corners), max-pooling keeps
# the strongest answer in each 2 x 2 patch, and a dense layer sums the map up in 64 features.
image = Input(shape=(28, 28, 1), name="image")
x = Conv2D(32, (3, 3), activation="relu")(image)  # (N, 26, 26, 32)
x = MaxPooling2D((2, 2))(x)  # (N, 13, 13, 32)
x = Flatten()(x)  # (N, 5408)
image_summary = Dense(64, activation="relu")(x)  # (N, 64)

# Input 2, the columns: the LSTM reads them left to right, carrying what it saw in its state;
# its last state h_28 (64 numbers) is its summary of the whole digit.
column_sequence = Input(shape=(28, 28), name="columns")
column_summary = LSTM(64)(column_sequence)  # (N, 64)

# The join: the two summaries side by side, 64 + 64 = 128 features, then one softmax layer over 10 digits.
joined = Concatenate()([image_summary, column_summary])  # (N, 128)
outputs = Dense(10, activation="softmax")(joined)

# The model names both inputs, in the order the data will be given.
model = Model(inputs=[image, column_sequence], outputs=outputs)
model.summary()  # the "Connected to" column shows the two branches and where they meet

# Adam whose learning rate falls from 0.001 to 0 along a cosine over the run, as in the sequence examples.
steps = EPOCHS * -(-(len(x_train) - len(x_train) // 10) // 128)  # batches in the run, after the 10 % validation split
optimizer = Adam(learning_rate=CosineDecay(0.001, decay_steps=steps))
model.compile(loss="sparse_categorical_crossentropy", optimizer=optimizer, metrics=["accuracy"])
# Several inputs: a list with one array per Input, in the order of inputs=[...]; the labels stay one array.
model.fit([images_train, columns_train], y_train, epochs=EPOCHS, batch_size=128, validation_split=0.1)
loss, accuracy = model.evaluate([images_test, columns_test], y_test)
print(f"test accuracy: {accuracy:.4f}\ntest loss: {loss:.4f}")
# predict takes the same list; the predicted class is the most probable one.
probabilities = model.predict([images_test[:5], columns_test[:5]])
for i, (predicted, true) in enumerate(zip(probabilities.argmax(axis=1), y_test[:5])):
    print(f"test image {i}: predicted {predicted}, true {true}")
