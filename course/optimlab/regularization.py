r"""Regularization (unit 06): weight penalties, dropout and early stopping, in torch's conventions.

Each exercise is a *pure* function: it never modifies its arguments and returns new arrays (or a new dict). The
toolkit's layer ``nn.Dropout(p, rng=...)`` calls :func:`dropout_mask`, :func:`dropout_forward` and
:func:`dropout_backward`, so the layer you train with is made of your own functions; :class:`EarlyStopping`
(given) calls :func:`early_stopping_step`.

===================  ========================================
function             notebook section
===================  ========================================
penalty              2. Weight penalties: L2 and L1
penalty_grads        2. Weight penalties: L2 and L1
l1_prox              2. Weight penalties: L2 and L1
dropout_mask         3. Dropout
dropout_forward      3. Dropout
dropout_backward     3. Dropout
early_stopping_step  5. Early stopping
===================  ========================================

Conventions, as torch's (and where other texts differ):

- **L2 is torch's ``weight_decay``**: the penalty :math:`\frac{\lambda}{2}\lVert w\rVert^2` adds
  :math:`\lambda w` to the gradient (no factor 2). Under SGD the two words mean the same update; under Adam they
  do not (section 4: ``Adam(weight_decay=...)`` is L2, ``AdamW`` is decoupled weight decay).
- **Which parameters are decayed**: every parameter whose name's last dotted component is not ``"bias"``
  (``"0.weight"`` yes, ``"0.bias"`` no), and the biases too with ``decay_biases=True``. (torch's ``weight_decay``
  decays every parameter it is given, biases included; leaving the biases out is the usual practice, done in
  torch with two parameter groups.)
- **Dropout's ``p`` is the probability of dropping** a unit, as in ``torch.nn.Dropout(p=0.5)``. cs231n's
  assignments and Srivastava et al. (2014) call :math:`p` the probability of *keeping* one: their
  ``p = 0.8`` is torch's ``p = 0.2``.
- **Inverted dropout**: the kept units are scaled by :math:`1 / (1 - p)` in training, so that nothing changes at
  test time (``eval()`` is the identity), as in torch. The original paper scales the weights by the keep
  probability at test time instead; the two agree in expectation.

Arguments are checked before anything is computed: a value out of range raises ``ValueError`` naming the
argument, one of the wrong type ``TypeError``.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from ._exercise import exercise

__all__ = [
    "penalty", "penalty_grads", "l1_prox", "dropout_mask", "dropout_forward", "dropout_backward",
    "early_stopping_step", "is_bias", "EarlyStopping", "EARLY_STOPPING_STATE_KEYS",
]

#: The keys of :func:`early_stopping_step`'s state.
EARLY_STOPPING_STATE_KEYS = ("best", "best_epoch", "epoch", "bad_epochs")

# --------------------------------------------------------------------------------------------------------------
# Checking arguments (given).


def _check_real(name: str, value, *, low: float = 0.0, what: str = "at least 0") -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {value!r}")
    if not value >= low:  # also refuses NaN
        raise ValueError(f"{name} must be {what}, got {value!r}")


def _check_p(p) -> None:
    if isinstance(p, bool) or not isinstance(p, numbers.Real):
        raise TypeError(f"p must be a number (the probability of dropping a unit), got {p!r}")
    if not 0 <= p <= 1:  # also refuses NaN
        raise ValueError(f"p must be in [0, 1] (the probability of dropping a unit, torch's convention), got {p!r}")


def _check_bool(name: str, value) -> None:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}")


def _array(name: str, value) -> np.ndarray:
    if not isinstance(value, np.ndarray):
        raise TypeError(f"{name} must be a NumPy array, got {type(value).__name__}")
    return value


def _check_mask(keep, shape: tuple[int, ...], against: str) -> None:
    if not isinstance(keep, np.ndarray) or keep.dtype != np.bool_:
        got = keep.dtype if isinstance(keep, np.ndarray) else type(keep).__name__
        raise TypeError(f"keep must be a boolean NumPy array (True = kept), as dropout_mask returns, got {got}")
    if keep.shape != shape:
        raise ValueError(f"keep must have the shape of {against}, {shape}, got {keep.shape}")


def _check_params(name: str, params) -> None:
    if not isinstance(params, dict):
        raise TypeError(f"{name} must be a dict {{name: array}}, as model.parameters() returns, got "
                        f"{type(params).__name__}")
    for key, value in params.items():
        if not isinstance(key, str):
            raise TypeError(f"{name}: the names must be strings, got {key!r}")
        _array(f"{name}[{key!r}]", value)


def is_bias(name: str) -> bool:
    """Whether the parameter called ``name`` is a bias: its name's last dotted component is ``"bias"``.

    ``is_bias("0.bias")`` and ``is_bias("bias")`` are True; ``is_bias("0.weight")`` and ``is_bias("bias_scale")``
    are False.
    """
    return name.rpartition(".")[2] == "bias"


# --------------------------------------------------------------------------------------------------------------
# 2. Weight penalties: L2 and L1.


@exercise(unit="06_regularization", section="2. Weight penalties: L2 and L1")
def penalty(params: dict[str, np.ndarray], *, l2: float = 0.0, l1: float = 0.0,
            decay_biases: bool = False) -> float:
    r"""The weight penalty added to the loss: L2 (as torch's ``weight_decay``) plus L1.

    .. math::

        R(w) = \frac{\lambda_2}{2} \sum_{k \in D} \lVert w_k \rVert_2^2 + \lambda_1 \sum_{k \in D} \lVert w_k \rVert_1
             = \sum_{k \in D} \sum_i \left(\frac{\lambda_2}{2} w_{k,i}^2 + \lambda_1 \lvert w_{k,i} \rvert\right)

    where :math:`w_k` is ``params[k]``, :math:`\lambda_2` is ``l2``, :math:`\lambda_1` is ``l1``, and :math:`D`
    is the set of *decayed* parameters: the names ``k`` with ``not is_bias(k)``, and every name when
    ``decay_biases`` is True.

    The :math:`\frac12` in front of the L2 term is torch's convention: its gradient is :math:`\lambda_2 w`, which
    is what ``weight_decay=l2`` adds to the gradient. (Some texts write :math:`\lambda \lVert w\rVert^2`, whose
    gradient is :math:`2 \lambda w`: the same family of penalties, with :math:`\lambda` meaning half as much.)

    Args:
        params: ``{name: array}``, as ``model.parameters()`` returns (any shapes). Not modified.
        l2: :math:`\lambda_2 \ge 0`.
        l1: :math:`\lambda_1 \ge 0`.
        decay_biases: whether the biases are penalized too.

    Returns:
        :math:`R(w)`, a Python float (0.0 when nothing is decayed).
    """
    _check_params("params", params)
    _check_real("l2", l2)
    _check_real("l1", l1)
    _check_bool("decay_biases", decay_biases)
    # Loop over params.items(). A parameter is decayed when decay_biases is True or is_bias(name) is False; add
    # l2 / 2 times the sum of its squares and l1 times the sum of its absolute values. Skip the others.
    raise NotImplementedError(
        "penalty is not implemented yet: write it in optimlab/regularization.py (explained in notebook 06_regularization, section '2. Weight penalties: L2 and L1')."
    )


@exercise(unit="06_regularization", section="2. Weight penalties: L2 and L1")
def penalty_grads(grads: dict[str, np.ndarray], params: dict[str, np.ndarray], *, l2: float = 0.0,
                  l1: float = 0.0, decay_biases: bool = False) -> dict[str, np.ndarray]:
    r"""The gradients of the loss plus :func:`penalty`: the penalty's (sub)gradient added to ``grads``.

    .. math::

        \tilde g_k = \begin{cases}
            g_k + \lambda_2 \, w_k + \lambda_1 \operatorname{sign}(w_k) & k \in D \text{ (decayed)} \\
            g_k & \text{otherwise}
        \end{cases}

    where :math:`g_k` is ``grads[k]``, :math:`w_k` is ``params[k]``, :math:`\lambda_2` is ``l2``,
    :math:`\lambda_1` is ``l1`` and :math:`D` is as in :func:`penalty`. The L2 term is exactly what torch's
    ``weight_decay=l2`` adds to the gradient.

    :math:`\lvert w\rvert` has no derivative at 0; :math:`\operatorname{sign}(0) = 0` (``np.sign``'s value) is
    the subgradient chosen, as torch's ``sign`` and every L1 implementation do: a weight that is exactly 0 gets
    no push. (The subgradient makes weights small, but almost never exactly 0: :func:`l1_prox` does.)

    Args:
        grads: ``{name: array}``, the gradients of the loss, as ``model.grads()`` returns. Not modified.
        params: ``{name: array}`` with the same names and shapes, the parameters. Not modified.
        l2: :math:`\lambda_2 \ge 0`.
        l1: :math:`\lambda_1 \ge 0`.
        decay_biases: whether the biases are penalized too.

    Returns:
        A new dict with the names of ``grads``, holding new arrays (a copy of ``grads[k]`` for the parameters
        that are not decayed): never ``grads``' own arrays.
    """
    _check_params("grads", grads)
    _check_params("params", params)
    if set(grads) != set(params):
        raise ValueError(f"grads and params must have the same names, got {sorted(grads)} and {sorted(params)}")
    for name in grads:
        if grads[name].shape != params[name].shape:
            raise ValueError(f"grads[{name!r}] has the shape {grads[name].shape} but params[{name!r}] has "
                             f"{params[name].shape}")
    _check_real("l2", l2)
    _check_real("l1", l1)
    _check_bool("decay_biases", decay_biases)
    # Build a new dict, one entry per name of grads: for a decayed parameter (as in penalty), the gradient plus
    # l2 times the parameter plus l1 times np.sign of the parameter (np.sign(0) is 0, as it should be); for the
    # others, a copy (g.copy()), so that the result never shares memory with the input.
    raise NotImplementedError(
        "penalty_grads is not implemented yet: write it in optimlab/regularization.py (explained in notebook 06_regularization, section '2. Weight penalties: L2 and L1')."
    )


@exercise(unit="06_regularization", section="2. Weight penalties: L2 and L1")
def l1_prox(w: np.ndarray, threshold: float) -> np.ndarray:
    r"""Soft thresholding: the proximal step of the L1 penalty ``threshold * |w|``.

    .. math::

        \operatorname{prox}_{\tau \lvert\cdot\rvert}(w)
            = \operatorname*{arg\,min}_u \; \tfrac12 (u - w)^2 + \tau \lvert u \rvert
            = \operatorname{sign}(w) \, \max(\lvert w\rvert - \tau, 0)

    elementwise, where :math:`w` is ``w`` and :math:`\tau` is ``threshold``. Every entry moves :math:`\tau`
    towards 0, and the entries with :math:`\lvert w\rvert \le \tau` become *exactly* 0 (they stop there: none
    crosses zero). Applied after an ordinary optimizer step on the loss alone, with :math:`\tau = \eta \lambda_1`
    (learning rate times ``l1``), this is proximal gradient descent (ISTA): it makes weights exactly zero, which
    the subgradient step of :func:`penalty_grads` never does.

    Args:
        w: the weights, any shape. Not modified.
        threshold: :math:`\tau \ge 0`.

    Returns:
        A new array, shaped like ``w``.
    """
    _array("w", w)
    _check_real("threshold", threshold)
    # Elementwise: take |w| - threshold, clip it below at 0 (np.maximum with 0) so that small entries stop at
    # exactly 0 instead of crossing it, and give the result back the sign of w (np.sign).
    raise NotImplementedError(
        "l1_prox is not implemented yet: write it in optimlab/regularization.py (explained in notebook 06_regularization, section '2. Weight penalties: L2 and L1')."
    )


# --------------------------------------------------------------------------------------------------------------
# 3. Dropout.


@exercise(unit="06_regularization", section="3. Dropout")
def dropout_mask(shape: tuple[int, ...], p: float, rng: np.random.Generator) -> np.ndarray:
    r"""The mask of inverted dropout: which units are kept, each independently with probability :math:`1 - p`.

    .. math::

        m_i = [\,u_i \ge p\,], \qquad u_i \sim \mathcal U[0, 1) \text{ independent}

    where :math:`p` is ``p`` and the :math:`u_i` are ``rng.random(shape)``: one uniform draw per unit, kept
    (True) when it is at least :math:`p`. So :math:`P(m_i = 1) = 1 - p`. This exact draw is the course's
    convention, so that a mask is reproducible from a seed and your layer can be checked against the reference:
    any other draw with the same probabilities (``rng.random(shape) < 1 - p``, ``rng.binomial``) gives a
    different mask from the same seed.

    .. warning::

        ``p`` is the probability of **dropping** a unit (torch's ``nn.Dropout(p)``), not of keeping it as in
        cs231n's assignments and in Srivastava et al. (2014). ``p = 0.2`` drops about a fifth of the units.

    Args:
        shape: the shape of the layer's input, e.g. ``(N, D)`` for a batch of :math:`N` rows.
        p: :math:`p \in [0, 1]`. ``p = 0`` keeps everything, ``p = 1`` drops everything.
        rng: the generator to draw from (one call of ``rng.random``).

    Returns:
        A boolean array of shape ``shape``: True where the unit is kept.
    """
    _check_p(p)
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a np.random.Generator (np.random.default_rng(seed)), got {rng!r}")
    # One call rng.random(shape) gives the uniform draws u; compare them with p so that a unit is kept (True)
    # when its u is at least p. (Not u < p: that would keep each unit with probability p.)
    raise NotImplementedError(
        "dropout_mask is not implemented yet: write it in optimlab/regularization.py (explained in notebook 06_regularization, section '3. Dropout')."
    )


@exercise(unit="06_regularization", section="3. Dropout")
def dropout_forward(x: np.ndarray, keep: np.ndarray, p: float, *, training: bool = True) -> np.ndarray:
    r"""Inverted dropout, forward, as ``torch.nn.functional.dropout(x, p, training)``.

    .. math::

        y = \begin{cases}
            \dfrac{m \odot x}{1 - p} & \text{training} \\[1ex]
            x & \text{evaluation}
        \end{cases}

    where :math:`x` is ``x``, :math:`m` is ``keep`` (1 where kept) and :math:`p` is ``p``. Dividing the kept
    units by the keep probability :math:`1 - p` *during training* keeps each unit's expected value,
    :math:`\mathbb E[y_i] = x_i`, so at test time the layer does nothing. At :math:`p = 1` every unit is dropped
    and the output is exact zeros (not :math:`0/0`, a NaN).

    .. warning::

        cs231n's ``dropout_forward`` divides by *its* ``p``, the keep probability; here ``p`` is the drop
        probability, so the scale is :math:`1 / (1 - p)`. The original paper instead multiplies by the keep
        probability at test time, and does not scale in training: the same in expectation, but not torch's
        layer, and not what ``eval()`` does here.

    Args:
        x: the input, any shape, e.g. ``(N, D)``. Not modified.
        keep: boolean mask shaped like ``x``, from :func:`dropout_mask` (True = kept). Not modified.
        p: :math:`p \in [0, 1]`, the probability of dropping.
        training: True in training mode, False in evaluation mode (``model.eval()``), where the mask is unused.

    Returns:
        :math:`y`, a new array shaped like ``x`` (in evaluation, a copy of ``x``).
    """
    x = _array("x", x)
    _check_p(p)
    _check_bool("training", training)
    _check_mask(keep, x.shape, "x")
    # Three cases, in this order: in evaluation, return a copy of x (x.copy(): never x itself); at p == 1,
    # return exact zeros shaped like x; otherwise multiply x by the mask and divide by the keep probability.
    raise NotImplementedError(
        "dropout_forward is not implemented yet: write it in optimlab/regularization.py (explained in notebook 06_regularization, section '3. Dropout')."
    )


@exercise(unit="06_regularization", section="3. Dropout")
def dropout_backward(dout: np.ndarray, keep: np.ndarray, p: float) -> np.ndarray:
    r"""Inverted dropout, backward (training mode): the gradient with respect to the input.

    .. math::

        \frac{\partial L}{\partial x} = \frac{m \odot \delta}{1 - p}

    where :math:`\delta` is ``dout`` (:math:`\partial L / \partial y`), :math:`m` is ``keep`` and :math:`p` is
    ``p``: the forward is linear in :math:`x`, so the backward multiplies by the same factor,
    :math:`m_i / (1 - p)`. It must be the *same* mask as the forward's (the one the layer kept in its cache),
    never a new draw: a dropped unit did not affect the loss, so its gradient is 0. At :math:`p = 1` the result
    is exact zeros.

    In evaluation mode the forward is the identity and the gradient passes through unchanged; the layer handles
    that itself, so this function is only for training mode.

    Args:
        dout: :math:`\partial L / \partial y`, shaped like the forward's input. Not modified.
        keep: the forward's boolean mask, shaped like ``dout``. Not modified.
        p: :math:`p \in [0, 1]`, the forward's drop probability.

    Returns:
        :math:`\partial L / \partial x`, a new array shaped like ``dout``.
    """
    dout = _array("dout", dout)
    _check_p(p)
    _check_mask(keep, dout.shape, "dout")
    # The same factor as the forward's, applied to dout: zeros at p == 1, otherwise the mask times dout over
    # the keep probability. Use the keep you are given; do not draw a mask here.
    raise NotImplementedError(
        "dropout_backward is not implemented yet: write it in optimlab/regularization.py (explained in notebook 06_regularization, section '3. Dropout')."
    )


# --------------------------------------------------------------------------------------------------------------
# 5. Early stopping.


def _check_state(state) -> None:
    if not isinstance(state, dict):
        raise TypeError(f"state must be a dict ({{}} before the first epoch), got {type(state).__name__}")
    if state and set(state) != set(EARLY_STOPPING_STATE_KEYS):
        raise ValueError(f"state must be {{}} or have the keys {', '.join(map(repr, EARLY_STOPPING_STATE_KEYS))}, "
                         f"got the keys {', '.join(map(repr, state)) or '(none)'}")


def _check_patience(patience) -> None:
    if isinstance(patience, bool) or not isinstance(patience, numbers.Integral):
        raise TypeError(f"patience must be a whole number, got {patience!r}")
    if patience < 1:
        raise ValueError(f"patience must be at least 1 (the number of epochs without improvement after which "
                         f"training stops), got {patience!r}")


@exercise(unit="06_regularization", section="5. Early stopping")
def early_stopping_step(val_loss: float, state: dict, *, patience: int,
                        min_delta: float = 0.0) -> tuple[bool, dict]:
    r"""One epoch of early stopping: was this epoch an improvement, and is it time to stop?

    The state holds the best validation loss so far :math:`\ell^*` (``state["best"]``), the epoch where it was
    seen (``state["best_epoch"]``), the number of the epoch just seen (``state["epoch"]``, counting from 0) and
    the number :math:`k` of epochs since the last improvement (``state["bad_epochs"]``). Before the first epoch
    it is ``{}``, meaning :math:`\ell^* = +\infty` and no epoch seen yet. With this epoch's validation loss
    :math:`\ell` (``val_loss``):

    1. The epoch's number is the previous one plus 1 (0 for the first call).
    2. *Improvement?* :math:`\ell < \ell^* - \delta`, where :math:`\delta` is ``min_delta``: better than the
       best so far (not the previous epoch's loss) by *more than* :math:`\delta`. A tie is not an improvement,
       the first finite loss always is, and a NaN never is (every comparison with NaN is False).
    3. If it improved: :math:`\ell^* \leftarrow \ell`, ``best_epoch`` :math:`\leftarrow` this epoch,
       :math:`k \leftarrow 0`. Otherwise :math:`k \leftarrow k + 1`, and :math:`\ell^*` stays as it is, even when
       :math:`\ell` is lower by :math:`\delta` or less (otherwise a slow drift down would never stop).
    4. *Stop* when :math:`k \ge P`, the ``patience``: after :math:`P` epochs in a row without improvement.

    This is the rule of Keras's and Lightning's ``EarlyStopping`` (monitoring a loss, ``mode="min"``): with
    patience 3, a loss that never improves after epoch 0 stops training after epoch 3, four epochs in all.

    Args:
        val_loss: :math:`\ell`, this epoch's validation loss, a number (NaN allowed: a diverged epoch).
        state: ``{}`` before the first epoch, then the dict the previous call returned. Not modified.
        patience: :math:`P \ge 1`, the number of epochs without improvement after which to stop.
        min_delta: :math:`\delta \ge 0`, the smallest decrease that counts as an improvement (absolute).

    Returns:
        ``(stop, new_state)``: a bool, and a new dict with the keys ``"best"`` (a float: ``inf`` until the first
        improvement), ``"best_epoch"`` (an int: -1 until the first improvement), ``"epoch"`` and
        ``"bad_epochs"`` (ints).
    """
    if isinstance(val_loss, bool) or not isinstance(val_loss, numbers.Real):
        raise TypeError(f"val_loss must be a number, got {val_loss!r}")
    _check_state(state)
    _check_patience(patience)
    _check_real("min_delta", min_delta)
    val_loss = float(val_loss)
    # Read the state (for {}: best = math.inf, best_epoch = -1, epoch = -1, bad_epochs = 0), on local variables;
    # then steps 1 to 4 of the docstring. Return a new dict, never the caller's state changed.
    raise NotImplementedError(
        "early_stopping_step is not implemented yet: write it in optimlab/regularization.py (explained in notebook 06_regularization, section '5. Early stopping')."
    )


class EarlyStopping:
    """Early stopping as an object (given): patience, ``min_delta``, and the best weights kept and restored.

    ``nn.fit(..., early_stopping=EarlyStopping(patience=5))`` calls :meth:`step` after each epoch with that
    epoch's *validation* loss, stops training when it returns True, and calls :meth:`restore` at the end, so the
    model ends with the parameters of its best epoch, not of its last one. The rule is
    :func:`early_stopping_step`'s.

    The epoch is chosen on validation data, never on the test set: choosing it is fitting a hyperparameter (the
    number of epochs), and a test set used to choose anything no longer measures the chosen model honestly.

    Args:
        patience: the number of epochs without improvement after which to stop, at least 1.
        min_delta: the smallest decrease of the validation loss that counts as an improvement, at least 0.

    Attributes:
        state: the state of :func:`early_stopping_step` (``{}`` before the first epoch).
        best_epoch: the epoch (from 0) of the best validation loss so far; None before the first improvement.
        best_loss: the best validation loss so far; None before the first improvement.
        stopped_epoch: the epoch at which :meth:`step` first returned True; None until then.
    """

    def __init__(self, patience: int, min_delta: float = 0.0):
        _check_patience(patience)
        _check_real("min_delta", min_delta)
        self.patience = patience
        self.min_delta = min_delta
        self.state: dict = {}
        self.stopped_epoch: int | None = None
        self._saved: dict[str, dict[str, np.ndarray]] | None = None

    @property
    def best_epoch(self) -> int | None:
        epoch = self.state.get("best_epoch", -1)
        return None if epoch < 0 else epoch

    @property
    def best_loss(self) -> float | None:
        return None if self.best_epoch is None else self.state["best"]

    @staticmethod
    def _buffers(model) -> dict[str, np.ndarray]:
        buffers = getattr(model, "buffers", None)
        return dict(buffers()) if callable(buffers) else {}

    def step(self, val_loss: float, model) -> bool:
        """Record this epoch's validation loss; keep a copy of the model's parameters and buffers if it is the
        best epoch so far. Returns True when training should stop."""
        stop, self.state = early_stopping_step(val_loss, self.state, patience=self.patience,
                                               min_delta=self.min_delta)
        if self.state["best_epoch"] == self.state["epoch"]:
            self._saved = {"parameters": {k: np.array(v, copy=True) for k, v in model.parameters().items()},
                           "buffers": {k: np.array(v, copy=True) for k, v in self._buffers(model).items()}}
        if stop and self.stopped_epoch is None:
            self.stopped_epoch = self.state["epoch"]
        return stop

    def restore(self, model) -> None:
        """Write the best epoch's parameters and buffers back into ``model``, in place (``p[...] = saved``).

        Does nothing if no epoch improved (every validation loss NaN, say): there is nothing better to go back
        to.
        """
        if self._saved is None:
            return
        for kind, current in (("parameters", model.parameters()), ("buffers", self._buffers(model))):
            saved = self._saved[kind]
            if set(saved) != set(current):
                raise ValueError(f"restore: the model's {kind} are {sorted(current)}, but the saved ones are "
                                 f"{sorted(saved)}: is this the model that was trained?")
            for name, value in saved.items():
                current[name][...] = value

    def __repr__(self) -> str:
        return f"EarlyStopping(patience={self.patience}, min_delta={self.min_delta})"
