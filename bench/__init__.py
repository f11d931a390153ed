"""Benchmarks of kilowatch against real Kafka: ``python -m bench.run`` (see ``bench/README.md``)."""
