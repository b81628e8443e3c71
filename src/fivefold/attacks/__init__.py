"""Adversarial attacks shared by adversarial training and the robustness pillar.

``gradient`` (FGSM, PGD with random starts, L∞ and L2), ``apgd`` (APGD-CE and APGD-DLR),
``space`` (the space an attack moves in: input bounds, one-hot groups, frozen models) and
``text`` (a greedy word-edit attack on raw texts).
"""
