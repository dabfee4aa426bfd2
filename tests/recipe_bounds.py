"""Accuracy bounds for the row-wise MNIST recipes and examples on a small slice.

One epoch on the first 6,000 training images (5,400 after the validation
split: 43 Adam steps, the cosine-decayed rate reaching 0 at the end), tested
on the first 1,200 test images. Measured 2026-11-23 on 2 CPU cores with
``brainnet run RECIPE --epochs 1 --limit 6000 --seed S`` for seeds 0, 1, 2:

    mnist-lstm         0.398, 0.378, 0.403
    mnist-attention    0.482, 0.542, 0.495
    mnist-transformer  0.462, 0.398, 0.497

Chance is 0.10; a broken pipeline (labels shuffled against images, rows
scrambled, no learning) stays near it. The bounds sit below every seed.
"""

SEQUENCE_LSTM_MIN = 0.30
SEQUENCE_ATTENTION_MIN = 0.40
SEQUENCE_TRANSFORMER_MIN = 0.30
