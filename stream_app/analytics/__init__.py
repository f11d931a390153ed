"""Dataset analytics (issue 17): pure functions over a frame with a timezone-aware ``DatetimeIndex``
named ``timestamp`` and one float column ``value`` (kWh per interval). No I/O, settings or web framework
(.importlinter: analytics-pure)."""
