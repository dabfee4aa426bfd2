"""Accuracy bounds for the row-wise MNIST recipes and examples on a small slice.

One epoch on the first 6,000 training images (5,400 after the validation
split: 43 Adam steps, the cosine-decayed rate reaching 0 at the end), tested
on the first 1,200 test images. Measured 2026-11-23 on 2 CPU cores with
``brainnet run RECIPE --epochs 1 --limit 6000 --seed S`` for seeds 0, 1, 2:

    mnist-lstm         0.398, 0.378, 0.403
    mnist-attention    0.482, 0.542, 0.495
    mnist-transformer  0.400, 0.291, 0.390   (measured 2026-12-05)

Chance is 0.10; a broken pipeline (labels shuffled against images, rows
scrambled, no learning) stays near it. The bounds sit below every seed.
mnist-transformer reached 0.462, 0.398, 0.497 while MultiHeadAttention drew
its kernels with smaller fans than Keras's (for d = 64, 4 heads of 16: a
glorot limit of 0.217, Keras's is 0.068); with Keras's fans (2026-12-05)
its first epoch learns a little more slowly, so its bound went from 0.30
to 0.25.
"""

SEQUENCE_LSTM_MIN = 0.30
SEQUENCE_ATTENTION_MIN = 0.40
SEQUENCE_TRANSFORMER_MIN = 0.25

# The challenge recipes (tests/test_challenges.py), measured 2026-11-23 on 2
# shared CPU cores, OMP_NUM_THREADS=1, seeds 0, 1, 2.
#
# `brainnet run mnist-small-data --limit 1000 --epochs 10 --seed S`: 600
# training images (60 per digit), tested on the first 200 test images. Ten
# epochs (100 SGD steps) are far from the recipe's 150, and the augmented
# model, which sees new variants of each digit every epoch, has not yet
# pulled ahead (at 150 epochs it gains 3.4-4.9 points on the full test set):
#
#     plain      0.905, 0.945, 0.915
#     augmented  0.910, 0.915, 0.915
#
# `brainnet run mnist-two-input --limit 6000 --epochs 1 --seed S`: one epoch
# on 5,400 images, tested on the first 1,200:
#
#     joint (image + columns)  0.718, 0.823, 0.820
#     image branch alone       0.781, 0.847, 0.823
#     column branch alone      0.401, 0.432, 0.416   (an LSTM learns slowly at first)
#
# Chance is 0.10. The bounds sit below every seed.
SMALL_DATA_PLAIN_MIN = 0.80
SMALL_DATA_AUGMENTED_MIN = 0.80
TWO_INPUT_JOINT_MIN = 0.60
TWO_INPUT_IMAGE_MIN = 0.65
TWO_INPUT_COLUMNS_MIN = 0.30
