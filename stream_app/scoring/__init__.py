"""The stream's scoring step: decode, per-asset state, detector, served models, events (no Kafka I/O)."""
