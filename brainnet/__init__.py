"""brainnet: the networks of "deep learning and the human brain", with a
Keras-style API on PyTorch.

    >>> from brainnet.models import Sequential
    >>> from brainnet.layers import Dense
"""

from . import (activations, callbacks, config, constraints, distributed, initializers, layers, losses, metrics, models,
               optimizers, regularizers, saving, utils)
from .initializers import Initializer
from .layers import Input, InputSpec, Layer
from .layers.symbolic import SymbolicTensor as KerasTensor
from .losses import Loss
from .metrics import Metric
from .models import Model, Sequential
from .optimizers import Optimizer
from .regularizers import Regularizer

__version__ = "0.1.0"  # the one place the version is written: pyproject.toml reads it from here


def version() -> str:
    """brainnet's version, ``brainnet.__version__`` (Keras 3's ``keras.version()``).

    The same string as the installed package's metadata
    (``importlib.metadata.version("brainnet")``): pyproject.toml reads it from
    here, and the ``.brainnet`` files record it in ``metadata.json``.

    Example:
        >>> import brainnet
        >>> brainnet.version() == brainnet.__version__
        True
    """
    return __version__


# Imported on first use (``import brainnet; brainnet.explain.saliency(...)``), as
# they pull in matplotlib, Pillow or the recipes that a plain import does not need.
_LAZY = ("backend", "benchmarks", "datasets", "explain", "mixed_precision", "preprocessing", "recipes", "schedules", "text")


# Keras 3 namespaces that brainnet leaves to torch on purpose (docs/keras.md): the
# torch spelling of what tutorials call there (keras.applications: what to build instead).
_TORCH_INSTEAD = {
    "ops": "call torch directly: ops.exp(x) is torch.exp(x), ops.mean(x, axis=1) is x.mean(dim=1), "
           "ops.concatenate(xs, axis=-1) is torch.cat(xs, dim=-1)",
    "random": "draw with torch: keras.random.normal((n, d)) is torch.randn(n, d, device=x.device), "
              "keras.random.uniform(shape) is torch.rand(shape), keras.random.gamma(shape, alpha) is "
              "torch.distributions.Gamma(alpha, 1.0).sample(shape), keras.random.beta(shape, a, b) is "
              "torch.distributions.Beta(a, b).sample(shape), and a SeedGenerator(1337) is "
              "torch.Generator().manual_seed(1337) passed as generator=",
    "applications": "brainnet ships and downloads no pretrained weights; build the network with brainnet.layers "
                    "(VGG19 is blocks of Conv2D(..., padding='same', activation='relu') and MaxPooling2D), or wrap "
                    "a torch.nn.Module you have as layers.TorchModuleWrapper(module)",
    "distribution": "fit is already data-parallel in every process of a torch.distributed group: start the program "
                    "with torchrun (or call torch.distributed.init_process_group('gloo', rank=rank, world_size=n) in "
                    "each process you start) and call model.fit(x, y, batch_size=global_batch) as usual; no "
                    "initialize() or DataParallel().scope() is needed (brainnet.distributed)",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return importlib.import_module(f".{name}", __name__)
    if name in _TORCH_INSTEAD:
        raise AttributeError(
            f"module 'brainnet' has no attribute {name!r}: Keras's keras.{name} namespace was expected, but brainnet "
            f"has none on purpose. Fix: {_TORCH_INSTEAD[name]}."
        )
    if name == "Variable":
        raise AttributeError(
            "module 'brainnet' has no attribute 'Variable': Keras's keras.Variable was expected, but brainnet's "
            "weights are torch tensors on purpose (docs/keras.md). Fix: in a layer, self.v = self.add_weight('v', "
            "torch.tensor(value, dtype=torch.float32)) (trainable=False for a state that training leaves alone), "
            "or torch.nn.Parameter(torch.tensor(value, dtype=torch.float32)); v.assign(x) is v.copy_(x)."
        )
    raise AttributeError(f"module 'brainnet' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(list(globals()) + list(_LAZY))

__all__ = [
    "Input",
    "InputSpec",
    "Model",
    "Sequential",
    # Keras 3's top-level names of the base classes: class MyLayer(keras.Layer), keras.Loss, ...
    "Layer",
    "Loss",
    "Metric",
    "Optimizer",
    "Initializer",
    "Regularizer",
    "KerasTensor",
    "activations",
    "callbacks",
    "config",
    "constraints",
    "distributed",
    "initializers",
    "layers",
    "losses",
    "metrics",
    "models",
    "optimizers",
    "regularizers",
    "saving",
    "utils",
    "version",
]
