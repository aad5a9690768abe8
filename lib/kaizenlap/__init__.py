"""KaizenLap: driver-coaching analytics for the Toyota GR Cup, from the TRD timing files.

The library a data scientist calls (docs/API.md)::

    import kaizenlap
    kaizenlap.races()                                   # the races of the default data (the sample season)
    race = kaizenlap.load_race(None, "sonoma-r2")
    kaizenlap.Laps(race.laps).clean().fastest()         # each car's fastest clean lap
    kaizenlap.analyse(race, "pattern", trend_fdr=0.1)   # an engine, settings overridden for this call

The names are loaded on first use (PEP 562), so ``import kaizenlap.core.params`` stays light.
"""
from kaizenlap.core import __version__

_LIBRARY = ("races", "load_race", "Laps", "analyse", "engine_settings")
__all__ = ["__version__", *_LIBRARY]


def __getattr__(name: str):
    if name in _LIBRARY:
        from kaizenlap import library      # the face loads the layers below it on first use, not at import
        return getattr(library, name)
    raise AttributeError(f"module 'kaizenlap' has no attribute {name!r}")


def __dir__():
    return sorted(__all__)
