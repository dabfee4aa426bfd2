"""What a ``FeatureSpace`` is made of: a feature (the dtype of its column,
its preprocessing layer, its encoding), a feature cross, how many indices a
categorical layer gives (the one-hot width), and a column checked and shaped
``(n, 1)``."""

from __future__ import annotations

from typing import Any, Iterable

import numpy as np
import torch

from ._feature_cross import HashedCross
from .layers.hashed_crossing import SEPARATOR
from .layers import CategoryEncoding, Discretization, Hashing, IntegerLookup, StringLookup
from .layers.base import Layer

FEATURE_MODES = ("int", "one_hot", "float")
KINDS = ("float", "float_rescaled", "float_normalized", "float_discretized", "integer_categorical",
         "string_categorical", "integer_hashed", "string_hashed")


class Cross:
    """A feature cross: the names of the crossed features, the number of hash bins, the encoding."""

    def __init__(self, feature_names: Iterable[str], crossing_dim: int, output_mode: str = "one_hot") -> None:
        if output_mode not in ("int", "one_hot"):
            raise ValueError(
                f"FeatureSpace.cross: expected output_mode 'int' or 'one_hot', got {output_mode!r}. "
                "Fix: output_mode='one_hot' (a vector per sample), or 'int' (the bin) with FeatureSpace's "
                "output_mode='dict'."
            )
        names = [feature_names] if isinstance(feature_names, str) else list(feature_names)
        if len(names) < 2 or not all(isinstance(n, str) for n in names):
            raise ValueError(
                f"FeatureSpace.cross: expected the names of two or more features, got {feature_names!r}. "
                "Fix: FeatureSpace.cross(('sex', 'thal'), crossing_dim=32)."
            )
        self.feature_names, self.crossing_dim, self.output_mode = tuple(names), crossing_dim, output_mode

    @property
    def name(self) -> str:
        return SEPARATOR.join(self.feature_names)

    def get_config(self) -> dict[str, Any]:
        return {"feature_names": list(self.feature_names), "crossing_dim": self.crossing_dim,
                "output_mode": self.output_mode}


class Feature:
    """A feature: the dtype of its column, its preprocessing layer, and how its output is encoded."""

    def __init__(self, dtype: str, preprocessor: Layer, output_mode: str) -> None:
        if output_mode not in FEATURE_MODES:
            raise ValueError(
                f"FeatureSpace.feature: expected output_mode among {FEATURE_MODES}, got {output_mode!r}. "
                "Fix: 'float' for a layer that returns numbers to use as they are, 'one_hot' for category "
                "indices to encode, 'int' for the indices themselves (with output_mode='dict')."
            )
        dtype = "int64" if dtype == "int32" else dtype  # Keras's integer features are int32; brainnet's int64
        if dtype not in ("float32", "int64", "string"):
            raise ValueError(
                f"FeatureSpace.feature: expected dtype 'float32', 'int64' (or 'int32') or 'string' (the column's values), "
                f"got {dtype!r}. Fix: dtype='float32' for measurements, 'int64' for integer codes."
            )
        self.dtype, self.preprocessor, self.output_mode = dtype, preprocessor, output_mode


def named(name: str | None) -> dict[str, str]:
    return {"name": f"{name}_preprocessor"} if name else {}


def column(name: str, dtype: str, values: Any) -> np.ndarray:
    """One feature's values as ``(n, 1)``: float32, int64 or an object array of str."""
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().numpy()
    array = np.asarray(values, dtype=object) if dtype == "string" else np.asarray(values)
    if array.ndim == 0:
        array = array.reshape(1)
    if array.ndim > 2 or array.ndim == 2 and array.shape[1] != 1:
        raise ValueError(
            f"FeatureSpace: expected feature {name!r} to hold one value per sample, (batch,) or (batch, 1), "
            f"got shape {array.shape}. Fix: one column per feature; split wider columns into features of "
            "their own."
        )
    array = array.reshape(-1, 1)
    if dtype == "int64" and array.dtype.kind not in "iufb":
        raise ValueError(
            f"FeatureSpace: expected integers in integer feature {name!r}, got {array.dtype} values such as "
            f"{array.reshape(-1)[:1].tolist()}. Fix: 'string_categorical' or 'string_hashed' for text."
        )
    if dtype == "float32":
        try:
            array = array.astype(np.float32)
        except (TypeError, ValueError):
            raise ValueError(
                f"FeatureSpace: expected numbers in float feature {name!r}, got {array.dtype} values such as "
                f"{array.reshape(-1)[:1].tolist()}. Fix: a categorical kind for text, 'string_categorical'."
            ) from None
    return array


def cardinality(name: str, layer: Layer) -> int:
    """How many indices a categorical feature's layer gives: the one-hot width."""
    if isinstance(layer, (IntegerLookup, StringLookup)):
        return layer.vocabulary_size()
    if isinstance(layer, Discretization):
        return len(layer.bin_boundaries) + 1
    if isinstance(layer, (Hashing, HashedCross)):
        return layer.num_bins
    if isinstance(layer, CategoryEncoding):
        return layer.num_tokens
    raise ValueError(
        f"FeatureSpace: expected feature {name!r} with output_mode='one_hot' to use a layer whose number of "
        f"indices is known (a lookup, Discretization, Hashing), got {type(layer).__name__}. Fix: "
        "output_mode='int' (and FeatureSpace(..., output_mode='dict')), or 'float' if it returns numbers."
    )
