"""The robustness pillar: natural corruptions per modality, adversarial accuracy, sanity checks,
and missing- and noisy-modality slices for tasks with several inputs."""
