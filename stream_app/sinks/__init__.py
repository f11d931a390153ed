"""Sinks: Kafka topics into PostgreSQL in batches (results, history)."""
