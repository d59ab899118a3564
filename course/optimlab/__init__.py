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
regularization  weight penalties, dropout, early stopping (06)
batchnorm   batch normalization's forward and backward (07)
search      search spaces, grid and random search, choosing a trial on validation data (08)
finetune    a new head and the optimizers of fine-tuning, on a network pretrained on MNIST (08)
rnn         recurrent networks: backpropagation through time, gradient clipping, LSTM and GRU cells (09)
nn          a small network toolkit: layers, a loss, the digits data, a training loop (given; its Dropout and
            BatchNorm1d layers run your functions of units 06 and 07)
problems    loss surfaces and data sets to optimize (given)
plots       contour plots and interactive widgets (given)
check       the self-checks (given)
"""

__all__ = ["gd", "losses", "data", "gradcheck", "optim", "schedules", "regularization", "batchnorm", "search",
           "finetune", "rnn", "nn", "problems", "plots", "check"]
