"""One root exception; domain errors are caught at the agent or request boundary."""

from __future__ import annotations


class KilowatchError(Exception):
    """Root of every error kilowatch raises on purpose."""


class ConfigError(KilowatchError):
    """Settings are inconsistent or a prerequisite is missing."""


class PrerequisiteMissing(ConfigError):
    """A program the infrastructure needs (java, mvn, apt-get ...) is not installed."""


class InfraError(KilowatchError):
    """A local service could not be started, stopped or reached."""


class InvalidReading(KilowatchError):
    """A reading failed decoding or validation; the reason goes to the dead-letter topic."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class DataError(KilowatchError):
    """An input file (CSV, labels) cannot be used."""
