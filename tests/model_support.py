"""What a response model holds only as an undeclared extra (``extra="allow"``): served but not typed."""
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
