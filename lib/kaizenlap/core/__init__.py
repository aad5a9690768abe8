"""The bottom layer: what every other layer may use and which uses nothing of the project — parameters,
settings, the ledger of input problems, document ids, the JSON cleaner, lap-time formatting, atomic
writes, paths."""
__version__ = "0.1.0"
