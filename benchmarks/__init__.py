"""Benchmarks of swarmlab against raw standard-library baselines measured in the same run.

Run ``python -m benchmarks`` (all), ``python -m benchmarks NAME ...`` (some),
``--quick`` (small sizes, well under a minute) and ``--json PATH`` (figures as JSON).
"""
