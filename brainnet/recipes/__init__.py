"""Recipes: the teaching examples, trained end to end by ``brainnet run``.

A recipe is a name, a one-line description and a ``run(config)`` function;
``RECIPES`` maps names to them, in the order ``brainnet list`` shows. Each
family lives in its own module (``images``: the CNN on MNIST and
Fashion-MNIST; ``sequences``: the LSTM, attention and Transformer
classifiers on row-wise MNIST; ``text``: the character-level Transformer
language model; ``fast``: 99 % on MNIST in the least time; ``challenges``:
the material's open problems, too little data and (in ``two_input``)
several kinds of input)
and shares the steps in ``_common`` (options, image loading,
the plot, the output files).

    >>> list(RECIPES)[:2]
    ['mnist-cnn', 'fashion-cnn']
"""

from ._common import EpochTimer, Recipe, RunConfig, load_images, plot_curves, write_outputs
from .challenges import CHALLENGE_RECIPES
from .fast import FAST_RECIPES
from .images import IMAGE_RECIPES, run_image_classifier, teaching_cnn
from .sequences import SEQUENCE_RECIPES
from .text import TEXT_RECIPES

RECIPES: dict[str, Recipe] = {
    recipe.name: recipe
    for recipe in (*IMAGE_RECIPES, *SEQUENCE_RECIPES, *TEXT_RECIPES, *FAST_RECIPES, *CHALLENGE_RECIPES)
}

__all__ = [
    "RECIPES", "Recipe", "RunConfig", "EpochTimer", "load_images", "plot_curves",
    "write_outputs", "run_image_classifier", "teaching_cnn",
]
