"""fivefold.report."""
