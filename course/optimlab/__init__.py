"""optimlab: the helper package of the optimlab course.

You implement the algorithms of the course here, one function at a time; each notebook says which function
comes next, and a check cell tells you at once whether it is right and, if not, what is wrong.

Modules
-------
gd          the plain gradient-descent update (unit 01)
losses      least squares and its gradient (unit 01)
data        the mini-batch iterator (unit 01)
gradcheck   numerical gradients and the gradient check (unit 01)
optim       momentum, Nesterov, AdaGrad, RMSProp, Adam, AdamW: update functions and torch-shaped classes (02-04)
schedules   learning-rate schedules: pure functions of the step and torch-shaped schedulers (05)
nn          a small network toolkit: layers, a loss, the digits data, a training loop (given)
problems    loss surfaces and data sets to optimize (given)
plots       contour plots and interactive widgets (given)
check       the self-checks (given)
"""

__all__ = ["gd", "losses", "data", "gradcheck", "optim", "schedules", "nn", "problems", "plots", "check"]
