"""keras.io example "Knowledge Distillation"
(https://keras.io/examples/vision/knowledge_distillation/), its Keras 3
version (the ``Distiller`` overrides ``compile``, ``compute_loss`` and
``call``), ported as a learner would: ``import brainnet as keras`` and
``from brainnet import layers`` in place of the Keras imports,
``ops.softmax(x, axis=1)`` written as ``torch.softmax(x, dim=1)``.
Shortened for CI: 4,000 training and 2,000 test images, the teacher trained
for 2 epochs (in place of 5), the student distilled and the scratch student
trained for 2 epochs (in place of 3), and the teacher's widths cut from 256
and 512 filters to 32 and 64 (at full width the teacher takes about a minute
per epoch of these 4,000 images on one core). Each test names the section it runs and checks
what it computes: the distillation loss against NumPy, what fit minimizes and
evaluate reports, and students far above chance.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import brainnet as keras
from brainnet import layers


class Distiller(keras.Model):
    def __init__(self, student, teacher):
        super().__init__()
        self.teacher = teacher
        self.student = student

    def compile(
        self,
        optimizer,
        metrics,
        student_loss_fn,
        distillation_loss_fn,
        alpha=0.1,
        temperature=3,
    ):
        # the optimizer steps the student; alpha weighs the hard-label loss, 1 - alpha the soft one
        super().compile(optimizer=optimizer, metrics=metrics)
        self.student_loss_fn = student_loss_fn
        self.distillation_loss_fn = distillation_loss_fn
        self.alpha = alpha
        self.temperature = temperature

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, allow_empty=False):
        teacher_pred = self.teacher(x, training=False)
        student_loss = self.student_loss_fn(y, y_pred)
        # soft targets: T² keeps their gradients on the scale of the hard loss's (Hinton et al. 2015)
        distillation_loss = self.distillation_loss_fn(
            torch.softmax(teacher_pred / self.temperature, dim=1),
            torch.softmax(y_pred / self.temperature, dim=1),
        ) * (self.temperature**2)
        loss = self.alpha * student_loss + (1 - self.alpha) * distillation_loss
        return loss

    def call(self, x):
        return self.student(x)


def _teacher():
    return keras.Sequential(
        [
            keras.Input(shape=(28, 28, 1)),
            layers.Conv2D(32, (3, 3), strides=(2, 2), padding="same"),  # 256 in the example
            layers.LeakyReLU(negative_slope=0.2),
            layers.MaxPooling2D(pool_size=(2, 2), strides=(1, 1), padding="same"),
            layers.Conv2D(64, (3, 3), strides=(2, 2), padding="same"),  # 512 in the example
            layers.Flatten(),
            layers.Dense(10),
        ],
        name="teacher",
    )


def _student():
    return keras.Sequential(
        [
            keras.Input(shape=(28, 28, 1)),
            layers.Conv2D(16, (3, 3), strides=(2, 2), padding="same"),
            layers.LeakyReLU(negative_slope=0.2),
            layers.MaxPooling2D(pool_size=(2, 2), strides=(1, 1), padding="same"),
            layers.Conv2D(32, (3, 3), strides=(2, 2), padding="same"),
            layers.Flatten(),
            layers.Dense(10),
        ],
        name="student",
    )


@pytest.fixture(scope="module")
def data(mnist_dir):
    """Section "Prepare the dataset", on the first 4,000 training and 2,000 test images."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("BRAINNET_DATA_DIR", str(mnist_dir.parent))
        (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
    x_train = x_train.astype("float32") / 255.0
    x_train = np.reshape(x_train, (-1, 28, 28, 1))
    x_test = x_test.astype("float32") / 255.0
    x_test = np.reshape(x_test, (-1, 28, 28, 1))
    return x_train[:4000], y_train[:4000], x_test[:2000], y_test[:2000]


def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _numpy_distillation_loss(teacher_logits, student_logits, y, alpha, temperature):
    # alpha · CE(y, softmax(s)) + (1 - alpha) · T² · mean_i Σ_k p_ik log(p_ik / q_ik),
    # p = softmax(t / T), q = softmax(s / T), both clipped to [1e-7, 1] as Keras's KLDivergence does
    student_loss = -np.mean(np.log(_softmax(student_logits)[np.arange(len(y)), y]))
    p = np.clip(_softmax(teacher_logits / temperature), 1e-7, 1)
    q = np.clip(_softmax(student_logits / temperature), 1e-7, 1)
    kl = np.mean(np.sum(p * np.log(p / q), axis=1))
    return alpha * student_loss + (1 - alpha) * temperature**2 * kl


def test_the_distillation_loss_is_the_weighted_hard_and_softened_losses_in_numpy():
    """Section "Construct Distiller() class": compute_loss on one batch."""
    keras.utils.set_random_seed(0)
    distiller = Distiller(student=_student(), teacher=_teacher())
    for alpha, temperature in ((0.1, 10), (0.5, 3)):
        distiller.compile(
            optimizer=keras.optimizers.Adam(),
            metrics=[keras.metrics.SparseCategoricalAccuracy()],
            student_loss_fn=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            distillation_loss_fn=keras.losses.KLDivergence(),
            alpha=alpha,
            temperature=temperature,
        )
        rng = np.random.default_rng(1)
        x = torch.from_numpy(rng.uniform(size=(8, 28, 28, 1)).astype("float32"))
        y = torch.from_numpy(rng.integers(0, 10, size=8))
        with torch.no_grad():
            y_pred = distiller(x)
            got = float(distiller.compute_loss(x, y, y_pred))
            teacher_logits = distiller.teacher(x).double().numpy()
        np.testing.assert_allclose(y_pred.numpy(), distiller.student.predict(x.numpy(), verbose=0), rtol=1e-5)
        want = _numpy_distillation_loss(teacher_logits, y_pred.double().numpy(), y.numpy(), alpha, temperature)
        assert got == pytest.approx(want, rel=1e-4)


def test_a_teacher_distils_into_a_student_that_beats_chance(data):
    """Sections "Create student and teacher models", "Train the teacher",
    "Distill teacher to student" and "Train student from scratch for comparison"."""
    x_train, y_train, x_test, y_test = data
    keras.utils.set_random_seed(42)
    teacher, student = _teacher(), _student()
    student_scratch = keras.models.clone_model(student)
    assert student_scratch.count_params() == student.count_params() == 160 + 4640 + 1568 * 10 + 10

    teacher.compile(
        optimizer=keras.optimizers.Adam(),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[keras.metrics.SparseCategoricalAccuracy()],
    )
    teacher.fit(x_train, y_train, epochs=2, verbose=0)
    _, teacher_accuracy = teacher.evaluate(x_test, y_test, verbose=0)
    assert teacher_accuracy > 0.85  # chance is 0.1

    distiller = Distiller(student=student, teacher=teacher)
    distiller.compile(
        optimizer=keras.optimizers.Adam(),
        metrics=[keras.metrics.SparseCategoricalAccuracy()],
        student_loss_fn=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        distillation_loss_fn=keras.losses.KLDivergence(),
        alpha=0.1,
        temperature=10,
    )
    history = distiller.fit(x_train, y_train, epochs=2, verbose=0)
    assert sorted(history.history) == ["loss", "sparse_categorical_accuracy"]
    assert history.history["loss"][1] < history.history["loss"][0]
    loss, accuracy = distiller.evaluate(x_test, y_test, verbose=0)
    assert accuracy > 0.85
    # evaluate reports the override's loss on the test digits, and the student's accuracy
    with torch.no_grad():
        x_t, y_t = torch.from_numpy(x_test), torch.from_numpy(y_test).long()
        student_logits, teacher_logits = distiller(x_t), teacher(x_t)
        expected = float(distiller.compute_loss(x_t, y_t, student_logits))
    assert loss == pytest.approx(expected, rel=1e-4)
    assert loss == pytest.approx(_numpy_distillation_loss(teacher_logits.double().numpy(),
                                                          student_logits.double().numpy(), y_test, 0.1, 10), rel=1e-4)
    assert accuracy == pytest.approx(np.mean(student_logits.numpy().argmax(axis=1) == y_test))

    student_scratch.compile(
        optimizer=keras.optimizers.Adam(),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[keras.metrics.SparseCategoricalAccuracy()],
    )
    student_scratch.fit(x_train, y_train, epochs=2, verbose=0)
    _, scratch_accuracy = student_scratch.evaluate(x_test, y_test, verbose=0)
    assert scratch_accuracy > 0.85
