"""Coaching synthesis: the fifth stage of the pipeline (docs/DATA_REFERENCE.md §11; registered in engines/registry.py).

A brief per car-race (:mod:`.brief`, reading engine documents only through :mod:`.read`), a generator
(:mod:`.deterministic`, or a language model through :mod:`.synth`), the grounding validator
(:mod:`.validate`), confidence from the cited facts (:mod:`.confidence`), and the coaching document
(:mod:`.model`, JSON Schema in serve/schemas/coaching.schema.json). :mod:`.engine` puts them together.
"""
from .brief import Brief, build_brief, briefs_for_race
from .engine import (COLLECTION, ENGINE, AnswerCache, analyse, headline, store_document, store_documents,
                     validation_table)
from .synth import from_setting, llm_setting
from .validate import validate

__all__ = ["Brief", "build_brief", "briefs_for_race", "analyse", "headline", "store_documents", "store_document", "validation_table",
           "AnswerCache", "from_setting", "llm_setting", "validate", "ENGINE", "COLLECTION"]
