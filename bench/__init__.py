"""Benchmarks of the two containers: the evaluation (Task 1 scoring) and the algorithm (per stage, CPU and GPU).

- :mod:`bench.run`: ``python -m bench.run [--quick] [--device cpu|cuda]`` runs every section and prints the tables
  (``make bench``, ``make bench-gpu``); it writes ``bench/output/results.json`` and a RESULTS.md;
- :mod:`bench.algorithm_case`: one algorithm configuration on one case, in its own process (peak RSS per
  configuration), printing JSON;
- :mod:`bench.network_window`: one forward pass of a (production-size) network on one sliding window, for an
  extrapolated per-case time where a whole case would not fit the budget;
- :mod:`bench.data`: the synthetic cases (fixed seeds, realistic size), generated once into a cache;
- ``bench/bench_evaluation.py``: the evaluation benchmark, run by :mod:`bench.run` as a subprocess.
"""
