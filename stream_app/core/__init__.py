"""Pure core: windows, online models and scoring. No I/O, no Kafka, no asyncio."""
