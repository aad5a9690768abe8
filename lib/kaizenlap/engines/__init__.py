"""The analytics engines: pure functions, lap table in, typed results out.

Each engine module has ``analyse(...) -> dict``: a JSON-ready document (the contract with the store and
API) whose numbers carry their sample size and, where estimated, a 95% interval. Parameters come from
``params/engines.yaml``. Each engine module also owns its ``headline(doc)`` (the run index's figure) and ``documents(doc)`` (its
store documents). :mod:`kaizenlap.tasks.registry` lists every task kind of a run.
"""
