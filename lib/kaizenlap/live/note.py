"""Live mode's coaching note per car: the post-race coaching rules (:mod:`kaizenlap.coaching`, the deterministic
synthesizer) applied to the engine documents of the laps completed so far.

:func:`race_docs` runs the three engines the coaching headline reads (composite, sections, pattern) on a lap
table that is already flagged (:func:`kaizenlap.live.state.flagged`: the laps crossed so far, nothing later);
:func:`notes` turns them into one short note per car. The note names a section only where its loss beats the
noise (its interval excludes zero, with the number of clean laps it rests on); with fewer clean laps than the
engines need it says so. At the race's end the note equals the headline of the post-race coaching engine run on
the same laps (tests/test_live.py), so the live view and the race page never disagree once the race is over.
Weather is left out: the headline does not read it, and the weather engine's track temperature would be a
post-lap reading anyway.
"""
from __future__ import annotations

import pandas as pd

from kaizenlap.coaching import deterministic
from kaizenlap.coaching.brief import build_brief, race_cars
from kaizenlap.core.jsonclean import plain
from kaizenlap.engines import composite, pattern, sections


def race_docs(laps: pd.DataFrame, race_id: str, docs: dict | None = None) -> dict:
    """The engine documents the coaching headline reads, of ``laps`` (flagged). ``docs``: documents already
    computed on the same laps (``sections``, ``pattern``), reused rather than run twice."""
    docs = dict(docs or {})
    if laps.empty:
        return {"composite": None, "sections": None, "pattern": None, "weather": None}
    for name, engine in (("composite", composite), ("sections", sections), ("pattern", pattern)):
        if docs.get(name) is None:
            docs[name] = engine.analyse(laps, race_id)
    docs["weather"] = None
    return docs


def note_for(car: str, docs: dict) -> dict:
    """One car's note: ``text`` (the coaching headline), ``action`` (the first action, where a section's loss
    beats the noise), ``section`` (that section, else None), ``n_clean`` and ``n_laps`` (what it rests on)."""
    brief = build_brief(car, composite=docs.get("composite"), sections=docs.get("sections"), weather=None,
                        pattern=docs.get("pattern"))
    syn = deterministic.synthesize(brief)
    action = syn.actions[0] if syn.actions else None
    return plain({"text": syn.headline, "action": action.action if action else None,
                  "section": action.section if action else None,
                  "n_clean": brief.n_clean, "n_laps": brief.n_laps})


def notes(docs: dict) -> dict[str, dict]:
    """``{car: note}`` for every car of the documents (:func:`race_docs`)."""
    return {car: note_for(car, docs) for car in race_cars(docs)}


__all__ = ["note_for", "notes", "race_docs"]
