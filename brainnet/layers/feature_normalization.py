"""Normalization: standardises input features with a mean and variance that
``adapt(data)`` measures on the training data (or that are given), Keras 3's
preprocessing layer of the regression and structured-data tutorials.

The statistics are non-trainable weights (buffers: ``mean``, ``variance`` and
``count``, the number of values adapt saw), so ``model.save`` keeps them and
``load_model`` restores them with the other weights.
"""

from __future__ import annotations

import numbers
from typing import Any, Iterable, Iterator

import numpy as np
import torch

from .base import Layer, Shape, capturing, shape_str

EPSILON = 1e-7  # Keras's backend.epsilon(): the smallest standard deviation divided by


def _axes(axis: Any) -> tuple[int, ...]:
    """Keras's ``axis``: an int, a tuple/list of ints, or None (one scalar mean)."""
    if axis is None:
        return ()
    if isinstance(axis, numbers.Integral) and not isinstance(axis, bool):
        return (int(axis),)
    if isinstance(axis, (tuple, list)) and all(
        isinstance(a, numbers.Integral) and not isinstance(a, bool) for a in axis
    ):
        return tuple(int(a) for a in axis)
    raise ValueError(
        f"Normalization: expected axis to be an int, a tuple of ints or None, got {axis!r}. "
        "Fix: Normalization(axis=-1) for one mean per feature (the last axis), axis=None for one mean overall."
    )


def _statistic(name: str, value: Any) -> np.ndarray | None:
    if value is None:
        return None
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        array = None
    if array is None or not np.all(np.isfinite(array)):
        raise ValueError(
            f"Normalization: expected {name} to be a finite number or an array of them, got {value!r:.80}. "
            f"Fix: Normalization({name}=[...]) with one value per feature."
        )
    return array


class Normalization(Layer):
    """Shifts and scales each feature to mean 0 and standard deviation 1.

    Equation (μ, σ² per feature: per index of the ``axis`` axes, measured
    over all the other axes of the adapt data; ε = 1e-7 as Keras)::

        y = (x − μ) / max(√σ², ε)          (invert=True: y = μ + x · max(√σ², ε))

    ``adapt(x_train)`` measures μ and σ² (the population variance, ``np.var``);
    or give them: ``Normalization(mean=..., variance=...)``.

    Args:
        axis: the axis (or tuple of axes) that has its own μ and σ² per index
            (default -1: the features); None: one μ and σ² for all values.
            The batch axis (0) cannot be one of them.
        mean: μ, a number or array broadcast to the kept axes' shape
            (default None: learned by ``adapt``); needs ``variance`` too.
        variance: σ², likewise.
        invert: apply the inverse map (turn normalised values back).

    Input shape: any, batch axis first. Output shape: same as input.

    Raises:
        ValueError: mean without variance (or the reverse), shapes that do
            not fit, a call before ``adapt`` without mean and variance,
            adapt data with another feature size, or non-finite adapt data.

    Example:
        >>> import numpy as np
        >>> layer = Normalization()
        >>> layer.adapt(np.array([[0.0, 7.0], [2.0, 9.0]]))
        >>> layer(np.array([[0.0, 7.0]])).tolist()
        [[-1.0, -1.0]]
    """

    equation = "y = (x − μ)/max(√σ², ε) per feature; μ, σ² from adapt(data)"
    supports_masking = True

    def __init__(self, axis: int | Iterable[int] | None = -1, mean: Any = None, variance: Any = None,
                 invert: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.axis = _axes(axis)
        self._axis_arg = axis if axis is None or isinstance(axis, numbers.Integral) else list(self.axis)
        if (mean is None) != (variance is None):
            given, missing = ("mean", "variance") if mean is not None else ("variance", "mean")
            raise ValueError(
                f"Normalization: expected mean and variance together, got {given} without {missing}. "
                "Fix: Normalization(mean=m, variance=v), or neither and call layer.adapt(x_train)."
            )
        self.input_mean, self.input_variance = _statistic("mean", mean), _statistic("variance", variance)
        if self.input_mean is not None:
            if self.input_mean.shape != self.input_variance.shape:
                raise ValueError(
                    f"Normalization: expected mean and variance of the same shape, got {self.input_mean.shape} "
                    f"and {self.input_variance.shape}. Fix: one variance per mean, e.g. mean=[0, 1], variance=[1, 4]."
                )
            if np.any(self.input_variance < 0):
                raise ValueError(
                    f"Normalization: expected variance ≥ 0, got {variance!r:.80}. "
                    "Fix: give variances (squared standard deviations), e.g. variance=np.var(x, axis=0)."
                )
        self.invert = bool(invert)
        self.fixed_axes = self.axis  # μ and σ² fit one size of these axes
        self._adapted = self.input_mean is not None

    # ------------------------------------------------------------ build
    def build(self, input_shape: Shape) -> None:
        rank = len(input_shape)
        bad = [a for a in self.axis if not -rank <= a < rank]
        if bad:
            raise ValueError(
                f"Layer '{self.name}' (Normalization): expected axis from {-rank} to {rank - 1} for inputs of shape "
                f"{shape_str(input_shape)}, got axis={bad[0]}. Fix: Normalization(axis=-1) for the last axis."
            )
        keep = sorted({a % rank for a in self.axis})
        if 0 in keep:
            raise ValueError(
                f"Layer '{self.name}' (Normalization): expected axes other than the batch axis 0 (each would need "
                f"one mean per sample), got axis={self._axis_arg} for inputs of shape {shape_str(input_shape)}. "
                "Fix: give samples a feature axis (x[:, None] makes (N, 1)) or use axis=None for one mean overall."
            )
        self._keep = tuple(keep)
        self.input_rank = rank
        stat_shape = tuple(input_shape[a] for a in keep)
        if self.input_mean is None:
            mean, variance = np.zeros(stat_shape), np.ones(stat_shape)
        else:
            try:
                mean = np.broadcast_to(self.input_mean, stat_shape)
                variance = np.broadcast_to(self.input_variance, stat_shape)
            except ValueError:
                raise ValueError(
                    f"Layer '{self.name}' (Normalization): expected mean and variance that fit the shape "
                    f"{stat_shape} of axis {self._axis_arg} of inputs {shape_str(input_shape)}, got shape "
                    f"{self.input_mean.shape}. Fix: one value per feature ({stat_shape}), or a single number."
                ) from None
        dtype = torch.get_default_dtype()
        self.mean = self.add_weight("mean", torch.tensor(mean, dtype=dtype), trainable=False)
        self.variance = self.add_weight("variance", torch.tensor(variance, dtype=dtype), trainable=False)
        self.count = self.add_weight("count", torch.zeros((), dtype=torch.int64), trainable=False)

    # ------------------------------------------------------------ adapt
    def adapt(self, data: Any, batch_size: int | None = None, steps: int | None = None) -> None:
        """Measure μ and σ² of ``data`` for each index of the ``axis`` axes.

        Args:
            data: a NumPy array (or anything ``np.asarray`` takes: a pandas
                DataFrame, a torch tensor), or an iterable of such batches
                (a list of arrays, a generator; ``(x, y)`` pairs use x).
            batch_size: with an array: measure it this many samples at a time
                (the same result, less memory at once; default: all at once,
                32 when ``steps`` is given).
            steps: use only the first ``steps`` batches (default: all).

        Raises:
            ValueError: the layer has a given mean and variance, the data is
                empty, not numeric, holds NaN or infinity, or its kept axes
                differ from the ones the layer was built for.
        """
        if self.input_mean is not None:
            raise ValueError(
                f"Layer '{self.name}' (Normalization): expected a layer without a given mean and variance for "
                "adapt(), got one made with mean= and variance=. Fix: Normalization(axis=...) without them "
                "learns them in adapt(data)."
            )
        for arg, value in (("batch_size", batch_size), ("steps", steps)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1):
                raise ValueError(
                    f"Layer '{self.name}' (Normalization).adapt: expected {arg} to be a positive integer or None, "
                    f"got {value!r}. Fix: adapt(data, {arg}=32) or leave it out."
                )
        n_total, mean, m2 = 0, None, None
        for k, batch in enumerate(self._batches(data, batch_size, steps)):
            if steps is not None and k >= steps:
                break
            x = self._flat(batch)  # (values per position, *kept shape), float64
            n = x.shape[0]
            if n == 0:
                continue
            batch_mean = x.mean(axis=0)
            batch_m2 = ((x - batch_mean) ** 2).sum(axis=0)
            if mean is None:
                n_total, mean, m2 = n, batch_mean, batch_m2
                continue
            # Chan et al.'s pairwise update of count, mean and sum of squared deviations.
            delta = batch_mean - mean
            total = n_total + n
            mean = mean + delta * (n / total)
            m2 = m2 + batch_m2 + delta ** 2 * (n_total * n / total)
            n_total = total
        if mean is None:
            raise ValueError(
                f"Layer '{self.name}' (Normalization).adapt: expected data with at least one sample, got none. "
                "Fix: adapt(x_train) with the training features."
            )
        with torch.no_grad():
            self.mean.copy_(torch.as_tensor(mean))
            self.variance.copy_(torch.as_tensor(m2 / n_total))
            self.count.fill_(n_total)
        self._adapted = True

    def _batches(self, data: Any, batch_size: int | None, steps: int | None) -> Iterator[Any]:
        is_batches = isinstance(data, Iterator) or (
            isinstance(data, (list, tuple)) and len(data) > 0
            and all(isinstance(b, (np.ndarray, torch.Tensor, tuple)) for b in data)
        )
        if is_batches:
            for batch in data:
                yield batch[0] if isinstance(batch, tuple) else batch
            return
        array = self._numeric(data)
        size = batch_size or (32 if steps is not None else max(len(array), 1))
        for start in range(0, max(len(array), 1), size):
            yield array[start:start + size]

    def _numeric(self, data: Any) -> np.ndarray:
        if isinstance(data, torch.Tensor):
            data = data.detach().cpu().numpy()
        try:
            array = np.asarray(data, dtype=np.float64)
        except (TypeError, ValueError):
            kind = type(data).__name__
            raise ValueError(
                f"Layer '{self.name}' (Normalization).adapt: expected numbers (an array of features), got {kind} "
                "that does not convert to numbers (text or mixed columns?). Fix: turn categories into numbers "
                "first (pd.get_dummies(df) or one-hot columns), then adapt(np.array(features, dtype='float32'))."
            ) from None
        if array.ndim == 0:
            array = array.reshape(1)
        return array

    def _flat(self, batch: Any) -> np.ndarray:
        x = self._numeric(batch)
        if not self.built:
            self.build_from_shape(x.shape)
        want = self.built_input_shape
        if x.ndim != len(want) or any(x.shape[a] != want[a] for a in self._keep):
            sizes = ", ".join(f"axis {a}: {want[a]}" for a in self._keep) or "any"
            raise ValueError(
                f"Layer '{self.name}' (Normalization).adapt: expected data of shape {shape_str(want)} ({sizes}), "
                f"got {shape_str(x.shape)}. Fix: adapt on the same features the model is given (the same columns), "
                "or make a new Normalization() for these."
            )
        if not np.all(np.isfinite(x)):
            raise ValueError(
                f"Layer '{self.name}' (Normalization).adapt: expected finite numbers, got "
                f"{int(np.sum(~np.isfinite(x)))} NaN or infinite values, which would make every output NaN. "
                "Fix: drop or fill the missing values first (df = df.dropna(), or x[np.isnan(x)] = 0)."
            )
        # (values, *kept): the kept axes last, everything else flattened in front
        rest = [a for a in range(x.ndim) if a not in self._keep]
        moved = np.transpose(x, rest + list(self._keep))
        return moved.reshape((-1,) + tuple(x.shape[a] for a in self._keep))

    # ------------------------------------------------------------ call
    def _check_adapted(self) -> None:
        if self._adapted or capturing(self.count):
            return
        if int(self.count) > 0:  # adapted in a saved model: the count came back with the weights
            self._adapted = True
            return
        raise ValueError(
            f"Layer '{self.name}' (Normalization): expected a mean and variance, from adapt() or given, got "
            "neither, so it would pass the data through unchanged. Fix: normalizer.adapt(x_train) before "
            "fit/evaluate/predict, or Normalization(mean=..., variance=...)."
        )

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        self._check_adapted()
        if not inputs.is_floating_point():
            inputs = inputs.to(torch.get_default_dtype())
        shape = [1] * inputs.dim()
        for a in self._keep:
            shape[a] = inputs.shape[a]  # μ and σ² broadcast over the other axes
        mean = self.mean.to(inputs.device, inputs.dtype).reshape(shape)
        std = self.variance.to(inputs.device, inputs.dtype).sqrt().clamp_min(EPSILON).reshape(shape)
        return mean + inputs * std if self.invert else (inputs - mean) / std

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        # Stated, so a functional graph never probes the layer: rebuilt by
        # load_model, it has no statistics until the weights are loaded.
        return tuple(input_shape)

    def get_config(self) -> dict[str, Any]:
        def listed(a: np.ndarray | None) -> Any:
            return None if a is None else a.tolist()

        return {**super().get_config(), "axis": self._axis_arg, "mean": listed(self.input_mean),
                "variance": listed(self.input_variance), "invert": self.invert}
