"""Shared plumbing for every Advocacy service: config, gRPC runner, metrics, Kafka, MongoDB, outbox."""
