"""The robustness pillar: natural corruptions per modality, adversarial accuracy, sanity checks."""
