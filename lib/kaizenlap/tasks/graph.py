"""The registry's task graph drawn (``run --graph PATH``): a Mermaid flowchart, one node per task kind."""
from __future__ import annotations

from kaizenlap.tasks.registry import RACE, EngineSpec


def mermaid(registry: dict[str, EngineSpec]) -> str:
    """A Mermaid ``flowchart LR``: race-scope kinds as rectangles, track-scope as rounded nodes, an arrow
    from each kind to the kinds that read its documents (``after``)."""
    lines = ["flowchart LR"]
    for name, spec in registry.items():
        label = f"{name}<br/>{spec.notebook}"
        lines.append(f'    {name}["{label}"]' if spec.scope == RACE else f'    {name}("{label} (track)")')
    for name, spec in registry.items():
        lines += [f"    {dep} --> {name}" for dep in spec.after]
    return "\n".join(lines) + "\n"
