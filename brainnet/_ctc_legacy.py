"""Keras 2's CTC functions, ``keras.backend.ctc_batch_cost`` and
``keras.backend.ctc_decode``, which keras.io's older OCR examples call
(Keras 3 keeps them only as ``keras._legacy.backend``; its own are
``keras.losses.CTC`` and ``keras.ops.ctc_decode``, see ``brainnet._ctc``).

They differ from Keras 3's in three ways, which they keep:

* ``y_pred`` holds softmax probabilities p, read as log(p + ε);
* the blank is the last class, C − 1;
* as TensorFlow's CTC loss reads them, a row's labels end at its first
  value ≥ C − 1 (a padding token such as 99 ends the sequence) or at its
  ``label_length``, whichever comes first.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ._ctc import _tensor, ctc_decode as _ctc_decode, ctc_loss
from .config import epsilon


def ctc_batch_cost(y_true: Any, y_pred: Any, input_length: Any, label_length: Any) -> torch.Tensor:
    """Keras 2's CTC loss of each sample: L_i = −log Σ_{π : B(π) = y_i} Π_t
    (p_it[π_t] + ε)/Z_it, the blank the last class, y_i the labels of row i
    before its first value ≥ C − 1 and its ``label_length``.

    Args:
        y_true: (batch_size, max_label_length) integer labels.
        y_pred: (batch_size, time_steps, C) softmax probabilities.
        input_length: (batch_size, 1) steps of each prediction.
        label_length: (batch_size, 1) labels of each row.

    Returns:
        (batch_size, 1) tensor of the losses.

    Raises:
        ValueError: a label after a row's padding (TensorFlow refuses it
            too), or a row with more labels than its steps can hold
            (TensorFlow's "Not enough time"; Keras 3's loss gives inf).

    Example:
        >>> p = torch.full((1, 3, 3), 1 / 3)            # classes {a, b, blank}
        >>> round(float(ctc_batch_cost([[0, 1, 99]], p, [[3]], [[3]])), 4)  # 99 ends the labels "ab"
        1.6864
    """
    y_pred = _tensor(y_pred)
    y_true = _tensor(y_true, y_pred.device).long()
    if y_true.dim() != 2 or y_pred.dim() != 3:
        raise ValueError(
            f"ctc_batch_cost: expected y_true of shape (batch_size, max_label_length) and y_pred of shape "
            f"(batch_size, time_steps, num_classes), got {tuple(y_true.shape)} and {tuple(y_pred.shape)}. Fix: "
            "pad the labels to one length and pass the model's per-step softmax outputs."
        )
    blank = y_pred.shape[-1] - 1
    lengths = _tensor(label_length, y_pred.device).reshape(-1).long()
    position = torch.arange(y_true.shape[1], device=y_true.device)
    read = position[None, :] < lengths[:, None]
    padding = (y_true >= blank) & read
    after_padding = (torch.cumsum(padding.long(), dim=1) > 0) & ~padding & read
    if bool(after_padding.any()):
        row = int(after_padding.any(dim=1).nonzero()[0])
        raise ValueError(
            f"ctc_batch_cost: expected each row's labels first, then its padding (values >= {blank}, the blank "
            f"class and above, end a row's labels), got label {int(y_true[row][after_padding[row]][0])} after "
            f"padding in row {row}: {y_true[row].tolist()}. Fix: pad at the end, labels + [padding_token] * "
            "(max_len - len(labels)), or give each row's label_length."
        )
    lengths = (~padding & read).long().cumprod(dim=1).sum(dim=1)  # up to the first padding token
    labels = torch.where(position[None, :] < lengths[:, None], y_true, torch.zeros_like(y_true))
    log_p = torch.log(y_pred + epsilon())
    steps = _tensor(input_length, y_pred.device).reshape(-1)
    loss = ctc_loss(labels, log_p, lengths, steps, mask_index=blank)
    if bool(torch.isinf(loss).any()):
        row = int(torch.isinf(loss).nonzero()[0])
        raise ValueError(
            f"ctc_batch_cost: expected at most as many labels as the prediction has steps (each repeated label "
            f"needs a blank step between), got {int(lengths[row])} labels {labels[row, :int(lengths[row])].tolist()} "
            f"for {int(steps[row])} steps in row {row}. Fix: downsample the time axis less (fewer pooling layers "
            "before the recurrent part) or use shorter labels."
        )
    return loss[:, None]


def ctc_decode(y_pred: Any, input_length: Any, greedy: bool = True, beam_width: int = 100,
               top_paths: int = 1) -> tuple[list, Any]:
    """Keras 2's decoding of softmax outputs, the blank the last class: greedy
    (best class per step, repeats merged, blanks dropped) or a beam search
    over log(p + ε).

    Returns:
        ``(decoded, log_prob)``: a list of ``top_paths`` (1 when greedy) arrays
        of shape (batch_size, time_steps), each row's labels first and −1
        after them, and (batch_size, top_paths) scores (greedy: −Σ_t max_c
        log(p_tc + ε)). NumPy for NumPy inputs, tensors for tensors.

    Example:
        >>> p = np.eye(3)[[0, 0, 2, 0, 1]][None]         # steps: a a ␣ a b (blank = 2)
        >>> ctc_decode(p, [5])[0][0].tolist()
        [[0, 0, 1, -1, -1]]
    """
    numpy_in = not isinstance(y_pred, torch.Tensor)
    p = _tensor(y_pred)
    if p.dim() != 3:
        raise ValueError(
            f"ctc_decode: expected y_pred of shape (batch_size, time_steps, num_classes), got shape "
            f"{tuple(p.shape)}. Fix: pass the model's per-step softmax outputs, e.g. model.predict(x)."
        )
    log_p = torch.log(p.double() + epsilon()) if numpy_in else torch.log(p + epsilon())
    strategy = "greedy" if greedy else "beam_search"
    decoded, scores = _ctc_decode(log_p, _tensor(input_length).reshape(-1), strategy=strategy,
                                  beam_width=beam_width, top_paths=top_paths, mask_index=p.shape[-1] - 1)
    paths = list(decoded)
    if numpy_in:
        return [np.asarray(path.cpu()) for path in paths], scores.cpu().numpy()
    return paths, scores
