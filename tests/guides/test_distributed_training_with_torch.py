"""Keras 3's guide "Multi-GPU distributed training with PyTorch" (keras-io
guides/distributed_training_with_torch.py), ported as a learner would:
``import brainnet as keras``, the guide's model and loop otherwise as written,
on the CPU: 2 processes instead of one per GPU, the gloo backend instead of
nccl, ``device_ids=None`` in ``DistributedDataParallel`` and no ``.cuda()``,
``MASTER_ADDR`` 127.0.0.1 and a free port instead of a fixed one.

Shortened: 2,048 real MNIST training images instead of 60,000, 32 images per
process and step instead of 64, 2 epochs. The processes are started with
``torch.multiprocessing.start_processes`` as in the guide, but with
``start_method="spawn"`` instead of its ``"fork"`` (which it picks for
notebooks): a test process that has already run torch's threaded kernels
cannot be forked safely; spawn also pickles the arrays and the functions the
processes get, as a program's ``__main__`` would. The three multi-process
runs share one start (``sections`` below), each in its own process group.

What the tests check: after the guide's custom loop the two processes hold
the same weights, equal to those of one process trained in this test from
the same initial weights on the same global batches, each step's gradient
averaged over the same two halves, and their losses are those of one process
on the whole batches (tolerances below); the loss went down; ``ddp_model.train()`` makes the loop train dropout and batch
normalization, which the guide's loop, like Keras 3's, leaves in inference
mode; and the guide's ``keras.distribution`` section, which brainnet has no
namespace for, is refused with the fix, and the fix (``fit`` in each process
of the group) trains alike in both processes; the plain shuffled DataLoader
that section gives ``fit`` (Keras shards it) is refused with the
DistributedSampler recipe.

What the port found: the guide's first ``Conv2D`` (one input channel) made
DistributedDataParallel warn "Grad strides do not match bucket view strides"
in every process: the kernel is now made with its gradient's strides
(``tests/layers/test_convolution.py``), and the run here turns that warning
into an error. And ``keras.distribution`` gave a bare AttributeError.
"""

from __future__ import annotations

import json
import os
import re
import socket
import warnings
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
import torch

import brainnet as keras

NUM_PROCESSES = 2  # the guide: one per GPU
BATCH_SIZE = 32  # per process (the guide: 64)
NUM_EPOCHS = 2
SAMPLES = 2048
# DDP's gradient is the mean of the two processes' half-batch gradients,
# g0 / 2 + g1 / 2; one process that computes the same halves and averages
# them ends at the same weights. Measured on the 2-core development machine
# (torch 2.13, CPU, 1 thread): equal to the bit after 64 steps of Adam.
WEIGHTS_TOLERANCE = 1e-6
# One process on the whole batches of 64 (one mean over 64 images) rounds
# otherwise, and Adam, which divides each gradient by its running size,
# carries a float32 rounding of near-zero gradients up to the step size:
# after one step the weights are 4.5e-7 apart, after 64 steps 0.019, as far
# as the halves computed in one process are from the whole batch. The epoch
# losses stay close: measured 1.0e-4 and 6.8e-4 apart; with no all-reduce
# (rank 0's half batches alone) they are 0.028 and 0.27 apart.
LOSS_TOLERANCE = 5e-3


def get_model() -> keras.Model:
    """The guide's convnet with batch normalization and dropout, verbatim."""
    inputs = keras.Input(shape=(28, 28, 1))
    x = keras.layers.Rescaling(1.0 / 255.0)(inputs)
    x = keras.layers.Conv2D(filters=12, kernel_size=3, padding="same", use_bias=False)(x)
    x = keras.layers.BatchNormalization(scale=False, center=True)(x)
    x = keras.layers.ReLU()(x)
    x = keras.layers.Conv2D(filters=24, kernel_size=6, use_bias=False, strides=2)(x)
    x = keras.layers.BatchNormalization(scale=False, center=True)(x)
    x = keras.layers.ReLU()(x)
    x = keras.layers.Conv2D(filters=32, kernel_size=6, padding="same", strides=2, name="large_k")(x)
    x = keras.layers.BatchNormalization(scale=False, center=True)(x)
    x = keras.layers.ReLU()(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dense(256, activation="relu")(x)
    x = keras.layers.Dropout(0.5)(x)
    outputs = keras.layers.Dense(10)(x)
    model = keras.Model(inputs, outputs)
    return model


def get_compiled_model() -> keras.Model:
    """The guide's, verbatim."""
    model = get_model()
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[keras.metrics.SparseCategoricalAccuracy()],
    )
    return model


def get_dataset(x_train: np.ndarray, y_train: np.ndarray) -> torch.utils.data.TensorDataset:
    """The guide's preparation (float32 pixels 0–255, a channel axis, int64
    labels in a TensorDataset), on the arrays the test loaded once."""
    x_train = x_train.astype("float32")
    x_train = np.expand_dims(x_train, -1)
    return torch.utils.data.TensorDataset(torch.from_numpy(x_train), torch.from_numpy(y_train.astype("int64")))


def train_model(model, dataloader, num_epochs, optimizer, loss_fn) -> list[float]:
    """The guide's loop on the CPU (no ``.cuda()``); it also returns each
    epoch's mean loss, which the guide prints."""
    losses = []
    for epoch in range(num_epochs):
        running_loss = 0.0
        running_loss_count = 0
        for batch_idx, (inputs, targets) in enumerate(dataloader):
            # Forward pass
            outputs = model(inputs)
            loss = loss_fn(outputs, targets)

            # Backward and optimize
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

            running_loss += loss.item()
            running_loss_count += 1
        losses.append(running_loss / running_loss_count)
    return losses


def setup_device(current_index: int, num_processes: int, port: int) -> None:
    """The guide's, on the CPU: gloo, no ``torch.cuda.set_device`` (and a
    timeout, so that a broken run fails instead of hanging the suite)."""
    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    torch.distributed.init_process_group(
        backend="gloo", init_method="env://", world_size=num_processes, rank=current_index,
        timeout=timedelta(seconds=120),
    )


def cleanup() -> None:
    torch.distributed.destroy_process_group()


def prepare_dataloader(dataset, current_index, num_processes, batch_size):
    """The guide's, verbatim: each process reads every num_processes-th image."""
    sampler = torch.utils.data.distributed.DistributedSampler(
        dataset,
        num_replicas=num_processes,
        rank=current_index,
        shuffle=False,
    )
    dataloader = torch.utils.data.DataLoader(
        dataset,
        sampler=sampler,
        batch_size=batch_size,
        shuffle=False,
    )
    return dataloader


def per_device_launch_fn(current_index, num_processes, port, data, out, train_mode=False):
    """The guide's, on the CPU; it also writes what the tests check into
    ``out``. Each process draws other initial weights (seeded by its rank):
    DistributedDataParallel gives every process rank 0's. ``train_mode`` adds
    the ``ddp_model.train()`` a torch user writes before such a loop."""
    setup_device(current_index, num_processes, port)
    keras.utils.set_random_seed(100 + current_index)

    dataset = get_dataset(*data)
    model = get_model()
    dataloader = prepare_dataloader(dataset, current_index, num_processes, BATCH_SIZE)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()

    # Put model on device
    model = model.to("cpu")
    ddp_model = torch.nn.parallel.DistributedDataParallel(model, device_ids=None)
    if current_index == 0:
        torch.save(model.state_dict(), out / "initial.pt")
    if train_mode:
        ddp_model.train()

    losses = train_model(ddp_model, dataloader, NUM_EPOCHS, optimizer, loss_fn)

    torch.save(model.state_dict(), out / f"rank{current_index}.pt")
    modes = {layer.name: layer.training for layer in model.layers}
    if train_mode:  # one more forward pass, on the same images everywhere
        ddp_model(dataset[:BATCH_SIZE][0])
        torch.save(model.state_dict(), out / f"rank{current_index}_same_batch.pt")
    log = {"losses": losses, "modes": modes, "threads": torch.get_num_threads()}
    (out / f"rank{current_index}.json").write_text(json.dumps(log))
    cleanup()


def train_with_fit(current_index, num_processes, port, data, out):
    """The guide's ``keras.distribution`` section as brainnet writes it (the
    fix its AttributeError gives): join the group, then fit as usual, with
    the global batch (the guide's 64: 2 × 32 here)."""
    setup_device(current_index, num_processes, port)
    keras.utils.set_random_seed(100 + current_index)  # fit gives every process rank 0's weights
    x_train, y_train = data
    model = get_compiled_model()
    # The guide's get_dataloader(): a plain shuffled DataLoader, which Keras shards itself.
    dataloader = torch.utils.data.DataLoader(get_dataset(x_train, y_train), batch_size=BATCH_SIZE, shuffle=True)
    try:
        model.fit(dataloader, epochs=NUM_EPOCHS, verbose=0)
        refusal = None
    except ValueError as error:
        refusal = str(error)
    history = model.fit(np.expand_dims(x_train.astype("float32"), -1), y_train,
                        batch_size=NUM_PROCESSES * BATCH_SIZE, epochs=NUM_EPOCHS, verbose=0)
    torch.save(model.state_dict(), out / f"rank{current_index}.pt")
    log = {"history": history.history, "refusal": refusal}
    (out / f"rank{current_index}.json").write_text(json.dumps(log))
    cleanup()


def sections(current_index, num_processes, ports, data, out):
    """What each process runs: the guide's custom loop as written, then with
    ``ddp_model.train()``, then ``fit``, each in a process group of its own.
    DDP's warning about the gradients' strides is an error."""
    warnings.filterwarnings("error", message="Grad strides do not match bucket view strides")
    out = Path(out)
    for name, port in zip(("guide", "train_mode", "fit"), ports):
        (out / name).mkdir(exist_ok=True)
    per_device_launch_fn(current_index, num_processes, ports[0], data, out / "guide")
    per_device_launch_fn(current_index, num_processes, ports[1], data, out / "train_mode", train_mode=True)
    train_with_fit(current_index, num_processes, ports[2], data, out / "fit")


def _free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


@pytest.fixture(scope="module")
def data(mnist_dir):
    """The guide's data (load_data() finds it through BRAINNET_DATA_DIR): the
    first 2,048 training images and their labels."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("BRAINNET_DATA_DIR", str(mnist_dir.parent))
        (x_train, y_train), _ = keras.datasets.mnist.load_data()
    return x_train[:SAMPLES], y_train[:SAMPLES]


@pytest.fixture(scope="module")
def runs(data, tmp_path_factory):
    """The guide's launch, 2 processes, spawned; what they wrote, per section."""
    out = tmp_path_factory.mktemp("distributed_guide")
    torch.multiprocessing.start_processes(
        sections,
        args=(NUM_PROCESSES, _free_ports(3), data, str(out)),
        nprocs=NUM_PROCESSES,
        join=True,
        start_method="spawn",
    )
    return out


def _read(folder: Path) -> tuple[list[dict], list[dict]]:
    weights = [torch.load(folder / f"rank{r}.pt") for r in range(NUM_PROCESSES)]
    logs = [json.loads((folder / f"rank{r}.json").read_text()) for r in range(NUM_PROCESSES)]
    return weights, logs


def test_the_custom_loop_leaves_both_processes_with_the_same_weights_and_a_lower_loss(runs):
    """Section "Custom training loops with PyTorch DDP": DDP averages the
    gradients, so the processes' weights stay equal, to the bit; the guide's
    loop calls the model without training=, so, as in Keras 3, dropout and
    batch normalization infer: the moving statistics are still 0 and 1."""
    weights, logs = _read(runs / "guide")
    assert weights[0].keys() == weights[1].keys()
    for name in weights[0]:
        assert torch.equal(weights[0][name], weights[1][name]), name
    initial = torch.load(runs / "guide" / "initial.pt")
    assert not torch.equal(initial["_graph_layers.13.kernel"], weights[0]["_graph_layers.13.kernel"])
    for name, value in weights[0].items():
        if "moving_mean" in name or "moving_variance" in name:
            assert torch.equal(value, initial[name]), name
    assert not any(logs[0]["modes"].values())  # eval(), as created
    for log in logs:
        first, last = log["losses"]
        assert last < first and last < 0.9 * np.log(10), log["losses"]  # ln 10: chance


def _one_process(initial: dict, dataset, threads: int, halves: bool) -> tuple[dict, list[float]]:
    """The guide's model, optimizer and loss in this process, from rank 0's
    initial weights, over the same global batches of 2 × 32 images: each
    step's gradient as the mean of the two processes' halves (``halves``,
    DDP's arithmetic), or of the whole batch (the guide's loop)."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)  # the processes' summation order
    try:
        model = get_model()
        model.load_state_dict(initial)
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        loss_fn = torch.nn.CrossEntropyLoss()
        if not halves:
            whole = torch.utils.data.DataLoader(dataset, batch_size=NUM_PROCESSES * BATCH_SIZE, shuffle=False)
            return model.state_dict(), train_model(model, whole, NUM_EPOCHS, optimizer, loss_fn)
        parts = [prepare_dataloader(dataset, r, NUM_PROCESSES, BATCH_SIZE) for r in range(NUM_PROCESSES)]
        trainable = [p for p in model.parameters() if p.requires_grad]
        losses = []
        for epoch in range(NUM_EPOCHS):
            seen = []
            for batches in zip(*parts):
                grads = []
                for inputs, targets in batches:
                    loss = loss_fn(model(inputs), targets)
                    grads.append(torch.autograd.grad(loss, trainable))
                    seen.append(loss.item())
                for p, *per_process in zip(trainable, *grads):
                    p.grad = sum(g / NUM_PROCESSES for g in per_process)  # DDP: each g / W, then the sum
                optimizer.step()
            losses.append(float(np.mean(seen)))
        return model.state_dict(), losses
    finally:
        torch.set_num_threads(before)


def test_two_processes_train_as_one_process_on_the_same_global_batches(runs, data):
    """DistributedSampler(shuffle=False) gives process r images r, r + 2, ...:
    together each step's 2 × 32 images are the 64 a single process reads in
    order. One process trained here from rank 0's initial weights (which DDP
    gave both processes), with each step's gradient averaged over the two
    halves, ends at the processes' weights (WEIGHTS_TOLERANCE); on the whole
    batches, as the guide's loop on one device, it has their losses
    (LOSS_TOLERANCE: Adam carries the other rounding into the weights)."""
    weights, logs = _read(runs / "guide")
    initial = torch.load(runs / "guide" / "initial.pt")
    dataset = get_dataset(*data)
    reference, _ = _one_process(initial, dataset, logs[0]["threads"], halves=True)
    gaps = {name: float((reference[name] - weights[0][name]).abs().max()) for name in reference}
    assert max(gaps.values()) <= WEIGHTS_TOLERANCE, gaps
    assert max(float((reference[n] - initial[n]).abs().max()) for n in reference) > 0.01  # training moved them

    _, whole_losses = _one_process(initial, dataset, logs[0]["threads"], halves=False)
    process_losses = np.mean([log["losses"] for log in logs], axis=0)  # each the mean over its halves
    np.testing.assert_allclose(process_losses, whole_losses, rtol=0, atol=LOSS_TOLERANCE)


def test_ddp_model_train_makes_the_loop_train_dropout_and_batch_normalization(runs):
    """``ddp_model.train()`` reaches the brainnet model inside (torch's
    train() is recursive): dropout drops and batch normalization normalizes
    with each process's batch and moves its moving statistics. The trained
    weights stay equal in both processes. The moving statistics are buffers,
    which DDP copies from rank 0 before each forward pass: after training
    each process's holds its own last batch's update, and one more forward
    pass on the same images in both processes leaves them equal."""
    weights, logs = _read(runs / "train_mode")
    initial = torch.load(runs / "train_mode" / "initial.pt")
    assert all(logs[0]["modes"].values()) and all(logs[1]["modes"].values())
    for name in weights[0]:
        if "moving" in name:
            for w in weights:
                assert float((w[name] - initial[name]).abs().max()) > 1e-3, name  # they moved
        else:
            assert torch.equal(weights[0][name], weights[1][name]), name
    for log in logs:
        first, last = log["losses"]
        assert last < first, log["losses"]
    moving = [name for name in weights[0] if "moving" in name]
    assert any(not torch.equal(weights[0][name], weights[1][name]) for name in moving)
    same = [torch.load(runs / "train_mode" / f"rank{r}_same_batch.pt") for r in range(NUM_PROCESSES)]
    for name in moving:
        assert torch.equal(same[0][name], same[1][name]), name


def test_keras_distribution_is_refused_with_the_fix(data):
    """Section "Data parallel training with keras.distribution": brainnet has
    no such namespace; the error says what to write instead."""
    with pytest.raises(AttributeError, match=r"keras\.distribution namespace was expected.*Fix: fit is already "
                       r"data-parallel in every process of a torch\.distributed group"):
        keras.distribution.DataParallel(devices=["cpu"])


def test_the_fix_fit_in_each_process_of_the_group_trains_alike(runs):
    """The fix at work: fit on the guide's compiled model in each process of
    the group splits every global batch of 64, sums the gradients and the
    logs over the processes and starts from rank 0's weights, so both
    processes report the same History and end with the same weights. The
    guide's plain shuffled DataLoader, which Keras shards itself, is refused
    first, in both processes, with the DistributedSampler recipe as the fix
    (every process would read all of its batches)."""
    weights, logs = _read(runs / "fit")
    for log in logs:
        assert re.search(r"fit: expected arrays, or a DataLoader whose sampler is a DistributedSampler, with 2 "
                         r"processes \(torchrun, or a torch\.distributed group\), got a "
                         r"DataLoader whose sampler is a RandomSampler.*Fix: sampler = DistributedSampler\(dataset, "
                         r"num_replicas=world_size\(\), rank=rank\(\)\)", log["refusal"]), log["refusal"]
    histories = [log["history"] for log in logs]
    assert histories[0] == histories[1]
    for name in weights[0]:
        assert torch.equal(weights[0][name], weights[1][name]), name
    loss = histories[0]["loss"]
    assert len(loss) == NUM_EPOCHS and loss[-1] < loss[0], histories[0]
