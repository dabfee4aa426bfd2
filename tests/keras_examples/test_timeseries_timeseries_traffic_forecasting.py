"""keras.io example "Traffic forecasting using graph neural networks and LSTM"
(https://keras.io/examples/timeseries/timeseries_traffic_forecasting/), its
Keras 3 version, ported as a learner would: ``import brainnet as keras`` and
``from brainnet import layers`` in place of the Keras imports, ``keras.ops``
and the TensorFlow calls written as torch calls: ``ops.matmul`` is
``torch.matmul``, ``ops.concatenate(xs, axis=-1)`` is ``torch.cat(xs,
dim=-1)``, ``ops.transpose(x, perm)`` is ``torch.permute(x, perm)``,
``ops.reshape`` is ``torch.reshape``, ``tf.gather(x, idx)`` is ``x[idx]``,
``tf.math.unsorted_segment_sum(x, ids, n)`` is ``x.new_zeros((n,
*x.shape[1:])).index_add(0, ids, x)`` and ``unsorted_segment_mean`` /
``unsorted_segment_max`` are ``index_reduce(0, ids, x, "mean" / "amax",
include_self=False)`` on the same zeros (an empty segment gives 0, as
TensorFlow's mean does; TensorFlow's max gives the lowest float there).
``tf.data.Dataset.zip((inputs, targets))`` of the two
``keras.utils.timeseries_dataset_from_array`` loaders, then ``.shuffle(100)``
and ``.cache()``, is the zipped batches kept in a list and handed to ``fit``
as ``torch.utils.data.DataLoader(batches, batch_size=None,
shuffle=shuffle)`` (the batches' order drawn again each epoch, where the
cache after the shuffle replays its first order); ``next(test_dataset.
as_numpy_iterator())`` is the loader's first batch as NumPy arrays.

PeMSD7 (a zip of ``W_228.csv``, the distances between 228 stations, and
``V_228.csv``, their speeds every 5 minutes, downloaded from GitHub) is
replaced by the two CSV files written by the test in their format, read by
``pd.read_csv`` as written: 16 stations along a road (about 0.8 to 1.3 km
apart, so that the example's Gaussian-kernel threshold links each to its
nearest neighbours) and 10 weekdays of speeds: a free-flow speed with a
morning and an evening rush hour that reach each station a little later
than the one before it, plus a slowdown that decays and diffuses between
neighbouring stations (``a_{t+1} = 0.9 a_t + 0.3 (mean of the neighbours' a_t
- a_t) + noise``), plus measurement noise. Shortened for CI: 10 of the 16
stations sampled (26 of 228 in the example), 10 epochs in place of 20 (the
early stop kept), 32 LSTM units in place of 64, RMSprop's learning rate
0.002 in place of 0.0002 (on these 22 batches an epoch, 0.0002 leaves the
loss falling steeply after 8 epochs and the forecast 3 steps ahead worse than
the naive one: mean squared errors 0.35 and 0.59 for two seeds against 0.15,
where 0.002 gives 0.10); the plots are left out.

The example's last section compares ``y_pred[:, 0, :]`` (the forecast for
the first step ahead: the model is trained with ``multi_horizon=True``) with
``y[:, 0, :]`` (the speed 3 steps ahead: the test set is made with
``multi_horizon=False``), and names the mean squared errors "MAE"; the port
computes that as written and checks the like-for-like comparison,
``y_pred[:, -1, :]`` (the forecast 3 steps ahead), against the naive
forecast.

Each test names the section it runs and checks what it computes: the
adjacency matrix against the threshold written out for each pair, the
datasets' windows against slices of the series, ``GraphConv`` against a
NumPy version of its equation for the three aggregations and both
combinations, ``LSTMGC``'s shapes and its output against its layers run
node by node, and training that lowers the loss and beats the naive
last-value forecast on the held-out test windows.
"""

from __future__ import annotations

import os
import typing

import numpy as np
import pandas as pd
import pytest
import torch

import brainnet as keras
from brainnet import layers

NUM_STATIONS = 16
STEPS_PER_DAY = 288  # a speed every 5 minutes
sample_routes = [0, 1, 2, 3, 5, 7, 8, 9, 11, 13]  # 10 of the 16 stations, as the example picks 26 of 228

# torch's index_reduce (unsorted_segment_mean and _max below) warns that its API is in beta
pytestmark = pytest.mark.filterwarnings("ignore:index_reduce\\(\\) is in beta")


def _write_pems_like(folder: str, days: int = 10, seed: int = 7) -> None:
    """``W_228.csv`` (metres between stations) and ``V_228.csv`` (speeds, one column a station) in PeMSD7's format."""
    rng = np.random.default_rng(seed)
    position = np.cumsum(rng.uniform(800, 1300, NUM_STATIONS))  # metres along the road
    distances = np.abs(position[:, None] - position[None, :])
    pd.DataFrame(distances).to_csv(os.path.join(folder, "W_228.csv"), header=False, index=False)

    t = np.arange(days * STEPS_PER_DAY)
    hour = 24 * (t % STEPS_PER_DAY) / STEPS_PER_DAY
    lag = 0.1 * np.arange(NUM_STATIONS)  # the rush hour reaches each station 6 minutes after the one before
    h = hour[:, None] - lag[None, :]  # (T, stations)
    base = 65 - 25 * np.exp(-(((h - 8) / 1.0) ** 2)) - 30 * np.exp(-(((h - 17.5) / 1.2) ** 2))
    near = (distances < 2633) & (distances > 0)  # the stations the example's threshold will link
    mean_of_neighbours = near / near.sum(axis=1, keepdims=True)
    slowdown = np.zeros((len(t), NUM_STATIONS))
    for i in range(1, len(t)):
        a = slowdown[i - 1]
        slowdown[i] = 0.9 * a + 0.3 * (mean_of_neighbours @ a - a) + rng.normal(0, 1.5, NUM_STATIONS)
    speeds = base + slowdown + rng.normal(0, 0.5, (len(t), NUM_STATIONS))
    pd.DataFrame(speeds).to_csv(os.path.join(folder, "V_228.csv"), header=False, index=False, float_format="%.3f")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    folder = str(tmp_path_factory.mktemp("PeMS-M"))
    _write_pems_like(folder)
    return folder


def load(data_dir):
    """Section "Loading data" and "sub-sampling roads", as written."""
    route_distances = pd.read_csv(os.path.join(data_dir, "W_228.csv"), header=None).to_numpy()
    speeds_array = pd.read_csv(os.path.join(data_dir, "V_228.csv"), header=None).to_numpy()
    route_distances = route_distances[np.ix_(sample_routes, sample_routes)]
    speeds_array = speeds_array[:, sample_routes]
    return route_distances, speeds_array


train_size, val_size = 0.5, 0.2


def preprocess(data_array: np.ndarray, train_size: float, val_size: float):
    num_time_steps = data_array.shape[0]
    num_train, num_val = (
        int(num_time_steps * train_size),
        int(num_time_steps * val_size),
    )
    train_array = data_array[:num_train]
    mean, std = train_array.mean(axis=0), train_array.std(axis=0)

    train_array = (train_array - mean) / std
    val_array = (data_array[num_train : (num_train + num_val)] - mean) / std
    test_array = (data_array[(num_train + num_val) :] - mean) / std

    return train_array, val_array, test_array


batch_size = 64
input_sequence_length = 12
forecast_horizon = 3
multi_horizon = False


def create_tf_dataset(
    data_array: np.ndarray,
    input_sequence_length: int,
    forecast_horizon: int,
    batch_size: int = 128,
    shuffle=True,
    multi_horizon=True,
):
    inputs = keras.utils.timeseries_dataset_from_array(
        np.expand_dims(data_array[:-forecast_horizon], axis=-1),
        None,
        sequence_length=input_sequence_length,
        shuffle=False,
        batch_size=batch_size,
    )

    target_offset = (
        input_sequence_length
        if multi_horizon
        else input_sequence_length + forecast_horizon - 1
    )
    target_seq_length = forecast_horizon if multi_horizon else 1
    targets = keras.utils.timeseries_dataset_from_array(
        data_array[target_offset:],
        None,
        sequence_length=target_seq_length,
        shuffle=False,
        batch_size=batch_size,
    )

    # tf.data.Dataset.zip((inputs, targets)), .shuffle(100), .prefetch(16).cache()
    dataset = list(zip(inputs, targets))
    return torch.utils.data.DataLoader(dataset, batch_size=None, shuffle=shuffle)


def compute_adjacency_matrix(
    route_distances: np.ndarray, sigma2: float, epsilon: float
):
    num_routes = route_distances.shape[0]
    route_distances = route_distances / 10000.0
    w2, w_mask = (
        route_distances * route_distances,
        np.ones([num_routes, num_routes]) - np.identity(num_routes),
    )
    return (np.exp(-w2 / sigma2) >= epsilon) * w_mask


class GraphInfo:
    def __init__(self, edges: typing.Tuple[list, list], num_nodes: int):
        self.edges = edges
        self.num_nodes = num_nodes


sigma2 = 0.1
epsilon = 0.5


def make_graph(route_distances):
    """Section "Roads Graph", as written."""
    adjacency_matrix = compute_adjacency_matrix(route_distances, sigma2, epsilon)
    node_indices, neighbor_indices = np.where(adjacency_matrix == 1)
    graph = GraphInfo(
        edges=(node_indices.tolist(), neighbor_indices.tolist()),
        num_nodes=adjacency_matrix.shape[0],
    )
    return adjacency_matrix, graph


# tf.math.unsorted_segment_sum / _mean / _max as torch calls
def unsorted_segment_sum(data, segment_ids, num_segments):
    ids = torch.as_tensor(segment_ids, device=data.device)
    return data.new_zeros((num_segments, *data.shape[1:])).index_add(0, ids, data)


def unsorted_segment_mean(data, segment_ids, num_segments):
    ids = torch.as_tensor(segment_ids, device=data.device)
    return data.new_zeros((num_segments, *data.shape[1:])).index_reduce(0, ids, data, "mean", include_self=False)


def unsorted_segment_max(data, segment_ids, num_segments):
    ids = torch.as_tensor(segment_ids, device=data.device)
    return data.new_zeros((num_segments, *data.shape[1:])).index_reduce(0, ids, data, "amax", include_self=False)


class GraphConv(layers.Layer):
    def __init__(
        self,
        in_feat,
        out_feat,
        graph_info: GraphInfo,
        aggregation_type="mean",
        combination_type="concat",
        activation: typing.Optional[str] = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.in_feat = in_feat
        self.out_feat = out_feat
        self.graph_info = graph_info
        self.aggregation_type = aggregation_type
        self.combination_type = combination_type
        self.weight = self.add_weight(
            initializer=keras.initializers.GlorotUniform(),
            shape=(in_feat, out_feat),
            dtype="float32",
            trainable=True,
        )
        self.activation = layers.Activation(activation)

    def aggregate(self, neighbour_representations):
        aggregation_func = {
            "sum": unsorted_segment_sum,
            "mean": unsorted_segment_mean,
            "max": unsorted_segment_max,
        }.get(self.aggregation_type)

        if aggregation_func:
            return aggregation_func(
                neighbour_representations,
                self.graph_info.edges[0],
                num_segments=self.graph_info.num_nodes,
            )

        raise ValueError(f"Invalid aggregation type: {self.aggregation_type}")

    def compute_nodes_representation(self, features):
        return torch.matmul(features, self.weight)

    def compute_aggregated_messages(self, features):
        neighbour_representations = features[self.graph_info.edges[1]]  # tf.gather
        aggregated_messages = self.aggregate(neighbour_representations)
        return torch.matmul(aggregated_messages, self.weight)

    def update(self, nodes_representation, aggregated_messages):
        if self.combination_type == "concat":
            h = torch.cat([nodes_representation, aggregated_messages], dim=-1)
        elif self.combination_type == "add":
            h = nodes_representation + aggregated_messages
        else:
            raise ValueError(f"Invalid combination type: {self.combination_type}.")
        return self.activation(h)

    def call(self, features):
        nodes_representation = self.compute_nodes_representation(features)
        aggregated_messages = self.compute_aggregated_messages(features)
        return self.update(nodes_representation, aggregated_messages)


class LSTMGC(layers.Layer):
    """Layer comprising a convolution layer followed by LSTM and dense layers."""

    def __init__(
        self,
        in_feat,
        out_feat,
        lstm_units: int,
        input_seq_len: int,
        output_seq_len: int,
        graph_info: GraphInfo,
        graph_conv_params: typing.Optional[dict] = None,
        **kwargs,
    ):
        super().__init__(**kwargs)

        # graph conv layer
        if graph_conv_params is None:
            graph_conv_params = {
                "aggregation_type": "mean",
                "combination_type": "concat",
                "activation": None,
            }
        self.graph_conv = GraphConv(in_feat, out_feat, graph_info, **graph_conv_params)

        self.lstm = layers.LSTM(lstm_units, activation="relu")
        self.dense = layers.Dense(output_seq_len)

        self.input_seq_len, self.output_seq_len = input_seq_len, output_seq_len

    def call(self, inputs):
        # convert shape to  (num_nodes, batch_size, input_seq_len, in_feat)
        inputs = torch.permute(inputs, (2, 0, 1, 3))

        gcn_out = self.graph_conv(inputs)  # gcn_out has shape: (num_nodes, batch_size, input_seq_len, out_feat)
        shape = gcn_out.shape
        num_nodes, batch_size, input_seq_len, out_feat = (
            shape[0],
            shape[1],
            shape[2],
            shape[3],
        )

        # LSTM takes only 3D tensors as input
        gcn_out = torch.reshape(gcn_out, (batch_size * num_nodes, input_seq_len, out_feat))
        lstm_out = self.lstm(gcn_out)  # lstm_out has shape: (batch_size * num_nodes, lstm_units)

        dense_output = self.dense(lstm_out)  # dense_output has shape: (batch_size * num_nodes, output_seq_len)
        output = torch.reshape(dense_output, (num_nodes, batch_size, self.output_seq_len))
        return torch.permute(output, (1, 2, 0))  # returns Tensor of shape (batch_size, output_seq_len, num_nodes)


in_feat = 1
epochs = 10  # 20 in the example
out_feat = 10
lstm_units = 32  # 64 in the example
graph_conv_params = {
    "aggregation_type": "mean",
    "combination_type": "concat",
    "activation": None,
}


def test_the_adjacency_matrix_links_the_stations_within_the_kernel_threshold(data_dir):
    """Sections "Loading data", "sub-sampling roads" and "Roads Graph"."""
    route_distances, speeds_array = load(data_dir)
    assert route_distances.shape == (10, 10) and speeds_array.shape == (10 * STEPS_PER_DAY, 10)
    adjacency_matrix, graph = make_graph(route_distances)
    for i in range(10):
        for j in range(10):
            w = route_distances[i, j] / 10000.0
            assert adjacency_matrix[i, j] == float(i != j and np.exp(-w * w / sigma2) >= epsilon)
    assert graph.num_nodes == 10
    assert list(zip(*graph.edges)) == [(i, j) for i in range(10) for j in range(10) if adjacency_matrix[i, j]]
    # a road: every station has a neighbour, none is linked to all
    degree = adjacency_matrix.sum(axis=1)
    assert degree.min() >= 1 and degree.max() < 9


def test_the_datasets_pair_each_window_with_the_speeds_after_it(data_dir):
    """Sections "Splitting and normalizing data" and "Creating TensorFlow Datasets"."""
    _, speeds_array = load(data_dir)
    train_array, val_array, test_array = preprocess(speeds_array, train_size, val_size)
    assert (len(train_array), len(val_array), len(test_array)) == (1440, 576, 864)
    np.testing.assert_allclose(train_array.mean(axis=0), 0, atol=1e-9)
    np.testing.assert_allclose(train_array.std(axis=0), 1, atol=1e-9)

    train_dataset = create_tf_dataset(train_array, input_sequence_length, forecast_horizon, batch_size)
    x, y = next(iter(create_tf_dataset(train_array, input_sequence_length, forecast_horizon, batch_size,
                                       shuffle=False)))
    assert x.shape == (batch_size, input_sequence_length, 10, 1) and y.shape == (batch_size, forecast_horizon, 10)
    for i in (0, 17, batch_size - 1):
        np.testing.assert_allclose(x[i, :, :, 0].numpy(), train_array[i: i + 12])
        np.testing.assert_allclose(y[i].numpy(), train_array[i + 12: i + 15])  # multi_horizon: the next 3 steps
    windows = len(train_array) - input_sequence_length - forecast_horizon + 1
    assert sum(len(xb) for xb, _ in train_dataset) == windows

    test_dataset = create_tf_dataset(test_array, input_sequence_length, forecast_horizon,
                                     batch_size=test_array.shape[0], shuffle=False, multi_horizon=multi_horizon)
    x_test, y = (t.numpy() for t in next(iter(test_dataset)))  # next(test_dataset.as_numpy_iterator())
    assert x_test.shape == (len(test_array) - 14, 12, 10, 1) and y.shape == (len(test_array) - 14, 1, 10)
    np.testing.assert_allclose(y[:, 0], test_array[14:])  # not multi_horizon: the speed 3 steps ahead only
    np.testing.assert_allclose(x_test[:, -1, :, 0], test_array[11:-3])


def _numpy_graph_conv(x, w, edges, num_nodes, aggregation, combination):
    """y_i = f(x_i W ⊕ agg_{j: (i, j) an edge} x_j W), ⊕ concatenation or sum, agg over nothing = 0."""
    own = x @ w
    messages = np.zeros_like(own)
    for i in range(num_nodes):
        neighbours = [j for a, j in zip(*edges) if a == i]
        if neighbours:
            gathered = np.stack([x[j] for j in neighbours])
            reduced = {"sum": gathered.sum(0), "mean": gathered.mean(0), "max": gathered.max(0)}[aggregation]
            messages[i] = reduced @ w
    return np.concatenate([own, messages], axis=-1) if combination == "concat" else own + messages


@pytest.mark.parametrize("aggregation_type", ["sum", "mean", "max"])
@pytest.mark.parametrize("combination_type", ["concat", "add"])
def test_graph_conv_computes_its_equation_in_numpy(aggregation_type, combination_type):
    """Section "Graph convolution layer", on a small graph with a node that has no neighbour."""
    rng = np.random.default_rng(0)
    edges = ([0, 0, 1, 2, 2, 3], [1, 2, 0, 0, 3, 2])  # node 4 has no neighbour
    graph = GraphInfo(edges=edges, num_nodes=5)
    layer = GraphConv(2, 3, graph, aggregation_type, combination_type, activation="relu")
    x = rng.normal(size=(5, 4, 6, 2)).astype("float32")  # (num_nodes, batch_size, input_seq_len, in_feat)
    got = layer(torch.from_numpy(x)).detach().numpy()
    w = layer.weight.detach().double().numpy()
    assert w.shape == (2, 3) and [v.shape for v in layer.trainable_weights] == [(2, 3)]
    assert isinstance(layer.activation, layers.Activation)  # the layer assigned in __init__
    want = np.maximum(_numpy_graph_conv(x.astype("float64"), w, edges, 5, aggregation_type, combination_type), 0)
    assert got.shape == (5, 4, 6, 6 if combination_type == "concat" else 3)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    # the gradient reaches the weight through both the node's own term and its neighbours' messages
    layer(torch.from_numpy(x)).sum().backward()
    assert layer.weight.grad is not None and torch.all(torch.isfinite(layer.weight.grad))


def test_graph_conv_refuses_an_unknown_aggregation_as_written():
    graph = GraphInfo(edges=([0], [1]), num_nodes=2)
    with pytest.raises(ValueError, match="Invalid aggregation type: median"):
        GraphConv(1, 2, graph, aggregation_type="median")(torch.zeros(2, 1, 3, 1))


def test_lstmgc_runs_the_lstm_and_dense_on_each_node_of_each_window(data_dir):
    """Section "LSTM plus graph convolution": shapes, and the output against its layers run node by node."""
    route_distances, _ = load(data_dir)
    _, graph = make_graph(route_distances)
    keras.utils.set_random_seed(1)
    st_gcn = LSTMGC(in_feat, out_feat, lstm_units, input_sequence_length, forecast_horizon, graph, graph_conv_params)
    inputs = layers.Input((input_sequence_length, graph.num_nodes, in_feat))
    outputs = st_gcn(inputs)
    assert tuple(outputs.shape) == (None, forecast_horizon, graph.num_nodes)
    model = keras.models.Model(inputs, outputs)
    assert model.count_params() == (1 * 10) + 4 * ((20 + 32) * 32 + 32) + (32 * 3 + 3)

    x = torch.from_numpy(np.random.default_rng(2).normal(size=(5, 12, 10, 1)).astype("float32"))
    got = model.predict(x.numpy(), verbose=0)
    assert got.shape == (5, 3, 10)
    with torch.no_grad():
        gcn = st_gcn.graph_conv(torch.permute(x, (2, 0, 1, 3)))  # (nodes, batch, time, 2 * out_feat)
        for node in (0, 4, 9):
            want = st_gcn.dense(st_gcn.lstm(gcn[node])).numpy()  # (batch, horizon)
            np.testing.assert_allclose(got[:, :, node], want, rtol=1e-4, atol=1e-6)


def test_the_model_beats_the_naive_forecast_on_the_test_windows(data_dir):
    """Sections "Model training" and "Making forecasts on test set"."""
    route_distances, speeds_array = load(data_dir)
    _, graph = make_graph(route_distances)
    train_array, val_array, test_array = preprocess(speeds_array, train_size, val_size)
    train_dataset, val_dataset = (
        create_tf_dataset(data_array, input_sequence_length, forecast_horizon, batch_size)
        for data_array in [train_array, val_array]
    )
    test_dataset = create_tf_dataset(
        test_array,
        input_sequence_length,
        forecast_horizon,
        batch_size=test_array.shape[0],
        shuffle=False,
        multi_horizon=multi_horizon,
    )

    keras.utils.set_random_seed(3)
    st_gcn = LSTMGC(
        in_feat,
        out_feat,
        lstm_units,
        input_sequence_length,
        forecast_horizon,
        graph,
        graph_conv_params,
    )
    inputs = layers.Input((input_sequence_length, graph.num_nodes, in_feat))
    outputs = st_gcn(inputs)

    model = keras.models.Model(inputs, outputs)
    model.compile(
        optimizer=keras.optimizers.RMSprop(learning_rate=0.002),  # 0.0002 in the example
        loss=keras.losses.MeanSquaredError(),
    )
    history = model.fit(
        train_dataset,
        validation_data=val_dataset,
        epochs=epochs,
        callbacks=[keras.callbacks.EarlyStopping(patience=10)],
        verbose=0,
    )
    loss = history.history["loss"]
    assert len(loss) == epochs and loss[-1] < 0.5 * loss[0]
    assert history.history["val_loss"][-1] < history.history["val_loss"][0]

    x_test, y = (t.numpy() for t in next(iter(test_dataset)))  # next(test_dataset.as_numpy_iterator())
    y_pred = model.predict(x_test, verbose=0)
    assert y_pred.shape == (len(x_test), forecast_horizon, graph.num_nodes)

    naive_mse, model_mse = (
        np.square(x_test[:, -1, :, 0] - y[:, 0, :]).mean(),
        np.square(y_pred[:, 0, :] - y[:, 0, :]).mean(),
    )
    print(f"naive MAE: {naive_mse}, model MAE: {model_mse}")  # as written: the 1-step forecast, 3-step truth
    # like for like: the forecast 3 steps ahead against the speed 3 steps ahead
    model_mse_3_steps = np.square(y_pred[:, -1, :] - y[:, 0, :]).mean()
    print(f"model MSE of the forecast 3 steps ahead: {model_mse_3_steps}")
    assert model_mse_3_steps < 0.8 * naive_mse
