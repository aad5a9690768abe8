"""The analytics engines: pure functions, lap table in, typed results out.

Each engine module has ``analyse(...) -> dict``: a JSON-ready document (the contract with the store and
API) whose numbers carry their sample size and, where estimated, a 95% interval. Parameters come from
``params/engines.yaml``. :mod:`kaizenlap.engines.registry` lists every task kind of a run (one
``EngineSpec`` each: notebook, scope, analyse, headline, store documents, collection, dependencies);
``ENGINES`` (the engine modules) is read from it.
"""


def __getattr__(name: str):
    if name == "ENGINES":
        from .registry import registry
        return tuple(dict.fromkeys(s.engine for s in registry().values()))
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
