"""fivefold.runner."""
