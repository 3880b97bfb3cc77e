"""Benchmarks: run with `make bench` (see bench/bulk_delivery.py)."""
