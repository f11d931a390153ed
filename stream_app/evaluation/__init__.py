"""Offline evaluation: run the online detector over files and score it the NAB way."""
