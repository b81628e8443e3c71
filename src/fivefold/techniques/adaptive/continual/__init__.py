"""Continual and online learning: experience streams, replay, EWC, drift detectors, scores.

The parts are plain functions and small classes, imported from their modules:

- :mod:`.streams`: class-incremental and domain-incremental experiences cut from a Task.
- :mod:`.replay`: a reservoir-sampling replay buffer (Vitter's Algorithm R).
- :mod:`.ewc`: the diagonal Fisher information and the elastic weight consolidation penalty.
- :mod:`.detectors`: river's ADWIN, Page-Hinkley and KSWIN behind one small interface.
- :mod:`.online`: the prequential (test-then-train) loop with drift-triggered adaptations.
- :mod:`.metrics`: average accuracy, forgetting, backward and forward transfer, prequential
  accuracy, recovery after a drift and detection delays.

Synthetic drifting streams (SEA, Hyperplane, Agrawal, RBF) live in :mod:`fivefold.data.drift`.
"""
