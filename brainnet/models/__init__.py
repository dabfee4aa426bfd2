"""Models: ``Sequential`` for a stack of layers, ``Model(inputs, outputs)`` for
a graph (functional API), ``Model`` to subclass; ``Input`` starts a graph;
``load_model`` reads a file written by ``model.save``; ``model_from_json``
rebuilds a model from ``model.to_json()``; ``clone_model`` copies a model's
architecture with fresh weights."""

from ..layers.symbolic import Input
from .cloning import clone_model
from .functional import Functional
from .model import Model
from .saving import load_model, model_from_config, model_from_json, save_model
from .sequential import Sequential

__all__ = ["Input", "Model", "Sequential", "Functional", "load_model", "save_model", "model_from_json",
           "model_from_config", "clone_model"]
