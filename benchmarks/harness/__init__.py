"""The side-by-side harness: probe's files against what users would run instead, same texts, one run.

``python -m benchmarks.harness`` (``bash benchmarks/run.sh`` prepares its environments) runs each contender
(`contender`) in a fresh process in the environment it needs, and `report` renders the result. Nothing is
imported here: `contender` runs in a runtime-only environment that has none of the rest.
"""
