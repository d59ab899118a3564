r"""Fine-tuning a pretrained network (unit 08): a new head, frozen layers, a linear probe, discriminative rates.

The pretrained network (given, :func:`load_pretrained`) is ``nn.mlp([64, 128, 64, 10])`` trained on MNIST digits
reduced to the 8x8 format of scikit-learn's digits (``nn.load_digits``): the same kind of images, drawn by other
people and reduced by another process. To use it on a new task you keep its *body* (every layer but the last,
which turns an image into 64 features) and give it a new *head* (a fresh last layer, one output per class of the
new task); then you choose which parameters train, and how fast:

===================  ========================================
function             notebook section
===================  ========================================
replace_head         5. Fine-tuning a pretrained network
finetune_optimizer   5. Fine-tuning a pretrained network
===================  ========================================

**Freezing is leaving a parameter out of every optimizer.** An optimizer updates only the arrays it is given,
in place; a parameter in none of them keeps its pretrained value, whatever its gradient. (torch does the same
with ``requires_grad = False`` or by passing only some parameters to the optimizer.) The strategies of
:func:`finetune_optimizer`, for a network whose layers with parameters are :math:`\ell = 1, \dots, L` (the head
is :math:`L`) and a learning rate :math:`\eta`:

- ``"full"``: every parameter trains, at :math:`\eta`;
- ``"probe"``: a *linear probe*: only the head trains, at :math:`\eta`; the body is frozen, so the network is a
  linear classifier (a softmax regression) on the pretrained features;
- ``"discriminative"``: every layer trains, the lower ones more slowly (Howard & Ruder, 2018, *Universal
  Language Model Fine-tuning*, ULMFiT, section 3.2):

  .. math:: \eta_L = \eta, \qquad \eta_{\ell - 1} = \eta_\ell / \xi, \qquad
            \text{so } \eta_\ell = \eta / \xi^{\,L - \ell}

  where :math:`\xi` is ``decay`` (2.6 in the paper). The early layers compute general features that the new
  task needs too; the head must be learnt from scratch. For the pretrained MLP: layer "0" at
  :math:`\eta / 2.6^2`, "2" at :math:`\eta / 2.6`, "4" (the head) at :math:`\eta`.

:class:`Optimizers` (given) holds the list that :func:`finetune_optimizer` returns and steps each optimizer
with the gradients of its own parameters, so that ``nn.fit(model, Optimizers(...), ...)`` trains the network.
"""

from __future__ import annotations

import copy
import hashlib
import json
import numbers
from pathlib import Path

import numpy as np

from . import nn, optim
from ._exercise import exercise

__all__ = ["replace_head", "finetune_optimizer", "load_pretrained", "PRETRAINED_INFO", "PRETRAINED_SIZES",
           "Optimizers", "few_shot", "from_scratch", "STRATEGIES"]

#: The strategies of :func:`finetune_optimizer`.
STRATEGIES = ("full", "probe", "discriminative")

#: The widths of the pretrained network: 64 pixels in, 10 digits out.
PRETRAINED_SIZES = (64, 128, 64, 10)

_FOLDER = Path(__file__).with_name("pretrained")
_WEIGHTS = _FOLDER / "mnist8x8_mlp.npz"


def _read_info(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


#: What ``pretrained/mnist8x8_mlp.json`` says about the weights: their sha256, the data's source, licence
#: (``"licence"``) and attribution (``"attribution"``), the training settings, and the zero-shot accuracy on the
#: digits' test split (``PRETRAINED_INFO["accuracy"]["zero_shot_digits_test"]``).
PRETRAINED_INFO: dict = _read_info(_WEIGHTS.with_suffix(".json"))


# --------------------------------------------------------------------------------------------------------------
# The pretrained network and the data (given).


def load_pretrained(*, dtype=np.float64, path: str | Path | None = None) -> nn.Sequential:
    """The pretrained network: ``nn.mlp([64, 128, 64, 10], rng=np.random.default_rng(0), dtype=dtype)`` with the
    shipped weights written into its parameters.

    Layers: "0" Linear(64, 128), "1" ReLU, "2" Linear(128, 64), "3" ReLU, "4" Linear(64, 10). The weights are
    stored as float32 and converted to ``dtype``. Each call returns a new network: change it as you like.

    Args:
        dtype: the parameters' dtype.
        path: another ``.npz`` to load, with its ``.json`` beside it (default: the shipped
            ``pretrained/mnist8x8_mlp.npz``).

    Raises:
        FileNotFoundError: the files are missing (copy the folder ``optimlab/pretrained`` again from the course).
        ValueError: the file's sha256 is not the one its JSON records (a damaged or replaced copy), or it does
            not hold the arrays of the network.
    """
    weights = Path(path) if path is not None else _WEIGHTS
    info_path = weights.with_suffix(".json")
    for needed in (weights, info_path):
        if not needed.exists():
            raise FileNotFoundError(f"{needed} is missing: copy the folder optimlab/pretrained again from the "
                                    "course release")
    info = json.loads(info_path.read_text(encoding="utf-8"))
    content = weights.read_bytes()
    digest = hashlib.sha256(content).hexdigest()
    if digest != info.get("sha256"):
        raise ValueError(f"{weights.name} is damaged or not the shipped file: its sha256 is {digest}, but "
                         f"{info_path.name} records {info.get('sha256')}. Copy optimlab/pretrained again from the "
                         "course release.")
    model = nn.mlp(list(PRETRAINED_SIZES), rng=np.random.default_rng(0), dtype=dtype)
    params = model.parameters()
    with np.load(weights, allow_pickle=False) as arrays:
        if set(arrays.files) != set(params):
            raise ValueError(f"{weights.name} holds the arrays {sorted(arrays.files)}, expected {sorted(params)}")
        for name, param in params.items():
            if arrays[name].shape != param.shape:
                raise ValueError(f"{weights.name}: {name!r} has shape {arrays[name].shape}, expected {param.shape}")
            param[...] = arrays[name]
    return model


def from_scratch(num_classes: int, *, rng: np.random.Generator, dtype=np.float64) -> nn.Sequential:
    """The pretrained network's architecture with fresh weights: ``nn.mlp([64, 128, 64, num_classes],
    rng=rng)``, the baseline that fine-tuning has to beat."""
    return nn.mlp([*PRETRAINED_SIZES[:-1], num_classes], rng=rng, dtype=dtype)


def few_shot(y: np.ndarray, per_class: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of ``per_class`` examples of each class of the labels ``y``: a small labelled training set.

    For each class, in sorted order, ``rng.permutation`` of the indices of its examples, of which the first
    ``per_class`` are kept (drawn without replacement); all of them are then shuffled together with one more
    ``rng.permutation``, so the classes are mixed.

    Args:
        y: integer labels, shape (n,).
        per_class: at least 1, and at most the size of the smallest class.
        rng: the generator of the draws.

    Returns:
        An int64 array of ``per_class * (number of classes)`` distinct indices into ``y``.
    """
    y = np.asarray(y)
    if y.ndim != 1 or y.dtype.kind not in "iu":
        raise TypeError(f"y must be a 1-d array of integer labels, got {y.dtype} of shape {y.shape}")
    if isinstance(per_class, bool) or not isinstance(per_class, numbers.Integral) or per_class < 1:
        raise ValueError(f"per_class must be a positive int, got {per_class!r}")
    chosen = []
    for label in np.unique(y):
        members = np.flatnonzero(y == label)
        if len(members) < per_class:
            raise ValueError(f"class {label} has only {len(members)} examples, fewer than per_class={per_class}")
        chosen.append(rng.permutation(members)[:per_class])
    return rng.permutation(np.concatenate(chosen)).astype(np.int64)


class Optimizers:
    """Several optimizers used as one: what ``nn.fit`` needs (``step(grads)`` and ``lr``).

    ``step(grads)`` gives each optimizer the gradients of its own parameters and ignores the others: those of the
    *frozen* parameters, which are in no optimizer and never change.

    Args:
        optimizers: a non-empty list of optimizers (``optim.SGD``, ``optim.Adam``, ...), no parameter in two of
            them, as :func:`finetune_optimizer` returns.

    Attributes:
        optimizers: the list.
        frozen: the names of the gradients of the last ``step`` that no optimizer uses (empty before it).
        lr: the last optimizer's learning rate (the head's). Setting it (a schedule does) scales every optimizer's
            rate by the same factor, so their ratios stay as they were built.
    """

    def __init__(self, optimizers: list):
        optimizers = list(optimizers)
        if not optimizers:
            raise ValueError("optimizers is empty: give at least one optimizer")
        owner: dict[int, tuple[int, str]] = {}
        for i, opt in enumerate(optimizers):
            if not isinstance(opt, optim.Optimizer):
                raise TypeError(f"optimizers[{i}] must be an optimizer (optim.Adam(...), ...), got "
                                f"{type(opt).__name__}")
            for name, param in opt.params.items():
                if id(param) in owner:
                    j, other = owner[id(param)]
                    raise ValueError(f"the parameter {name!r} of optimizers[{i}] is also {other!r} of "
                                     f"optimizers[{j}]: a parameter belongs to one optimizer at most")
                owner[id(param)] = (i, name)
            names = [name for j, o in enumerate(optimizers[:i]) for name in o.params if name in opt.params]
            if names:
                raise ValueError(f"optimizers[{i}] and an earlier optimizer both have a parameter named {names[0]!r}")
        self.optimizers = optimizers
        head = optimizers[-1].lr
        self._ratios = [opt.lr / head if head else 1.0 for opt in optimizers]
        self.frozen: list[str] = []

    @property
    def lr(self) -> float:
        return self.optimizers[-1].lr

    @lr.setter
    def lr(self, value: float) -> None:
        for opt, ratio in zip(self.optimizers, self._ratios):
            opt.lr = ratio * value

    def step(self, grads: dict[str, np.ndarray]) -> None:
        """One step of every optimizer, each with the gradients of its own parameters."""
        used = set()
        for opt in self.optimizers:
            opt.step({name: grads[name] for name in opt.params})
            used.update(opt.params)
        self.frozen = [name for name in grads if name not in used]

    def __repr__(self) -> str:
        lines = [f"  {opt!r}" for opt in self.optimizers]
        frozen = ", ".join(self.frozen) if self.frozen else "(none seen yet)"
        return "Optimizers(\n" + "\n".join(lines) + f"\n  frozen: {frozen}\n)"


# --------------------------------------------------------------------------------------------------------------
# 5. Fine-tuning a pretrained network.


def _check_rate(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {value!r}")


@exercise(unit="08_training", section="5. Fine-tuning a pretrained network")
def replace_head(model: nn.Sequential, num_classes: int, *, rng: np.random.Generator) -> nn.Sequential:
    r"""A new network for a task with ``num_classes`` classes: the body of ``model`` copied, and a fresh head.

    If ``model`` is :math:`f_{L} \circ f_{L-1} \circ \cdots \circ f_1` with a Linear last layer
    :math:`f_L(h) = h W^\top + b`, :math:`W` of shape (old classes, :math:`d`), the result is
    :math:`g \circ f_{L-1} \circ \cdots \circ f_1` with :math:`g` a new ``nn.Linear(d, num_classes)``, its weights
    drawn from ``rng`` in the dtype of the old head. The old head only knows the old classes: nothing of it is
    kept.

    The body is a *deep copy* (``copy.deepcopy`` of each layer): the new network shares no array with ``model``,
    so training it leaves the pretrained network as it was, ready for the next experiment. (A network made of the
    same layer objects would hold the very same arrays: training one would change the other.)

    Args:
        model: an ``nn.Sequential`` whose last layer is an ``nn.Linear`` (TypeError otherwise). Not modified.
        num_classes: the number of outputs of the new head, at least 1.
        rng: the generator of the new head's initial weights.

    Returns:
        A new ``nn.Sequential`` with as many layers as ``model``: copies of all its layers but the last, then the
        new head.
    """
    if not isinstance(model, nn.Sequential) or not len(model):
        raise TypeError(f"model must be an nn.Sequential with at least one layer, got {model!r}")
    # The old head is the last layer: if it is not an nn.Linear, raise TypeError (there is no head to replace).
    # Read its in_features and its weight's dtype. The body is every layer before it, each one deep-copied
    # (copy.deepcopy(layer); copy is imported above). The new head is an nn.Linear from in_features to
    # num_classes, with rng=rng and dtype= the old weight's dtype. Return an nn.Sequential of the layers.
    raise NotImplementedError(
        "replace_head is not implemented yet: write it in optimlab/finetune.py (explained in notebook 08_training, section '5. Fine-tuning a pretrained network')."
    )


@exercise(unit="08_training", section="5. Fine-tuning a pretrained network")
def finetune_optimizer(model: nn.Sequential, *, strategy: str, lr: float, decay: float = 2.6,
                       optimizer=optim.Adam) -> list:
    r"""The optimizers that fine-tune ``model`` with ``strategy``: ``"full"``, ``"probe"`` or ``"discriminative"``.

    Each optimizer is ``optimizer(params, lr=rate)`` on a dict of the model's own arrays: the very objects of
    ``model.parameters()``, under the same names (``"4.weight"``), so that its steps move the network. A
    parameter in no optimizer is frozen. With :math:`\eta` = ``lr``, :math:`\xi` = ``decay`` and the layers that
    have parameters numbered :math:`\ell = 1, \dots, L` from the input (the head is :math:`L`):

    - ``"full"``: one optimizer over every parameter, at :math:`\eta`;
    - ``"probe"``: one optimizer over the last layer's parameters (weight *and* bias), at :math:`\eta`; every
      other parameter is frozen;
    - ``"discriminative"``: one optimizer per layer that has parameters, in the order of the layers, layer
      :math:`\ell` at :math:`\eta / \xi^{\,L - \ell}`: the head at :math:`\eta`, each layer below at the rate of
      the layer above divided by :math:`\xi` (ULMFiT's discriminative fine-tuning). For the pretrained MLP:
      "0" at :math:`\eta / \xi^2`, "2" at :math:`\eta / \xi`, "4" at :math:`\eta`.

    Wrap the list to train: ``nn.fit(model, Optimizers(finetune_optimizer(model, ...)), ...)``.

    Args:
        model: an ``nn.Sequential`` whose last layer has parameters. Not modified.
        strategy: one of :data:`STRATEGIES` (ValueError otherwise, naming them).
        lr: :math:`\eta`, the head's learning rate.
        decay: :math:`\xi > 0`, the factor between the rates of two successive layers (discriminative only).
        optimizer: the optimizer class, called as ``optimizer(params, lr=rate)``: ``optim.Adam``, ``optim.SGD``...

    Returns:
        A list of optimizers: one for "full" and "probe", one per layer with parameters for "discriminative",
        from the first layer to the head.
    """
    if not isinstance(model, nn.Sequential):
        raise TypeError(f"model must be an nn.Sequential, got {type(model).__name__}")
    _check_rate("lr", lr)
    _check_rate("decay", decay)
    if not decay > 0:
        raise ValueError(f"decay must be positive (the rate of a layer is the next one's divided by it), got {decay!r}")
    if not len(model) or not model[-1].parameters():
        raise ValueError("the last layer of model has no parameters: there is no head to train")
    # First, a strategy that is not one of STRATEGIES raises ValueError, naming the three (a typo must not train
    # something else). "full": one optimizer over model.parameters() (a dict of the arrays themselves: do not
    # copy them).
    # Otherwise, build one group per layer with parameters, by looping over model.named_children(): a layer's
    # group is {f"{name}.{key}": array} over that layer's own parameters() (skip the empty ones). "probe" trains
    # only the last group. "discriminative" trains every group, the one at position i (of n groups, from 0) at the
    # rate lr divided by decay to the power of its distance from the head, n - 1 - i.
    raise NotImplementedError(
        "finetune_optimizer is not implemented yet: write it in optimlab/finetune.py (explained in notebook 08_training, section '5. Fine-tuning a pretrained network')."
    )
