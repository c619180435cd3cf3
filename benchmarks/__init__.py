"""Benchmarks for digest: render, send, collect and the web app.

Run ``python -m benchmarks`` (full sizes) or ``python -m benchmarks --quick``
(tiny sizes, what CI runs to keep the harness working). Each figure is a
median over repeated runs; the JSON written by ``--out`` records the machine
(core count, Python, platform) beside every figure.

Benchmarks are not tests: a missed target is reported, not failed.
"""
