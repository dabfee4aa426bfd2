"""Your own training step inside fit(): a variational autoencoder (VAE) on MNIST.

fit() runs a loop of steps; a model that overrides train_step(self, data)
decides what one step does, and keeps the rest of fit: epochs, batches,
shuffling, callbacks, the progress bar and the History (Keras 3's
"customizing what happens in fit()"). A VAE needs this: its loss is not a
function of (y_true, y_pred) but of the input and of what the encoder says
about it.

The encoder maps an image x to a Gaussian in a small latent space, mean μ
and log-variance log σ²; a code z = μ + σ · ε (ε ~ N(0, I)) is drawn from it
and the decoder turns z back into an image x̂. One step minimizes, per image,

    reconstruction = Σ_pixels −[x log x̂ + (1 − x) log(1 − x̂)]
    KL             = −½ Σ_latent (1 + log σ² − μ² − σ²)

averaged over the batch. test_step computes the same without updating, so
evaluate() reports the loss on the test images. The program prints that
reconstruction loss beside the baseline of drawing every digit as the mean
training image: a VAE that learned something is well below it.

Run it:

    python examples/custom_train_step.py                       # 10 epochs, all of MNIST
    python examples/custom_train_step.py --epochs 3 --limit 6000   # about 10 s on 2 cores

MNIST is read from $BRAINNET_DATA_DIR/mnist/ (or downloaded once into
~/.cache/brainnet). BRAINNET_EPOCHS and BRAINNET_LIMIT set the defaults of
--epochs and --limit.
"""

import argparse
import os

import numpy as np
import torch

from brainnet.datasets import mnist
from brainnet.layers import Dense, Input
from brainnet.metrics import Mean
from brainnet.models import Model, Sequential
from brainnet.utils import set_random_seed

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--epochs", type=int, default=int(os.environ.get("BRAINNET_EPOCHS", "10")))
parser.add_argument("--limit", type=int, default=int(os.environ.get("BRAINNET_LIMIT", "0")) or None,
                    help="train on the first N images (test on the first N // 5)")
args = parser.parse_args()
LATENT = 8

set_random_seed(0)  # the weights, the shuffling and the codes drawn: two runs print the same numbers

(x_train, _), (x_test, _) = mnist.load_data()
if args.limit:
    x_train, x_test = x_train[: args.limit], x_test[: args.limit // 5]
# Pixels in [0, 1] (the reconstruction loss reads them as probabilities), each image a row of 784.
x_train = x_train.reshape(len(x_train), 784).astype("float32") / 255.0
x_test = x_test.reshape(len(x_test), 784).astype("float32") / 255.0

encoder = Sequential([Input((784,)), Dense(256, activation="relu"), Dense(2 * LATENT)], name="encoder")
decoder = Sequential([Input((LATENT,)), Dense(256, activation="relu"), Dense(784, activation="sigmoid")],
                     name="decoder")


class VAE(Model):
    def __init__(self, encoder, decoder):
        super().__init__()
        self.encoder, self.decoder = encoder, decoder
        # Trackers of its own, listed in `metrics` so that fit resets them each epoch (evaluate at its start).
        self.loss_tracker = Mean(name="loss")
        self.reconstruction_tracker = Mean(name="reconstruction_loss")
        self.kl_tracker = Mean(name="kl_loss")

    @property
    def metrics(self):
        return [self.loss_tracker, self.reconstruction_tracker, self.kl_tracker]

    def call(self, x):
        """The reconstruction of x from its mean code μ (what predict gives)."""
        mean, _ = self.encoder(x).chunk(2, dim=-1)
        return self.decoder(mean)

    def losses_of(self, x):
        mean, log_var = self.encoder(x).chunk(2, dim=-1)  # (B, LATENT) each
        z = mean + torch.exp(0.5 * log_var) * torch.randn_like(mean)
        x_hat = self.decoder(z)  # (B, 784)
        reconstruction = torch.nn.functional.binary_cross_entropy(x_hat, x, reduction="none").sum(1).mean()
        kl = (-0.5 * (1 + log_var - mean**2 - log_var.exp()).sum(1)).mean()
        return reconstruction + kl, reconstruction, kl

    def record(self, *values):
        for tracker, value in zip(self.metrics, values):
            tracker.update_state(value)
        return {m.name: m.result() for m in self.metrics}

    def train_step(self, data):
        x = data  # fit(x_train) with no labels: data is the batch of images
        self.zero_grad()
        loss, reconstruction, kl = self.losses_of(x)
        loss.backward()
        self.optimizer.apply([w.grad for w in self.trainable_weights], self.trainable_weights)
        return self.record(loss, reconstruction, kl)

    def test_step(self, data):
        return self.record(*self.losses_of(data))


vae = VAE(encoder, decoder)
vae.compile(optimizer="adam")  # no loss: train_step computes it
vae.fit(x_train, epochs=args.epochs, batch_size=128)

test = vae.evaluate(x_test, verbose=0, return_dict=True)
mean_image = np.clip(x_train.mean(0), 1e-7, 1 - 1e-7)
baseline = -(x_test * np.log(mean_image) + (1 - x_test) * np.log(1 - mean_image)).sum(1).mean()
print(f"test reconstruction loss: {test['reconstruction_loss']:.1f}")
print(f"test KL loss: {test['kl_loss']:.2f}")
print(f"mean-image baseline: {baseline:.1f}")
reconstructed = vae.predict(x_test[:5])
for i, (x, x_hat) in enumerate(zip(x_test[:5], reconstructed)):
    print(f"test image {i}: mean squared pixel error {np.mean((x - x_hat) ** 2):.4f}")
