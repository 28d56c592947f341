"""Local development infrastructure (Kafka broker and MongoDB-compatible server)."""
