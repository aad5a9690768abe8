"""The engine registry: one :class:`EngineSpec` per task kind of a run.

Everything that needs to know the task kinds reads this table: the pipeline's planner and scheduler
(which notebook, race or track scope, what runs after what), the CLI's ``--engines`` choices, the run
index's columns, the headline of each recorded document (:func:`kaizenlap.tasks.record.headline`), its store
documents (:func:`engine_documents`) and the in-process runner
(:func:`kaizenlap.tasks.inprocess.documents_for_races`). The store and API tests therefore exercise the same
analyse → documents path as the notebooks.

Adding a task kind is one entry here plus one notebook. A task that needs other tasks' documents names
them in ``after``: a race-scope task depends on the same race's tasks of those names and on its track's
track tasks of those names; a track-scope task on the tasks of those names of every race of the track
(and its own track's). The pipeline starts a task once all of its dependencies that exist in the run have
finished, and hands the notebook their documents as the parameter ``inputs`` (``{task key: path of its
JSON document}``, a task key being ``"<race or track id>/<task name>"``, e.g. ``"barber-r1/sections"``,
``"barber/weather_track"``); :func:`documents_for_races` passes the documents themselves to ``analyse`` as
``inputs``, under the same keys. A
task whose dependency failed fails without executing. The coaching entry is the example: a per-race
synthesis that reads the race's four engine documents and its track's models, with the run option ``llm``
(``run --llm``) as a notebook parameter (and so in its fingerprint)::

    EngineSpec("coaching", "coaching", "coaching_synthesis.ipynb", RACE, _coaching, coaching_headline,
               coaching_documents, "coaching_insights",
               after=("composite", "sections", "weather", "pattern", "weather_track", "composite_track"),
               options=("llm",))
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable

import pandas as pd

from kaizenlap.coaching import engine as coaching
from kaizenlap.coaching import inputs as coaching_inputs
from kaizenlap.core import params as project_params
from kaizenlap.engines import composite, pattern, persistence, sections, weather
from kaizenlap.engines import telemetry, telemetry_views
from kaizenlap.ingest.telemetry_cache import race_telemetry
from kaizenlap.store.ingest_documents import quality_document

RACE, TRACK = "race", "track"


@dataclasses.dataclass(frozen=True)
class EngineSpec:
    """One task kind. ``analyse(races, subject, inputs) -> document`` is the in-process equivalent of the
    notebook (``races``: the race, or the track's loaded races in race order; ``subject``: the race or track
    id; ``inputs``: ``{task key: document}`` of ``after``). ``headline(document) -> {"text": ...}`` and
    ``documents(document) -> [store documents]`` (all in ``collection``) read the recorded document."""
    name: str                                   # the task name: file stem, store part suffix, --engines choice
    engine: str                                 # the document's "engine" field (the module in kaizenlap.engines)
    notebook: str                               # file under notebooks/
    scope: str                                  # race | track
    analyse: Callable[[list, str, dict], dict]
    headline: Callable[[dict], dict]
    documents: Callable[[dict], list[dict]]
    collection: str
    after: tuple[str, ...] = ()                 # task names this task reads (see the module docstring)
    min_races: int = 1                          # track scope: only where the track has this many loaded races
    options: tuple[str, ...] = ()               # run options (``run --llm``) passed as notebook parameters
    params: tuple[str, ...] = ()                # the params/ files (stems, or folders) its engine reads: its fingerprint
    # race scope: only for the races where ``applies(race)`` (None: every race), e.g. those with telemetry
    applies: Callable[[Any], bool] | None = None
    # what the task reads besides the lap and weather tables (``inputs_hash(race) -> str``), in its fingerprint
    inputs_hash: Callable[[Any], str] | None = None

    def store_documents(self, doc: dict) -> dict[str, list[dict]]:
        return {self.collection: self.documents(doc)}


def _composite(races: list, subject: str, inputs: dict) -> dict:
    return composite.analyse(races[0].laps, subject)


def _composite_track(races: list, subject: str, inputs: dict) -> dict:
    return composite.analyse(pd.concat([r.laps for r in races], ignore_index=True), subject, scope=TRACK)


def _sections(races: list, subject: str, inputs: dict) -> dict:
    return sections.analyse(races[0].laps, subject)


def _weather(races: list, subject: str, inputs: dict) -> dict:
    return weather.analyse_race(races[0].laps, races[0].weather, subject)


def _weather_track(races: list, subject: str, inputs: dict) -> dict:
    return weather.analyse_track([(r.laps, r.weather) for r in races], subject)


def _pattern(races: list, subject: str, inputs: dict) -> dict:
    return pattern.analyse(races[0].laps, subject)


def _telemetry(races: list, subject: str, inputs: dict) -> dict:
    race = races[0]
    cache, _ = race_telemetry(race)
    track = {"track_id": race.track_id, **project_params.tracks()[race.track_id]}
    return telemetry.analyse(cache if cache is not None else {}, race.laps, track, race.race_id)


def has_telemetry(race) -> bool:
    return bool(getattr(race, "telemetry", None))


def telemetry_input(race) -> str:
    """The telemetry file as the task's fingerprint sees it: its name and cheap fingerprint."""
    tel = getattr(race, "telemetry", None) or {}
    return f"{tel.get('file')}|{tel.get('fingerprint')}"


def _coaching(races: list, subject: str, inputs: dict) -> dict:
    race = races[0]
    inp = coaching_inputs.from_inputs(race, inputs, quality_document(race))
    rows = persistence.check(inp.previous, inp.race_docs["sections"]) if inp.previous and \
        inp.race_docs.get("sections") else None
    return coaching.analyse(inp.race_docs, inp.track_docs, inp.quality, follow_ups=rows,
                            previous_race_id=inp.previous_race_id)


# The params/ parts each task kind reads (its fingerprint covers these and no others; tasks/plan.py).
_LAP_STATS = ("engines.min_clean_laps", "engines.best_k", "engines.bootstrap")
_COMPOSITE_PARAMS = (*_LAP_STATS, "engines.composite", "plots")
_WEATHER_PARAMS = ("engines.weather", "plots")


def _specs() -> tuple[EngineSpec, ...]:
    return (
        EngineSpec("composite", "composite", "best_case_composite.ipynb", RACE, _composite,
                   composite.headline, composite.documents, "best_case_composites", params=_COMPOSITE_PARAMS),
        EngineSpec("sections", "sections", "section_analysis.ipynb", RACE, _sections,
                   sections.headline, sections.documents, "ml_section_recommendations", params=_COMPOSITE_PARAMS),
        EngineSpec("weather", "weather", "weather_correlation.ipynb", RACE, _weather,
                   weather.headline, weather.documents, "ml_weather_recommendations", params=_WEATHER_PARAMS),
        EngineSpec("pattern", "pattern", "pattern_detection.ipynb", RACE, _pattern,
                   pattern.headline, pattern.documents, "ml_pattern_recommendations",
                   params=("engines.min_clean_laps", "engines.pattern", "plots")),
        EngineSpec("telemetry", "telemetry", "telemetry.ipynb", RACE, _telemetry, telemetry.headline,
                   telemetry_views.store_documents, "telemetry", params=("engines.telemetry", "ingest.telemetry",
                                                                          "tracks/", "plots"),
                   applies=has_telemetry, inputs_hash=telemetry_input),
        EngineSpec("weather_track", "weather", "weather_correlation.ipynb", TRACK, _weather_track,
                   weather.headline_track, weather.track_documents, "ml_weather_recommendations",
                   params=_WEATHER_PARAMS),
        EngineSpec("composite_track", "composite", "best_case_composite.ipynb", TRACK, _composite_track,
                   composite.headline, composite.documents, "best_case_composites", min_races=2,
                   params=_COMPOSITE_PARAMS),
        EngineSpec("coaching", "coaching", "coaching_synthesis.ipynb", RACE, _coaching,
                   coaching.headline, coaching.documents, "coaching_insights",
                   after=("composite", "sections", "weather", "pattern", "telemetry", "weather_track",
                          "composite_track"),
                   options=("llm",), params=("coaching", "prompts/", "engines")),
    )


_REGISTRY: dict[str, EngineSpec] | None = None


def registry() -> dict[str, EngineSpec]:
    """``{task name: spec}`` in run order (race tasks, then track tasks, then coaching, which reads them)."""
    global _REGISTRY
    if _REGISTRY is None:
        specs = _specs()
        _REGISTRY = {s.name: s for s in specs}
        _check(_REGISTRY)
    return _REGISTRY


def _check(reg: dict[str, EngineSpec]) -> None:
    seen: set[tuple[str, str]] = set()
    for s in reg.values():
        if s.scope not in (RACE, TRACK):
            raise ValueError(f"engine spec {s.name}: scope must be race or track, not {s.scope!r}")
        if (s.engine, s.scope) in seen:
            raise ValueError(f"two engine specs record documents of engine {s.engine!r}, scope {s.scope!r}")
        seen.add((s.engine, s.scope))
        unknown = set(s.after) - set(reg)
        if unknown or s.name in s.after:
            raise ValueError(f"engine spec {s.name}: bad dependencies {sorted(unknown | ({s.name} & set(s.after)))}")
    order = topological(list(reg))
    if len(order) != len(reg):
        raise ValueError("engine dependencies form a cycle")


def topological(names: list[str]) -> list[str]:
    """``names`` ordered so that every task comes after the task kinds it depends on."""
    reg = _REGISTRY if _REGISTRY is not None else registry()
    out: list[str] = []
    todo = list(names)
    while todo:
        ready = [n for n in todo if all(d in out or d not in names for d in reg[n].after)]
        if not ready:
            break
        out.extend(ready)
        todo = [n for n in todo if n not in ready]
    return out


def dependencies(s: EngineSpec, race_ids: list[str], track_id: str) -> list[tuple[str, str]]:
    """``[(target, task name)]`` that a task of kind ``s`` over ``race_ids`` (its race, or its track's races)
    of track ``track_id`` reads: race-scope kinds of ``after`` for each of those races, track-scope kinds
    for the track. Inputs of a kind that a track does not have (a one-race track has no composite_track)
    are simply absent."""
    reg = registry()
    out = [(t, dep) for dep in s.after for t in (race_ids if reg[dep].scope == RACE else [track_id])]
    if s.name == "coaching":     # race 2's coaching checks race 1's finding (issue 20, item 6)
        out += [(p, "sections") for p in map(coaching_inputs.previous_race, race_ids) if p]
    return out


def spec(name: str) -> EngineSpec:
    try:
        return registry()[name]
    except KeyError:
        raise ValueError(f"unknown engine {name!r}; choose from {', '.join(registry())}") from None


def spec_for_document(doc: dict[str, Any]) -> EngineSpec:
    """The spec whose task recorded ``doc`` (by its ``engine`` and ``scope``)."""
    engine, scope = doc.get("engine"), doc.get("scope", RACE) or RACE
    for s in registry().values():
        if s.engine == engine and s.scope == scope:
            return s
    raise ValueError(f"unknown engine {engine!r} (scope {scope!r})")


def engine_documents(engine: str, doc: dict) -> dict[str, list[dict]]:
    """One engine document (what a notebook records) -> ``{collection: [store documents]}``: the converter
    of the spec that records documents of ``engine`` at the document's scope."""
    return spec_for_document({**doc, "engine": engine}).store_documents(doc)


def task_names() -> tuple[str, ...]:
    return tuple(registry())


def race_tasks() -> tuple[str, ...]:
    return tuple(n for n, s in registry().items() if s.scope == RACE)


def track_tasks() -> tuple[str, ...]:
    return tuple(n for n, s in registry().items() if s.scope == TRACK)


__all__ = ["EngineSpec", "registry", "spec", "spec_for_document", "task_names", "race_tasks", "track_tasks",
           "topological", "dependencies", "engine_documents", "RACE", "TRACK"]
