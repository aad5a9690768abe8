"""What a response model holds only as an undeclared extra (``extra="allow"``): served but not typed."""
import re

from fastapi.routing import APIRoute
from pydantic import BaseModel


def undeclared(value, where: str = "") -> set[str]:
    """The paths of the fields a validated model holds only as extras (``extra="allow"``), at any depth."""
    if isinstance(value, BaseModel):
        out = {f"{where}.{k}".lstrip(".") for k in (value.model_extra or {})}
        for name in type(value).model_fields:
            out |= undeclared(getattr(value, name), f"{where}.{name}")
        return out
    if isinstance(value, (list, tuple)):
        return set().union(*(undeclared(v, f"{where}[]") for v in value)) if value else set()
    if isinstance(value, dict):
        return set().union(*(undeclared(v, f"{where}.{k}") for k, v in value.items())) if value else set()
    return set()


def get_routes(routes, prefix: str = ""):
    """``(path, route)`` for every GET route with a response model, through included routers at any depth."""
    for r in routes:
        if isinstance(r, APIRoute):
            if "GET" in r.methods and r.response_model is not None:
                yield prefix + r.path, r
            continue
        sub = getattr(r, "router", None) or getattr(r, "original_router", None)
        if sub is not None:
            yield from get_routes(sub.routes, prefix + (getattr(r, "prefix", "") or ""))


def fill(path: str, values: dict[str, str]) -> str:
    """``path`` with its ``{name}`` parameters filled from ``values`` (KeyError names one not given)."""
    return re.sub(r"\{(\w+)(:\w+)?\}", lambda m: values[m.group(1)], path)
