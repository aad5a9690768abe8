"""The registry's task graph drawn (``run --graph PATH``): one node per task kind, an arrow from each kind to
the kinds that read its documents (the spec's ``after``), race scope and track scope told apart.

:func:`mermaid` (Mermaid ``flowchart``, renders on GitHub and in JupyterLab), :func:`dot` (Graphviz text),
:func:`svg` (Graphviz's ``dot`` program, only where it is installed: no dependency is added) and
:func:`write` (by the file's suffix).
"""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from kaizenlap.tasks.registry import RACE, EngineSpec


def _label(spec: EngineSpec) -> str:
    scope = "per race" if spec.scope == RACE else (f"per track, {spec.min_races}+ races" if spec.min_races > 1
                                                   else "per track")
    return f"{spec.name}<br/><small>{spec.notebook} · {scope}</small>"


def edges(registry: dict[str, EngineSpec]) -> list[tuple[str, str]]:
    """``(dependency, task)`` for every ``after`` entry, in registry order."""
    return [(dep, name) for name, spec in registry.items() for dep in spec.after]


def mermaid(registry: dict[str, EngineSpec]) -> str:
    """A Mermaid ``flowchart LR``: race-scope kinds as rectangles in a "per race" box, track-scope kinds as
    rounded nodes in a "per track" box, an arrow ``dep --> task`` for every ``after`` dependency."""
    lines = ["flowchart LR"]
    for scope, title in ((RACE, "per race"), ("track", "per track (races pooled)")):
        members = [(n, s) for n, s in registry.items() if s.scope == scope]
        if not members:
            continue
        lines.append(f'    subgraph {scope}_scope["{title}"]')
        for name, spec in members:
            lines.append(f'        {name}["{_label(spec)}"]' if scope == RACE else f'        {name}("{_label(spec)}")')
        lines.append("    end")
    lines += [f"    {dep} --> {name}" for dep, name in edges(registry)]
    lines.append("    classDef race fill:#eef6ff,stroke:#0969da")
    lines.append("    classDef track fill:#fff8e6,stroke:#9a6700")
    for scope in (RACE, "track"):
        names = [n for n, s in registry.items() if s.scope == scope]
        if names:
            lines.append(f"    class {','.join(names)} {scope}")
    return "\n".join(lines) + "\n"


def dot(registry: dict[str, EngineSpec]) -> str:
    """The same graph in Graphviz's language (race scope boxes, track scope rounded, in clusters)."""
    lines = ["digraph tasks {", "  rankdir=LR;", '  node [fontname="Helvetica", fontsize=11];']
    for scope, title, style in ((RACE, "per race", 'shape=box, style=filled, fillcolor="#eef6ff"'),
                                ("track", "per track (races pooled)",
                                 'shape=box, style="rounded,filled", fillcolor="#fff8e6"')):
        members = [(n, s) for n, s in registry.items() if s.scope == scope]
        if not members:
            continue
        lines.append(f'  subgraph cluster_{scope} {{ label="{title}";')
        for name, spec in members:
            label = _label(spec).replace("<br/>", "\\n").replace("<small>", "").replace("</small>", "")
            lines.append(f'    "{name}" [label="{label}", {style}];')
        lines.append("  }")
    lines += [f'  "{dep}" -> "{name}";' for dep, name in edges(registry)]
    lines.append("}")
    return "\n".join(lines) + "\n"


def svg(registry: dict[str, EngineSpec]) -> str | None:
    """The graph as SVG by Graphviz's ``dot`` program; None where it is not installed (or fails)."""
    exe = shutil.which("dot")
    if exe is None:
        return None
    try:
        out = subprocess.run([exe, "-Tsvg"], input=dot(registry), capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout if out.returncode == 0 and out.stdout else None


def write(registry: dict[str, EngineSpec], path: str | Path) -> Path:
    """Write the graph to ``path`` by its suffix: ``.svg`` (Graphviz needed: ``RuntimeError`` without it),
    ``.dot``/``.gv``, ``.md`` (the Mermaid text in a fenced block), anything else the Mermaid text
    (``.mmd``)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".svg":
        text = svg(registry)
        if text is None:
            raise RuntimeError("writing SVG needs Graphviz's `dot` program; write .mmd (Mermaid) or .dot instead")
    elif suffix in (".dot", ".gv"):
        text = dot(registry)
    elif suffix == ".md":
        text = f"```mermaid\n{mermaid(registry)}```\n"
    else:
        text = mermaid(registry)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


__all__ = ["mermaid", "dot", "svg", "write", "edges"]
