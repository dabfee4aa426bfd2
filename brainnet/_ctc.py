"""Connectionist Temporal Classification (CTC), as Keras 3 has it: the loss
(``keras.losses.CTC`` and ``keras.losses.ctc``; ``keras.ops.ctc_loss``) and the
decoding of a model's per-step outputs into label sequences
(``keras.ops.ctc_decode``).

A CTC model reads T steps and gives at each step t scores over C classes, one
of which is the *blank* (``mask_index``). A path π ∈ {0 … C−1}^T reads as a
label sequence B(π) by merging repeated classes and then dropping blanks
(``a a ␣ a b b`` → ``a a b``). With p_t = softmax(z_t) the per-step
probabilities,

    p(y | x) = Σ_{π : B(π) = y} Π_t p_t(π_t),      L = −log p(y | x).

The sum runs over all alignments, computed by the forward algorithm
(``torch.nn.functional.ctc_loss``). brainnet has no ``keras.ops``, so the two
functions Keras 3 keeps there live in ``brainnet.utils``: ``ctc_loss`` and
``ctc_decode`` (same arguments, same results). The loss class and function
are ``brainnet.losses.CTC`` and ``brainnet.losses.ctc``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from ._loss_base import Loss, Tensor


def _tensor(value: Any, device: torch.device | None = None) -> Tensor:
    return value if isinstance(value, Tensor) else torch.as_tensor(np.asarray(value), device=device)


def _check_shapes(where: str, target: Tensor, output: Tensor) -> None:
    if target.dim() != 2:
        raise ValueError(
            f"{where}: expected y_true of shape (batch_size, max_label_length) holding integer labels, got shape "
            f"{tuple(target.shape)}. Fix: pad each label sequence to one length, e.g. "
            "keras.utils.pad_sequences(labels, padding='post', value=0), one row per sample."
        )
    if output.dim() != 3:
        raise ValueError(
            f"{where}: expected y_pred of shape (batch_size, time_steps, num_classes) (a score per class at every "
            f"step), got shape {tuple(output.shape)}. Fix: end the model with a Dense(num_classes) applied to "
            "every time step of a (batch_size, time_steps, features) tensor."
        )
    if target.shape[0] != output.shape[0]:
        raise ValueError(
            f"{where}: expected as many label rows as predictions, got y_true of shape {tuple(target.shape)} "
            f"and y_pred of shape {tuple(output.shape)}. Fix: pass the labels of the same batch."
        )


def _check_mask_index(where: str, mask_index: int, num_classes: int) -> int:
    if not -num_classes <= int(mask_index) < num_classes:
        raise ValueError(
            f"{where}: expected mask_index (the blank class) in [0, {num_classes}) for {num_classes} classes, got "
            f"{mask_index}. Fix: mask_index=0 when class 0 is the blank (Keras 3's default), or "
            f"mask_index={num_classes - 1} when the last class is."
        )
    return int(mask_index) % num_classes


def ctc_loss(target: Any, output: Any, target_length: Any, output_length: Any, mask_index: int = 0) -> Tensor:
    """CTC loss of each sample, as Keras 3's ``keras.ops.ctc_loss``.

    L_i = −log Σ_{π : B(π) = y_i} Π_{t < T_i} softmax(z_it)[π_t], with B the
    collapse (merge repeats, drop the blank ``mask_index``), y_i the first
    ``target_length[i]`` labels of row i and T_i = ``output_length[i]``.

    Args:
        target: (batch_size, max_label_length) integer labels, padded.
        output: (batch_size, time_steps, num_classes) logits (log-softmax is
            taken here; log-probabilities pass through unchanged).
        target_length: (batch_size,) number of labels in each row.
        output_length: (batch_size,) number of steps of each prediction.
        mask_index: the blank class (default 0).

    Returns:
        (batch_size,) float tensor; ``inf`` where no alignment exists (more
        labels than steps allow), as in Keras.

    Raises:
        ValueError: shapes other than those above, or a ``mask_index`` outside
            the classes.

    Example:
        >>> logits = torch.zeros(1, 3, 3)          # 3 steps, classes {blank, a, b} equally likely
        >>> round(float(ctc_loss([[1, 2]], logits, [2], [3])), 4)   # 5 of the 27 paths read "ab"
        1.6864
    """
    output = _tensor(output)
    target = _tensor(target, output.device)
    _check_shapes("ctc_loss", target, output)
    blank = _check_mask_index("ctc_loss", mask_index, output.shape[-1])
    if not output.is_floating_point() or output.dtype in (torch.float16, torch.bfloat16):
        output = output.float()  # at least float32, as Keras 3 computes it (mixed precision included)
    log_probs = torch.log_softmax(output.transpose(0, 1), dim=-1)  # (T, B, C), as torch's ctc_loss reads them
    lengths = [_tensor(n, output.device).reshape(-1).long() for n in (output_length, target_length)]
    return F.ctc_loss(log_probs, target.long(), lengths[0], lengths[1], blank=blank, reduction="none")


def ctc(y_true: Any, y_pred: Any) -> Tensor:
    """Keras 3's ``keras.losses.ctc``: the CTC loss of each sample, with class 0
    the blank and the padding of ``y_true`` (label lengths count its nonzero
    entries) and every step of ``y_pred`` (logits) read.

    Example:
        >>> ctc(torch.tensor([[1, 2, 0]]), torch.zeros(1, 3, 3)).shape
        torch.Size([1])
    """
    y_pred = _tensor(y_pred)
    y_true = _tensor(y_true, y_pred.device)
    _check_shapes("ctc", y_true, y_pred)
    batch, steps = y_pred.shape[:2]
    output_length = torch.full((batch,), steps, dtype=torch.long, device=y_pred.device)
    return ctc_loss(y_true, y_pred, (y_true != 0).sum(-1), output_length, mask_index=0)


class CTC(Loss):
    """CTC (Connectionist Temporal Classification) loss, as Keras 3's
    ``keras.losses.CTC``: L_i = −log p(y_i | x_i), summed over every alignment
    of the labels y_i with the T steps of the prediction (see ``ctc``).

    ``y_true``: (batch_size, max_label_length) integer labels, 0-padded; class
    0 is the blank and must not be a label. ``y_pred``: (batch_size, T,
    num_classes) logits (not softmax probabilities: a softmax output would be
    normalized twice, as in Keras).

    Args:
        reduction: Keras 3's reduction (default ``"sum_over_batch_size"``).
        name: the loss's name (default ``"ctc"``).

    Example:
        >>> loss = CTC()
        >>> round(float(loss([[1, 2]], torch.zeros(1, 3, 3))), 4)
        1.6864
    """

    kind = "label_sequence"  # fit passes y as padded integer labels, of their own length

    def __init__(self, reduction: str | None = "sum_over_batch_size", name: str = "ctc") -> None:
        super().__init__(ctc, name, reduction=reduction)

    def call(self, y_true: Tensor, y_pred: Tensor) -> Tensor:
        return ctc(y_true, y_pred)

    def get_config(self) -> dict:
        return {"name": self.name, "reduction": self.reduction}

    def __repr__(self) -> str:
        return f"CTC(reduction={self.reduction!r})"


def _greedy(scores: Tensor, lengths: Tensor, merge_repeated: bool, blank: int) -> tuple[Tensor, Tensor]:
    batch, steps, _ = scores.shape
    best, ids = scores.max(dim=-1)  # (B, T) each
    past_end = torch.arange(steps, device=ids.device)[None, :] >= lengths[:, None]
    ids = ids.masked_fill(past_end, blank)
    best = best.masked_fill(past_end, 0.0)
    dropped = ids == blank
    if merge_repeated:
        dropped |= F.pad(ids[:, 1:] == ids[:, :-1], (1, 0))
    order = torch.arange(steps, device=ids.device).expand(batch, steps).masked_fill(dropped, steps)
    order = torch.argsort(order, dim=-1, stable=True)  # kept steps first, in time order
    decoded = torch.take_along_dim(ids.masked_fill(dropped, -1), order, dim=-1)
    return decoded[None].int(), -best.sum(dim=1, keepdim=True)


def _beam_search_one(log_probs: np.ndarray, blank: int, beam_width: int, top_paths: int) -> list:
    """Prefix beam search over one sequence's (T, C) log-probabilities: each
    prefix keeps log p of the paths that read as it ending in a blank and not."""
    beams = {(): (0.0, -np.inf)}
    for step in log_probs:
        grown: dict[tuple, list] = {}

        def add(prefix: tuple, slot: int, value: float) -> None:
            entry = grown.setdefault(prefix, [-np.inf, -np.inf])
            entry[slot] = np.logaddexp(entry[slot], value)

        for prefix, (ends_blank, ends_label) in beams.items():
            add(prefix, 0, np.logaddexp(ends_blank, ends_label) + step[blank])
            for c in np.flatnonzero(np.arange(len(step)) != blank):
                if prefix and prefix[-1] == c:  # "a a" merges; "a ␣ a" is a new label
                    add(prefix, 1, ends_label + step[c])
                    add(prefix + (int(c),), 1, ends_blank + step[c])
                else:
                    add(prefix + (int(c),), 1, np.logaddexp(ends_blank, ends_label) + step[c])
        ranked = sorted(grown.items(), key=lambda item: -np.logaddexp(*item[1]))
        beams = dict(ranked[:beam_width])
    ranked = sorted(beams.items(), key=lambda item: -np.logaddexp(*item[1]))[:top_paths]
    return [(list(prefix), float(np.logaddexp(*scores))) for prefix, scores in ranked]


def _beam_search(scores: Tensor, lengths: Tensor, beam_width: int, top_paths: int, blank: int) -> tuple:
    batch, steps, _ = scores.shape
    log_probs = torch.log_softmax(scores.double(), dim=-1).cpu().numpy()
    decoded = np.full((top_paths, batch, steps), -1, dtype=np.int32)
    log_p = np.full((batch, top_paths), -np.inf)
    for i, n in enumerate(lengths.tolist()):
        for k, (labels, value) in enumerate(_beam_search_one(log_probs[i, :n], blank, beam_width, top_paths)):
            decoded[k, i, :len(labels)], log_p[i, k] = labels, value
    return torch.as_tensor(decoded, device=scores.device), torch.as_tensor(log_p, dtype=scores.dtype,
                                                                           device=scores.device)


def ctc_decode(inputs: Any, sequence_lengths: Any, strategy: str = "greedy", beam_width: int = 100,
               top_paths: int = 1, merge_repeated: bool = True, mask_index: int = 0) -> tuple[Any, Any]:
    """Decode a CTC model's per-step scores into label sequences, as Keras 3's
    ``keras.ops.ctc_decode``.

    ``"greedy"``: the best class at each step, repeats merged (with
    ``merge_repeated``), blanks dropped: y = B(argmax_c z_tc, t < T_i); its
    score is −Σ_t max_c z_tc. ``"beam_search"``: the ``top_paths`` label
    sequences of highest p(y | x) = Σ_{π : B(π) = y} Π_t softmax(z_t)[π_t]
    that a prefix beam search of ``beam_width`` prefixes finds, with their
    log-probabilities (exact when the beam holds every prefix).

    Args:
        inputs: (batch_size, max_length, num_classes) logits (or
            probabilities: greedy decoding reads only their argmax).
        sequence_lengths: (batch_size,) number of steps to read per sample.
        strategy: ``"greedy"`` or ``"beam_search"``.
        beam_width: prefixes kept at each step (beam search).
        top_paths: sequences returned per sample (beam search).
        merge_repeated: merge repeated classes (greedy).
        mask_index: the blank class (default 0, as Keras 3).

    Returns:
        ``(decoded, scores)``: decoded (1 or top_paths, batch_size,
        max_length) int32, each row's labels first and −1 after them; scores
        (batch_size, 1 or top_paths). NumPy arrays for NumPy inputs (what
        ``predict`` returns), tensors for tensors.

    Raises:
        ValueError: an unknown ``strategy``, a ``mask_index`` outside the
            classes, or ``inputs`` not 3-D.

    Example:
        >>> z = np.eye(3)[[1, 1, 0, 1, 2]][None]          # steps: a a ␣ a b
        >>> ctc_decode(z, [5])[0][0].tolist()
        [[1, 1, 2, -1, -1]]
    """
    if strategy not in ("greedy", "beam_search"):
        raise ValueError(
            f"ctc_decode: expected strategy 'greedy' or 'beam_search', got {strategy!r}. "
            "Fix: ctc_decode(y_pred, lengths, strategy='greedy')."
        )
    numpy_in = not isinstance(inputs, Tensor)
    scores = _tensor(inputs)
    if scores.dim() != 3:
        raise ValueError(
            f"ctc_decode: expected inputs of shape (batch_size, max_length, num_classes), got shape "
            f"{tuple(scores.shape)}. Fix: pass the model's per-step outputs, e.g. model.predict(x)."
        )
    scores = scores.float() if not scores.is_floating_point() or scores.dtype == torch.float16 else scores
    blank = _check_mask_index("ctc_decode", mask_index, scores.shape[-1])
    lengths = _tensor(sequence_lengths, scores.device).reshape(-1).long()
    if strategy == "greedy":
        decoded, value = _greedy(scores, lengths, merge_repeated, blank)
    else:
        decoded, value = _beam_search(scores, lengths, int(beam_width), int(top_paths), blank)
    if numpy_in:
        return decoded.cpu().numpy(), value.cpu().numpy()
    return decoded, value

