"""Kafka: client factories, topics, the batch path (buffer, offsets, delivery), fenced faust internals."""
