"""Metrics as plain functions on numpy arrays: ``f(y_true (N,), y_prob (N, C), **per_sample)``.

Classification (accuracy, macro-F1, NLL, Brier), calibration (ECE, adaptive ECE, reliability
table, temperature scaling), selective prediction (risk-coverage, AURC), ensemble disagreement
(mutual information, member variance, pairwise disagreement), OOD detection (scores, AUROC,
FPR@95TPR) and group fairness (per-group rates, demographic parity, equalized odds,
worst-group accuracy).
"""

from fivefold.pillars.metrics.calibration import (
    adaptive_calibration_error,
    equal_mass_bins,
    equal_width_bins,
    expected_calibration_error,
    fit_temperature,
    reliability_table,
    temperature_nll,
)
from fivefold.pillars.metrics.classification import (
    Array,
    accuracy,
    brier_score,
    check_probs,
    macro_f1,
    nll,
    softmax,
)
from fivefold.pillars.metrics.disagreement import (
    disagreement_rate,
    member_summary,
    member_variance,
    mutual_information,
)
from fivefold.pillars.metrics.groups import (
    demographic_parity_difference,
    demographic_parity_ratio,
    equalized_odds_difference,
    false_positive_rate,
    group_accuracy,
    positive_classes,
    selection_rate,
    true_positive_rate,
    worst_group_accuracy,
)
from fivefold.pillars.metrics.ood import (
    energy_score,
    fpr_at_95_tpr,
    max_softmax_score,
    ood_auroc,
)
from fivefold.pillars.metrics.selective import (
    accuracy_at_coverage,
    aurc,
    excess_aurc,
    risk_coverage_curve,
    risk_coverage_table,
)

__all__ = [
    "Array",
    "accuracy",
    "accuracy_at_coverage",
    "adaptive_calibration_error",
    "aurc",
    "brier_score",
    "check_probs",
    "demographic_parity_difference",
    "demographic_parity_ratio",
    "disagreement_rate",
    "energy_score",
    "equal_mass_bins",
    "equal_width_bins",
    "equalized_odds_difference",
    "excess_aurc",
    "expected_calibration_error",
    "false_positive_rate",
    "fit_temperature",
    "fpr_at_95_tpr",
    "group_accuracy",
    "macro_f1",
    "max_softmax_score",
    "member_summary",
    "member_variance",
    "mutual_information",
    "nll",
    "ood_auroc",
    "positive_classes",
    "reliability_table",
    "risk_coverage_curve",
    "risk_coverage_table",
    "selection_rate",
    "softmax",
    "temperature_nll",
    "true_positive_rate",
    "worst_group_accuracy",
]
