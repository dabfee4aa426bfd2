"""keras.io example "Memory-efficient embeddings for recommendation systems"
(https://keras.io/examples/keras_recipes/memory_efficient_embeddings/), the
stored tf.keras version, ported as a learner would: ``import brainnet as
keras``, ``from brainnet import layers`` and ``brainnet.layers.StringLookup``
in place of the TensorFlow imports, the rest as the example writes it (the
``embedding_encoder`` of a ``StringLookup`` and an ``Embedding``, the
baseline dot-product model on two string inputs, the ``QREmbedding`` and
``MDEmbedding`` layers that take the strings themselves, Adam with mean
squared error and the MAE metric).

Replaced: the example downloads MovieLens 1M; here the ratings are made in
the test: 2,500 users and 1,000 movies (the example: 6,040 and 3,706; 2,500
is the fewest users for which its ``len(user_vocabulary) // 50`` buckets
still cover every user index in the quotient table), 40,000 ratings in place
of a million, each user and movie with 8 hidden factors, movies drawn with
Zipf-like popularity, and a rating of 1-5 from the users' and movies'
factors plus noise; the movie blocks by popularity are the first 100, the
next 300 and the rest (the example: 400, 1,300, the rest) with its 64, 32 and
16 dimensions. The CSV round trip is kept (``to_csv`` with ``sep="|"``), and
``tf.data.experimental.make_csv_dataset`` is ``pandas.read_csv`` into a dict
of columns and the ratings, which ``fit`` batches (``batch_size=128``,
shuffled) as the dataset did. The plots are left out.

Written for brainnet: ``tf.math.floordiv``/``floormod`` are
``torch.floor_divide``/``torch.remainder``; ``tf.zeros``, ``tf.expand_dims``
and ``tf.cast`` are their torch namesakes; MDEmbedding's
``tf.lookup.StaticHashTable(keys -> block, default_value=-1)`` is a
``StringLookup`` over the keys (index 0 for an unknown string) and a tensor
``[-1] + values`` indexed by it; and ``keras.activations.sigmoid(logits) * 5``
on the graph's symbolic tensor is ``layers.Lambda(lambda t:
keras.activations.sigmoid(t) * 5)`` (docs/keras.md: no torch functions on
symbolic tensors).

The tests check the QR and MD embeddings against NumPy on the layers'
weights, the parameter counts (the memory-efficient model several times
smaller), and that both models' training lowers the evaluation loss far
below the untrained model's.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

import brainnet as keras
from brainnet import layers
from brainnet.layers import StringLookup

NUM_USERS, NUM_MOVIES, NUM_RATINGS = 2500, 1000, 40000


def make_ratings_data(seed=0):
    """Stand-in for ml-1m/ratings.dat, after the example's processing:
    user_id "user_<n>", movie_id "movie_<n>", rating a float in 1..5."""
    rng = np.random.default_rng(seed)
    user_factors = rng.normal(size=(NUM_USERS, 8))
    movie_factors = rng.normal(size=(NUM_MOVIES, 8))
    popularity = 1.0 / np.arange(1, NUM_MOVIES + 1) ** 0.8
    movie_ids = rng.permutation(NUM_MOVIES)  # the popular movies are not the low ids
    users = rng.integers(0, NUM_USERS, NUM_RATINGS)
    movies = movie_ids[rng.choice(NUM_MOVIES, NUM_RATINGS, p=popularity / popularity.sum())]
    score = np.sum(user_factors[users] * movie_factors[movies], axis=1) / np.sqrt(8)
    rating = np.clip(np.round(3.5 + 1.2 * score + 0.3 * rng.normal(size=NUM_RATINGS)), 1, 5)
    ratings_data = pd.DataFrame({"user_id": users + 1, "movie_id": movies + 1, "rating": rating})
    ratings_data["movie_id"] = ratings_data["movie_id"].apply(lambda x: f"movie_{x}")
    ratings_data["user_id"] = ratings_data["user_id"].apply(lambda x: f"user_{x}")
    ratings_data["rating"] = ratings_data["rating"].apply(lambda x: float(x))
    return ratings_data


ratings_data = make_ratings_data()
csv_header = list(ratings_data.columns)
user_vocabulary = list(ratings_data.user_id.unique())
movie_vocabulary = list(ratings_data.movie_id.unique())
target_feature_name = "rating"
learning_rate = 0.001
batch_size = 128
num_epochs = 3
base_embedding_dim = 64


def get_dataset_from_csv(csv_file_path, batch_size=128, shuffle=True):
    """make_csv_dataset's (features, label) as a dict of columns and the labels."""
    data = pd.read_csv(csv_file_path, sep="|", header=None, names=csv_header)
    label = data.pop(target_feature_name).to_numpy("float32")
    return {name: data[name].to_numpy() for name in data.columns}, label


def run_experiment(model, csv_dir):
    # Compile the model.
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=keras.losses.MeanSquaredError(),
        metrics=[keras.metrics.MeanAbsoluteError(name="mae")],
    )
    # Read the training data.
    train_dataset = get_dataset_from_csv(csv_dir / "train_data.csv", batch_size)
    # Read the test data.
    eval_dataset = get_dataset_from_csv(csv_dir / "eval_data.csv", batch_size, shuffle=False)
    # Fit the model with the training data.
    history = model.fit(
        *train_dataset,
        batch_size=batch_size,
        shuffle=True,
        epochs=num_epochs,
        validation_data=eval_dataset,
        verbose=0,
    )
    return history


def embedding_encoder(vocabulary, embedding_dim, num_oov_indices=0, name=None):
    return keras.Sequential(
        [
            StringLookup(vocabulary=vocabulary, mask_token=None, num_oov_indices=num_oov_indices),
            layers.Embedding(input_dim=len(vocabulary) + num_oov_indices, output_dim=embedding_dim),
        ],
        name=f"{name}_embedding" if name else None,
    )


def rating_scale(logits):
    # Convert to rating scale (the example: keras.activations.sigmoid(logits) * 5).
    return layers.Lambda(lambda t: keras.activations.sigmoid(t) * 5)(logits)


def create_baseline_model():
    # Receive the user as an input.
    user_input = layers.Input(name="user_id", shape=(), dtype="string")
    # Get user embedding.
    user_embedding = embedding_encoder(vocabulary=user_vocabulary, embedding_dim=base_embedding_dim, name="user")(
        user_input
    )
    # Receive the movie as an input.
    movie_input = layers.Input(name="movie_id", shape=(), dtype="string")
    # Get embedding.
    movie_embedding = embedding_encoder(vocabulary=movie_vocabulary, embedding_dim=base_embedding_dim, name="movie")(
        movie_input
    )
    # Compute dot product similarity between user and movie embeddings.
    logits = layers.Dot(axes=1, name="dot_similarity")([user_embedding, movie_embedding])
    prediction = rating_scale(logits)
    # Create the model.
    model = keras.Model(inputs=[user_input, movie_input], outputs=prediction, name="baseline_model")
    return model


class QREmbedding(keras.layers.Layer):
    def __init__(self, vocabulary, embedding_dim, num_buckets, name=None):
        super().__init__(name=name)
        self.num_buckets = num_buckets

        self.index_lookup = StringLookup(vocabulary=vocabulary, mask_token=None, num_oov_indices=0)
        self.q_embeddings = layers.Embedding(num_buckets, embedding_dim)
        self.r_embeddings = layers.Embedding(num_buckets, embedding_dim)

    def call(self, inputs):
        # Get the item index.
        embedding_index = self.index_lookup(inputs)
        # Get the quotient index.
        quotient_index = torch.floor_divide(embedding_index, self.num_buckets)
        # Get the reminder index.
        remainder_index = torch.remainder(embedding_index, self.num_buckets)
        # Lookup the quotient_embedding using the quotient_index.
        quotient_embedding = self.q_embeddings(quotient_index)
        # Lookup the remainder_embedding using the remainder_index.
        remainder_embedding = self.r_embeddings(remainder_index)
        # Use multiplication as a combiner operation
        return quotient_embedding * remainder_embedding


class MDEmbedding(keras.layers.Layer):
    def __init__(self, blocks_vocabulary, blocks_embedding_dims, base_embedding_dim, name=None):
        super().__init__(name=name)
        self.num_blocks = len(blocks_vocabulary)

        # Create vocab to block lookup.
        keys = []
        values = []
        for block_idx, block_vocab in enumerate(blocks_vocabulary):
            keys.extend(block_vocab)
            values.extend([block_idx] * len(block_vocab))
        # tf.lookup.StaticHashTable(keys -> values, default_value=-1): index 0 is an unknown key
        self.vocab_to_block = StringLookup(vocabulary=keys, mask_token=None, num_oov_indices=1)
        self.block_of_index = torch.tensor([-1] + values)

        self.block_embedding_encoders = []
        self.block_embedding_projectors = []

        # Create block embedding encoders and projectors.
        for idx in range(self.num_blocks):
            vocabulary = blocks_vocabulary[idx]
            embedding_dim = blocks_embedding_dims[idx]
            block_embedding_encoder = embedding_encoder(vocabulary, embedding_dim, num_oov_indices=1)
            self.block_embedding_encoders.append(block_embedding_encoder)
            if embedding_dim == base_embedding_dim:
                self.block_embedding_projectors.append(layers.Lambda(lambda x: x))
            else:
                self.block_embedding_projectors.append(layers.Dense(units=base_embedding_dim))

    def call(self, inputs):
        # Get block index for each input item.
        block_indicies = self.block_of_index[self.vocab_to_block(inputs)]
        # Initialize output embeddings to zeros.
        embeddings = torch.zeros((inputs.shape[0], base_embedding_dim))
        # Generate embeddings from blocks.
        for idx in range(self.num_blocks):
            # Lookup embeddings from the current block.
            block_embeddings = self.block_embedding_encoders[idx](inputs)
            # Project embeddings to base_embedding_dim.
            block_embeddings = self.block_embedding_projectors[idx](block_embeddings)
            # Create a mask to filter out embeddings of items that do not belong to the current block.
            mask = torch.unsqueeze((block_indicies == idx).to(torch.float32), 1)
            # Set the embeddings for the items not belonging to the current block to zeros.
            block_embeddings = block_embeddings * mask
            # Add the block embeddings to the final embeddings.
            embeddings += block_embeddings

        return embeddings


movie_frequencies = ratings_data["movie_id"].value_counts()
sorted_movie_vocabulary = list(movie_frequencies.keys())

movie_blocks_vocabulary = [
    sorted_movie_vocabulary[:100],  # high popularity movies block (the example: 400)
    sorted_movie_vocabulary[100:400],  # normal popularity movies block (the example: 400 to 1,700)
    sorted_movie_vocabulary[400:],  # low popularity movies block
]

movie_blocks_embedding_dims = [64, 32, 16]

user_embedding_num_buckets = len(user_vocabulary) // 50


def create_memory_efficient_model():
    # Take the user as an input.
    user_input = layers.Input(name="user_id", shape=(), dtype="string")
    # Get user embedding.
    user_embedding = QREmbedding(
        vocabulary=user_vocabulary,
        embedding_dim=base_embedding_dim,
        num_buckets=user_embedding_num_buckets,
        name="user_embedding",
    )(user_input)

    # Take the movie as an input.
    movie_input = layers.Input(name="movie_id", shape=(), dtype="string")
    # Get embedding.
    movie_embedding = MDEmbedding(
        blocks_vocabulary=movie_blocks_vocabulary,
        blocks_embedding_dims=movie_blocks_embedding_dims,
        base_embedding_dim=base_embedding_dim,
        name="movie_embedding",
    )(movie_input)

    # Compute dot product similarity between user and movie embeddings.
    logits = layers.Dot(axes=1, name="dot_similarity")([user_embedding, movie_embedding])
    prediction = rating_scale(logits)
    # Create the model.
    model = keras.Model(inputs=[user_input, movie_input], outputs=prediction, name="baseline_model")
    return model


@pytest.fixture(scope="module")
def csv_dir(tmp_path_factory):
    """The example's "Create train and eval data splits", written as its CSV files."""
    np.random.seed(0)
    random_selection = np.random.rand(len(ratings_data.index)) <= 0.85
    train_data = ratings_data[random_selection]
    eval_data = ratings_data[~random_selection]
    path = tmp_path_factory.mktemp("movielens")
    train_data.to_csv(path / "train_data.csv", index=False, sep="|", header=False)
    eval_data.to_csv(path / "eval_data.csv", index=False, sep="|", header=False)
    return path


def test_the_made_ratings_and_their_csv_files(csv_dir):
    """Sections "Prepare the data" and "Create train and eval data splits"."""
    assert csv_header == ["user_id", "movie_id", "rating"]
    assert len(user_vocabulary) == NUM_USERS and len(movie_vocabulary) == NUM_MOVIES
    assert set(ratings_data.rating.unique()) <= {1.0, 2.0, 3.0, 4.0, 5.0} and ratings_data.rating.std() > 0.8
    x_train, y_train = get_dataset_from_csv(csv_dir / "train_data.csv")
    x_eval, y_eval = get_dataset_from_csv(csv_dir / "eval_data.csv", shuffle=False)
    assert len(y_train) + len(y_eval) == NUM_RATINGS and 0.83 < len(y_train) / NUM_RATINGS < 0.87
    assert sorted(x_train) == ["movie_id", "user_id"] and x_train["user_id"][0].startswith("user_")
    # popularity: the first block's 100 movies hold far more than a tenth of the ratings
    top = movie_frequencies[:100].sum() / NUM_RATINGS
    assert top > 0.3, top
    assert sum(map(len, movie_blocks_vocabulary)) == NUM_MOVIES


def test_qr_embedding_is_the_product_of_the_quotient_and_remainder_rows():
    """Section "Implement Quotient-Remainder embedding as a layer", against NumPy."""
    layer = QREmbedding(vocabulary=user_vocabulary, embedding_dim=8, num_buckets=user_embedding_num_buckets)
    users = np.array(["user_1", user_vocabulary[0], user_vocabulary[-1], user_vocabulary[1234]])
    out = layer(users).detach().numpy().astype(np.float64)
    index = np.array([user_vocabulary.index(u) for u in users])  # the StringLookup without OOV: 0, 1, ...
    q = layer.q_embeddings.embeddings.detach().numpy().astype(np.float64)
    r = layer.r_embeddings.embeddings.detach().numpy().astype(np.float64)
    expected = q[index // user_embedding_num_buckets] * r[index % user_embedding_num_buckets]
    np.testing.assert_allclose(out, expected, rtol=1e-6)
    # 50 × 50 buckets give every one of the 2,500 users its own pair of rows
    pairs = {(i // user_embedding_num_buckets, i % user_embedding_num_buckets) for i in range(NUM_USERS)}
    assert user_embedding_num_buckets == 50 and len(pairs) == NUM_USERS


def test_md_embedding_projects_each_block_to_the_base_dimension():
    """Section "Implement Mixed Dimension embedding as a layer", against NumPy."""
    keras.utils.set_random_seed(0)
    layer = MDEmbedding(movie_blocks_vocabulary, movie_blocks_embedding_dims, base_embedding_dim)
    movies = np.array([movie_blocks_vocabulary[b][i] for b, i in [(0, 0), (1, 5), (2, 17), (0, 99), (2, 0)]])
    out = layer(movies).detach().numpy().astype(np.float64)
    assert out.shape == (5, base_embedding_dim)
    for row, movie in zip(out, movies):
        block = next(b for b, vocab in enumerate(movie_blocks_vocabulary) if movie in vocab)
        table = layer.block_embedding_encoders[block].layers[1].embeddings.detach().numpy().astype(np.float64)
        vector = table[1 + movie_blocks_vocabulary[block].index(movie)]  # index 0 is the block's OOV row
        if movie_blocks_embedding_dims[block] != base_embedding_dim:  # Dense projection, else the identity Lambda
            dense = layer.block_embedding_projectors[block]
            vector = vector @ dense.kernel.detach().numpy().astype(np.float64) + dense.bias.detach().numpy()
        np.testing.assert_allclose(row, vector, rtol=1e-5, atol=1e-7)
    # an unknown movie is in no block: a vector of zeros
    np.testing.assert_array_equal(layer(np.array(["movie_0"])).detach().numpy(), 0.0)


def test_the_memory_efficient_model_is_several_times_smaller():
    """The two models' summaries: their trainable parameters."""
    baseline, efficient = create_baseline_model(), create_memory_efficient_model()
    assert baseline.count_params() == (NUM_USERS + NUM_MOVIES) * base_embedding_dim  # 224,000
    qr = 2 * user_embedding_num_buckets * base_embedding_dim
    md = sum((len(v) + 1) * d + (0 if d == base_embedding_dim else d * base_embedding_dim + base_embedding_dim)
             for v, d in zip(movie_blocks_vocabulary, movie_blocks_embedding_dims))
    assert efficient.count_params() == qr + md  # 26,944
    assert baseline.count_params() > 5 * efficient.count_params()
    printed = []
    efficient.summary(print_fn=printed.append)
    assert f"Trainable params: {qr + md:,}" in "\n".join(printed)


@pytest.mark.parametrize("create_model", [create_baseline_model, create_memory_efficient_model])
def test_training_lowers_the_evaluation_loss(create_model, csv_dir):
    """Sections "Experiment 1" and "Experiment 2": run_experiment on each model."""
    keras.utils.set_random_seed(0)
    model = create_model()
    x_eval, y_eval = get_dataset_from_csv(csv_dir / "eval_data.csv", shuffle=False)
    untrained = np.mean((model.predict(x_eval, verbose=0).reshape(-1) - y_eval) ** 2)
    history = run_experiment(model, csv_dir)
    loss, val_loss = history.history["loss"], history.history["val_loss"]
    assert len(loss) == num_epochs and loss[-1] < loss[0] and val_loss[-1] < val_loss[0], (loss, val_loss)
    predictions = model.predict(x_eval, verbose=0).reshape(-1)
    assert predictions.min() >= 0 and predictions.max() <= 5  # sigmoid × 5
    np.testing.assert_allclose(val_loss[-1], np.mean((predictions - y_eval) ** 2), rtol=1e-4)
    np.testing.assert_allclose(history.history["val_mae"][-1], np.mean(np.abs(predictions - y_eval)), rtol=1e-4)
    assert val_loss[-1] < 0.8 * untrained, (val_loss, untrained)  # here 0.73 (baseline) and 0.59 of it
