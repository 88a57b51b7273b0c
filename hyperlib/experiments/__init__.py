"""The paper's experiments, one module each, run as ``python -m hyperlib.experiments.<name>``.

* :mod:`~hyperlib.experiments.identity`  learn the identity matrix (paper, Figure 2)

Each writes a results file (:mod:`~hyperlib.experiments.results`) and a figure; the notebooks
run them at classroom scale and plot the stored full-scale results beside the live run.
"""
