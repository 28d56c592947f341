"""A living demo company: a seeded, deterministic org (`company`), seeded through the real gRPC
APIs (`seed`), an activity driver that shares, clicks and reports engagement over time through the
real APIs and the tracked-link endpoint (`activity`; also the platform's load generator), and the
live terminal view of `make run` (`view`)."""
