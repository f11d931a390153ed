"""kilowatch: real-time energy consumption forecasting and anomaly detection on Kafka."""

__version__ = "0.1.0"
