"""Unit 08, fine-tuning: cases and classic mistakes for ``replace_head`` and ``finetune_optimizer``.

The networks of the cases are small ``nn.mlp`` made fresh for every call by the checks' case factory ``"mlp"``
(a pretrained network in miniature: the mistakes show as well on 4-6-5-3 as on 64-128-64-10, and the outputs stay
small enough to record). Settings are chosen so that each mistake shows: a new head for as many classes as the
old one (so that a kept old head is not the expected shape by accident), a float32 network (the head's dtype),
weights Fortran-ordered, a single Linear layer (an empty body, one group), and a deep network of 11 Linear layers
whose layer names run "0" to "20" (so that "2" is a prefix of "20.weight", and sorting the names as strings puts
"10" before "2"). The optimizer classes passed are SGD as well as Adam, so that ignoring the argument shows, and
the default decay 2.6 is used as well as others.

An optimizer is observed as its class, its learning rate and its parameters; that they are the model's own arrays
is checked by the engine (``shares_inputs``): an optimizer over copies is the mistake COPIED_PARAMETERS.
"""

import copy

import numpy as np
from optimlab import nn, optim
from optimlab.check import COPIED_PARAMETERS, RNG_NOT_USED

from . import CaseFunction, Exercise, Mistake, Rng, case, error_case

FINETUNE_SECTION = "5. Fine-tuning a pretrained network"

BODY_SHARED = "the body shared with the pretrained network"
NOT_LINEAR = "no TypeError when the last layer is not a Linear"
UNKNOWN_AS_FULL = "an unknown strategy silently treated as 'full'"

#: The layouts and dtypes a hidden case draws from.
_LAYOUTS = (None, None, None, "F", "strided", "reversed")


def _network(sizes, seed, *, dtype=None, layout=None, end_with_relu=False) -> CaseFunction:
    """A case argument: a fresh ``nn.mlp(sizes, rng=np.random.default_rng(seed))`` for every call."""
    kwargs = {"sizes": list(sizes), "seed": int(seed)}
    if dtype is not None:
        kwargs["dtype"] = dtype
    if layout is not None:
        kwargs["layout"] = layout
    if end_with_relu:
        kwargs["end_with_relu"] = True
    return CaseFunction("mlp", kwargs=kwargs)


def _random_sizes(rng: np.random.Generator, *, deep: bool = False) -> list[int]:
    """Widths of a small MLP: 2 to 4 Linear layers (11 when ``deep``), each 2 to 6 wide: a body and a head (the
    public cases hold a single Linear layer too)."""
    layers = 11 if deep else int(rng.integers(2, 5))
    return [int(n) for n in rng.integers(2, 7, size=layers + 1)]


def _random_network(rng: np.random.Generator, *, deep: bool = False) -> CaseFunction:
    return _network(_random_sizes(rng, deep=deep), rng.integers(1000),
                    dtype="float32" if rng.random() < 0.25 else None,
                    layout=_LAYOUTS[int(rng.integers(len(_LAYOUTS)))])


# ================================================================================================ replace_head


def _replace_head_public():
    return [
        case("a network nn.mlp([4, 6, 5, 3]), a new head for 2 classes", model=_network([4, 6, 5, 3], 1),
             num_classes=2, rng=Rng(11)),
        case("a new head for as many classes as the old one (3): it is still a new head",
             model=_network([4, 6, 5, 3], 2), num_classes=3, rng=Rng(12)),
        case("a float32 network: the new head is float32 too", model=_network([3, 5, 4], 3, dtype="float32"),
             num_classes=4, rng=Rng(13)),
        case("every weight Fortran-ordered, a head for 3 classes", model=_network([5, 4, 3, 2], 4, layout="F"),
             num_classes=3, rng=Rng(14)),
        case("a single Linear layer: the body is empty, the result is the new head alone",
             model=_network([3, 2], 5), num_classes=4, rng=Rng(15)),
        error_case("a network whose last layer is a ReLU, not a Linear", error="TypeError", mistake=NOT_LINEAR,
                   model=_network([4, 3, 2], 6, end_with_relu=True), num_classes=2, rng=Rng(16)),
    ]


def _replace_head_hidden(rng):
    cases = [case("a random network, a new head", model=_random_network(rng),
                  num_classes=int(rng.integers(1, 6)), rng=Rng(int(rng.integers(1000))))]
    if rng.random() < 0.25:
        cases.append(error_case("a random network ending with a ReLU", error="TypeError", mistake=NOT_LINEAR,
                                model=_network(_random_sizes(rng), rng.integers(1000), end_with_relu=True),
                                num_classes=int(rng.integers(1, 6)), rng=Rng(int(rng.integers(1000)))))
    return cases


def _refusing(impl):
    """A mistake that is only that mistake: it refuses a network whose last layer is not a Linear, as it should."""

    def refusing(model, num_classes, *, rng):
        if not isinstance(model.layers[-1], nn.Linear):
            raise TypeError("the last layer is not a Linear")
        return impl(model, num_classes, rng=rng)

    refusing.__name__ = impl.__name__
    return refusing


def _head_like(model, num_classes, rng, *, dtype=True, on_top=False):
    last = model.layers[-1]
    width = last.out_features if on_top else last.in_features
    return nn.Linear(width, num_classes, rng=rng, **({"dtype": last.weight.dtype} if dtype else {}))


def _rh_old_head_kept(model, num_classes, *, rng):
    return copy.deepcopy(model)


def _rh_head_on_top(model, num_classes, *, rng):
    return nn.Sequential(*[copy.deepcopy(layer) for layer in model.layers], _head_like(model, num_classes, rng,
                                                                                       on_top=True))


def _rh_body_shared(model, num_classes, *, rng):
    return nn.Sequential(*model.layers[:-1], _head_like(model, num_classes, rng))


def _rh_reinitialised(model, num_classes, *, rng):
    linears = [layer for layer in model.layers if isinstance(layer, nn.Linear)]
    sizes = [linears[0].in_features] + [layer.out_features for layer in linears[:-1]] + [num_classes]
    return nn.mlp(sizes, rng=rng, dtype=linears[0].weight.dtype)


def _rh_in_place(model, num_classes, *, rng):
    model.layers[-1] = _head_like(model, num_classes, rng)
    return model


def _rh_float64_head(model, num_classes, *, rng):
    return nn.Sequential(*[copy.deepcopy(layer) for layer in model.layers[:-1]],
                         _head_like(model, num_classes, rng, dtype=False))


def _rh_sizes_swapped(model, num_classes, *, rng):
    last = model.layers[-1]
    head = nn.Linear(num_classes, last.in_features, rng=rng, dtype=last.weight.dtype)
    return nn.Sequential(*[copy.deepcopy(layer) for layer in model.layers[:-1]], head)


def _rh_own_generator(model, num_classes, *, rng):
    head = _head_like(model, num_classes, np.random.default_rng(0))
    return nn.Sequential(*[copy.deepcopy(layer) for layer in model.layers[:-1]], head)


def _rh_global_state(model, num_classes, *, rng):
    head = _head_like(model, num_classes, rng)
    bound = 1 / np.sqrt(head.in_features)
    head.weight = np.random.uniform(-bound, bound, size=head.weight.shape).astype(head.weight.dtype)
    return nn.Sequential(*[copy.deepcopy(layer) for layer in model.layers[:-1]], head)


def _rh_any_last_layer(model, num_classes, *, rng):
    """Right, except that it looks for the last Linear layer instead of refusing a network that ends otherwise."""
    k = max(i for i, layer in enumerate(model.layers) if isinstance(layer, nn.Linear))
    old = model.layers[k]
    head = nn.Linear(old.in_features, num_classes, rng=rng, dtype=old.weight.dtype)
    return nn.Sequential(*[copy.deepcopy(layer) for layer in model.layers[:k]], head)


REPLACE_HEAD = Exercise(
    name="replace_head", module="finetune", returns="the new network", public=_replace_head_public,
    hidden=_replace_head_hidden, shares_memory_title=BODY_SHARED, diagnose="rng",
    mistakes=[
        Mistake("old_head_kept", "the old head kept: the network copied whole, with no new head",
                "The pretrained head's outputs are the old task's classes: it has to go. Copy every layer but "
                "the last, then add a fresh nn.Linear(in_features, num_classes) drawn from rng.",
                _refusing(_rh_old_head_kept)),
        Mistake("head_on_top", "a new head appended on top of the old one",
                "The new head replaces the last layer; stacked after it, it reads the old task's logits instead "
                "of the body's features. The result has as many layers as the network given, and the head's "
                "input size is the old head's in_features.", _refusing(_rh_head_on_top)),
        Mistake("body_shared", BODY_SHARED,
                "nn.Sequential(*layers) reuses the layer objects themselves: the new network's arrays are the "
                "pretrained network's, so fine-tuning one changes the other (and the next experiment starts "
                "from weights that are not pretrained any more). Deep-copy each layer of the body.",
                _refusing(_rh_body_shared), detected_by="check"),
        Mistake("reinitialised", "the body re-initialised",
                "A network built anew with nn.mlp has the right shapes but random weights: what was learnt "
                "before is lost, and this is training from scratch. Keep the pretrained layers (copies of them) "
                "and draw only the new head from rng.", _refusing(_rh_reinitialised)),
        Mistake("in_place", "modifying an input in place",
                "Assigning a new last layer into model.layers changes the pretrained network itself. Build a "
                "new nn.Sequential from copies of the layers instead.", _refusing(_rh_in_place), detected_by="check"),
        Mistake("float64_head", "the new head in float64 on a float32 network",
                "nn.Linear draws float64 weights unless told otherwise: give it dtype=, the old head's weight "
                "dtype, so that the whole network computes in one precision.", _refusing(_rh_float64_head)),
        Mistake("sizes_swapped", "the head's sizes the wrong way round: Linear(num_classes, in_features)",
                "nn.Linear(in_features, out_features) takes its input size first, as torch's does (its weight "
                "has the shape (out_features, in_features)): the head reads the body's features and gives one "
                "output per class.", _refusing(_rh_sizes_swapped)),
        Mistake("own_generator", RNG_NOT_USED,
                "The head's initial weights are drawn from the rng passed in: the caller chooses them (one seed "
                "per run of an experiment). A generator made inside gives the same head for every seed.",
                _refusing(_rh_own_generator), detected_by="check"),
        Mistake("global_state", "drawing the head with NumPy's global random state",
                "np.random.uniform and its kin draw from a hidden global generator, so the same rng gives "
                "another head each time and a run cannot be reproduced: draw from the rng passed in (nn.Linear "
                "does, given rng=rng).", _refusing(_rh_global_state), detected_by="check"),
        Mistake("any_last_layer", NOT_LINEAR,
                "replace_head swaps a Linear head; a network that ends with something else (an activation) has "
                "no head to swap, and guessing one hides the caller's mistake. Raise TypeError.",
                _rh_any_last_layer, detected_by="check"),
    ],
)

# ========================================================================================== finetune_optimizer


def _finetune_public():
    small = [4, 6, 5, 3]
    deep = [2] * 12
    sgd, adam = CaseFunction("SGD"), CaseFunction("Adam")
    return [
        case("full fine-tuning of nn.mlp([4, 6, 5, 3]), lr = 0.01 (the default optimizer, Adam)",
             model=_network(small, 1), strategy="full", lr=0.01),
        case("a linear probe, SGD at lr = 0.1", model=_network(small, 2), strategy="probe", lr=0.1,
             optimizer=sgd),
        case("discriminative rates with the default decay 2.6, Adam at lr = 0.01", model=_network(small, 3),
             strategy="discriminative", lr=0.01, optimizer=adam),
        case("discriminative rates, decay = 2.0, SGD at lr = 0.5", model=_network(small, 4),
             strategy="discriminative", lr=0.5, decay=2.0, optimizer=sgd),
        case("full fine-tuning with SGD at lr = 0.05", model=_network(small, 5), strategy="full", lr=0.05,
             optimizer=sgd),
        case("11 Linear layers, named '0' to '20': discriminative, decay = 1.5, SGD at lr = 1.0",
             model=_network(deep, 6), strategy="discriminative", lr=1.0, decay=1.5, optimizer=sgd),
        case("11 Linear layers: a linear probe of the last one, '20'", model=_network(deep, 7), strategy="probe",
             lr=0.2, optimizer=adam),
        case("a single Linear layer: discriminative is one optimizer at lr", model=_network([3, 2], 8),
             strategy="discriminative", lr=0.3, decay=3.0, optimizer=sgd),
        case("every weight Fortran-ordered: discriminative, decay = 4.0", model=_network([5, 4, 3, 2], 9, layout="F"),
             strategy="discriminative", lr=0.02, decay=4.0, optimizer=adam),
        case("a float32 network, a linear probe with Adam", model=_network([3, 5, 4], 10, dtype="float32"),
             strategy="probe", lr=0.001, optimizer=adam),
        error_case("an unknown strategy, 'linear'", error="ValueError", mistake=UNKNOWN_AS_FULL,
                   model=_network(small, 11), strategy="linear", lr=0.01, optimizer=sgd),
    ]


def _finetune_hidden(rng):
    classes = ("SGD", "Adam", "RMSprop")
    cases = []
    for strategy in ("full", "probe", "discriminative"):
        cases.append(case(f"a random network, {strategy!r}", model=_random_network(rng, deep=rng.random() < 0.2),
                          strategy=strategy, lr=float(np.round(rng.uniform(0.001, 1.0), 4)),
                          decay=float(np.round(rng.uniform(1.2, 4.0), 2)),
                          optimizer=CaseFunction(classes[int(rng.integers(len(classes)))])))
    unknown = ("Full", "linear", "probe ", "discriminate", "fine-tune")[int(rng.integers(5))]
    cases.append(error_case(f"an unknown strategy, {unknown!r}", error="ValueError", mistake=UNKNOWN_AS_FULL,
                            model=_random_network(rng), strategy=unknown, lr=0.1,
                            optimizer=CaseFunction(classes[int(rng.integers(len(classes)))])))
    return cases


def _groups(model, *, prefixed=True):
    """[(layer position, {name: array})] for the layers that have parameters."""
    found = []
    for position, (name, layer) in enumerate(model.named_children()):
        own = layer.parameters()
        if own:
            found.append((position, {(f"{name}.{k}" if prefixed else k): v for k, v in own.items()}))
    return found


def _ft_variant(*, full=None, probe=None, rates=None, per_parameter=False, always_adam=False, prefixed=True,
                copies=False, unknown_as_full=False):
    """finetune_optimizer with one part changed: ``full(model)`` and ``probe(model)`` give the parameters of
    those strategies; ``rates(n, i, positions, lr, decay)`` the rate of group i of n."""

    def impl(model, *, strategy, lr, decay=2.6, optimizer=optim.Adam):
        make = optim.Adam if always_adam else optimizer
        if strategy not in ("full", "probe", "discriminative") and not unknown_as_full:
            raise ValueError(f"unknown strategy {strategy!r}")

        def build(params, rate):
            return make({k: v.copy() for k, v in params.items()} if copies else params, lr=rate)

        groups = _groups(model, prefixed=prefixed)
        if strategy == "probe":
            return [build(probe(model) if probe else groups[-1][1], lr)]
        if strategy != "discriminative":
            return [build(full(model) if full else model.parameters(), lr)]
        positions = [p for p, _ in groups]
        n = len(groups)
        rate_of = rates or (lambda n, i, positions, lr, decay: lr / decay ** (n - 1 - i))
        if per_parameter:
            return [build({k: v}, rate_of(n, i, positions, lr, decay)) for i, (_, g) in enumerate(groups)
                    for k, v in g.items()]
        return [build(g, rate_of(n, i, positions, lr, decay)) for i, (_, g) in enumerate(groups)]

    return impl


def _head_name(model):
    return model.names[-1]


def _without_head(model):
    return {k: v for k, v in model.parameters().items() if not k.startswith(_head_name(model) + ".")}


def _head_only(model):
    return {k: v for k, v in model.parameters().items() if k.startswith(_head_name(model) + ".")}


def _head_weight_only(model):
    return {k: v for k, v in _head_only(model).items() if k.endswith(".weight")}


FINETUNE_OPTIMIZER = Exercise(
    name="finetune_optimizer", module="finetune", returns="the optimizers", public=_finetune_public,
    hidden=_finetune_hidden, shares_inputs=True,
    mistakes=[
        Mistake("probe_trains_body", "a probe that trains the body too",
                "A linear probe trains the head alone: the body's parameters are in no optimizer, so they keep "
                "their pretrained values and the network is a linear classifier on the pretrained features.",
                _ft_variant(probe=lambda model: model.parameters())),
        Mistake("full_without_head", "a 'full' that leaves the head out",
                "Full fine-tuning trains every parameter, the new head's too: left out, the head keeps its "
                "random initial weights and the body learns to serve a random classifier.",
                _ft_variant(full=_without_head)),
        Mistake("full_without_body", "a 'full' that trains only the head",
                "That is a linear probe. Full fine-tuning trains every parameter of the network: one optimizer "
                "over the whole of model.parameters().", _ft_variant(full=_head_only)),
        Mistake("rates_reversed", "discriminative rates the wrong way round (the largest at the input)",
                "The head is new and must learn fastest; the first layers hold the most general features and "
                "should move least. The head gets lr, and each layer below it the rate of the layer above "
                "divided by decay.", _ft_variant(rates=lambda n, i, positions, lr, decay: lr / decay**i)),
        Mistake("exponent_off_by_one", "the exponent off by one (the head at lr / decay)",
                "The head trains at lr itself: its exponent is 0. With n layers that have parameters, the one "
                "at position i (from 0) is n - 1 - i layers below the head.",
                _ft_variant(rates=lambda n, i, positions, lr, decay: lr / decay ** (n - i))),
        Mistake("every_layer_counted", "rates counted over every layer, the activations too",
                "The ReLUs have no parameters and no rate: the rate drops by one factor of decay per layer "
                "*with parameters*. Counting every layer of the Sequential divides by decay twice per step in "
                "an MLP.", _ft_variant(rates=lambda n, i, positions, lr, decay: lr / decay ** (positions[-1]
                                                                                              - positions[i]))),
        Mistake("bias_frozen", "the head's bias frozen in the probe (weights only)",
                "The probe trains the whole last layer, its weight and its bias: a linear classifier needs both.",
                _ft_variant(probe=_head_weight_only)),
        Mistake("per_parameter", "one optimizer per parameter instead of one per layer",
                "Discriminative fine-tuning gives a rate to each layer: one optimizer per layer that has "
                "parameters, holding its weight and its bias.", _ft_variant(per_parameter=True)),
        Mistake("unprefixed", "the layer's own parameter names ('weight', not '4.weight')",
                "A layer's parameters() names them 'weight' and 'bias'; the model's names carry the layer's "
                "name in front ('4.weight'), and those are the keys of model.grads() that each optimizer's step "
                "receives. Name each parameter as model.parameters() does.", _ft_variant(prefixed=False)),
        Mistake("always_adam", "the optimizer argument ignored (always Adam)",
                "Build each optimizer with the class you are given, optimizer(params, lr=rate): the caller may "
                "want SGD or RMSprop.", _ft_variant(always_adam=True)),
        Mistake("copies", COPIED_PARAMETERS,
                "An optimizer updates the arrays it holds, in place. Copies (np.copy, .copy(), np.array) are "
                "other arrays: the optimizer would train them and the network would never change. Pass the "
                "model's own arrays.", _ft_variant(copies=True), detected_by="check"),
        Mistake("unknown_as_full", UNKNOWN_AS_FULL,
                "A typo ('Full', 'linear') would then train the whole network without a word: raise ValueError "
                "naming the three strategies.", _ft_variant(unknown_as_full=True), detected_by="check"),
    ],
)

FINETUNE = [REPLACE_HEAD, FINETUNE_OPTIMIZER]
