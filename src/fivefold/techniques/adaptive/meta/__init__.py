"""Meta-learning for few-shot classification and regression, written with ``torch.func``.

- :mod:`.episodes`: meta-train / meta-test class splits and N-way K-shot episode sampling.
- :mod:`.learners`: the inner SGD loop and :class:`~.learners.MetaLearner` (MAML, first-order
  MAML, Reptile), vectorised over the tasks of a meta-batch with ``torch.func.vmap``.
- :mod:`.baselines`: fine-tuning from scratch and a linear probe on frozen features, scored on
  the same episodes.
- :mod:`.sinusoid`: the sinusoid regression benchmark of the MAML paper.

Reference: Finn, Abbeel & Levine, "Model-Agnostic Meta-Learning for Fast Adaptation of Deep
Networks", ICML 2017; Nichol, Achiam & Schulman, "On First-Order Meta-Learning Algorithms",
arXiv:1803.02999, 2018.
"""
