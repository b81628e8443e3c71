"""fivefold.training."""
