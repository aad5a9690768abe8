"""Coaching synthesis: the fifth stage of the pipeline (docs/DATA_REFERENCE.md §11; registered in tasks/registry.py).

A brief per car-race (:mod:`.brief`, reading engine documents only through :mod:`.read`), a generator
(:mod:`.deterministic`, or a language model through :mod:`.synth`), the grounding validator
(:mod:`.validate`), confidence from the cited facts (:mod:`.confidence`), and the coaching document
(:mod:`.model`, JSON Schema in serve/schemas/coaching.schema.json). :mod:`.engine` puts them together.
"""
from kaizenlap.coaching.brief import Brief, build_brief, briefs_for_race
from kaizenlap.coaching.engine import (COLLECTION, ENGINE, AnswerCache, analyse, documents, headline, validation_table)
from kaizenlap.coaching.synth import from_setting
from kaizenlap.core.settings import llm_setting
from kaizenlap.coaching.validate import validate

__all__ = ["Brief", "build_brief", "briefs_for_race", "analyse", "headline", "documents", "validation_table",
           "AnswerCache", "from_setting", "llm_setting", "validate", "ENGINE", "COLLECTION"]
