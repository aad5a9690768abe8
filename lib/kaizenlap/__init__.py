"""KaizenLap: driver-coaching analytics for the Toyota GR Cup, from the TRD timing files."""
__version__ = "0.1.0"
