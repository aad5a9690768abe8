"""KaizenLap: driver-coaching analytics for the Toyota GR Cup, from the TRD timing files."""
from kaizenlap.core import __version__

__all__ = ["__version__"]
