"""keras.io example "Collaborative Filtering for Movie Recommendations"
(https://keras.io/examples/structured_data/collaborative_filtering_movielens/),
its Keras 3 version, ported as a learner would: ``import brainnet as keras``
and ``from brainnet import layers`` in place of the Keras imports,
``ops.tensordot(user_vector, movie_vector, 2)`` written as
``torch.tensordot(user_vector, movie_vector, 2)`` and ``ops.nn.sigmoid`` as
``torch.sigmoid``; the pandas code, the ``RecommenderNet`` subclass and the
recommendations as the example writes them (prints and the plot left out).

Replaced: MovieLens "ml-latest-small" cannot be downloaded here, so the test
writes an ml-latest-small.zip of the same layout (ratings.csv with userId,
movieId, rating, timestamp; movies.csv with movieId, title, genres) that the
example's own ``ZipFile`` code extracts in place of ``keras.utils.get_file``.
Its 20,000 ratings of 600 movies by 300 users (ids drawn from a large range,
so the example's encoding has work to do) come from hidden factors: a
rating is 3.2 + a user bias + a movie bias + half the dot product of
4-dimensional user and movie vectors + noise, rounded to MovieLens's half
stars in [0.5, 5]. Shortened for CI: 20,000 ratings in place of 100,836
(5 epochs of 282 steps in place of 1,418).

Two things run as Keras runs them, and the tests say so:

* ``ops.tensordot(a, b, 2)`` of two ``(batch, 50)`` matrices contracts both
  axes: one number, Σ_b u_b · m_b over the whole batch, that every rating of
  the batch gets; so a prediction depends on the batch it is in (the
  example's first version had a per-row ``layers.Dot(axes=1)``). The NumPy
  reference below computes exactly that.
* So the batch size changes the numbers: fit validates here with
  ``validation_batch_size=64``, the batches Keras validates in (fit's
  ``batch_size``; brainnet validates in batches of 256 unless told, see
  docs/keras.md), and the recommendations call ``predict`` with Keras's
  default ``batch_size=32``.

Each test names the section it runs and checks what it computes: the id
encoding and min-max scaling; the model's output against NumPy from its own
weights and the regularizers' penalty; training that lowers the loss and
validates better than predicting the mean rating; and recommendations that
are unwatched movies, the 10 the model rates highest, and better movies
(by the hidden movie bias) than the average unwatched one.
"""

from __future__ import annotations

from pathlib import Path
from zipfile import ZipFile

import numpy as np
import pandas as pd
import pytest
import torch

import brainnet as keras
from brainnet import layers

USERS, MOVIES, RATINGS, FACTORS = 300, 600, 20_000, 4


def _write_movielens_zip(folder: Path):
    """ml-latest-small.zip with ratings.csv and movies.csv from hidden factors; returns the hidden movie bias by id."""
    rng = np.random.default_rng(11)
    user_factors, movie_factors = rng.normal(size=(USERS, FACTORS)), rng.normal(size=(MOVIES, FACTORS))
    user_bias, movie_bias = rng.normal(0, 0.8, USERS), rng.normal(0, 1.0, MOVIES)
    pairs = rng.choice(USERS * MOVIES, size=RATINGS, replace=False)
    u, m = pairs // MOVIES, pairs % MOVIES
    raw = 3.2 + user_bias[u] + movie_bias[m] + 0.5 * np.sum(user_factors[u] * movie_factors[m], 1)
    raw += 0.4 * rng.normal(size=RATINGS)
    rating = np.clip(np.round(raw * 2) / 2, 0.5, 5.0)
    user_ids = rng.choice(np.arange(1, 5_000), USERS, replace=False)
    movie_ids = rng.choice(np.arange(1, 200_000), MOVIES, replace=False)
    order = rng.permutation(RATINGS)  # ratings.csv is not grouped by user
    ratings = pd.DataFrame({"userId": user_ids[u][order], "movieId": movie_ids[m][order],
                            "rating": rating[order], "timestamp": 964_982_703 + np.arange(RATINGS)})
    genres = np.array(["Comedy", "Drama", "Action|Adventure", "Sci-Fi", "Romance"])
    movies = pd.DataFrame({"movieId": movie_ids, "title": [f"Movie {i} ({1950 + i % 70})" for i in movie_ids],
                           "genres": genres[np.arange(MOVIES) % len(genres)]})
    zipped = folder / "ml-latest-small.zip"
    with ZipFile(zipped, "w") as z:
        z.writestr("ml-latest-small/ratings.csv", ratings.to_csv(index=False))
        z.writestr("ml-latest-small/movies.csv", movies.to_csv(index=False))
    return zipped, dict(zip(movie_ids, movie_bias))


@pytest.fixture(scope="module")
def movielens(tmp_path_factory):
    """Section "First, load the data and apply preprocessing", the download replaced by the test's zip."""
    movielens_zipped_file, hidden_movie_bias = _write_movielens_zip(tmp_path_factory.mktemp("datasets"))
    keras_datasets_path = Path(movielens_zipped_file).parents[0]
    movielens_dir = keras_datasets_path / "ml-latest-small"

    # Only extract the data the first time the script is run.
    if not movielens_dir.exists():
        with ZipFile(movielens_zipped_file, "r") as zip:
            zip.extractall(path=keras_datasets_path)

    ratings_file = movielens_dir / "ratings.csv"
    df = pd.read_csv(ratings_file)
    raw = df.copy()

    user_ids = df["userId"].unique().tolist()
    user2user_encoded = {x: i for i, x in enumerate(user_ids)}
    userencoded2user = {i: x for i, x in enumerate(user_ids)}
    movie_ids = df["movieId"].unique().tolist()
    movie2movie_encoded = {x: i for i, x in enumerate(movie_ids)}
    movie_encoded2movie = {i: x for i, x in enumerate(movie_ids)}
    df["user"] = df["userId"].map(user2user_encoded)
    df["movie"] = df["movieId"].map(movie2movie_encoded)

    num_users = len(user2user_encoded)
    num_movies = len(movie_encoded2movie)
    df["rating"] = df["rating"].values.astype(np.float32)
    # min and max ratings will be used to normalize the ratings later
    min_rating = min(df["rating"])
    max_rating = max(df["rating"])
    return dict(movielens_dir=movielens_dir, df=df, raw=raw, user2user_encoded=user2user_encoded,
                userencoded2user=userencoded2user, movie2movie_encoded=movie2movie_encoded,
                movie_encoded2movie=movie_encoded2movie, num_users=num_users, num_movies=num_movies,
                min_rating=min_rating, max_rating=max_rating, hidden_movie_bias=hidden_movie_bias)


@pytest.fixture(scope="module")
def split(movielens):
    """Section "Prepare training and validation data"."""
    min_rating, max_rating = movielens["min_rating"], movielens["max_rating"]
    df = movielens["df"].sample(frac=1, random_state=42)
    x = df[["user", "movie"]].values
    # Normalize the targets between 0 and 1. Makes it easy to train.
    y = (
        df["rating"]
        .apply(lambda x: (x - min_rating) / (max_rating - min_rating))
        .values
    )
    # Assuming training on 90% of the data and validating on 10%.
    train_indices = int(0.9 * df.shape[0])
    x_train, x_val, y_train, y_val = (
        x[:train_indices],
        x[train_indices:],
        y[:train_indices],
        y[train_indices:],
    )
    return df, x, y, x_train, x_val, y_train, y_val


EMBEDDING_SIZE = 50


class RecommenderNet(keras.Model):
    def __init__(self, num_users, num_movies, embedding_size, **kwargs):
        super().__init__(**kwargs)
        self.num_users = num_users
        self.num_movies = num_movies
        self.embedding_size = embedding_size
        self.user_embedding = layers.Embedding(
            num_users,
            embedding_size,
            embeddings_initializer="he_normal",
            embeddings_regularizer=keras.regularizers.l2(1e-6),
        )
        self.user_bias = layers.Embedding(num_users, 1)
        self.movie_embedding = layers.Embedding(
            num_movies,
            embedding_size,
            embeddings_initializer="he_normal",
            embeddings_regularizer=keras.regularizers.l2(1e-6),
        )
        self.movie_bias = layers.Embedding(num_movies, 1)

    def call(self, inputs):
        user_vector = self.user_embedding(inputs[:, 0])
        user_bias = self.user_bias(inputs[:, 0])
        movie_vector = self.movie_embedding(inputs[:, 1])
        movie_bias = self.movie_bias(inputs[:, 1])
        dot_user_movie = torch.tensordot(user_vector, movie_vector, 2)
        # Add all the components (including bias)
        x = dot_user_movie + user_bias + movie_bias
        # The sigmoid activation forces the rating to between 0 and 1
        return torch.sigmoid(x)


def _numpy_ratings(model, x):
    """sigmoid(Σ_b U[u_b] · M[m_b] + bu[u_i] + bm[m_i]) for each row i: the dot products of the
    whole batch summed (tensordot over both axes), then each row's own biases."""
    U = model.user_embedding.embeddings.detach().double().numpy()
    M = model.movie_embedding.embeddings.detach().double().numpy()
    bu = model.user_bias.embeddings.detach().double().numpy()
    bm = model.movie_bias.embeddings.detach().double().numpy()
    u, m = x[:, 0], x[:, 1]
    batch_dot = np.sum(U[u] * M[m])
    return 1 / (1 + np.exp(-(batch_dot + bu[u] + bm[m])))  # (B, 1)


def _bce(y, p):
    p = np.clip(p, 1e-7, 1 - 1e-7)
    return float(np.mean(-(y * np.log(p) + (1 - y) * np.log(1 - p))))


def test_ids_are_encoded_and_ratings_scaled_to_0_1(movielens, split):
    """Sections "First, load the data and apply preprocessing" and "Prepare training and validation data"."""
    df, raw = movielens["df"], movielens["raw"]
    assert (movielens["num_users"], movielens["num_movies"]) == (raw["userId"].nunique(), raw["movieId"].nunique())
    assert movielens["num_users"] <= USERS and movielens["num_movies"] <= MOVIES
    # ids in order of first appearance become 0, 1, 2, ...; the maps invert each other
    assert df["user"].iloc[0] == 0 and df["user"].max() == movielens["num_users"] - 1
    first_seen = raw["userId"].drop_duplicates().tolist()
    assert [movielens["userencoded2user"][i] for i in range(len(first_seen))] == first_seen
    assert all(movielens["movie_encoded2movie"][movielens["movie2movie_encoded"][k]] == k for k in raw["movieId"])
    assert (movielens["min_rating"], movielens["max_rating"]) == (0.5, 5.0)

    shuffled, x, y, x_train, x_val, y_train, y_val = split
    assert x.shape == (RATINGS, 2) and np.issubdtype(x.dtype, np.integer)
    assert len(x_train) == int(0.9 * RATINGS) and len(x_val) == RATINGS - int(0.9 * RATINGS)
    assert y.min() == 0.0 and y.max() == 1.0
    np.testing.assert_allclose(y * 4.5 + 0.5, shuffled["rating"].values, rtol=1e-6)
    assert sorted(shuffled.index) == list(range(RATINGS))  # a permutation of the rows
    assert shuffled.index[:5].tolist() == movielens["df"].sample(frac=1, random_state=42).index[:5].tolist()


def test_the_model_sums_the_batchs_dot_products_and_adds_each_rows_biases(movielens, split):
    """Section "Create the model": RecommenderNet's output against NumPy from its weights."""
    x_train = split[3]
    keras.utils.set_random_seed(0)
    model = RecommenderNet(movielens["num_users"], movielens["num_movies"], EMBEDDING_SIZE)
    batch = x_train[:64]
    with torch.no_grad():
        got = model(torch.from_numpy(batch)).double().numpy()
    assert got.shape == (64, 1)
    assert model.user_embedding.embeddings.shape == (movielens["num_users"], EMBEDDING_SIZE)
    assert model.movie_bias.embeddings.shape == (movielens["num_movies"], 1)
    np.testing.assert_allclose(got, _numpy_ratings(model, batch), rtol=1e-5, atol=1e-7)
    # the same row in another batch gets another rating: tensordot(…, 2) summed the batch
    with torch.no_grad():
        alone = model(torch.from_numpy(batch[:1])).double().numpy()
    np.testing.assert_allclose(alone, _numpy_ratings(model, batch[:1]), rtol=1e-5, atol=1e-7)
    assert abs(alone[0, 0] - got[0, 0]) > 1e-4
    # he_normal (Keras's fans: fan_in = the number of rows) and the l2 penalties of the two embeddings
    U = model.user_embedding.embeddings.detach().double().numpy()
    assert U.std() == pytest.approx(np.sqrt(2 / movielens["num_users"]), rel=0.1)
    M = model.movie_embedding.embeddings.detach().double().numpy()
    penalty = sum(float(v.detach()) for v in model.losses)
    assert penalty == pytest.approx(1e-6 * (np.sum(U**2) + np.sum(M**2)), rel=1e-5)


@pytest.fixture(scope="module")
def trained(movielens, split):
    """Section "Train the model based on the data split"."""
    _, _, _, x_train, x_val, y_train, y_val = split
    keras.utils.set_random_seed(42)
    model = RecommenderNet(movielens["num_users"], movielens["num_movies"], EMBEDDING_SIZE)
    model.compile(
        loss=keras.losses.BinaryCrossentropy(),
        optimizer=keras.optimizers.Adam(learning_rate=0.001),
    )
    history = model.fit(
        x=x_train,
        y=y_train,
        batch_size=64,
        epochs=5,
        verbose=0,
        validation_data=(x_val, y_val),
        validation_batch_size=64,  # Keras validates in fit's batch_size; brainnet's default is 256
    )
    return model, history


def test_training_lowers_the_loss_and_validates_better_than_the_mean_rating(split, trained):
    """Sections "Train the model based on the data split" and "Plot training and validation loss"."""
    _, _, _, _, x_val, y_train, y_val = split
    model, history = trained
    loss, val_loss = history.history["loss"], history.history["val_loss"]
    assert len(loss) == len(val_loss) == 5
    assert loss[-1] < loss[0] and val_loss[-1] < val_loss[0]
    # predicting the mean training rating for every pair scores this on the validation ratings
    mean_only = _bce(y_val, np.full_like(y_val, y_train.mean()))
    assert val_loss[-1] < mean_only - 0.01
    # the last val_loss is the BCE of the trained model's ratings, batch by batch of 64, plus the l2 penalties
    p = np.concatenate([_numpy_ratings(model, x_val[i:i + 64]) for i in range(0, len(x_val), 64)])[:, 0]
    penalty = 1e-6 * sum(np.sum(e.embeddings.detach().double().numpy() ** 2)
                         for e in (model.user_embedding, model.movie_embedding))
    assert val_loss[-1] == pytest.approx(_bce(y_val, p) + penalty, rel=1e-5)
    assert val_loss[-1] != pytest.approx(_bce(y_val, p), rel=1e-5)


def test_the_top_10_recommendations_are_unwatched_movies_the_model_rates_highest(movielens, split, trained):
    """Section "Show top 10 movie recommendations to a user"."""
    model, _ = trained
    df = split[0]
    movie2movie_encoded, user2user_encoded = movielens["movie2movie_encoded"], movielens["user2user_encoded"]
    movie_encoded2movie = movielens["movie_encoded2movie"]
    movie_df = pd.read_csv(movielens["movielens_dir"] / "movies.csv")

    # Let us get a user and see the top recommendations.
    user_id = df.userId.sample(1).iloc[0]
    movies_watched_by_user = df[df.userId == user_id]
    movies_not_watched = movie_df[
        ~movie_df["movieId"].isin(movies_watched_by_user.movieId.values)
    ]["movieId"]
    movies_not_watched = list(
        set(movies_not_watched).intersection(set(movie2movie_encoded.keys()))
    )
    movies_not_watched = [[movie2movie_encoded.get(x)] for x in movies_not_watched]
    user_encoder = user2user_encoded.get(user_id)
    user_movie_array = np.hstack(
        ([[user_encoder]] * len(movies_not_watched), movies_not_watched)
    )
    ratings = model.predict(user_movie_array, batch_size=32, verbose=0).flatten()  # Keras's default batch
    top_ratings_indices = ratings.argsort()[-10:][::-1]
    recommended_movie_ids = [
        movie_encoded2movie.get(movies_not_watched[x][0])
        for x in top_ratings_indices
    ]
    top_movies_user = (
        movies_watched_by_user.sort_values(by="rating", ascending=False)
        .head(5)
        .movieId.values
    )
    recommended_movies = movie_df[movie_df["movieId"].isin(recommended_movie_ids)]

    # predict ran the model on batches of 32: the NumPy ratings of those batches
    want = np.concatenate([_numpy_ratings(model, user_movie_array[i:i + 32])
                           for i in range(0, len(user_movie_array), 32)])[:, 0]
    np.testing.assert_allclose(ratings, want, rtol=1e-5, atol=1e-6)
    assert len(set(recommended_movie_ids)) == 10 and len(recommended_movies) == 10
    watched = set(movies_watched_by_user.movieId)
    assert not watched & set(recommended_movie_ids) and len(top_movies_user) == 5
    assert set(top_movies_user) <= watched
    assert np.min(ratings[top_ratings_indices]) >= np.max(np.delete(ratings, top_ratings_indices))
    # the model learned which movies are good: the hidden movie bias of its picks beats the unwatched average
    hidden = movielens["hidden_movie_bias"]
    unwatched_ids = [movie_encoded2movie[m[0]] for m in movies_not_watched]
    picked = np.mean([hidden[i] for i in recommended_movie_ids])
    assert picked > np.mean([hidden[i] for i in unwatched_ids]) + 0.5  # the movie biases have std 1
