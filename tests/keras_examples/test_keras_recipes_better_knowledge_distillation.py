"""keras.io example "Knowledge distillation recipes"
(https://keras.io/examples/keras_recipes/better_knowledge_distillation/),
function matching after Beyer et al., its Keras 3 version (the TensorFlow
backend, a ``TFSMLayer`` teacher), ported as a learner would: ``import
brainnet as keras`` and ``from brainnet import layers`` in place of the Keras
imports, the TensorFlow calls written as torch calls: ``tf.nn.softmax(z,
axis=1)`` as ``torch.softmax(z, dim=1)``, ``tf.reverse(images, axis=[0])``
as ``torch.flip(images, dims=[0])``, ``tf.random.uniform([], 0, 1)`` as
``torch.rand(())``, ``tf.cos``/``tf.where``/``tf.cast`` as ``torch.cos``/
``torch.where``/``torch.as_tensor``, and the ``GradientTape`` block as the
forward pass then ``torch.autograd.grad(loss, trainable_vars)``.

Replaced, and why:

- Flowers102 (a download) is MNIST: 6,000 training, 1,000 validation and
  2,000 test digits, 28x28 grey. ``BIGGER`` and ``RESIZE`` (160 and 128 for
  the flowers) are 32 and 28: the training images are resized to 32x32 and
  randomly cropped back to 28x28, as the example's mild crops.
- The teacher, a BiT ResNet101x3 trained on Flowers102 (a Kaggle download
  loaded with ``TFSMLayer``), is a small convolutional network trained on
  the MNIST digits in the test (2 epochs), then frozen
  (``teacher_model.trainable = False``) as the example freezes its own.
- The student, ``keras.applications.ResNet50V2`` (brainnet has no
  ``applications``), is a narrower convolutional network with linear
  outputs (the example's ``classifier_activation="linear"``).
- The ``tf.data`` pipeline (``preprocess_image`` mapped on each image,
  shuffle, batch, ``mixup`` on each batch) is a ``keras.utils.PyDataset``:
  ``preprocess_image`` takes the batch (each image its own crop offset and
  flip, as the example's per-image map gives) because ``layers.Resizing``
  takes batches, and ``tf.image.central_crop`` is written out with
  TensorFlow's arithmetic (a border of ``int((h - h·f) / 2)`` pixels).
- The example's evaluation, ``student_model.compile(metrics=["accuracy"])``
  then ``evaluate``, has no loss; Keras 3 (TensorFlow and torch backends)
  refuses that with "No loss to compute", and so does brainnet (tested).
  The port compiles the student with its loss,
  ``SparseCategoricalCrossentropy(from_logits=True)``.
- Shortened for CI: 4 epochs of distillation in place of 30 (1000 in the
  paper), a warm-up of 50 steps in place of 1500 in a schedule over this
  training's own 376 steps; the schedule is also checked on the example's
  own numbers. The visualization is a check of the batch's shape and
  range; the pretrained student (a download) is left out.

What the tests check: ``mixup`` against NumPy; the training crops (a
window of the resized image, flipped or not) and the test's central crop;
``WarmUpCosine`` against NumPy and the optimizer following it in fit;
the ``Distiller``'s step loss against a NumPy KL divergence of the
softened predictions, teacher and student seeing the same mixed-up, cropped
batch (consistency); and the trained student: a distillation loss that
falls, validation metrics in the History, the example's loss-less
evaluation refused, and test accuracy and agreement with the teacher far
above chance.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import brainnet as keras
from brainnet import layers

BATCH_SIZE = 64

# Comes from Table 4 and "Training setup" section.
TEMPERATURE = 10  # Used to soften the logits before they go to softmax.
INIT_LR = 0.003  # Initial learning rate that will be decayed over the training period.
WEIGHT_DECAY = 0.001  # Used for regularization.
CLIP_THRESHOLD = 1.0  # Used for clipping the gradients by L2-norm.

# We will first resize the training images to a bigger size and then we will take
# random crops of a lower size.
BIGGER = 32  # 160 in the example
RESIZE = 28  # 128 in the example
EPOCHS = 4  # 30 in the example, "at least 1000"


def mixup(images, labels):
    alpha = torch.rand(())
    mixedup_images = alpha * images + (1 - alpha) * torch.flip(images, dims=[0])
    # The labels do not matter here since they are NOT used during
    # training.
    return mixedup_images, labels


def central_crop(images, central_fraction):
    # tf.image.central_crop: a border of int((h - h * f) / 2) pixels on each side
    h, w = images.shape[1:3]
    top, left = int((h - h * central_fraction) / 2), int((w - w * central_fraction) / 2)
    return images[:, top : h - top, left : w - left]


def preprocess_image(image, label, train=True):
    # on a batch: tf.data's map ran it on each image, each with its own crop and flip
    image = torch.as_tensor(image, dtype=torch.float32) / 255.0

    if train:
        image = layers.Resizing(BIGGER, BIGGER)(image)
        tops = np.random.randint(0, BIGGER - RESIZE + 1, size=len(image))
        lefts = np.random.randint(0, BIGGER - RESIZE + 1, size=len(image))
        image = torch.stack([im[t : t + RESIZE, l : l + RESIZE] for im, t, l in zip(image, tops, lefts)])
        flip = torch.from_numpy(np.random.uniform(size=len(image)) < 0.5)
        image = torch.where(flip[:, None, None, None], torch.flip(image, dims=[2]), image)
    else:
        # Central fraction amount is from here:
        # https://git.io/J8Kda.
        image = central_crop(image, central_fraction=0.875)
        image = layers.Resizing(RESIZE, RESIZE)(image)

    return image, label


class prepare_dataset(keras.utils.PyDataset):
    # map(preprocess_image), shuffle (training), batch, map(mixup) (training)
    def __init__(self, images, labels, train=True, batch_size=BATCH_SIZE):
        super().__init__()
        self.images, self.labels, self.train, self.batch_size = images, labels, train, batch_size
        self.order = np.random.permutation(len(images)) if train else np.arange(len(images))

    def __len__(self):
        return math.ceil(len(self.images) / self.batch_size)

    def __getitem__(self, idx):
        batch = self.order[idx * self.batch_size : (idx + 1) * self.batch_size]
        images, labels = preprocess_image(self.images[batch], self.labels[batch], self.train)
        if self.train:
            images, labels = mixup(images, labels)
        return images, labels

    def on_epoch_end(self):
        if self.train:
            self.order = np.random.permutation(len(self.images))


def get_teacher():
    return keras.Sequential(
        [
            keras.Input(shape=(RESIZE, RESIZE, 1)),
            layers.Conv2D(32, 3, activation="relu"),
            layers.MaxPooling2D(2),
            layers.Conv2D(64, 3, activation="relu"),
            layers.MaxPooling2D(2),
            layers.Flatten(),
            layers.Dense(128, activation="relu"),
            layers.Dense(10),
        ],
        name="teacher",
    )


def get_student():
    # in place of keras.applications.ResNet50V2(weights=None, classes=10, classifier_activation="linear")
    return keras.Sequential(
        [
            keras.Input(shape=(RESIZE, RESIZE, 1)),
            layers.Conv2D(8, 3, strides=2, activation="relu"),
            layers.Conv2D(16, 3, strides=2, activation="relu"),
            layers.Flatten(),
            layers.Dense(10),
        ],
        name="student",
    )


class Distiller(keras.Model):
    def __init__(self, student, teacher):
        super().__init__()
        self.student = student
        self.teacher = teacher
        self.loss_tracker = keras.metrics.Mean(name="distillation_loss")

    @property
    def metrics(self):
        metrics = super().metrics
        metrics.append(self.loss_tracker)
        return metrics

    def compile(
        self,
        optimizer,
        metrics,
        distillation_loss_fn,
        temperature=TEMPERATURE,
    ):
        super().compile(optimizer=optimizer, metrics=metrics)
        self.distillation_loss_fn = distillation_loss_fn
        self.temperature = temperature

    def train_step(self, data):
        # Unpack data
        x, _ = data

        # Forward pass of teacher
        teacher_predictions = self.teacher(x, training=False)

        # Forward pass of student (torch records it: the GradientTape block)
        student_predictions = self.student(x, training=True)

        # Compute loss
        distillation_loss = self.distillation_loss_fn(
            torch.softmax(teacher_predictions / self.temperature, dim=1),
            torch.softmax(student_predictions / self.temperature, dim=1),
        )

        # Compute gradients
        trainable_vars = self.student.trainable_variables
        gradients = torch.autograd.grad(distillation_loss, trainable_vars)

        # Update weights
        self.optimizer.apply_gradients(zip(gradients, trainable_vars))

        # Report progress
        self.loss_tracker.update_state(distillation_loss)
        return {"distillation_loss": self.loss_tracker.result()}

    def test_step(self, data):
        # Unpack data
        x, y = data

        # Forward passes
        teacher_predictions = self.teacher(x, training=False)
        student_predictions = self.student(x, training=False)

        # Calculate the loss
        distillation_loss = self.distillation_loss_fn(
            torch.softmax(teacher_predictions / self.temperature, dim=1),
            torch.softmax(student_predictions / self.temperature, dim=1),
        )

        # Report progress
        self.loss_tracker.update_state(distillation_loss)
        self.compiled_metrics.update_state(y, student_predictions)
        results = {m.name: m.result() for m in self.metrics}
        return results


class WarmUpCosine(keras.optimizers.schedules.LearningRateSchedule):
    def __init__(self, learning_rate_base, total_steps, warmup_learning_rate, warmup_steps):
        super().__init__()

        self.learning_rate_base = learning_rate_base
        self.total_steps = total_steps
        self.warmup_learning_rate = warmup_learning_rate
        self.warmup_steps = warmup_steps
        self.pi = torch.tensor(np.pi)

    def __call__(self, step):
        if self.total_steps < self.warmup_steps:
            raise ValueError("Total_steps must be larger or equal to warmup_steps.")

        cos_annealed_lr = torch.cos(
            self.pi
            * (torch.as_tensor(step, dtype=torch.float32) - self.warmup_steps)
            / float(self.total_steps - self.warmup_steps)
        )
        learning_rate = 0.5 * self.learning_rate_base * (1 + cos_annealed_lr)

        if self.warmup_steps > 0:
            if self.learning_rate_base < self.warmup_learning_rate:
                raise ValueError("Learning_rate_base must be larger or equal to warmup_learning_rate.")
            slope = (self.learning_rate_base - self.warmup_learning_rate) / self.warmup_steps
            warmup_rate = slope * torch.as_tensor(step, dtype=torch.float32) + self.warmup_learning_rate
            learning_rate = torch.where(torch.as_tensor(step < self.warmup_steps), warmup_rate, learning_rate)
        return torch.where(torch.as_tensor(step > self.total_steps), 0.0, learning_rate)


def _numpy_warmup_cosine(step, base, total, warmup_lr, warmup):
    if step > total:
        return 0.0
    if step < warmup:
        return warmup_lr + (base - warmup_lr) * step / warmup
    return 0.5 * base * (1 + np.cos(np.pi * (step - warmup) / (total - warmup)))


def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _numpy_kl(teacher_logits, student_logits, temperature):
    # mean_i Σ_k p_ik log(p_ik / q_ik), p and q clipped to [1e-7, 1] as Keras's KLDivergence does
    p = np.clip(_softmax(teacher_logits / temperature), 1e-7, 1)
    q = np.clip(_softmax(student_logits / temperature), 1e-7, 1)
    return np.mean(np.sum(p * np.log(p / q), axis=1))


def test_mixup_mixes_the_batch_with_its_reverse_in_numpy():
    """Section "Data input pipeline": ``mixup``."""
    rng = np.random.default_rng(0)
    images = torch.from_numpy(rng.uniform(size=(6, 4, 4, 1)).astype("float32"))
    labels = torch.arange(6)
    keras.utils.set_random_seed(3)
    mixed, same_labels = mixup(images, labels)
    keras.utils.set_random_seed(3)
    alpha = float(torch.rand(()))
    x = images.numpy()
    np.testing.assert_allclose(mixed.numpy(), alpha * x + (1 - alpha) * x[::-1], rtol=1e-6)
    assert same_labels is labels and 0.0 <= alpha <= 1.0


def test_training_images_are_flipped_crops_of_the_resized_image_and_test_images_central_crops():
    """Section "Data input pipeline": ``preprocess_image`` for training and for testing."""
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, size=(8, 28, 28, 1)).astype("uint8")
    keras.utils.set_random_seed(4)
    out, _ = preprocess_image(images, None, train=True)
    assert tuple(out.shape) == (8, RESIZE, RESIZE, 1)
    resized = layers.Resizing(BIGGER, BIGGER)(torch.from_numpy(images).float() / 255.0).numpy()
    for crop, big in zip(out.numpy(), resized):
        windows = [big[t : t + RESIZE, l : l + RESIZE] for t in range(5) for l in range(5)]
        assert any(np.allclose(crop, w) or np.allclose(crop, w[:, ::-1]) for w in windows)

    out, _ = preprocess_image(images, None, train=False)
    assert tuple(out.shape) == (8, RESIZE, RESIZE, 1)
    # TensorFlow's central_crop(28 pixels, 0.875) keeps rows and columns 1..26
    assert tuple(central_crop(torch.from_numpy(images), 0.875).shape) == (8, 26, 26, 1)
    expected = layers.Resizing(RESIZE, RESIZE)(torch.from_numpy(images[:, 1:27, 1:27]).float() / 255.0)
    np.testing.assert_allclose(out.numpy(), expected.numpy(), rtol=1e-6)


def test_warmup_cosine_follows_numpy_and_drives_the_optimizer():
    """Section "Learning rate schedule", with the example's own numbers."""
    ARTIFICIAL_EPOCHS = 1000
    ARTIFICIAL_BATCH_SIZE = 512
    DATASET_NUM_TRAIN_EXAMPLES = 1020
    TOTAL_STEPS = int(DATASET_NUM_TRAIN_EXAMPLES / ARTIFICIAL_BATCH_SIZE * ARTIFICIAL_EPOCHS)
    scheduled_lrs = WarmUpCosine(
        learning_rate_base=INIT_LR,
        total_steps=TOTAL_STEPS,
        warmup_learning_rate=0.0,
        warmup_steps=1500,
    )
    lrs = [float(scheduled_lrs(step)) for step in range(TOTAL_STEPS)]
    want = [_numpy_warmup_cosine(s, INIT_LR, TOTAL_STEPS, 0.0, 1500) for s in range(TOTAL_STEPS)]
    np.testing.assert_allclose(lrs, want, rtol=1e-5, atol=1e-9)
    assert max(lrs) == pytest.approx(INIT_LR, rel=1e-5) and int(np.argmax(lrs)) == 1500
    assert float(scheduled_lrs(TOTAL_STEPS + 1)) == 0.0
    with pytest.raises(ValueError, match="Total_steps must be larger"):
        WarmUpCosine(INIT_LR, total_steps=10, warmup_learning_rate=0.0, warmup_steps=20)(0)

    optimizer = keras.optimizers.AdamW(weight_decay=WEIGHT_DECAY, learning_rate=scheduled_lrs, clipnorm=CLIP_THRESHOLD)
    assert optimizer.learning_rate == 0.0  # the schedule's 0-d tensor, read as a number
    weight = torch.nn.Parameter(torch.ones(3))
    for _ in range(10):
        optimizer.apply([torch.ones(3)], [weight])
    assert optimizer.learning_rate == pytest.approx(_numpy_warmup_cosine(10, INIT_LR, TOTAL_STEPS, 0.0, 1500))


def test_one_distillation_step_is_the_kl_divergence_of_the_softened_predictions_in_numpy():
    """Section "Distillation utility": ``train_step`` on one batch."""
    keras.utils.set_random_seed(5)
    teacher, student = get_teacher(), get_student()
    teacher.trainable = False
    distiller = Distiller(student=student, teacher=teacher)
    distiller.compile(keras.optimizers.AdamW(learning_rate=1e-3), metrics=[keras.metrics.SparseCategoricalAccuracy()],
                      distillation_loss_fn=keras.losses.KLDivergence(), temperature=TEMPERATURE)
    x = torch.from_numpy(np.random.default_rng(2).uniform(size=(16, RESIZE, RESIZE, 1)).astype("float32"))
    with torch.no_grad():
        teacher_logits, student_logits = teacher(x).double().numpy(), student(x).double().numpy()
        teacher_before = [w.clone() for w in teacher.weights]
        student_before = [w.clone() for w in student.trainable_weights]
    logs = distiller.train_step((x, torch.zeros(16)))
    assert float(logs["distillation_loss"]) == pytest.approx(_numpy_kl(teacher_logits, student_logits, TEMPERATURE),
                                                             rel=1e-4)
    assert all(torch.equal(a, b) for a, b in zip(teacher_before, teacher.weights))  # the teacher stays
    assert not all(torch.equal(a, b) for a, b in zip(student_before, student.trainable_weights))


@pytest.fixture(scope="module")
def data(mnist_dir):
    """Section "Load the Flowers102 dataset", on MNIST."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("BRAINNET_DATA_DIR", str(mnist_dir.parent))
        (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
    x_train, x_test = x_train[..., None], x_test[..., None]
    return (x_train[:6000], y_train[:6000]), (x_train[-1000:], y_train[-1000:]), (x_test[:2000], y_test[:2000])


def test_a_trained_teacher_distils_into_a_student_by_function_matching(data):
    """Sections "Teacher model", "Data input pipeline", "Visualization", "Student model",
    "Training" and the evaluation of the student."""
    (x_train, y_train), (x_val, y_val), (x_test, y_test) = data
    keras.utils.set_random_seed(6)

    # the teacher: trained here in place of the BiT download, then frozen
    teacher_model = get_teacher()
    teacher_model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                          metrics=["accuracy"])
    teacher_model.fit(x_train.astype("float32") / 255.0, y_train, epochs=2, batch_size=64, verbose=0)
    # Since the teacher model is not going to be trained further we make
    # it non-trainable.
    teacher_model.trainable = False

    train_ds = prepare_dataset(x_train, y_train, True)
    validation_ds = prepare_dataset(x_val, y_val, False)
    test_ds = prepare_dataset(x_test, y_test, False)

    sample_images, _ = train_ds[0]
    assert tuple(sample_images.shape) == (BATCH_SIZE, RESIZE, RESIZE, 1)
    assert 0.0 <= float(sample_images.min()) and float(sample_images.max()) <= 1.0

    assert get_student().count_params() < teacher_model.count_params()

    DATASET_NUM_TRAIN_EXAMPLES = len(x_train)
    TOTAL_STEPS = int(np.ceil(DATASET_NUM_TRAIN_EXAMPLES / BATCH_SIZE)) * EPOCHS
    scheduled_lrs = WarmUpCosine(
        learning_rate_base=INIT_LR,
        total_steps=TOTAL_STEPS,
        warmup_learning_rate=0.0,
        warmup_steps=50,  # 1500 in the example
    )
    optimizer = keras.optimizers.AdamW(
        weight_decay=WEIGHT_DECAY, learning_rate=scheduled_lrs, clipnorm=CLIP_THRESHOLD
    )

    student_model = get_student()

    distiller = Distiller(student=student_model, teacher=teacher_model)
    distiller.compile(
        optimizer,
        metrics=[keras.metrics.SparseCategoricalAccuracy()],
        distillation_loss_fn=keras.losses.KLDivergence(),
        temperature=TEMPERATURE,
    )

    # consistency: the teacher and the student see the same mixed-up, cropped batch
    seen = {}

    def record(name):
        def hook(module, inputs, output):
            seen.setdefault(name, inputs[0].clone())  # the first training batch each one sees
        return hook

    hooks = [m.register_forward_hook(record(name)) for name, m in (("teacher", teacher_model),
                                                                    ("student", student_model))]
    with pytest.warns(UserWarning, match="compiled_metrics. is deprecated"):  # the test_step's Keras 2 call
        history = distiller.fit(
            train_ds,
            steps_per_epoch=int(np.ceil(DATASET_NUM_TRAIN_EXAMPLES / BATCH_SIZE)),
            validation_data=validation_ds,
            epochs=EPOCHS,
            verbose=0,
        )
    for hook in hooks:
        hook.remove()
    assert torch.equal(seen["teacher"], seen["student"])
    assert seen["teacher"].shape == (BATCH_SIZE, RESIZE, RESIZE, 1)

    losses = history.history["distillation_loss"]
    assert losses[-1] < 0.5 * losses[0]
    assert {"val_distillation_loss", "val_sparse_categorical_accuracy"} <= set(history.history)
    assert history.history["val_sparse_categorical_accuracy"][-1] > 0.8  # chance is 0.1
    assert optimizer.iterations == TOTAL_STEPS
    assert optimizer.learning_rate == pytest.approx(_numpy_warmup_cosine(TOTAL_STEPS, INIT_LR, TOTAL_STEPS, 0.0, 50),
                                                    abs=1e-9)

    student = distiller.student
    # the example's loss-less compile: Keras 3 says "No loss to compute", brainnet too
    student_model.compile(metrics=["accuracy"])
    with pytest.raises(ValueError, match="expected a loss, got loss=None"):
        student.evaluate(test_ds, verbose=0)
    student_model.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    _, top1_accuracy = student.evaluate(test_ds, verbose=0)
    assert top1_accuracy > 0.8  # chance is 0.1

    # function matching: the student's answers are the teacher's
    test_images = torch.cat([test_ds[i][0] for i in range(len(test_ds))]).numpy()
    agreement = np.mean(student.predict(test_images, verbose=0).argmax(1)
                        == teacher_model.predict(test_images, verbose=0).argmax(1))
    assert agreement > 0.8
