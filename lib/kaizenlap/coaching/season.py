"""The coaching task's inputs: a race's engine documents, its track documents and its quality ledger —
handed over by the pipeline as the registry's ``inputs`` (``{task key: document}``, or in the notebook
``{task key: JSON path}``) or computed in this process by the engines (tests, bench, a notebook run by hand).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import pandas as pd

RACE_ENGINES = ("composite", "sections", "weather", "pattern")
TRACK_DOCS = ("weather_track", "composite_track")


@dataclass
class Inputs:
    race_id: str
    track_id: str
    race_docs: dict[str, dict | None]
    track_docs: dict[str, dict | None]
    quality: dict | None

    def missing(self) -> list[str]:
        return [k for k, v in {**self.race_docs, **self.track_docs}.items() if v is None]


def track_documents(track_races: list) -> dict[str, dict | None]:
    """The track tasks' documents for a track's loaded races (composite_track only with several races)."""
    from ..engines import composite, weather

    track_id = track_races[0].track_id
    out: dict[str, dict | None] = {"weather_track": weather.analyse_track([(r.laps, r.weather) for r in track_races],
                                                                          track_id),
                                   "composite_track": None}
    if len(track_races) > 1:
        pooled = pd.concat([r.laps for r in track_races], ignore_index=True)
        out["composite_track"] = composite.analyse(pooled, track_id, scope="track")
    return out


def race_documents(race) -> dict[str, dict]:
    from ..engines import composite, pattern, sections, weather

    rid = race.race_id
    return {"composite": composite.analyse(race.laps, rid), "sections": sections.analyse(race.laps, rid),
            "weather": weather.analyse_race(race.laps, race.weather, rid), "pattern": pattern.analyse(race.laps, rid)}


def compute(races: Iterable) -> list[Inputs]:
    """Inputs of every loaded race, engines run in this process (each track's documents once)."""
    from ..store.build import quality_document

    loaded = [r for r in races if r.status == "loaded" and len(r.laps)]
    by_track: dict[str, list] = {}
    for r in loaded:
        by_track.setdefault(r.track_id, []).append(r)
    tracks = {t: track_documents(sorted(rs, key=lambda r: r.race_number)) for t, rs in by_track.items()}
    return [Inputs(r.race_id, r.track_id, race_documents(r), tracks[r.track_id], quality_document(r)) for r in loaded]


def from_inputs(race, inputs: dict[str, dict | None] | None, quality: dict | None = None) -> Inputs:
    """Inputs from the registry's ``inputs`` (``{task key: document}``, keys ``"<race_id>/<task>"`` and
    ``"<track_id>/<task>"``); a task that is absent is None (a missing-data fact, or computed by
    :func:`inputs_for`)."""
    inputs = inputs or {}
    return Inputs(race.race_id, race.track_id, {e: inputs.get(f"{race.race_id}/{e}") for e in RACE_ENGINES},
                  {t: inputs.get(f"{race.track_id}/{t}") for t in TRACK_DOCS}, quality)


def read_inputs(inputs: dict[str, str] | None) -> dict[str, dict | None]:
    """The pipeline's ``inputs`` parameter (``{task key: path of its JSON document}``) read: ``{task key:
    document}`` (a file that is absent, e.g. its task failed, is None)."""
    from ..results import load_document

    return {k: (load_document(Path(p))[0] if p and Path(p).exists() else None) for k, p in (inputs or {}).items()}


def inputs_for(data, race_id: str, inputs: dict[str, str] | None = None, race_files: dict[str, str] | None = None
               ) -> tuple[object, Inputs, list[str]]:
    """``(race, inputs, computed)`` for the coaching notebook: the engine documents the pipeline hands it
    (``inputs``: ``{task key: JSON path}``), the rest computed here by the engines (``computed`` names
    them; by hand, without ``inputs``, everything is computed)."""
    from .. import notebook as nb
    from ..store.build import quality_document

    race = nb.load_race(data, race_id, race_files)
    inp = from_inputs(race, read_inputs(inputs), quality_document(race))
    computed = []
    if any(v is None for v in inp.race_docs.values()):
        fresh = race_documents(race)
        for k, v in inp.race_docs.items():
            if v is None:
                inp.race_docs[k] = fresh[k]
                computed.append(k)
    if inp.track_docs.get("weather_track") is None:
        track = track_documents(nb.load_track(data, race.track_id))
        for k, v in track.items():
            if inp.track_docs.get(k) is None and v is not None:
                inp.track_docs[k] = v
                computed.append(k)
    return race, inp, computed
