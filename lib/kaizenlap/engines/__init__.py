"""The four analytics engines: pure functions, lap table in, typed results out.

Each engine module has ``analyse(...) -> dict``: a JSON-ready document (the contract with the store and
API) whose numbers carry their sample size and, where estimated, a 95% interval. Parameters come from
``params/engines.yaml``.
"""
ENGINES = ("composite", "sections", "weather", "pattern")
