"""Benchmarks: each module measures one thing and prints a table. Not part of `make test`."""
