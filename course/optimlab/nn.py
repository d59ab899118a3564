r"""A small neural-network toolkit in NumPy: layers, a loss, the digits data and a training loop (given).

Units 05 to 09 train real networks with the optimizers you wrote. This module gives them something to train,
written so that you can read it: each layer's ``forward`` and ``backward`` sit side by side, so the math of the
backward pass is visible next to the computation it differentiates. Nothing here is an exercise, but two layers
are yours: ``Dropout`` calls the functions you write in unit 06 and ``BatchNorm1d`` those of unit 07.

The names and defaults are ``torch.nn``'s: ``Linear(in_features, out_features, bias=True)`` with torch's
initialization, ``ReLU``, ``Tanh``, ``Sequential`` (whose parameters are named like torch's ``state_dict``:
``"0.weight"``, ``"0.bias"``, ``"2.weight"``, ...), ``CrossEntropyLoss`` with the mean over the batch. Given the
same weights, every output and every gradient agrees with torch's to rounding (``tests/test_nn.py`` checks it).

How it differs from torch:

- **The backward pass is written by hand.** torch records the operations of the forward pass and differentiates
  them for you (autograd); here each layer keeps what it needs in ``self.cache`` during ``forward`` and
  ``backward(dout)`` applies the chain rule: given :math:`\partial L / \partial \text{output}` it stores the
  gradients of its parameters and returns :math:`\partial L / \partial \text{input}`.
- **Parameters and gradients are dicts of arrays**, ``model.parameters()`` and ``model.grads()``, with the same
  keys. They are exactly what the optimizers of :mod:`optimlab.optim` take, so one training step is::

      logits = model(X_batch)                       # forward, shape (N, C)
      loss = loss_fn(logits, y_batch)               # a float
      model.backward(loss_fn.backward())            # gradients of the loss, into model.grads()
      optimizer.step(model.grads())                 # optimizer = optim.SGD(model.parameters(), lr=0.1)

  The parameter arrays are created once and only ever updated in place, so the optimizer's references stay
  valid; the same holds for the gradient arrays.
- **Each backward replaces the gradients.** torch *adds* to ``.grad`` (so you call ``optimizer.zero_grad()``
  before each backward); here ``backward`` overwrites them, and ``zero_grad()`` is only needed to clear them.
  ``layer.grad["weight"]`` plays the part of torch's ``layer.weight.grad``.
- Every module has a ``training`` flag, set by ``train()`` and ``eval()`` for the module and all its children.
  ``Dropout`` and ``BatchNorm1d`` behave differently in the two modes; the other layers do not.

Arrays are float64 unless a layer is given ``dtype=np.float32``; a layer computes in its parameters' dtype.

The rest of the module: :func:`load_digits` (scikit-learn's 8x8 digits, split into training, validation and
test sets), :func:`accuracy`, :func:`mlp` (a multi-layer perceptron in one call), :func:`fit` (the training
loop, returning a :class:`History`) and :func:`training_steps` (single steps at chosen learning rates, for the
learning-rate range test).
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from . import batchnorm, data, regularization

__all__ = [
    "Module", "Linear", "ReLU", "Tanh", "Sequential", "CrossEntropyLoss", "accuracy", "mlp",
    "Split", "load_digits", "History", "fit", "training_steps",
]


# --------------------------------------------------------------------------------------------------------------
# Modules.


class Module:
    """What every layer and every network shares.

    A subclass calls ``super().__init__()`` first, then writes ``forward(x)``, ``backward(dout)`` and, if it has
    parameters, ``own_parameters()``; it keeps the gradients of those parameters in ``self.grad`` under the same
    names. A module made of other modules (``Sequential``) lists them in ``named_children()``; ``parameters()``,
    ``grads()``, ``train()`` and ``zero_grad()`` then reach them too. A layer that behaves differently in training
    and in evaluation (Dropout, BatchNorm) reads ``self.training`` in its ``forward``.

    Attributes:
        training: True in training mode (after construction and ``train()``), False after ``eval()``.
        cache: what the last ``forward`` kept for ``backward`` (None before the first forward).
        grad: ``{name: gradient}`` for this module's own parameters, shaped like them: zeros until the first
            ``backward``, then the gradients it computed.
    """

    def __init__(self):
        self.training = True
        self.cache = None
        self.grad: dict[str, np.ndarray] = {}

    def forward(self, x: np.ndarray) -> np.ndarray:
        """The module's output for the input ``x``; keeps in ``self.cache`` what ``backward`` needs."""
        raise NotImplementedError(f"{type(self).__name__} does not define forward")

    def backward(self, dout: np.ndarray) -> np.ndarray:
        """Given ``dout``, the gradient of the loss w.r.t. the last output, store the gradients of the parameters
        in ``self.grad`` (replacing the previous ones) and return the gradient w.r.t. the last input."""
        raise NotImplementedError(f"{type(self).__name__} does not define backward")

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.forward(x)

    def own_parameters(self) -> dict[str, np.ndarray]:
        """This module's own parameters, not its children's: ``{}`` unless a layer with parameters says so."""
        return {}

    def named_children(self) -> Iterator[tuple[str, Module]]:
        """The modules this one is made of, as ``(name, module)`` pairs (none, unless a container says so)."""
        return iter(())

    def parameters(self) -> dict[str, np.ndarray]:
        """``{name: array}``: every parameter of this module and its children, the arrays themselves.

        A child's parameters are prefixed by the child's name and a dot, as in torch's ``state_dict``:
        ``"0.weight"`` is the ``weight`` of child ``"0"``. Pass the dict to an optimizer; it updates the arrays
        in place, which updates the model.
        """
        params = dict(self.own_parameters())
        for prefix, child in self.named_children():
            params.update({f"{prefix}.{name}": p for name, p in child.parameters().items()})
        return params

    def own_buffers(self) -> dict[str, np.ndarray]:
        """This module's own buffers: arrays that are part of its state but are not trained (BatchNorm's running
        statistics); ``{}`` unless a layer says so."""
        return {}

    def buffers(self) -> dict[str, np.ndarray]:
        """``{name: array}``: every buffer of this module and its children, named like :meth:`parameters`
        (``"1.running_mean"``). With the parameters, they are what torch's ``state_dict`` holds: saving both and
        writing them back restores a model (early stopping does)."""
        found = dict(self.own_buffers())
        for prefix, child in self.named_children():
            found.update({f"{prefix}.{name}": b for name, b in child.buffers().items()})
        return found

    def grads(self) -> dict[str, np.ndarray]:
        """``{name: gradient}`` with the keys and shapes of :meth:`parameters`: the gradients of the last
        ``backward`` (zeros before any). Give it to ``optimizer.step``."""
        grads = dict(self.grad)
        for prefix, child in self.named_children():
            grads.update({f"{prefix}.{name}": g for name, g in child.grads().items()})
        return grads

    def zero_grad(self) -> None:
        """Set every gradient to zero, in place. (Not needed between steps here: each backward replaces them.)"""
        for g in self.grads().values():
            g[...] = 0

    def train(self, mode: bool = True) -> Module:
        """Set training mode (``mode=True``) or evaluation mode (``mode=False``) here and in every child."""
        if not isinstance(mode, bool):
            raise ValueError(f"training mode must be True or False, got {mode!r}")
        self.training = mode
        for _, child in self.named_children():
            child.train(mode)
        return self

    def eval(self) -> Module:
        """Evaluation mode, here and in every child: the same as ``train(False)``."""
        return self.train(False)

    def _cached(self):
        if self.cache is None:
            raise RuntimeError(f"{type(self).__name__}.backward was called before forward: there is nothing to "
                               "differentiate yet")
        return self.cache

    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.extra_repr()})"


class Linear(Module):
    r"""A fully connected layer, ``torch.nn.Linear``: :math:`y = x W^\top + b`.

    Forward and backward, for a batch of :math:`N` rows:

    .. math::

        y = x W^\top + b, \qquad
        \frac{\partial L}{\partial x} = \frac{\partial L}{\partial y} W, \qquad
        \frac{\partial L}{\partial W} = \Big(\frac{\partial L}{\partial y}\Big)^{\!\top} x, \qquad
        \frac{\partial L}{\partial b} = \sum_{n=1}^{N} \frac{\partial L}{\partial y_n}

    where :math:`x` is the input, :math:`W` is ``weight`` and :math:`b` is ``bias``. The weight's gradient sums
    over the batch (a matrix product does the sum), as the bias's does: a loss that is a mean over the batch
    already carries the :math:`1/N`.

    Initialization is torch's: every entry of ``weight`` and of ``bias`` is drawn uniformly from
    :math:`[-1/\sqrt{\text{in\_features}},\, 1/\sqrt{\text{in\_features}}]`, the weight first. (torch writes the
    weight's rule as ``kaiming_uniform_(weight, a=math.sqrt(5))``, whose bound
    :math:`\sqrt{2 / (1 + a^2)} \cdot \sqrt{3 / \text{in\_features}}` is the same number.) The same ``rng`` state
    gives the same weights; torch's own generator gives different ones, from the same distribution.

    Args:
        in_features: the size of each input row, at least 1.
        out_features: the size of each output row, at least 1.
        bias: whether to add a bias :math:`b`.
        rng: the generator the initial weights are drawn from.
        dtype: the parameters' dtype; inputs are converted to it (torch would refuse a mismatch instead).

    Attributes:
        weight: :math:`W`, shape (out_features, in_features).
        bias: :math:`b`, shape (out_features,), or None when ``bias=False``.
        grad: ``{"weight": ..., "bias": ...}``, the gradients of the last backward, shaped like the parameters.
        cache: the last input ``x``, shape (N, in_features).
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, *, rng: np.random.Generator,
                 dtype=np.float64):
        super().__init__()
        for name, size in (("in_features", in_features), ("out_features", out_features)):
            if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
                raise ValueError(f"{name} must be a positive int, got {size!r}")
        if not isinstance(rng, np.random.Generator):
            raise TypeError(f"rng must be a np.random.Generator (np.random.default_rng(seed)), got {rng!r}")
        self.in_features, self.out_features = int(in_features), int(out_features)
        bound = 1 / math.sqrt(in_features)
        self.weight = rng.uniform(-bound, bound, size=(out_features, in_features)).astype(dtype)
        self.bias = rng.uniform(-bound, bound, size=out_features).astype(dtype) if bias else None
        self.grad = {name: np.zeros_like(p) for name, p in self.own_parameters().items()}

    def own_parameters(self) -> dict[str, np.ndarray]:
        return {"weight": self.weight} if self.bias is None else {"weight": self.weight, "bias": self.bias}

    def forward(self, x: np.ndarray) -> np.ndarray:
        """x: shape (N, in_features). Returns y: shape (N, out_features)."""
        x = np.asarray(x, dtype=self.weight.dtype)
        if x.ndim != 2 or x.shape[1] != self.in_features:
            raise ValueError(f"{self!r} takes inputs of shape (N, {self.in_features}), got {x.shape}")
        self.cache = x
        y = x @ self.weight.T
        if self.bias is not None:
            y += self.bias
        return y

    def backward(self, dout: np.ndarray) -> np.ndarray:
        """dout: dL/dy, shape (N, out_features). Stores dL/dW and dL/db; returns dL/dx, shape (N, in_features)."""
        x = self._cached()
        dout = np.asarray(dout, dtype=self.weight.dtype)
        if dout.shape != (len(x), self.out_features):
            raise ValueError(f"{self!r}: dout must have the output's shape {(len(x), self.out_features)}, "
                             f"got {dout.shape}")
        self.grad["weight"][...] = dout.T @ x          # (out, N) @ (N, in): summed over the batch
        if self.bias is not None:
            self.grad["bias"][...] = dout.sum(axis=0)
        return dout @ self.weight                      # (N, out) @ (out, in)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class ReLU(Module):
    r"""The rectified linear unit, ``torch.nn.ReLU``, elementwise:

    .. math::

        y = \max(x, 0), \qquad \frac{\partial L}{\partial x} = \frac{\partial L}{\partial y} \odot [x > 0]

    At :math:`x = 0` the derivative is taken to be 0, as torch does. Any input shape; the output has the same.

    Attributes:
        cache: the mask :math:`[x > 0]` of the last input, a boolean array shaped like it.
    """

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x)
        self.cache = x > 0
        return np.maximum(x, 0)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        positive = self._cached()
        return dout * positive


class Tanh(Module):
    r"""The hyperbolic tangent, ``torch.nn.Tanh``, elementwise:

    .. math::

        y = \tanh x, \qquad \frac{\partial L}{\partial x} = \frac{\partial L}{\partial y} \odot (1 - y^2)

    The derivative is written with the output :math:`y`, so that is what the cache keeps. Any input shape.

    Attributes:
        cache: the last output :math:`y`, shaped like the input.
    """

    def forward(self, x: np.ndarray) -> np.ndarray:
        y = np.tanh(x)
        self.cache = y
        return y

    def backward(self, dout: np.ndarray) -> np.ndarray:
        y = self._cached()
        return dout * (1 - y * y)


class Sequential(Module):
    r"""Modules applied one after the other, ``torch.nn.Sequential``.

    .. math::

        y = f_{k-1}(\cdots f_1(f_0(x))), \qquad
        \frac{\partial L}{\partial x} = J_0^\top J_1^\top \cdots J_{k-1}^\top \, \frac{\partial L}{\partial y}

    where :math:`J_i` is the Jacobian of layer :math:`f_i` at its input. ``forward`` runs the layers in order;
    ``backward`` runs their backward passes in reverse order, each one multiplying by its :math:`J_i^\top`
    (without ever forming it) and handing the gradient w.r.t. its input to the layer before it: the chain rule,
    one layer at a time.

    The layers are named by their position, ``"0"``, ``"1"``, ..., so the parameters are named like torch's
    ``state_dict``: ``mlp([64, 128, 10])`` has ``"0.weight"``, ``"0.bias"``, ``"2.weight"`` and ``"2.bias"``
    (layer 1, the ReLU, has none). ``len(model)``, ``model[i]`` and iteration work as on a list; a slice
    ``model[2:]`` is a Sequential that shares the layers and keeps their names, as in torch.

    Args:
        *layers: the modules, in the order they are applied.
    """

    def __init__(self, *layers: Module):
        super().__init__()
        for i, layer in enumerate(layers):
            if isinstance(layer, type):
                raise TypeError(f"layer {i} is the class {layer.__name__}: pass an instance, {layer.__name__}(...)")
            if not isinstance(layer, Module):
                raise TypeError(f"layer {i} must be a Module, got {type(layer).__name__}")
        self.layers = list(layers)
        self.names = [str(i) for i in range(len(self.layers))]

    def named_children(self) -> Iterator[tuple[str, Module]]:
        return zip(self.names, self.layers)

    def forward(self, x: np.ndarray) -> np.ndarray:
        for layer in self.layers:
            x = layer(x)
        return x

    def backward(self, dout: np.ndarray) -> np.ndarray:
        for layer in reversed(self.layers):
            dout = layer.backward(dout)
        return dout

    def __len__(self) -> int:
        return len(self.layers)

    def __iter__(self) -> Iterator[Module]:
        return iter(self.layers)

    def __getitem__(self, index: int | slice) -> Module:
        if isinstance(index, slice):
            part = Sequential(*self.layers[index])
            part.names = self.names[index]
            return part
        return self.layers[index]

    def __repr__(self) -> str:
        lines = [f"  ({name}): {layer!r}".replace("\n", "\n  ") for name, layer in self.named_children()]
        return "Sequential(\n" + "\n".join(lines) + "\n)" if lines else "Sequential()"


# --------------------------------------------------------------------------------------------------------------
# Layers that behave differently in training and in evaluation. Their math is yours: each calls the functions
# you write in units 06 (optimlab.regularization) and 07 (optimlab.batchnorm).


class Dropout(Module):
    r"""Inverted dropout, ``torch.nn.Dropout(p)``: in training, each entry is zeroed with probability ``p`` and
    the survivors are scaled by :math:`1/(1-p)`; in evaluation, the identity.

    .. math::

        y = \frac{m \odot x}{1 - p}, \qquad \frac{\partial L}{\partial x} = \frac{m \odot \partial L / \partial y}{1 - p},
        \qquad m_i \sim \text{Bernoulli}(1 - p)

    The mask :math:`m` is drawn once per forward, from ``rng``, by your ``regularization.dropout_mask``; the
    backward uses that same mask (``self.cache``). ``p`` is the probability of *dropping*, as in torch; the
    dropout paper and cs231n write the probability of keeping instead. At ``p = 1`` everything is dropped and
    the output is exactly zero.

    Args:
        p: the probability of dropping an entry, in [0, 1].
        rng: the generator the masks are drawn from.

    Attributes:
        cache: the last training forward's mask (True = kept), shaped like the input; None in evaluation.
    """

    def __init__(self, p: float = 0.5, *, rng: np.random.Generator):
        super().__init__()
        if isinstance(p, bool) or not isinstance(p, (int, float, np.floating)) or not 0 <= p <= 1:
            raise ValueError(f"dropout probability has to be between 0 and 1, got p={p!r}")
        if not isinstance(rng, np.random.Generator):
            raise TypeError(f"rng must be a np.random.Generator (np.random.default_rng(seed)), got {rng!r}")
        self.p, self.rng = float(p), rng

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x)
        if not self.training:
            self.cache = None
            return regularization.dropout_forward(x, np.ones(x.shape, dtype=bool), self.p, training=False)
        keep = regularization.dropout_mask(x.shape, self.p, self.rng)
        self.cache = keep
        return regularization.dropout_forward(x, keep, self.p, training=True)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        if not self.training:
            return np.array(dout, copy=True)      # the identity's gradient
        return regularization.dropout_backward(dout, self._cached(), self.p)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class BatchNorm1d(Module):
    r"""Batch normalization over the batch axis, ``torch.nn.BatchNorm1d(num_features)``, for inputs (N, C).

    .. math::

        \hat x = \frac{x - \mu}{\sqrt{\sigma^2 + \epsilon}}, \qquad y = \gamma \odot \hat x + \beta

    In training, :math:`\mu` and :math:`\sigma^2` are the batch's mean and (biased) variance per feature, and the
    running estimates move towards them:
    :math:`\hat\mu \leftarrow (1 - m)\,\hat\mu + m\,\mu`,
    :math:`\hat\sigma^2 \leftarrow (1 - m)\,\hat\sigma^2 + m\,\sigma^2 \tfrac{N}{N-1}`, with :math:`m` =
    ``momentum`` weighing the *new* value (cs231n's momentum 0.9 weighs the old one). In evaluation,
    :math:`\mu` and :math:`\sigma^2` are the running estimates, which do not change. The forward and backward are
    your ``batchnorm.batchnorm_forward`` and ``batchnorm.batchnorm_backward``; the backward of evaluation mode,
    an affine map, is written here: :math:`\partial L/\partial x = \gamma \odot \partial L/\partial y \,/\,
    \sqrt{\hat\sigma^2 + \epsilon}`.

    Args:
        num_features: C, the number of features (columns) of the input.
        eps: :math:`\epsilon`, added to the variance inside the square root.
        momentum: :math:`m`, in [0, 1].
        dtype: the parameters' and buffers' dtype.

    Attributes:
        weight: :math:`\gamma`, shape (C,), ones at first. bias: :math:`\beta`, shape (C,), zeros at first.
        running_mean: :math:`\hat\mu`, shape (C,), zeros at first. running_var: :math:`\hat\sigma^2`, shape (C,),
            ones at first. Both are buffers (``buffers()``), updated in place by each training forward.
        num_batches_tracked: the number of training forwards so far, as in torch.
        cache: the last input ``x`` and the mode it was seen in.
    """

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1, *, dtype=np.float64):
        super().__init__()
        if isinstance(num_features, bool) or not isinstance(num_features, (int, np.integer)) or num_features < 1:
            raise ValueError(f"num_features must be a positive int, got {num_features!r}")
        if not (isinstance(eps, (int, float)) and eps > 0):
            raise ValueError(f"eps must be a positive number, got {eps!r}")
        if momentum is None or not (isinstance(momentum, (int, float)) and 0 <= momentum <= 1):
            raise ValueError(f"momentum must be a number in [0, 1], got {momentum!r} (torch's momentum=None, a "
                             "cumulative average, is not offered here)")
        self.num_features, self.eps, self.momentum = int(num_features), float(eps), float(momentum)
        self.weight = np.ones(num_features, dtype=dtype)
        self.bias = np.zeros(num_features, dtype=dtype)
        self.running_mean = np.zeros(num_features, dtype=dtype)
        self.running_var = np.ones(num_features, dtype=dtype)
        self.num_batches_tracked = 0
        self.grad = {name: np.zeros_like(p) for name, p in self.own_parameters().items()}

    def own_parameters(self) -> dict[str, np.ndarray]:
        return {"weight": self.weight, "bias": self.bias}

    def own_buffers(self) -> dict[str, np.ndarray]:
        return {"running_mean": self.running_mean, "running_var": self.running_var}

    def forward(self, x: np.ndarray) -> np.ndarray:
        """x: shape (N, C). Returns y: shape (N, C); in training, updates the running statistics in place."""
        x = np.asarray(x, dtype=self.weight.dtype)
        if x.ndim != 2 or x.shape[1] != self.num_features:
            raise ValueError(f"{self!r} takes inputs of shape (N, {self.num_features}), got {x.shape}")
        y, running_mean, running_var = batchnorm.batchnorm_forward(
            x, self.weight, self.bias, self.running_mean, self.running_var, training=self.training,
            momentum=self.momentum, eps=self.eps)
        if self.training:
            self.running_mean[...] = running_mean
            self.running_var[...] = running_var
            self.num_batches_tracked += 1
        self.cache = (x, self.training)
        return y

    def backward(self, dout: np.ndarray) -> np.ndarray:
        """dout: dL/dy, shape (N, C). Stores dL/dgamma and dL/dbeta; returns dL/dx, shape (N, C)."""
        x, training = self._cached()
        dout = np.asarray(dout, dtype=self.weight.dtype)
        if dout.shape != x.shape:
            raise ValueError(f"{self!r}: dout must have the output's shape {x.shape}, got {dout.shape}")
        if training:
            dx, dgamma, dbeta = batchnorm.batchnorm_backward(dout, x, self.weight, eps=self.eps)
        else:
            inv_std = 1 / np.sqrt(self.running_var + self.eps)
            dx = dout * self.weight * inv_std
            dgamma = np.sum(dout * (x - self.running_mean) * inv_std, axis=0)
            dbeta = np.sum(dout, axis=0)
        self.grad["weight"][...] = dgamma
        self.grad["bias"][...] = dbeta
        return dx

    def extra_repr(self) -> str:
        return f"{self.num_features}, eps={self.eps}, momentum={self.momentum}"


# --------------------------------------------------------------------------------------------------------------
# The loss and the accuracy.


class CrossEntropyLoss:
    r"""Softmax cross-entropy on integer class labels, averaged over the batch: ``torch.nn.CrossEntropyLoss()``.

    For logits :math:`z` of shape (N, C) and labels :math:`t_n \in \{0, \dots, C - 1\}`:

    .. math::

        p_{nc} &= \frac{e^{z_{nc}}}{\sum_{c'} e^{z_{nc'}}} \qquad \text{(the softmax)} \\
        L &= -\frac{1}{N} \sum_{n=1}^{N} \log p_{n t_n}
           = \frac{1}{N} \sum_{n=1}^{N} \Big( \log \sum_{c} e^{z_{nc}} - z_{n t_n} \Big) \\
        \frac{\partial L}{\partial z_{nc}} &= \frac{1}{N} \big( p_{nc} - [c = t_n] \big)

    The log-sum-exp is computed as :math:`m_n + \log \sum_c e^{z_{nc} - m_n}` with :math:`m_n = \max_c z_{nc}`,
    which gives the same number without overflowing :math:`e^{z}` for large logits: shifting a row of logits
    changes neither the softmax nor the loss.

    Unlike a layer, the loss takes two inputs and ends the chain, so ``backward()`` takes no argument: it returns
    :math:`\partial L / \partial z` for the last ``forward``. (torch's ``weight``, ``ignore_index`` and
    ``label_smoothing`` options are left out; ``reduction`` is always ``"mean"``.)

    Attributes:
        cache: ``(p, target)`` from the last forward: the softmax, shape (N, C), and the labels, shape (N,).
    """

    def __init__(self):
        self.cache = None

    def forward(self, logits: np.ndarray, target: np.ndarray) -> float:
        """logits: shape (N, C), floating point. target: shape (N,), integers in [0, C). Returns the mean loss."""
        logits, target = np.asarray(logits), np.asarray(target)
        _check_classification(logits, target, "CrossEntropyLoss")
        shifted = logits - logits.max(axis=1, keepdims=True)      # z - m, each row's largest entry is 0
        exp = np.exp(shifted)
        total = exp.sum(axis=1)                                     # sum_c e^(z - m), at least 1
        self.cache = (exp / total[:, None], target)                 # the softmax p
        # -log p[n, t_n] = log(sum_c e^(z_nc - m_n)) - (z_n,t_n - m_n)
        return float(np.mean(np.log(total) - shifted[np.arange(len(target)), target]))

    def backward(self) -> np.ndarray:
        """Returns dL/dz, shape (N, C), with the logits' dtype."""
        if self.cache is None:
            raise RuntimeError("CrossEntropyLoss.backward was called before forward: there is no loss yet")
        p, target = self.cache
        dlogits = p.copy()
        dlogits[np.arange(len(target)), target] -= 1
        return dlogits / len(target)

    def __call__(self, logits: np.ndarray, target: np.ndarray) -> float:
        return self.forward(logits, target)

    def __repr__(self) -> str:
        return "CrossEntropyLoss()"


def accuracy(logits: np.ndarray, target: np.ndarray) -> float:
    """The fraction of rows whose largest logit is at the label.

    Args:
        logits: scores, shape (N, C); any monotone transform of them (probabilities) gives the same result.
        target: labels, shape (N,), integers in [0, C).

    Returns:
        A float in [0, 1]. A tie goes to the first of the largest logits (``np.argmax``).
    """
    logits, target = np.asarray(logits), np.asarray(target)
    _check_classification(logits, target, "accuracy")
    return float(np.mean(np.argmax(logits, axis=1) == target))


def _check_classification(logits: np.ndarray, target: np.ndarray, who: str) -> None:
    if logits.ndim != 2 or logits.shape[0] == 0:
        raise ValueError(f"{who}: logits must have shape (N, C) with N >= 1, got {logits.shape}")
    if target.shape != (logits.shape[0],):
        raise ValueError(f"{who}: target must have shape ({logits.shape[0]},), one label per row of the logits, "
                         f"got {target.shape}")
    if target.dtype.kind not in "iu":
        raise TypeError(f"{who}: target must hold integer class labels, got dtype {target.dtype}")
    if target.min() < 0 or target.max() >= logits.shape[1]:
        raise ValueError(f"{who}: labels must be in [0, {logits.shape[1]}) for {logits.shape[1]} classes, got "
                         f"labels from {target.min()} to {target.max()}")


def mlp(sizes: Sequence[int], *, rng: np.random.Generator, activation: Callable[[], Module] = ReLU,
        batch_norm: bool = False, dropout: float = 0.0, dtype=np.float64) -> Sequential:
    """A multi-layer perceptron: Linear layers of the given sizes, an activation between each two.

    ``mlp([64, 128, 10], rng=rng)`` is ``Sequential(Linear(64, 128), ReLU(), Linear(128, 10))``: no activation
    after the last layer, whose outputs are the logits the loss takes. Each hidden layer is, in order,
    ``Linear``, then ``BatchNorm1d`` (with ``batch_norm=True``), the activation, then ``Dropout(dropout)`` (when
    ``dropout > 0``): ``mlp([64, 128, 10], rng=rng, batch_norm=True, dropout=0.5)`` is ``Sequential(Linear(64,
    128), BatchNorm1d(128), ReLU(), Dropout(0.5), Linear(128, 10))``. The layers draw their weights from
    ``rng`` in order; the Dropout layers draw their masks from it too.

    Args:
        sizes: the widths, input first and output last, at least two of them.
        rng: the generator for the initial weights (and the dropout masks).
        activation: a Module class (or any function returning a new module), called once per hidden layer.
        batch_norm: a BatchNorm1d after each hidden Linear layer.
        dropout: the probability of dropping, for a Dropout after each hidden activation (0: none).
        dtype: the parameters' dtype.
    """
    sizes = list(sizes)
    if len(sizes) < 2:
        raise ValueError(f"sizes must list at least the input and the output width, got {sizes}")
    layers: list[Module] = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        if i > 0:
            if batch_norm:
                layers.append(BatchNorm1d(n_in, dtype=dtype))
            layers.append(activation())
            if dropout:
                layers.append(Dropout(dropout, rng=rng))
        layers.append(Linear(n_in, n_out, rng=rng, dtype=dtype))
    return Sequential(*layers)


# --------------------------------------------------------------------------------------------------------------
# The digits.


@dataclass(repr=False)
class Split:
    """A data set split three ways. ``X_*`` has shape (n, features); ``y_*`` has shape (n,), integer labels."""

    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray

    def __repr__(self) -> str:
        return (f"Split(train {len(self.y_train)}, val {len(self.y_val)}, test {len(self.y_test)}; "
                f"{self.X_train.shape[1]} features, {len(np.unique(self.y_train))} classes)")


def load_digits(seed: int = 0, *, val_size: float = 0.2, test_size: float = 0.2, dtype=np.float64) -> Split:
    """scikit-learn's handwritten digits, split into training, validation and test sets.

    The data set has 1797 images of 8x8 pixels, each pixel a count from 0 to 16, of the digits 0 to 9 (174 to
    183 images of each). Each image becomes a row of 64 values scaled to [0, 1] (divided by 16).

    The split is stratified: within each digit, a random ``test_size`` fraction of its images (rounded) goes to
    the test set and a ``val_size`` fraction to the validation set, the rest to training; each set is then
    shuffled, so the digits are mixed. With the defaults (60/20/20) the sizes are 1079 for training, 359 for
    validation and 359 for test, for every seed; the seed only changes which images go where. Choose
    hyperparameters on the validation set and look at the test set once, at the end.

    Args:
        seed: seeds the ``np.random.default_rng`` that draws the split.
        val_size: the fraction of each digit's images for validation, in [0, 1).
        test_size: the fraction for test, in [0, 1); ``val_size + test_size`` must be below 1.
        dtype: the dtype of the ``X`` arrays (the labels are int64).

    Returns:
        A :class:`Split`: ``X_train`` (1079, 64), ``y_train`` (1079,), ``X_val`` (359, 64), ``y_val`` (359,),
        ``X_test`` (359, 64), ``y_test`` (359,) with the defaults.
    """
    if not (0 <= val_size < 1 and 0 <= test_size < 1 and val_size + test_size < 1):
        raise ValueError(f"val_size and test_size must be fractions in [0, 1) with a sum below 1, got "
                         f"val_size={val_size!r} and test_size={test_size!r}")
    from sklearn.datasets import load_digits as sklearn_digits  # imported here: only this function needs it

    digits = sklearn_digits()
    X, y = (digits.data / 16).astype(dtype), digits.target.astype(np.int64)
    rng = np.random.default_rng(seed)
    parts: dict[str, list[np.ndarray]] = {"train": [], "val": [], "test": []}
    for digit in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == digit))
        n_test, n_val = round(test_size * len(members)), round(val_size * len(members))
        parts["test"].append(members[:n_test])
        parts["val"].append(members[n_test:n_test + n_val])
        parts["train"].append(members[n_test + n_val:])
    rows = {name: rng.permutation(np.concatenate(chunks)) for name, chunks in parts.items()}
    return Split(X[rows["train"]], y[rows["train"]], X[rows["val"]], y[rows["val"]],
                 X[rows["test"]], y[rows["test"]])


# --------------------------------------------------------------------------------------------------------------
# Training.


@dataclass
class History:
    """What :func:`fit` saw, epoch by epoch and batch by batch.

    Attributes:
        train_loss: per epoch, the mean of the batches' losses (each taken before that batch's step, so this is
            the loss of a model that changed during the epoch, not of the final one).
        train_acc: per epoch, the mean of the batches' accuracies, the same way; empty unless the targets are
            integer class labels (NaN for an epoch that diverged at its first batch).
        val_loss: per epoch, the loss on the validation data after the epoch, in eval mode; empty without
            validation data.
        val_acc: per epoch, the accuracy on the validation data (for integer labels).
        lr: per epoch, the learning rate of the epoch's first batch.
        batch_loss: per batch, the loss before the step.
        batch_lr: per batch, the learning rate of its step.
        epoch_time: per epoch, the seconds spent on its batches (the validation not included).
        diverged: True if a loss became infinite or NaN; training stopped at that batch, without stepping.
        stopped_early: True if early stopping ended the training before ``epochs``.
    """

    train_loss: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_acc: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    batch_loss: list[float] = field(default_factory=list)
    batch_lr: list[float] = field(default_factory=list)
    epoch_time: list[float] = field(default_factory=list)
    diverged: bool = False
    stopped_early: bool = False


def fit(model: Module, optimizer, X: np.ndarray, y: np.ndarray, *, epochs: int, batch_size: int,
        rng: np.random.Generator, loss_fn=None, scheduler=None, scheduler_step: str = "epoch",
        validation: tuple[np.ndarray, np.ndarray] | None = None, early_stopping=None,
        progress: bool | None = None) -> History:
    """Train ``model`` with ``optimizer`` on ``(X, y)`` for ``epochs`` epochs of mini-batches.

    One epoch visits the batches of ``data.minibatches(len(X), batch_size, rng=rng)`` (your function from unit
    01), in training mode. For each batch::

        loss = loss_fn(model(X[batch]), y[batch])
        model.backward(loss_fn.backward())
        optimizer.step(model.grads())
        scheduler.step()                   # if scheduler_step == "batch"

    After each epoch: the validation loss and accuracy (in eval mode, in one forward pass; then back to training
    mode), and ``scheduler.step()`` if ``scheduler_step == "epoch"``. A scheduler with ``needs_metric = True``
    (``ReduceLROnPlateau``) is instead stepped once per epoch with the validation loss, ``scheduler.step(val_loss)``.
    As in torch, the scheduler steps *after* the optimizer. With ``early_stopping`` (an
    ``regularization.EarlyStopping``), ``early_stopping.step(val_loss, model)`` is called after each epoch's
    validation; training stops when it returns True, and the weights of the best epoch are written back into
    the model at the end (``early_stopping.restore(model)``): the model you get is the one of the best epoch.

    If a loss is infinite or NaN, training stops there (that batch takes no step) and the history says
    ``diverged=True``; NumPy's overflow warnings on the way are silenced, as this is the report.

    Args:
        model: the network, a :class:`Module`.
        optimizer: built on ``model.parameters()``, e.g. ``optim.SGD(model.parameters(), lr=0.1, momentum=0.9)``;
            it needs ``step(grads)`` and ``lr``.
        X: inputs, shape (n, features).
        y: targets, shape (n,): integer class labels for the default loss.
        epochs: the number of passes over the data, at least 0.
        batch_size: the number of samples per batch, at least 1 (the last batch of an epoch may be shorter).
        rng: the generator that shuffles each epoch's batches.
        loss_fn: ``forward(output, target) -> float`` (also as a call) and ``backward() -> doutput``;
            ``CrossEntropyLoss()`` by default.
        scheduler: None, or an object whose ``step()`` sets ``optimizer.lr`` (the schedules of unit 05).
        scheduler_step: ``"epoch"`` or ``"batch"``: when ``scheduler.step()`` is called.
        validation: ``(X_val, y_val)``, evaluated after every epoch; needed by a scheduler with ``needs_metric``
            and by early stopping. Keep the test set out of it: what chooses the epoch is not a test any more.
        early_stopping: None, or an object with ``step(val_loss, model) -> bool`` and ``restore(model)``.
        progress: show a progress bar over the epochs (tqdm) with the latest losses and accuracies. None (the
            default) shows it only inside a Jupyter kernel, so scripts and tests stay quiet.

    Returns:
        The :class:`History` of the run.
    """
    loss_fn = CrossEntropyLoss() if loss_fn is None else loss_fn
    X, y = np.asarray(X), np.asarray(y)
    if len(X) == 0 or len(X) != len(y):
        raise ValueError(f"X and y must hold the same number of samples, at least 1, got {len(X)} and {len(y)}")
    if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 0:
        raise ValueError(f"epochs must be an int, at least 0, got {epochs!r}")
    if scheduler_step not in ("epoch", "batch"):
        raise ValueError(f"scheduler_step must be 'epoch' or 'batch', got {scheduler_step!r}")
    needs_metric = scheduler is not None and getattr(scheduler, "needs_metric", False)
    if needs_metric and validation is None:
        raise ValueError(f"{type(scheduler).__name__} is stepped with the validation loss: pass validation=(X_val, "
                         "y_val)")
    if needs_metric and scheduler_step == "batch":
        raise ValueError(f"{type(scheduler).__name__} is stepped once per epoch with the validation loss; "
                         "scheduler_step='batch' cannot apply to it")
    if early_stopping is not None and validation is None:
        raise ValueError("early stopping watches the validation loss: pass validation=(X_val, y_val)")
    if validation is not None and (not isinstance(validation, (tuple, list)) or len(validation) != 2):
        raise TypeError("validation must be a pair (X_val, y_val)")

    history = History()
    classification = y.dtype.kind in "iu"  # integer labels: accuracies are recorded too
    bar = _progress_bar(epochs) if (("ipykernel" in sys.modules) if progress is None else progress) else None
    try:
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # a divergence is reported instead
            for _ in range(epochs):
                model.train()
                history.lr.append(float(optimizer.lr))
                first, accuracies = len(history.batch_loss), []
                start = time.perf_counter()
                for batch in data.minibatches(len(X), batch_size, rng=rng):
                    history.batch_lr.append(float(optimizer.lr))
                    loss, output = _train_step(model, optimizer, loss_fn, X[batch], y[batch])
                    history.batch_loss.append(loss)
                    if not math.isfinite(loss):
                        history.diverged = True
                        break
                    if classification:
                        accuracies.append(accuracy(output, y[batch]))
                    if scheduler is not None and scheduler_step == "batch":
                        scheduler.step()
                history.epoch_time.append(time.perf_counter() - start)
                history.train_loss.append(float(np.mean(history.batch_loss[first:])))
                if classification:
                    history.train_acc.append(float(np.mean(accuracies)) if accuracies else math.nan)
                if history.diverged:
                    break
                if validation is not None:
                    val_loss, val_acc = _evaluate(model, loss_fn, *validation)
                    history.val_loss.append(val_loss)
                    if val_acc is not None:
                        history.val_acc.append(val_acc)
                stop = early_stopping is not None and early_stopping.step(history.val_loss[-1], model)
                if needs_metric:
                    scheduler.step(history.val_loss[-1])
                elif scheduler is not None and scheduler_step == "epoch":
                    scheduler.step()
                if bar is not None:
                    bar.set_postfix(_latest(history), refresh=False)
                    bar.update()
                if stop:
                    history.stopped_early = True
                    break
        if early_stopping is not None:
            early_stopping.restore(model)
    finally:
        if bar is not None:
            if history.diverged:
                bar.set_postfix(diverged=True, refresh=False)
            bar.close()
    return history


def _train_step(model: Module, optimizer, loss_fn, X: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """Forward, loss, backward and one optimizer step on the batch ``(X, y)``.

    Returns the loss (before the step) and the model's output. A loss that is infinite or NaN takes no step: its
    gradients would only spread the NaN into the parameters.
    """
    output = model(X)
    loss = float(loss_fn(output, y))
    if math.isfinite(loss):
        model.backward(loss_fn.backward())
        optimizer.step(model.grads())
    return loss, output


def _evaluate(model: Module, loss_fn, X: np.ndarray, y: np.ndarray) -> tuple[float, float | None]:
    """The loss and (for integer labels) the accuracy on ``(X, y)``, in eval mode; the model goes back to
    training mode afterwards."""
    X, y = np.asarray(X), np.asarray(y)
    model.eval()
    try:
        output = model(X)
        loss = float(loss_fn(output, y))
        return loss, (accuracy(output, y) if y.dtype.kind in "iu" else None)
    finally:
        model.train()


def _progress_bar(epochs: int):
    from tqdm.auto import tqdm  # imported here: only a visible bar needs it

    return tqdm(total=epochs, desc="fit", unit="epoch")


def _latest(history: History) -> dict[str, str]:
    names = ("train_loss", "train_acc", "val_loss", "val_acc")
    return {name: f"{getattr(history, name)[-1]:.4f}" for name in names if getattr(history, name)}


def training_steps(model: Module, optimizer, X: np.ndarray, y: np.ndarray, *, batch_size: int,
                   rng: np.random.Generator, loss_fn=None) -> Callable[[float], float]:
    """Single training steps at learning rates of your choice: what the learning-rate range test needs.

    Returns a function ``step(lr)`` that sets ``optimizer.lr = lr``, takes one optimizer step (in training mode)
    on the next mini-batch and returns that batch's loss, computed before the step, as a float. The batches
    are those of ``data.minibatches(len(X), batch_size, rng=rng)``, one epoch after another for as long as you
    keep calling. If the loss is infinite or NaN, it is returned and no step is taken.

    Example::

        step = training_steps(model, optim.SGD(model.parameters(), lr=0.0), X, y, batch_size=32, rng=rng)
        losses = [step(lr) for lr in np.geomspace(1e-4, 10, 100)]

    Args:
        model, optimizer, X, y, batch_size, rng, loss_fn: as for :func:`fit`.
    """
    loss_fn = CrossEntropyLoss() if loss_fn is None else loss_fn
    X, y = np.asarray(X), np.asarray(y)
    if len(X) == 0 or len(X) != len(y):
        raise ValueError(f"X and y must hold the same number of samples, at least 1, got {len(X)} and {len(y)}")

    def batches() -> Iterator[np.ndarray]:
        while True:
            yield from data.minibatches(len(X), batch_size, rng=rng)

    stream = batches()

    def step(lr: float) -> float:
        optimizer.lr = lr
        batch = next(stream)
        model.train()
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            loss, _ = _train_step(model, optimizer, loss_fn, X[batch], y[batch])
        return loss

    return step
