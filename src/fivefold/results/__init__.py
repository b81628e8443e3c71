"""Result files and their aggregation, used by the runner (writing) and the report (reading).

``files``: the versioned ``result.json`` schema, atomic writes and validated reads.
``scorecard``: mean ± interval per recipe and metric, deltas and tests against the baseline.
``stats``: the intervals and tests. Nothing here imports torch at module level.
"""
