"""The paper's experiments, one module each, run as ``python -m hyperlib.experiments.<name>``.

* :mod:`~hyperlib.experiments.identity`   learn the identity matrix (paper, Figure 2)
* :mod:`~hyperlib.experiments.sort`       sort MNIST numbers: the quicksort against baselines
* :mod:`~hyperlib.experiments.attention`  classify (cluttered) MNIST with glimpses

Each keeps only what is its own (data, models, metrics, table, figure) and runs on
:mod:`~hyperlib.experiments.harness` (the loop, the arguments, saving as runs finish); each
writes a results file (:mod:`~hyperlib.experiments.results`) and a figure; the notebooks run them
at classroom scale and plot the stored full-scale results beside the live run.
"""
