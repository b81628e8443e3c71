"""The ethics & safety pillar: group fairness, calibration, selective prediction, OOD detection."""
