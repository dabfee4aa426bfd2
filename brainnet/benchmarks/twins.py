"""The benchmark networks written in plain PyTorch, and the copy of a
brainnet model's weights into them.

Each seed network has two PyTorch twins that compute the same function:

* the idiomatic one a PyTorch user writes (``nn.Sequential`` of ``nn.Conv2d``
  on (N, C, H, W) images, ``nn.LSTM(num_layers=3)``, ``nn.MultiheadAttention``);
* the hand-tuned one (the CNN in channels-last memory format, flattened in
  (H, W, C) order so that no reordering copy is made; the Transformer with one
  fused Q/K/V projection and ``F.scaled_dot_product_attention``).

Both output logits; the loss is log-softmax cross-entropy on them, which is
what brainnet computes for a softmax output with a cross-entropy loss.
``copy_from_brainnet`` gives a twin the brainnet model's weights, so the three
start from the same point and their first losses agree to float32 round-off.

Differences that do not change the function: ``nn.LSTM`` has a second bias
``b_hh`` per layer where Keras has one; it is set to zero and frozen
(``requires_grad=False``), so both have the same trainable weights.

This module imports only torch: the memory benchmark's hand-written child
process uses it without importing the rest of brainnet's recipes.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

ROWS, PIXELS, CLASSES = 28, 28, 10  # row-wise MNIST: 28 steps of 28 features


# ------------------------------------------------------------------ the CNN
def idiomatic_cnn() -> nn.Sequential:
    """The seed CNN as a PyTorch user writes it: (N, 1, 28, 28) in, logits out."""
    return nn.Sequential(
        nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2),  # (N, 32, 13, 13)
        nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),  # (N, 64, 5, 5)
        nn.Flatten(),  # (N, 1600) in (C, H, W) order
        nn.Linear(1600, 128), nn.ReLU(), nn.Linear(128, CLASSES),
    )


class ChannelsLastCNN(nn.Module):
    """The seed CNN on channels-last tensors: the input is an (N, H, W, C)
    tensor viewed as (N, C, H, W), the features are flattened in (H, W, C)
    order (a view, no copy), as brainnet's ``Flatten`` does."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(1, 32, 3), nn.Conv2d(32, 64, 3)
        self.dense1, self.dense2 = nn.Linear(1600, 128), nn.Linear(128, CLASSES)
        self.to(memory_format=torch.channels_last)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)  # (N, 32, 13, 13), channels-last
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)  # (N, 64, 5, 5), channels-last
        x = x.permute(0, 2, 3, 1).reshape(x.shape[0], -1)  # (N, 1600) in (H, W, C) order
        return self.dense2(F.relu(self.dense1(x)))


# ----------------------------------------------------------------- the LSTM
class LSTMStack(nn.Module):
    """Three LSTM(64) layers (one ``nn.LSTM`` with ``num_layers=3``), then a
    linear layer on the last step's state: (N, 28, 28) in, logits out."""

    def __init__(self, units: int = 64, layers: int = 3) -> None:
        super().__init__()
        self.lstm = nn.LSTM(PIXELS, units, num_layers=layers, batch_first=True)
        for k in range(layers):
            bias = getattr(self.lstm, f"bias_hh_l{k}")
            with torch.no_grad():
                bias.zero_()
            bias.requires_grad_(False)  # Keras's LSTM has one bias: b_ih
        self.dense = nn.Linear(units, CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        states, _ = self.lstm(x)  # (N, T, units)
        return self.dense(states[:, -1])


# ---------------------------------------------------------- the Transformer
def sinusoids(length: int, dim: int) -> torch.Tensor:
    """PE[t, 2i] = sin(t / 10000^(2i/d)), PE[t, 2i+1] = cos(t / 10000^(2i/d))."""
    t = torch.arange(length, dtype=torch.float64)[:, None]  # (T, 1)
    two_i = (torch.arange(dim) // 2 * 2).to(torch.float64)  # (d,)
    angles = t / 10000.0 ** (two_i / dim)  # (T, d)
    return torch.where(torch.arange(dim) % 2 == 0, torch.sin(angles), torch.cos(angles)).float()


class _IdiomaticBlock(nn.Module):
    """Post-norm encoder block: h = LN(x + drop(MHA(x))), y = LN(h + drop(FFN(h)))."""

    def __init__(self, d: int, heads: int, hidden: int, dropout: float) -> None:
        super().__init__()
        self.attention = nn.MultiheadAttention(d, heads, dropout=dropout, batch_first=True)
        self.norm1, self.norm2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.feedforward = nn.Sequential(nn.Linear(d, hidden), nn.ReLU(), nn.Linear(hidden, d))
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        attended, _ = self.attention(x, x, x, need_weights=False)
        x = self.norm1(x + self.dropout(attended))
        return self.norm2(x + self.dropout(self.feedforward(x)))


class _FusedBlock(nn.Module):
    """The same block with one Q/K/V matrix product and fused attention."""

    def __init__(self, d: int, heads: int, hidden: int, dropout: float) -> None:
        super().__init__()
        self.heads, self.p = heads, dropout
        self.qkv, self.out = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.norm1, self.norm2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.hidden, self.back = nn.Linear(d, hidden), nn.Linear(hidden, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        p = self.p if self.training else 0.0
        q, k, v = self.qkv(x).view(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)  # (B, H, T, d_k) each
        heads = F.scaled_dot_product_attention(q, k, v, dropout_p=p)  # (B, H, T, d_k)
        attended = self.out(heads.transpose(1, 2).reshape(b, t, d))  # (B, T, d)
        x = self.norm1(x + F.dropout(attended, p, self.training))
        return self.norm2(x + F.dropout(self.back(F.relu(self.hidden(x))), p, self.training))


class TransformerClassifier(nn.Module):
    """Rows → Linear(64) + sinusoids → 2 encoder blocks → mean over time →
    Linear(10): (N, 28, 28) in, logits out. ``fused`` picks the block."""

    def __init__(self, fused: bool, d: int = 64, heads: int = 4, hidden: int = 128, blocks: int = 2,
                 dropout: float = 0.1) -> None:
        super().__init__()
        block = _FusedBlock if fused else _IdiomaticBlock
        self.embed = nn.Linear(PIXELS, d)
        self.register_buffer("positions", sinusoids(ROWS, d), persistent=False)
        self.blocks = nn.ModuleList(block(d, heads, hidden, dropout) for _ in range(blocks))
        self.dense = nn.Linear(d, CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.embed(x) + self.positions[: x.shape[1]]  # (N, T, d)
        for block in self.blocks:
            h = block(h)
        return self.dense(h.mean(dim=1))


# -------------------------------------------------------- copying weights
def _set(param: torch.Tensor, value: torch.Tensor) -> None:
    with torch.no_grad():
        param.copy_(value.detach().reshape(param.shape))


def _dense(linear: nn.Linear, kernel: torch.Tensor, bias: torch.Tensor) -> None:
    """Keras's y = x·K + b as torch's y = x·Wᵀ + b: W = Kᵀ."""
    _set(linear.weight, kernel.detach().reshape(-1, linear.out_features).T)
    _set(linear.bias, bias)


def _weights(model: nn.Module) -> list[torch.Tensor]:
    return [p for _, p in model.named_parameters()]


def copy_from_brainnet(model: nn.Module, net: nn.Module) -> nn.Module:
    """Gives ``net`` (a twin above) the weights of the brainnet ``model``.

    Args:
        model: the built brainnet model: ``teaching_cnn()``, ``lstm_stack()`` or
            ``transformer_classifier()``.
        net: the twin of the same network.

    Returns:
        ``net``, its weights overwritten.
    """
    w = _weights(model)
    if isinstance(net, nn.Sequential):  # idiomatic CNN: Flatten in (C, H, W) order
        _set(net[0].weight, w[0]), _set(net[0].bias, w[1])
        _set(net[3].weight, w[2]), _set(net[3].bias, w[3])
        hwc = w[4].detach().reshape(5, 5, 64, 128)  # rows of the kernel in (H, W, C) order
        _dense(net[7], hwc.permute(2, 0, 1, 3).reshape(1600, 128), w[5])  # rows in (C, H, W) order
        _dense(net[9], w[6], w[7])
    elif isinstance(net, ChannelsLastCNN):
        _set(net.conv1.weight, w[0]), _set(net.conv1.bias, w[1])
        _set(net.conv2.weight, w[2]), _set(net.conv2.bias, w[3])
        _dense(net.dense1, w[4], w[5])
        _dense(net.dense2, w[6], w[7])
    elif isinstance(net, LSTMStack):
        for k in range(net.lstm.num_layers):
            kernel, recurrent, bias = w[3 * k: 3 * k + 3]  # Keras gate order i, f, c, o = torch's i, f, g, o
            _set(getattr(net.lstm, f"weight_ih_l{k}"), kernel.T)
            _set(getattr(net.lstm, f"weight_hh_l{k}"), recurrent.T)
            _set(getattr(net.lstm, f"bias_ih_l{k}"), bias)
        _dense(net.dense, w[-2], w[-1])
    elif isinstance(net, TransformerClassifier):
        _copy_transformer(w, net)
    else:
        raise TypeError(
            "copy_from_brainnet: expected a twin from brainnet.benchmarks.twins (idiomatic_cnn(), ChannelsLastCNN, "
            f"LSTMStack or TransformerClassifier), got {type(net).__name__}. Fix: make it with Workload.twin(style)."
        )
    return net


def _copy_transformer(w: list[torch.Tensor], net: TransformerClassifier) -> None:
    _dense(net.embed, w[0], w[1])
    for i, block in enumerate(net.blocks):
        (qk, qb, kk, kb, vk, vb, ok, ob, g1, b1, hk, hb, bk, bb, g2, b2) = w[2 + 16 * i: 18 + 16 * i]
        d = qk.shape[0]
        in_w = torch.cat([m.detach().reshape(d, d).T for m in (qk, kk, vk)])  # (3d, d): Q, K, V rows, heads in order
        in_b = torch.cat([b.detach().reshape(d) for b in (qb, kb, vb)])
        if isinstance(block, _FusedBlock):
            _set(block.qkv.weight, in_w), _set(block.qkv.bias, in_b)
            _dense(block.out, ok.detach().reshape(d, d), ob)
            _dense(block.hidden, hk, hb), _dense(block.back, bk, bb)
        else:
            _set(block.attention.in_proj_weight, in_w), _set(block.attention.in_proj_bias, in_b)
            _dense(block.attention.out_proj, ok.detach().reshape(d, d), ob)
            _dense(block.feedforward[0], hk, hb), _dense(block.feedforward[2], bk, bb)
        _set(block.norm1.weight, g1), _set(block.norm1.bias, b1)
        _set(block.norm2.weight, g2), _set(block.norm2.bias, b2)
    _dense(net.dense, w[-2], w[-1])


def parameter_count(net: nn.Module) -> int:
    """Trainable weights of ``net``."""
    return sum(p.numel() for p in net.parameters() if p.requires_grad)

