"""Saving and loading a ``FeatureSpace``: one ``.brainnet`` archive of kind
``"feature_space"`` (brainnet.models._archive), written atomically::

    metadata.json                {"format": "brainnet", "kind": "feature_space", ...}
    config.json                  FeatureSpace.get_config(): the features, each with its layer's config
                                 (vocabularies, bin boundaries, hash bins), the crosses, the output mode
    feature_space.safetensors    the layers' weights, "<feature>/<weight>" (a Normalization's mean,
                                 variance and count)

Nothing is pickled; layer classes are looked up by name among brainnet's own
(and registered) ones, as ``load_model`` does for models.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from . import _registry
from .models._archive import read_archive, read_json, read_tensors, tensor_bytes, write_archive, _json_bytes

KIND = "feature_space"
WEIGHTS = "feature_space.safetensors"


def save_feature_space(space: Any, filepath: str | os.PathLike) -> None:
    """Write ``space`` (adapted) to ``filepath``.

    Raises:
        ValueError: the feature space has not been adapted.
        OSError: the file could not be written (the previous one is kept).
    """
    if not space._adapted:
        raise ValueError(
            f"FeatureSpace.save: expected an adapted feature space, got features {space._learning} that have not "
            "learned from data, so the file would hold nothing to reuse. Fix: fs.adapt(training_columns), then "
            "fs.save(path)."
        )
    tensors = {f"{name}/{key}": value for name, layer in space.preprocessors.items()
               for key, value in layer.state_dict().items()}
    entries = {"config.json": _json_bytes(space.get_config()), WEIGHTS: tensor_bytes(tensors)}
    write_archive(filepath, KIND, entries, "FeatureSpace.save")


def load_feature_space(filepath: str | os.PathLike, custom_objects: dict[str, Any] | None = None) -> Any:
    """The ``FeatureSpace`` saved at ``filepath``, adapted as it was saved.

    Raises:
        ValueError: the file is not a saved feature space, is damaged, or names
            a layer that is neither brainnet's nor registered.
    """
    from ._feature_space import FeatureSpace

    path, what = Path(filepath), "load_model"
    entries = read_archive(path, KIND, what)
    config = read_json(entries, "config.json", path, what)
    tensors = read_tensors(entries, WEIGHTS, path, what)
    try:
        with _registry.custom_objects(custom_objects):
            space = FeatureSpace.from_config(config)
        for name, layer in space.preprocessors.items():
            state = {key[len(name) + 1:]: value for key, value in tensors.items() if key.startswith(f"{name}/")}
            if state and not layer.built:
                layer.build_from_shape((None, 1))
            layer.load_state_dict(state)
    except (ValueError, TypeError, KeyError, RuntimeError) as err:
        raise ValueError(f"{what}: {path} holds a feature space that cannot be rebuilt: {err}") from None
    space._adapted = True
    return space
