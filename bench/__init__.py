"""`make bench` (`python -m bench`): throughput and latency of the node, public and private.

Nothing here asserts; it measures, prints a table and writes `bench/results/<stamp>.json`
and `bench/results/latest.json`. See docs/benchmarks.md for what each row means.
"""
