"""``FeatureSpace`` (Keras 3's ``keras.utils.FeatureSpace``): each column of
a table through brainnet's own preprocessing layer, learned by one
``adapt``, encoded and joined into one float32 vector per sample.

Every feature kind is one existing layer (``Identity``, ``Rescaling``,
``Normalization``, ``Discretization``, ``IntegerLookup``, ``StringLookup``,
``Hashing``), followed for ``output_mode="one_hot"`` by a
``CategoryEncoding``; crosses hash the combined indices (``HashedCross``,
brainnet._feature_cross). The same layers run eagerly (``fs(batch)``) and
on symbolic ``Input``s (``get_encoded_features()``), so a model built on the
encoded features takes the raw columns. The feature and cross
specifications and the column checks: brainnet._feature_specs; saving:
brainnet._feature_space_saving.
"""

from __future__ import annotations

from typing import Any, Iterable

import numpy as np
import torch

from ._feature_cross import HashedCross
from ._feature_specs import KINDS, Cross, Feature, cardinality, column, named
from .layers import (CategoryEncoding, Concatenate, Discretization, Hashing, Identity, Input, IntegerLookup,
                     Normalization, Rescaling, StringLookup, TextVectorization)
from .layers.base import Layer


class FeatureSpace:
    """Preprocesses and encodes a table's columns (a dict of features) into one vector per sample.

    Rule, per sample, with the features ``f`` in sorted name order and then
    the crosses ``c`` in sorted name order::

        y = concat(e_f(P_f(x_f)) for each feature f, e_c(h_c(P_a(x_a), P_b(x_b), …)) for each cross c)

    where ``P_f`` is the feature's preprocessing layer (below), ``e`` the
    one-hot encoding ``CategoryEncoding(num_tokens=K)`` for ``output_mode=
    "one_hot"`` (``K`` the vocabulary size, bins or hash bins) or nothing,
    and ``h_c`` hashes the crossed indices into ``crossing_dim`` bins
    (``HashedCross``). Feature kinds (a constructor, or its name as a string
    with the default arguments)::

        FeatureSpace.float()                              x as it is (Identity)
        FeatureSpace.float_rescaled(scale=1., offset=0.)  x·scale + offset (Rescaling)
        FeatureSpace.float_normalized()                   (x − μ)/σ, learned (Normalization)
        FeatureSpace.float_discretized(num_bins, bin_boundaries=None, output_mode="one_hot")
        FeatureSpace.integer_categorical(max_tokens=None, num_oov_indices=1, output_mode="one_hot")
        FeatureSpace.string_categorical(max_tokens=None, num_oov_indices=1, output_mode="one_hot")
        FeatureSpace.integer_hashed(num_bins, output_mode="one_hot")
        FeatureSpace.string_hashed(num_bins, output_mode="one_hot")

    Args:
        features: ``{name: kind}``, a kind being one of the constructors above
            (or ``FeatureSpace.feature(dtype, preprocessor, output_mode)``)
            or its name, e.g. ``"float_normalized"``.
        output_mode: ``"concat"`` (default): one float32 tensor
            ``(batch, width)``; ``"dict"``: ``{name: encoded feature}``.
        crosses: feature crosses, each a tuple of feature names (hashed into
            ``crossing_dim`` bins, one-hot) or ``FeatureSpace.cross(names,
            crossing_dim, output_mode)``; only of categorical, hashed or
            discretized features. Default None.
        crossing_dim: bins of the crosses given as tuples (default 32).
        hashing_dim: bins of ``"integer_hashed"``/``"string_hashed"`` given by name (default 32).
        num_discretization_bins: bins of ``"float_discretized"`` given by name (default 32).
        name: a name for the feature space (optional).

    Input shape: a dict with one column per feature, each ``(batch,)``,
    ``(batch, 1)`` or one value (NumPy arrays, lists or tensors).
    Output shape: ``(batch, width)`` float32 (``"concat"``; ``(width,)`` for
    one sample given as scalars), or a dict of ``(batch, K)`` / ``(batch, 1)``.

    Raises:
        ValueError: an empty or unknown feature kind, a bad output mode, a cross
            of unknown or non-categorical features, unencoded ("int") features in
            ``"concat"`` mode, a call before ``adapt``, columns missing, extra or
            of more than one value per sample, data that is not dicts of columns.

    Example:
        >>> fs = FeatureSpace({"age": "float_normalized", "city": "string_categorical"})
        >>> fs.adapt({"age": [20.0, 40.0], "city": ["Oslo", "Lima"]})
        >>> fs({"age": [30.0], "city": ["Lima"]}).tolist()
        [[0.0, 0.0, 0.0, 1.0]]
    """

    @classmethod
    def cross(cls, feature_names: Iterable[str], crossing_dim: int, output_mode: str = "one_hot") -> Cross:
        return Cross(feature_names, crossing_dim, output_mode)

    @classmethod
    def feature(cls, dtype: str, preprocessor: Layer, output_mode: str) -> Feature:
        return Feature(dtype, preprocessor, output_mode)

    @classmethod
    def float(cls, name: str | None = None) -> Feature:
        return Feature("float32", Identity(**named(name)), "float")

    @classmethod
    def float_rescaled(cls, scale: float = 1.0, offset: float = 0.0, name: str | None = None) -> Feature:
        return Feature("float32", Rescaling(scale=scale, offset=offset, **named(name)), "float")

    @classmethod
    def float_normalized(cls, name: str | None = None) -> Feature:
        return Feature("float32", Normalization(axis=-1, **named(name)), "float")

    @classmethod
    def float_discretized(cls, num_bins: int, bin_boundaries: Any = None, output_mode: str = "one_hot",
                          name: str | None = None) -> Feature:
        if bin_boundaries is not None:
            given = len(list(bin_boundaries)) + 1
            if num_bins is not None and num_bins != given:
                raise ValueError(
                    f"FeatureSpace.float_discretized: expected num_bins = len(bin_boundaries) + 1 = {given}, got "
                    f"num_bins={num_bins!r}. Fix: num_bins={given}, or num_bins=None with bin_boundaries."
                )
            layer = Discretization(bin_boundaries=bin_boundaries, **named(name))
        else:
            layer = Discretization(num_bins=num_bins, **named(name))
        return Feature("float32", layer, output_mode)

    @classmethod
    def integer_categorical(cls, max_tokens: int | None = None, num_oov_indices: int = 1,
                            output_mode: str = "one_hot", name: str | None = None) -> Feature:
        layer = IntegerLookup(max_tokens=max_tokens, num_oov_indices=num_oov_indices, **named(name))
        return Feature("int64", layer, output_mode)

    @classmethod
    def string_categorical(cls, max_tokens: int | None = None, num_oov_indices: int = 1,
                           output_mode: str = "one_hot", name: str | None = None) -> Feature:
        layer = StringLookup(max_tokens=max_tokens, num_oov_indices=num_oov_indices, **named(name))
        return Feature("string", layer, output_mode)

    @classmethod
    def integer_hashed(cls, num_bins: int, output_mode: str = "one_hot", name: str | None = None) -> Feature:
        return Feature("int64", Hashing(num_bins=num_bins, **named(name)), output_mode)

    @classmethod
    def string_hashed(cls, num_bins: int, output_mode: str = "one_hot", name: str | None = None) -> Feature:
        return Feature("string", Hashing(num_bins=num_bins, **named(name)), output_mode)

    # ------------------------------------------------------------ construction
    def __init__(self, features: dict[str, Any], output_mode: str = "concat", crosses: Any = None,
                 crossing_dim: int = 32, hashing_dim: int = 32, num_discretization_bins: int = 32,
                 name: str | None = None) -> None:
        if not isinstance(features, dict) or not features or not all(isinstance(k, str) for k in features):
            raise ValueError(
                f"FeatureSpace: expected features as a non-empty dict {{name: kind}}, got {features!r:.100}. "
                "Fix: FeatureSpace({'age': 'float_normalized', 'city': 'string_categorical'})."
            )
        if output_mode not in ("concat", "dict"):
            raise ValueError(
                f"FeatureSpace: expected output_mode 'concat' or 'dict', got {output_mode!r}. Fix: "
                "output_mode='concat' for one vector per sample, 'dict' for each feature encoded on its own."
            )
        self.name, self.output_mode = name or "feature_space", output_mode
        self.crossing_dim, self.hashing_dim = crossing_dim, hashing_dim
        self.num_discretization_bins = num_discretization_bins
        self.features = {n: self._standardize_feature(n, f) for n, f in features.items()}
        self.crosses = [self._standardize_cross(c) for c in (crosses or [])]
        unencoded = [n for n, s in self._specs().items() if s.output_mode == "int"]
        if output_mode == "concat" and unencoded:
            raise ValueError(
                f"FeatureSpace: expected every feature encoded as numbers to concatenate, got {unencoded} with "
                "output_mode='int' (category indices). Fix: output_mode='one_hot' for them, or FeatureSpace(..., "
                "output_mode='dict') to get the indices (e.g. for an Embedding)."
            )
        self.preprocessors = {n: f.preprocessor for n, f in self.features.items()}
        self.crossers = {c.name: HashedCross(c.crossing_dim, name=c.name) for c in self.crosses}
        self.inputs = {n: Input(shape=(1,), dtype=f.dtype, name=n) for n, f in self.features.items()}
        self.one_hot_encoders: dict[str, CategoryEncoding] | None = None  # made once the sizes are known
        self.concat = Concatenate(axis=-1) if output_mode == "concat" else None
        self.encoded_features: Any = None
        self._learning = self._adaptable()  # the features adapt() teaches
        self._adapted = not self._learning

    def _standardize_feature(self, name: str, feature: Any) -> Feature:
        if isinstance(feature, Feature):
            return feature
        makers = {"float": lambda: self.float(name=name), "float_normalized": lambda: self.float_normalized(name=name),
                  "float_rescaled": lambda: self.float_rescaled(name=name),
                  "float_discretized": lambda: self.float_discretized(self.num_discretization_bins, name=name),
                  "integer_categorical": lambda: self.integer_categorical(name=name),
                  "string_categorical": lambda: self.string_categorical(name=name),
                  "integer_hashed": lambda: self.integer_hashed(self.hashing_dim, name=name),
                  "string_hashed": lambda: self.string_hashed(self.hashing_dim, name=name)}
        if not isinstance(feature, str) or feature not in makers:
            raise ValueError(
                f"FeatureSpace: expected feature {name!r} to be one of {', '.join(KINDS)} (a name or a "
                f"FeatureSpace.<kind>(...) constructor), got {feature!r}. Fix: e.g. {{{name!r}: 'float_normalized'}}."
            )
        return makers[feature]()

    def _standardize_cross(self, cross: Any) -> Cross:
        if not isinstance(cross, Cross):
            cross = Cross(cross, self.crossing_dim)
        unknown = [n for n in cross.feature_names if n not in self.features]
        floats = [n for n in cross.feature_names if n in self.features and self.features[n].output_mode == "float"]
        if unknown or floats:
            got = f"unknown features {unknown}" if unknown else f"features with float values {floats}"
            raise ValueError(
                f"FeatureSpace: expected the crossed features {list(cross.feature_names)} to be categorical "
                f"features of `features` (categorical, hashed or discretized), got {got}. Fix: cross those, "
                "e.g. crosses=[('sex', 'thal')]; discretize a measurement first ('float_discretized')."
            )
        return cross

    def _specs(self) -> dict[str, Feature | Cross]:
        """Every output in its place: the features by sorted name, then the crosses by sorted name."""
        crosses = {c.name: c for c in self.crosses}
        return {**{n: self.features[n] for n in sorted(self.features)}, **{n: crosses[n] for n in sorted(crosses)}}

    def _adaptable(self) -> list[str]:
        """The features whose layer learns from data: Normalization, Discretization by
        num_bins, the lookups and TextVectorization (a custom ``FeatureSpace.feature``), not the
        ones already given their statistics, boundaries or vocabulary."""
        names = []
        for n, f in self.features.items():
            p = f.preprocessor
            if isinstance(p, Normalization) and p.input_mean is None \
                    or isinstance(p, Discretization) and p.bin_boundaries is None \
                    or isinstance(p, (IntegerLookup, StringLookup, TextVectorization)) and p.vocab.tokens is None:
                names.append(n)
        return names

    # ------------------------------------------------------------ adapt
    def adapt(self, data: Any) -> None:
        """Learn each feature's statistics (mean and variance, bin boundaries,
        vocabularies) from ``data``: a dict of columns (NumPy arrays, lists,
        tensors), or an iterable of such dicts (a list of batches, a generator,
        a ``DataLoader`` whose batches are dicts)."""
        names = self._learning
        batches = [data] if isinstance(data, dict) else self._batches(data)
        parts: dict[str, list[np.ndarray]] = {n: [] for n in names}
        for batch in batches:
            self._check_keys(batch, names, ".adapt", extra_ok=True)
            for n in names:
                parts[n].append(column(n, self.features[n].dtype, batch[n]))
        for n in names:
            if not parts[n]:
                raise ValueError(
                    "FeatureSpace.adapt: expected at least one batch of data, got none. "
                    "Fix: adapt on the training columns, fs.adapt({'age': ages, ...})."
                )
            self.preprocessors[n].adapt(np.concatenate(parts[n]))
        self._adapted = True
        self.one_hot_encoders, self.encoded_features = None, None  # the sizes may have changed

    def _batches(self, data: Any) -> Iterable[dict]:
        if isinstance(data, (str, bytes, np.ndarray, torch.Tensor)) or not isinstance(data, Iterable):
            raise ValueError(
                f"FeatureSpace.adapt: expected a dict of columns or an iterable of such dicts, got "
                f"{type(data).__name__}. Fix: fs.adapt({{'age': ages, 'city': cities}})."
            )
        for batch in data:
            if not isinstance(batch, dict):
                raise ValueError(
                    f"FeatureSpace.adapt: expected batches that are dicts of columns, got a {type(batch).__name__} "
                    "(batches of (features, labels)?). Fix: adapt on the features alone, "
                    "fs.adapt(x for x, y in loader)."
                )
            yield batch

    def _check_keys(self, data: dict, names: Iterable[str], what: str, extra_ok: bool = False) -> None:
        missing = [n for n in names if n not in data]
        extra = [] if extra_ok else [k for k in data if k not in self.features]
        if missing or extra:
            got = f"missing {missing}" if missing else f"extra columns {extra}"
            raise ValueError(
                f"FeatureSpace{what}: expected one column per feature, keyed {sorted(self.features)}, got {got}. "
                "Fix: pass exactly the features' columns, e.g. {k: v for k, v in row.items() if k in "
                "fs.features} (labels apart)."
            )

    # ------------------------------------------------------------ encoding
    def _check_adapted(self) -> None:
        if not self._adapted:
            raise ValueError(
                f"FeatureSpace: expected adapt() before use, got features {self._learning} that learn from "
                "data and have not. Fix: fs.adapt(training_columns) first."
            )

    def _encoders(self) -> dict[str, CategoryEncoding]:
        if self.one_hot_encoders is None:
            layers = {**self.preprocessors, **self.crossers}
            self.one_hot_encoders = {n: CategoryEncoding(num_tokens=cardinality(n, layers[n]),
                                                         output_mode="multi_hot")
                                     for n, s in self._specs().items() if s.output_mode == "one_hot"}
        return self.one_hot_encoders

    def _encode(self, columns: dict[str, Any]) -> Any:
        """Preprocess, cross, encode and join (real columns or symbolic Inputs)."""
        pre = {n: self.preprocessors[n](columns[n]) for n in self.features}
        for c in self.crosses:
            pre[c.name] = self.crossers[c.name]([pre[n] for n in c.feature_names])
        encoders = self._encoders()
        out = {n: encoders[n](pre[n]) if n in encoders else pre[n] for n in self._specs()}
        if self.output_mode == "dict":
            return out
        parts = list(out.values())
        return self.concat(parts) if len(parts) > 1 else parts[0]  # one feature: its encoding is the vector

    def __call__(self, data: dict[str, Any]) -> Any:
        """Encode a batch: ``data`` a dict with one column per feature."""
        if not isinstance(data, dict):
            raise ValueError(
                f"FeatureSpace: expected a dict of columns, {{feature name: values}}, got {type(data).__name__}. "
                "Fix: fs({'age': ages, 'city': cities})."
            )
        self._check_adapted()
        self._check_keys(data, self.features, "")
        one = all(np.ndim(v.cpu() if isinstance(v, torch.Tensor) else v) == 0 for v in data.values())
        columns = {}
        for n in self.features:
            values = column(n, self.features[n].dtype, data[n])
            columns[n] = torch.from_numpy(values) if values.dtype != object else values
        out = self._encode(columns)
        if one:  # one sample given as scalars: its vector, without the batch axis (as Keras)
            return out[0] if self.output_mode == "concat" else {n: v[0] for n, v in out.items()}
        return out

    def get_inputs(self) -> dict[str, Any]:
        """``{name: Input(shape=(1,), dtype=..., name=name)}``, one per feature."""
        self._check_adapted()
        return self.inputs

    def get_encoded_features(self) -> Any:
        """The encoded features as symbolic tensors computed from ``get_inputs()``
        (one tensor in ``"concat"`` mode, a dict in ``"dict"`` mode), to build a
        model on: ``Model(fs.get_inputs(), outputs)`` takes the raw columns,
        ``Model(fs.get_encoded_features(), outputs)`` takes ``fs(columns)``."""
        self._check_adapted()
        if self.encoded_features is None:
            self.encoded_features = self._encode(self.inputs)
        return self.encoded_features

    # ------------------------------------------------------------ saving
    def get_config(self) -> dict[str, Any]:
        """The constructor arguments; each feature's layer with its learned vocabulary or boundaries
        (a Normalization's mean and variance are its weights, which ``save`` writes)."""
        from ._registry import serialize

        features = {n: {"dtype": f.dtype, "preprocessor": serialize(f.preprocessor, "layer"),
                        "output_mode": f.output_mode} for n, f in self.features.items()}
        return {"features": features, "output_mode": self.output_mode,
                "crosses": [c.get_config() for c in self.crosses], "crossing_dim": self.crossing_dim,
                "hashing_dim": self.hashing_dim, "num_discretization_bins": self.num_discretization_bins,
                "name": self.name}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "FeatureSpace":
        from ._registry import deserialize

        config = dict(config)
        config["features"] = {n: Feature(f["dtype"], deserialize(f["preprocessor"], "layer"), f["output_mode"])
                              for n, f in config["features"].items()}
        config["crosses"] = [Cross(**c) for c in config.get("crosses") or []]
        return cls(**config)

    def save(self, filepath: Any) -> None:
        """Write the adapted feature space to one ``.brainnet`` file (JSON and
        safetensors, atomically); ``brainnet.models.load_model`` reads it back."""
        from ._feature_space_saving import save_feature_space

        save_feature_space(self, filepath)

