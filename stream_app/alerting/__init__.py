"""Alerting on the anomaly topic: pure episode hygiene, messages, and delivery with retries."""
