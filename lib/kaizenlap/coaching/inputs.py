"""The coaching task's inputs: a race's engine documents, its track documents and its quality ledger —
handed over by the pipeline as the registry's ``inputs`` (``{task key: document}``, or in the notebook
``{task key: JSON path}``); :mod:`kaizenlap.tasks.inprocess` computes what is not handed over.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kaizenlap.core.recorded import load_document

RACE_ENGINES = ("composite", "sections", "weather", "pattern")
TRACK_DOCS = ("weather_track", "composite_track")


@dataclass
class Inputs:
    race_id: str
    track_id: str
    race_docs: dict[str, dict | None]
    track_docs: dict[str, dict | None]
    quality: dict | None
    previous: dict | None = None         # the weekend's earlier race's sections document (issue 20, item 6)
    previous_race_id: str | None = None

    def missing(self) -> list[str]:
        return [k for k, v in {**self.race_docs, **self.track_docs}.items() if v is None]


def from_inputs(race, inputs: dict[str, dict | None] | None, quality: dict | None = None) -> Inputs:
    """Inputs from the registry's ``inputs`` (``{task key: document}``, keys ``"<race_id>/<task>"`` and
    ``"<track_id>/<task>"``); a task that is absent is None (a missing-data fact, or computed by
    :func:`kaizenlap.tasks.inprocess.inputs_for`)."""
    inputs = inputs or {}
    prev = previous_race(race.race_id)
    race_docs = {e: inputs.get(f"{race.race_id}/{e}") for e in RACE_ENGINES}
    if inputs.get(f"{race.race_id}/telemetry"):      # only where the race has telemetry (coaching/telemetry_facts.py)
        race_docs["telemetry"] = inputs[f"{race.race_id}/telemetry"]
    return Inputs(race.race_id, race.track_id, race_docs,
                  {t: inputs.get(f"{race.track_id}/{t}") for t in TRACK_DOCS}, quality,
                  inputs.get(f"{prev}/sections") if prev else None, prev)


def previous_race(race_id: str) -> str | None:
    """The weekend's earlier race of ``race_id`` (``barber-r2`` -> ``barber-r1``), None for a first race."""
    import re

    m = re.fullmatch(r"(.*-r)(\d+)", str(race_id))
    return f"{m.group(1)}{int(m.group(2)) - 1}" if m and int(m.group(2)) > 1 else None


def read_inputs(inputs: dict[str, str] | None) -> dict[str, dict | None]:
    """The pipeline's ``inputs`` parameter (``{task key: path of its JSON document}``) read: ``{task key:
    document}`` (a file that is absent, e.g. its task failed, is None)."""
    return {k: (load_document(p)[0] if p and Path(p).exists() else None) for k, p in (inputs or {}).items()}
