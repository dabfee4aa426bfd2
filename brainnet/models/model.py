"""Model: a Layer that can compile, fit, evaluate and predict.

The model describes structure; ``brainnet.training.Trainer`` owns the loop.
``Sequential`` is the Model most tutorials use; subclass ``Model`` and
define ``call`` for anything else.
"""

from __future__ import annotations

import difflib
from typing import Any, Callable, Iterable

import numpy as np
import torch

from ..layers._graph_access import MISSING, own
from ..layers.base import Layer, Shape
from ..layers.symbolic import agreed_shape
from ..training import custom_step, model_steps
from ..training.callbacks import Callback, History
from ..training.trainer import Trainer, inference_layers, resolve_device
from .saving import load_weights, model_config, save_model, save_weights
from .summary import print_summary


class Model(Layer):
    """A Layer with the training API: ``compile``, ``fit``, ``evaluate``,
    ``predict`` and ``summary``, as in Keras.

    Two attributes tell ``brainnet predict`` how to use a saved model on raw
    pictures; ``save`` stores them and ``load_model`` restores them:

    * ``preprocessing``: a ``brainnet.preprocessing.ImagePreprocessing``
      (input size, colours, background, normalisation), or None;
    * ``class_names``: one name per output unit, or None (classes are then
      shown by index).
    """

    preprocessing: Any = None  # an ImagePreprocessing, or None
    class_names: list[str] | None = None

    def __new__(cls, *args: Any, **kwargs: Any) -> "Model":
        # Model(inputs, outputs) builds a functional model, as in Keras.
        if cls is Model and (args or "inputs" in kwargs or "outputs" in kwargs):
            from .functional import Functional

            return super().__new__(Functional)
        return super().__new__(cls)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if _functional_arguments(args, kwargs):
            # A subclass built as CustomModel(inputs, outputs) (Keras 3's rule: the functional
            # constructor's arguments reaching Model.__init__): the object becomes a functional
            # model of a class that keeps the subclass's methods (its train_step, say).
            from .functional import Functional

            if not isinstance(self, Functional):
                self.__class__ = _with_functional(type(self), Functional)
            Functional.__init__(self, *args, **kwargs)
            return
        super().__init__(*args, **kwargs)
        self.trainer: Trainer | None = None
        self.stop_training = False  # a callback sets it to True to end fit (Keras)

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "Model":
        """Rebuild from ``get_config()``; a functional model's graph config given to a
        subclass (one built as ``CustomModel(inputs, outputs)``) rebuilds the graph and
        passes it to the subclass as ``(inputs, outputs)``, as Keras 3 does."""
        from .functional import Functional

        if not issubclass(cls, Functional) and isinstance(config, dict) and {"layers", "nodes", "inputs"} <= set(config):
            return Functional.from_config.__func__(cls, config)
        return super().from_config(config)

    # -------------------------------------------------------- structure
    @property
    def input_shape(self) -> Shape | None:
        """Shape the model accepts, batch axis first (None before it is known)."""
        return self.built_input_shape

    @property
    def output_shape(self) -> Shape | list[Shape]:
        """Shape of the output (a list of them for several), batch axis first (Keras)."""
        if self.input_shape is None:
            raise ValueError(
                f"{type(self).__name__} '{self.name}': expected a built model for output_shape, got one whose "
                "input shape is not known yet. Fix: give input_shape= to the first layer, call "
                "model.build((None, ...)), or fit/predict once."
            )
        return self.compute_output_shape(self.input_shape)

    def _graph_end(self, attr: str, what: str) -> Any:
        stored = own(self, what)
        if stored is not MISSING:
            return stored
        if not hasattr(type(self), attr):  # a subclassed model: no graph of its own
            return getattr(Layer, what).fget(self)
        ends = getattr(self, attr)
        return ends[0] if len(ends) == 1 else ends

    @property
    def output(self) -> Any:
        """The symbolic output (a list of them for several) of a Sequential or
        functional model, as Keras's ``model.output``."""
        return self._graph_end("outputs", "output")

    @output.setter
    def output(self, value: Any) -> None:
        self.__dict__["output"] = value

    @property
    def input(self) -> Any:
        """The symbolic input (a list of them for several) of a Sequential or functional model."""
        return self._graph_end("inputs", "input")

    @input.setter
    def input(self, value: Any) -> None:
        self.__dict__["input"] = value

    @property
    def output_activation_name(self) -> str | None:
        """Keras name of the activation applied last (softmax, sigmoid, ...)."""
        return None

    def output_activation(self, logits: torch.Tensor) -> torch.Tensor:
        """Apply the final activation to pre-activation outputs."""
        raise NotImplementedError

    @property
    def output_names(self) -> list[str]:
        """Names of the outputs, for per-output losses and logs."""
        return ["output"]

    def input_dtypes(self, count: int) -> list[torch.dtype | None]:
        """Per input: the integer dtype it needs (token indices), or None for
        the model's floating dtype."""
        return [None] * count

    @property
    def dtype(self) -> torch.dtype:
        """Dtype of the weights (float32 unless changed)."""
        for p in self.parameters():
            if p.is_floating_point():
                return p.dtype
        return torch.get_default_dtype()

    @property
    def optimizer(self) -> Any:
        return None if self.trainer is None else self.trainer.optimizer

    @property
    def history(self) -> History | None:
        """The ``History`` of the last ``fit`` (the one it returned), as Keras
        sets ``model.history``; None before the first fit."""
        return None if self.trainer is None else self.trainer.history

    @property
    def metrics_names(self) -> list[str]:
        """Names of the values ``evaluate`` returns, in its order: ``"loss"``,
        then the metrics as the History and ``return_dict=True`` name them
        (several outputs: ``loss``, ``<output>_loss`` each, ``<output>_<metric>``
        each). Empty before ``compile``."""
        return [] if self.trainer is None or self.trainer.optimizer is None else [n for n, _ in self.trainer.logged()]

    def get_layer(self, name: str | None = None, index: int | None = None) -> Layer:
        """A layer of the model by its ``name`` or by its ``index`` (the order
        of ``summary()``; negative counts from the end), as in Keras.

        Raises:
            ValueError: no layer of that name, an index out of range, or both
                or neither of ``name`` and ``index`` given. The message lists
                the layers' names.
        """
        layers = self._top_layers()
        names = [layer.name for layer in layers]
        if (name is None) == (index is None):
            got = f"both (name={name!r}, index={index!r})" if name is not None else "neither"
            raise ValueError(
                f"get_layer: expected a layer name or an index, got {got}. The model's layers are "
                f"{names}. Fix: model.get_layer({(names or ['dense'])[0]!r}) or model.get_layer(index=0)."
            )
        if index is not None:
            n = len(layers)
            if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or not -n <= index < n:
                raise ValueError(
                    f"get_layer: expected an index from {-n} to {n - 1} (the model has {n} layers: "
                    f"{names}), got {index!r}. Fix: model.get_layer(index=-1) for the last layer, or "
                    "get the layer by its name."
                )
            return layers[int(index)]
        if name in names:
            return layers[names.index(name)]
        close = difflib.get_close_matches(str(name), names, n=1)
        fix = f"model.get_layer({close[0]!r})" if close else "use one of those names"
        raise ValueError(
            f"get_layer: expected the name of one of the model's layers {names}, got {name!r}. Fix: {fix}."
        )

    def _top_layers(self) -> list[Layer]:
        """The layers directly inside the model, in order: a Sequential's stack,
        a functional model's graph layers, a subclassed model's attributes
        (also inside ``nn.ModuleList``/``nn.ModuleDict``)."""
        found: list[Layer] = []

        def visit(module: torch.nn.Module) -> None:
            for child in module.children():
                if isinstance(child, Layer):
                    found.append(child)
                else:
                    visit(child)

        visit(self)
        return found

    def build(self, input_shape: Shape) -> None:
        """Build a subclassed model by calling it once on zeros of that shape
        (Sequential builds layer by layer from shapes alone). Called by you, as
        in Keras (``model.build((None, 10))``), it also records the input shape,
        so that ``summary`` and ``output_shape`` work."""
        if self.built or getattr(self, "_building", False):
            self._probe(input_shape)
            return
        self._building = True
        try:
            self.build_from_shape(input_shape)  # which calls this again, then marks the model built
        finally:
            self._building = False

    def _probe(self, input_shape: Any, unknown: int = 1) -> Any:
        """Run ``call`` once on zeros (batch 1, unknown sizes ``unknown``) in inference mode."""
        device = next((p.device for p in self.parameters()), None)

        def one(shape: Any) -> torch.Tensor:
            return torch.zeros((1,) + tuple(unknown if d is None else d for d in shape[1:]), device=device)

        zeros = [one(s) for s in input_shape] if isinstance(input_shape, list) else one(input_shape)
        with inference_layers(self), torch.no_grad():
            return self.call(zeros)

    def compute_output_shape(self, input_shape: Any) -> Any:
        """Output shape(s) of a subclassed model, found by two runs on zeros
        (unknown sizes 2, then 3: an output axis that follows them is unknown)."""
        first, second = (self._probe(input_shape, unknown) for unknown in (2, 3))
        if isinstance(first, (list, tuple)):
            return [agreed_shape(a.shape, b.shape) for a, b in zip(first, second)]
        return agreed_shape(first.shape, second.shape)

    def summary_rows(self) -> list[tuple[Any, Any, str]]:
        """(layer, output shape or None, connected to) per row of summary().

        A subclassed model's layers report the shapes they gave in two runs on
        zeros (unknown sizes 2, then 3: an axis that follows them is unknown);
        a layer that did not run, or gave several outputs, shows ``?``."""
        layers = [m for m in self.children() if isinstance(m, Layer)]
        shapes = self._layer_output_shapes(layers) if self.input_shape is not None else {}
        return [(m, shapes.get(m), "") for m in layers]

    def _layer_output_shapes(self, layers: list[Layer]) -> dict[Layer, tuple]:
        runs: list[dict[Layer, tuple]] = []
        for unknown in (2, 3):
            seen: dict[Layer, tuple] = {}

            def record(module: Layer, args: Any, out: Any, seen: dict = seen) -> None:
                if isinstance(out, torch.Tensor):
                    seen.setdefault(module, tuple(out.shape))

            hooks = [m.register_forward_hook(record) for m in layers]
            try:
                self._probe(self.input_shape, unknown)
            except Exception:  # noqa: BLE001 - a summary shows '?' rather than fail
                return {}
            finally:
                for h in hooks:
                    h.remove()
            runs.append(seen)
        return {m: agreed_shape(runs[0][m], runs[1][m]) for m in runs[0]
                if m in runs[1] and len(runs[0][m]) == len(runs[1][m])}

    # --------------------------------------------------------- training
    def compile(
        self,
        optimizer: Any = "rmsprop",
        loss: Any = None,
        metrics: Iterable[Any] | None = None,
        loss_weights: Any = None,
        device: str | torch.device | None = None,
        jit_compile: bool | str = "auto",
        weighted_metrics: Iterable[Any] | None = None,
        run_eagerly: bool = False,
        steps_per_execution: int = 1,
        auto_scale_loss: bool = True,
        **unknown: Any,
    ) -> None:
        """Configure training.

        Args:
            optimizer: name (``"adam"``, ``"sgd"``, ...) or a
                ``brainnet.optimizers`` instance; default ``"rmsprop"`` (Keras).
            loss: name, ``brainnet.losses`` function/class instance, or
                ``fn(y_true, y_pred)``.
            metrics: list of names (``"accuracy"``), metric instances or
                functions. Several outputs: one list for all, a list of lists,
                or a dict keyed by output name (as ``loss`` and ``loss_weights``).
            loss_weights: weights of the outputs' losses in the total (default 1).
            device: ``"auto"``/None (CUDA if available, else CPU; or
                ``$BRAINNET_DEVICE``), ``"cpu"``, ``"cuda"``, ``"cuda:1"``.
            jit_compile: True makes the training step fast at a start-up
                cost: on CUDA the whole step (forward, backward, update) is
                captured as one CUDA graph after 3 eager steps (SGD, Adam,
                AdamW; other optimizers: ``torch.compile`` of the forward pass);
                on CPU the forward pass and loss are compiled with
                ``torch.compile`` (seconds to minutes the first time). ``"auto"``
                (default) and False run eagerly. The mixed-precision policy
                (``brainnet.mixed_precision.set_global_policy``) is read here too.
            weighted_metrics: metrics (in the forms of ``metrics``) that
                ``sample_weight`` and ``class_weight`` weigh, as in Keras 3:
                Σ_i w_i · m_i / Σ_i w_i; those of ``metrics`` ignore the
                weights (the loss never does). Without weights they are plain
                metrics. A name that ``metrics`` has too is logged with
                ``weighted_`` in front (``weighted_accuracy``).
            run_eagerly: True runs every step eagerly, op by op, so that a
                breakpoint or a print inside ``call`` sees real tensors (as
                Keras); brainnet is eager unless ``jit_compile=True``, so
                True means "no compilation" and cannot go with
                ``jit_compile=True``. False (default) leaves it to ``jit_compile``.
            steps_per_execution: 1 (default), the only value: each training
                step is one call. Keras runs that many batches inside one
                compiled call; brainnet's way to less overhead per sample is a
                larger ``batch_size``, or ``jit_compile=True`` on CUDA.
            auto_scale_loss: accepted for Keras code; either value trains the
                same. Keras scales the loss only under the ``"mixed_float16"``
                policy, which brainnet does not offer (``"mixed_bfloat16"``
                needs no loss scaling).

        Raises:
            ValueError: unknown optimizer, loss, metric or device, a
                jit_compile that is not True, False or "auto", run_eagerly=True
                with jit_compile=True, or steps_per_execution other than 1.
            TypeError: an argument compile does not take (the message lists
                those it takes, or says what to do instead of a Keras 2 one).
        """
        _refuse_keras_only("compile", unknown)
        jit_compile = _eager_or_compiled(run_eagerly, jit_compile, steps_per_execution, auto_scale_loss)
        self.trainer = Trainer(self, optimizer, loss, metrics, device, loss_weights, jit_compile, weighted_metrics)
        self.to(self.trainer.device)

    def _require_compiled(self, what: str) -> Trainer:
        if self.trainer is None or self.trainer.optimizer is None:
            raise RuntimeError(
                f"{what}: expected a compiled model, got one that was never compiled. Fix: call "
                "model.compile(optimizer='adam', loss='sparse_categorical_crossentropy', "
                f"metrics=['accuracy']) before model.{what}()."
            )
        return self.trainer

    def fit(
        self,
        x: Any = None,
        y: Any = None,
        batch_size: int | None = None,
        epochs: int = 1,
        verbose: int | str = "auto",
        callbacks: list[Callback] | None = None,
        validation_split: float = 0.0,
        validation_data: tuple | None = None,
        shuffle: bool = True,
        class_weight: dict[int, float] | None = None,
        sample_weight: Any = None,
        initial_epoch: int = 0,
        steps_per_epoch: int | None = None,
        validation_steps: int | None = None,
        **keras_only: Any,
    ) -> History:
        """Train for ``epochs`` passes over ``(x, y)``; returns a ``History``.

        Args:
            x: inputs (NumPy, pandas, torch), shaped like the model's input;
                or, as Keras 3, a source of batches ``(x, y)`` or ``(x, y,
                sample_weight)`` (then ``y`` and ``sample_weight`` stay None):
                a ``torch.utils.data.DataLoader`` (one pass per epoch; its
                sampler shuffles), a ``torch.utils.data.Dataset`` (batched
                with ``batch_size`` and ``shuffle``), a
                ``brainnet.utils.PyDataset``, or a generator (needs
                ``steps_per_epoch``). These train with the eager (or
                ``torch.compile``d) step, not the CUDA graph.
            y: labels or targets.
            batch_size: samples per step (default 32); under torchrun the
                global batch, split over the processes (``brainnet.distributed``).
                Not with a DataLoader, PyDataset or generator (they batch).
            epochs: passes over the data.
            verbose: 0 silent, 1 progress bar (``"auto"``), 2 one line per epoch.
            callbacks: ``brainnet.callbacks.Callback`` instances.
            validation_split: fraction of the data, taken from the end before
                shuffling (as Keras), held out for validation.
            validation_data: ``(x_val, y_val)`` or ``(x_val, y_val,
                sample_weight_val)``; overrides validation_split.
            shuffle: reshuffle the training data every epoch.
            class_weight: ``{class index: weight}`` (Keras): each sample's loss
                is weighed by its class's weight (the argmax of a one-hot
                label), 1.0 for classes left out. One-output classifiers
                only; not together with ``sample_weight``; the validation
                data are not weighed by it.
            sample_weight: one weight ≥ 0 per sample, shape (N,) or (N, 1)
                (Keras): each sample's loss is multiplied by its weight and
                the batch's sum divided by the batch size (Keras's
                "sum_over_batch_size", not by the sum of the weights). With
                several outputs: one array for all, or a list or dict with
                one per output. ``validation_split`` splits the weights with
                the data; ``metrics`` ignore them, ``weighted_metrics`` use them.
            initial_epoch: epoch to start from (to resume; a
                ``BackupAndRestore`` backup overrides it).
            steps_per_epoch: batches per epoch from a DataLoader, PyDataset
                or generator (default: one pass; a generator needs it), going
                on from where the last epoch stopped.
            validation_steps: batches of a ``validation_data`` loader or
                generator to evaluate (default: one pass).

        A callback stops training with ``model.stop_training = True``.
        Ctrl-C stops after the current batch and returns the History of the
        finished epochs (with a warning); the model stays usable.

        Raises:
            RuntimeError: the model was not compiled.
            ValueError: inputs or labels that cannot be right (see
                ``brainnet.training.data``).
            FloatingPointError: a batch's loss was NaN or infinite (the
                message names the epoch, the batch and the usual causes).
        """
        _refuse_keras_only("fit", keras_only)
        trainer = self._require_compiled("fit")
        if type(self).train_step is not Model.train_step:  # the user's own step: custom_step.py
            return custom_step.fit(
                trainer, x, y, batch_size, epochs, verbose, callbacks, validation_split, validation_data, shuffle,
                initial_epoch, sample_weight, class_weight, steps_per_epoch, validation_steps,
                type(self).test_step is not Model.test_step,
            )
        return trainer.fit(
            x, y, batch_size, epochs, verbose, callbacks, validation_split,
            validation_data, shuffle, initial_epoch, sample_weight, class_weight, steps_per_epoch, validation_steps,
        )

    def evaluate(
        self,
        x: Any = None,
        y: Any = None,
        batch_size: int | None = None,
        verbose: int | str = "auto",
        sample_weight: Any = None,
        callbacks: list[Callback] | None = None,
        return_dict: bool = False,
        steps: int | None = None,
    ) -> float | list[float] | dict[str, float]:
        """Loss and metrics on ``(x, y)``: a float when there are no metrics,
        else ``[loss, *metrics]`` (a dict with ``return_dict=True``).

        ``batch_size`` defaults to 256: larger batches than fit's, same values.
        ``sample_weight`` weighs the loss and the weighted metrics as in ``fit``.
        ``x`` may be a DataLoader, Dataset, PyDataset or generator of ``(x,
        y)`` batches, as in ``fit``; ``steps`` then limits the batches read
        (default: one pass, or until a generator ends).
        """
        trainer = self.trainer
        if type(self).test_step is not Model.test_step:  # the user's own step: custom_step.py
            trainer = self._require_compiled("evaluate")
            return custom_step.evaluate(trainer, x, y, batch_size, verbose, callbacks, return_dict, sample_weight,
                                        steps)
        if trainer is None or trainer.loss is None:
            self._require_compiled("evaluate")
        return trainer.evaluate(x, y, batch_size, verbose, callbacks, return_dict, sample_weight, steps)

    def predict(self, x: Any, batch_size: int | None = None, verbose: int | str = 0,
                steps: int | None = None) -> np.ndarray:
        """Outputs for ``x`` as a NumPy array (no compile needed).

        ``batch_size`` defaults to 256. ``x`` may be a DataLoader, Dataset,
        PyDataset or generator (labels in its batches are ignored);
        ``steps`` then limits the batches read.
        """
        trainer = self.trainer or Trainer(self, None, None, None, self._device_of_weights())
        if type(self).predict_step is not Model.predict_step:  # the user's own step: custom_step.py
            return custom_step.predict(trainer, x, batch_size, steps)
        return trainer.predict(x, batch_size, steps)

    # ------------------------------------------- the steps fit runs (Keras 3)
    def train_step(self, data: Any) -> dict[str, Any]:
        """One training step on one batch; override it to train your own way
        (a GAN, a VAE) and keep the rest of ``fit``, as in Keras 3.

        ``data`` is the batch: ``(x, y)``, ``(x, y, sample_weight)`` or ``x``
        alone when fit got no y, as tensors on the model's device. Return a
        dict of values to log: ``{m.name: m.result() for m in self.metrics}``.
        This default is Keras's standard step: ``self.zero_grad()``;
        ``y_pred = self(x, training=True)``; ``loss = self.compute_loss(y=y,
        y_pred=y_pred, sample_weight=sample_weight)``; ``loss.backward()``;
        ``self.optimizer.apply([v.grad for v in self.trainable_weights],
        self.trainable_weights)``; ``self.compute_metrics(...)``. A model that
        does not override it trains with brainnet's built-in, faster loop.

        Example:
            >>> class Custom(brainnet.Sequential):
            ...     def train_step(self, data):
            ...         x, y = data
            ...         self.zero_grad()
            ...         y_pred = self(x, training=True)
            ...         loss = self.compute_loss(y=y, y_pred=y_pred)
            ...         loss.backward()
            ...         self.optimizer.apply([v.grad for v in self.trainable_weights], self.trainable_weights)
            ...         for m in self.metrics:
            ...             m.update_state(loss) if m.name == "loss" else m.update_state(y, y_pred)
            ...         return {m.name: m.result() for m in self.metrics}
        """
        return model_steps.train_step(self, data)

    def test_step(self, data: Any) -> dict[str, Any]:
        """One evaluation step (``evaluate`` and fit's validation call it when
        overridden); the default is Keras's: forward in inference mode, the
        compiled loss into the "loss" tracker, ``compute_metrics``."""
        return model_steps.test_step(self, data)

    def predict_step(self, data: Any) -> Any:
        """One prediction step (``predict`` calls it when overridden): the
        default returns ``self(x, training=False)``."""
        return model_steps.predict_step(self, data)

    def compute_loss(self, x: Any = None, y: Any = None, y_pred: Any = None, sample_weight: Any = None,
                     training: bool = True) -> torch.Tensor:
        """The loss given to ``compile`` on a batch, summed with the
        regularization penalties ``self.losses`` (Keras 3):
        L = Σ_k λ_k · (1/N) Σ_i w_i · ℓ_k(y_ik, ŷ_ik) + Σ self.losses.

        Raises:
            ValueError: no compiled loss and no penalties, or labels that do not fit the loss.
        """
        return model_steps.compute_loss(self, y, y_pred, sample_weight)

    def compute_metrics(self, x: Any, y: Any, y_pred: Any, sample_weight: Any = None) -> dict[str, float]:
        """Update the metrics given to ``compile`` with a batch; return every
        value of ``self.metrics`` (``{"loss": ..., "mae": ...}``)."""
        return model_steps.compute_metrics(self, y, y_pred, sample_weight)

    def get_metrics_result(self) -> dict[str, float]:
        """The current values of ``self.metrics`` as a dict (Keras 3)."""
        return model_steps.metrics_result(self)

    @property
    def metrics(self) -> list[Any]:
        """What a custom step updates and ``fit`` resets at each epoch (and
        ``evaluate`` at its start): the "loss" tracker once compiled, then the
        compiled metrics as one object named "compile_metrics". Override it
        to list trackers of your own (``brainnet.metrics.Mean(name="d_loss")``)."""
        return model_steps.model_metrics(self)

    def reset_metrics(self) -> None:
        """``reset_state()`` of every entry of ``self.metrics``."""
        custom_step.reset_metrics(self)

    def train_on_batch(self, x: Any, y: Any = None, sample_weight: Any = None,
                       class_weight: dict[int, float] | None = None,
                       return_dict: bool = False) -> float | list[float] | dict[str, float]:
        """One optimizer step on exactly the batch ``(x, y)``, as Keras 3: returns
        that batch's loss (a float), ``[loss, *metrics]`` with metrics, or a
        dict with ``return_dict=True``. The values come from the batch's forward
        pass, before the update; the metrics start over at every call.

        The model is put in training mode (dropout on), as ``fit`` does.
        ``sample_weight`` and ``class_weight`` weigh the loss as in ``fit``.

        Raises:
            RuntimeError: the model was not compiled.
            ValueError: inputs or labels that cannot be right (the same
                checks as ``fit``), or a run of several processes (torchrun).
        """
        return self._require_compiled("train_on_batch").train_on_batch(x, y, return_dict, sample_weight, class_weight)

    def test_on_batch(self, x: Any, y: Any = None, sample_weight: Any = None,
                      return_dict: bool = False) -> float | list[float] | dict[str, float]:
        """Loss and metrics of exactly the batch ``(x, y)``, in inference mode,
        as ``evaluate`` returns them (the metrics start over at every call;
        ``sample_weight`` as in ``evaluate``).

        Raises:
            RuntimeError: the model was not compiled.
        """
        trainer = self.trainer
        if trainer is None or trainer.loss is None:
            self._require_compiled("test_on_batch")
        return trainer.test_on_batch(x, y, return_dict, sample_weight)

    def predict_on_batch(self, x: Any) -> np.ndarray | list[np.ndarray]:
        """Outputs for exactly the batch ``x`` as NumPy, in inference mode (no
        compile needed), as ``predict`` gives them."""
        trainer = self.trainer or Trainer(self, None, None, None, self._device_of_weights())
        return trainer.predict_on_batch(x)

    def _device_of_weights(self) -> torch.device | None:
        for p in self.parameters():
            return p.device
        return resolve_device(None)

    def save(self, filepath: str, overwrite: bool = True, include_optimizer: bool = True) -> None:
        """Write the whole model to one file: architecture, weights, compile
        settings and (``include_optimizer``) the optimizer's state.

        The file (``model.brainnet`` by convention) is a ZIP of JSON and
        safetensors, written atomically; ``brainnet.models.load_model(path)``
        rebuilds the model, ready to predict or to continue ``fit``.
        Subclassed layers and models need
        ``@brainnet.saving.register_serializable()``.

        Raises:
            ValueError: the model is not built yet.
            OSError: the file could not be written (the previous one is kept).
        """
        save_model(self, filepath, overwrite=overwrite, include_optimizer=include_optimizer)

    def to_json(self, **kwargs: Any) -> str:
        """The model's architecture as a JSON string, without weights (Keras's
        ``to_json``): what ``config.json`` of ``model.save``'s file holds, so
        the class of each layer, its settings, the graph of a functional
        model, the input shape it was built for, and the compile settings
        when compiled. ``brainnet.models.model_from_json(text)`` rebuilds it
        with fresh weights; ``load_weights`` then gives it trained ones.
        ``kwargs`` go to ``json.dumps`` (``indent=2``, ``sort_keys=True``).

        Raises:
            ValueError: a layer of your own whose name clashes with
                brainnet's, or whose ``get_config`` misses ``__init__``
                arguments (as ``save``).
        """
        import json

        return json.dumps(model_config(self, "model.to_json", "the JSON", stacklevel=3), **kwargs)

    def save_weights(self, filepath: str) -> None:
        """Write all weights to ``filepath`` as safetensors (atomic; no pickle)."""
        save_weights(self, filepath)

    def load_weights(self, filepath: str) -> None:
        """Load weights written by ``save_weights`` into this (built) model."""
        load_weights(self, filepath)

    def summary(self, line_length: int | None = None, positions: Any = None,
                print_fn: Callable[[str], Any] | None = None, expand_nested: bool = False,
                show_trainable: bool = False, layer_range: Any = None, show_equations: bool = False) -> None:
        """Print layers, output shapes and parameter counts, Keras 3's arguments in
        Keras's order, and brainnet's ``show_equations=True`` (the equation each
        layer computes under its row).

        ``line_length``: the table at least this wide; ``expand_nested``: each
        model used as a layer followed by its own layers, indented;
        ``show_trainable``: a column Y/N (``-`` for a layer without weights);
        ``layer_range``: two names or regular expressions, the first and last
        rows to show (the totals stay the whole model's). ``positions`` (Keras's
        column stops) is refused: brainnet sizes the columns to their text."""
        if positions is not None:
            raise ValueError(
                f"summary: expected no positions (brainnet sizes each column to fit its text), got "
                f"{positions!r}. Fix: leave positions out; line_length=... widens the table."
            )
        print_summary(self, show_equations, print_fn or print, line_length, expand_nested, show_trainable,
                      layer_range)


# Arguments of Keras 3's methods that brainnet's do not take, and what to do instead.
_KERAS_ONLY = {
    "fit": {
        "validation_batch_size": "leave it out: validation runs in batches of 256",
        "validation_freq": "leave it out: validation runs after every epoch",
    },
    "compile": {},
}
_ARGUMENTS = {
    "fit": ["x", "y", "batch_size", "epochs", "verbose", "callbacks", "validation_split", "validation_data",
            "shuffle", "class_weight", "sample_weight", "initial_epoch", "steps_per_epoch", "validation_steps"],
    "compile": ["optimizer", "loss", "metrics", "loss_weights", "device", "jit_compile", "weighted_metrics",
                "run_eagerly", "steps_per_execution", "auto_scale_loss"],
}


def _functional_arguments(args: tuple, kwargs: dict[str, Any]) -> bool:
    """Whether a constructor call is ``(inputs, outputs)``, as Keras 3 tells them apart."""
    return len(args) == 2 or (len(args) == 1 and "outputs" in kwargs) or ("inputs" in kwargs and "outputs" in kwargs)


_FUNCTIONAL_SUBCLASSES: dict[type, type] = {}


def _with_functional(cls: type, functional: type) -> type:
    """``cls`` with Functional's graph methods behind its own (one class per subclass, so that
    ``isinstance(model, CustomModel)`` and ``type(model).__name__`` stay the user's)."""
    if cls not in _FUNCTIONAL_SUBCLASSES:
        _FUNCTIONAL_SUBCLASSES[cls] = type(cls.__name__, (cls, functional),
                                           {"__module__": cls.__module__, "__qualname__": cls.__qualname__})
    return _FUNCTIONAL_SUBCLASSES[cls]


def _eager_or_compiled(run_eagerly: Any, jit_compile: Any, steps_per_execution: Any, auto_scale_loss: Any) -> Any:
    """compile's Keras 3 arguments that brainnet reads through ``jit_compile``:
    the ``jit_compile`` to use, or an error."""
    for name, value in (("run_eagerly", run_eagerly), ("auto_scale_loss", auto_scale_loss)):
        if not isinstance(value, bool):
            raise ValueError(f"compile: expected {name} to be True or False, got {value!r}. "
                             f"Fix: model.compile(..., {name}=True) or leave it out.")
    if isinstance(steps_per_execution, bool) or steps_per_execution != 1:
        raise ValueError(
            f"compile: expected steps_per_execution=1, got {steps_per_execution!r}: brainnet runs one batch per "
            "step call (Keras runs several inside one compiled call to cut the overhead per step). Fix: leave it "
            "out; for less overhead per sample use a larger batch_size in fit, or jit_compile=True (on CUDA the "
            "whole step becomes one CUDA graph)."
        )
    if run_eagerly and jit_compile is True:
        raise ValueError(
            "compile: expected run_eagerly=True (every step eager, to debug) or jit_compile=True (the step "
            "compiled, for speed), got both. Fix: keep one: model.compile(..., run_eagerly=True) while "
            "debugging, model.compile(..., jit_compile=True) once the model works."
        )
    return False if run_eagerly else jit_compile


def _refuse_keras_only(method: str, given: dict[str, Any]) -> None:
    """A TypeError that names what brainnet takes instead of Keras-only arguments
    (or the unknown ones), rather than Python's bare "unexpected keyword"."""
    if not given:
        return
    name = next(iter(given))
    if name in _KERAS_ONLY[method]:
        raise TypeError(f"{method}: expected brainnet's arguments, got {name}=, which Keras's {method} takes and "
                        f"brainnet's does not. Fix: {_KERAS_ONLY[method][name]}.")
    known = _ARGUMENTS[method]
    close = difflib.get_close_matches(name, known, n=1)
    fix = f"check the spelling of {name!r}" + (f" (did you mean {close[0]}=?)" if close else "")
    raise TypeError(f"{method}: expected {', '.join(known[:-1])} or {known[-1]}, got {name}=. Fix: {fix}.")
