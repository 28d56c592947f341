"""Runs the five services as local processes: used by `make run` and the end-to-end tests."""
