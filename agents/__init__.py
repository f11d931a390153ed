"""Faust agents: thin loops that move events between Kafka and the pure pipeline."""
