"""Analytics use cases over repository protocols (unit-tested with in-memory fakes)."""
