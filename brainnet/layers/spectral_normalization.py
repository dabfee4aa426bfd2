"""SpectralNormalization (Keras 3): a wrapper that keeps the largest singular
value of a layer's kernel near 1, estimated by power iteration, as GAN
discriminators use it (Miyato et al., 2018)."""

from __future__ import annotations

from typing import Any

import torch

from .. import initializers
from .base import Layer, Shape
from .wrappers import Wrapper


def _unit(x: torch.Tensor, epsilon: float = 1e-7) -> torch.Tensor:
    """x / max(‖x‖₂, ε) over all its values (Keras's ``normalize(x, axis=None)``)."""
    return x / torch.linalg.vector_norm(x).clamp_min(epsilon)


def power_iteration(
    w: torch.Tensor, u: torch.Tensor, iterations: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The largest singular value σ of the matrix ``w`` (m, n) and the new
    estimate of its right singular vector ``u`` (1, n), after ``iterations``
    steps started from ``u``, in Keras's order: v ← u·Wᵀ / ‖u·Wᵀ‖,
    u ← v·W / ‖v·W‖, then σ = v·W·uᵀ."""
    for _ in range(iterations):
        v = _unit(u @ w.T)  # (1, m)
        u = _unit(v @ w)  # (1, n)
    sigma = (v @ w @ u.T).reshape(())  # v·W·uᵀ, a scalar
    return sigma, u


class SpectralNormalization(Wrapper):
    """Divides the wrapped layer's kernel by its largest singular value, so the
    layer stretches no input by more than about 1 (its Lipschitz constant),
    which steadies the training of GAN discriminators.

    Equation (as Keras 3: the kernel as a matrix ``W`` of shape
    ``(rest, out)``, its Keras layout flattened on all axes but the last;
    ``u`` a stored row of length ``out``; N steps of power iteration)::

        v ← u·Wᵀ / ‖u·Wᵀ‖,  u ← v·W / ‖v·W‖     (N times)
        σ = v·W·uᵀ            (≈ the largest singular value of W)
        W ← W / σ;  y = layer(x)

    In training, every call first runs the power iteration, stores the new
    ``u`` and overwrites the layer's kernel with ``W / σ`` (no gradient
    flows through σ: the optimizer then updates the normalized kernel), as
    Keras 3 does; a kernel of zeros is left alone. In inference the layer
    runs with the kernel as stored, so a trained model predicts with the
    kernel its last training step normalized. (``torch.nn.utils.spectral_norm``
    differs: it keeps the raw kernel and backpropagates through σ.)

    Args:
        layer: a brainnet layer with a ``kernel`` (``Dense``, ``Conv1D``,
            ``Conv2D``, ``Conv3D``, the transposed convolutions...) or an
            ``embeddings`` table (``Embedding``).
        power_iterations: N ≥ 1, the steps of power iteration per training
            call (default 1, as Keras; ``u`` carries over between calls, so
            one step a call converges during training).
        **kwargs: ``name``, ``input_shape``, ``trainable``.

    Weights: the layer's own, then ``vector_u`` ``(1, out)``, non-trainable,
    drawn from a truncated normal of standard deviation 0.02 (as Keras).

    Input shape / Output shape: the wrapped layer's.

    Raises:
        TypeError: ``layer`` is not a brainnet layer instance.
        ValueError: ``power_iterations`` is not an integer ≥ 1; the layer has
            neither a ``kernel`` nor ``embeddings`` (when it is built).

    Example:
        >>> import torch
        >>> from brainnet.layers import Dense
        >>> layer = SpectralNormalization(Dense(3), power_iterations=20)
        >>> y = layer(torch.randn(4, 5), training=True)  # the kernel is normalized
        >>> round(float(torch.linalg.matrix_norm(layer.layer.kernel.detach(), ord=2)), 3)
        1.0
    """

    equation = "W ← W / σ(W) (σ by power iteration, in training); y = layer(x)"

    def __init__(self, layer: Layer, power_iterations: int = 1, **kwargs: Any) -> None:
        super().__init__(layer, **kwargs)
        if isinstance(power_iterations, bool) or not isinstance(power_iterations, int) or power_iterations < 1:
            raise ValueError(
                f"SpectralNormalization: expected power_iterations to be an integer ≥ 1, got {power_iterations!r}. "
                "Fix: SpectralNormalization(layer, power_iterations=1) (Keras's default; u carries over between "
                "training steps, so one step a call is enough)."
            )
        self.power_iterations = power_iterations

    def _kernel_name(self) -> str:
        for name in ("kernel", "embeddings"):
            if isinstance(getattr(self.layer, name, None), torch.Tensor):
                return name
        kind = type(self.layer).__name__
        raise ValueError(
            f"SpectralNormalization: expected a layer with a 'kernel' or 'embeddings' weight, got {kind} "
            f"'{self.layer.name}', which has neither. Fix: wrap a layer with a kernel, e.g. "
            "SpectralNormalization(Dense(64)) or SpectralNormalization(Conv2D(32, 3))."
        )

    def build(self, input_shape: Shape) -> None:
        super().build(input_shape)
        self.kernel_name = self._kernel_name()
        out = self._matrix().shape[1]
        self.vector_u = self.add_weight("vector_u", trainable=False, shape=(1, out),
                                        initializer=initializers.TruncatedNormal(stddev=0.02))

    def _matrix(self) -> torch.Tensor:
        """The kernel in Keras's layout, flattened on all axes but the last: (rest, out)."""
        kernel = getattr(self.layer, self.kernel_name)
        order = self.layer.keras_order(self.kernel_name)
        keras = kernel if order is None else kernel.permute(order)  # Keras's (..., out)
        return keras.reshape(-1, keras.shape[-1])  # (rest, out)

    def normalized_weights(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The new ``u`` and the kernel divided by σ (in brainnet's layout),
        without storing them (Keras's method of the same name)."""
        kernel = getattr(self.layer, self.kernel_name)
        with torch.no_grad():
            sigma, u = power_iteration(self._matrix(), self.vector_u, self.power_iterations)
            return u, kernel / sigma

    def call(self, inputs: torch.Tensor, training: bool | None = None) -> torch.Tensor:
        if training:
            kernel = getattr(self.layer, self.kernel_name)
            u, normalized = self.normalized_weights()
            with torch.no_grad():
                zero = (kernel == 0).all()  # Keras leaves a kernel of zeros (and u) as they are
                self.vector_u.copy_(torch.where(zero, self.vector_u, u))
                kernel.copy_(torch.where(zero, kernel, normalized))
        return self.layer(inputs, training=training)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return self.layer.compute_output_shape(input_shape)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "power_iterations": self.power_iterations}
