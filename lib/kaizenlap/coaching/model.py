"""The coaching document (published JSON Schema: serve/schemas/coaching.schema.json) and the part of it a
generator writes (:class:`Synthesis`: headline, hypotheses, actions — no numbers of its own beyond those
it copies from facts, no confidence).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, Field

Confidence = Literal["high", "medium", "low"]
GeneratorKind = Literal["deterministic", "openai_chat", "llama_cpp"]
Outcome = Literal["accepted", "repaired", "fallback"]


class Fact(BaseModel):
    """One fact of a brief: a number the engines computed (or a statement that data is missing)."""
    model_config = ConfigDict(extra="forbid")
    fact_id: str = Field(description="stable id, e.g. sections.im2.section_loss")
    text: str = Field(description="one line, numbers at their display rounding")
    value: Optional[float] = Field(None, description="null for a missing-data fact")
    unit: str = ""
    n: int = Field(0, description="sample size (clean laps, readings, issues)")
    lo: Optional[float] = Field(None, description="95% interval, when the value is an estimate")
    hi: Optional[float] = None
    digits: int = Field(3, description="decimals the value is displayed (and checked) at")
    source: str = Field(description="engine or ledger it came from: composite, sections, pattern, weather, "
                                    "weather_track, quality")
    kind: str = Field(description="limit, section_loss, potential, consistency, trend, section_detail, weather, data")
    missing: bool = Field(False, description="a fact that some data is missing (never a zero)")
    section: Optional[str] = None
    lap: Optional[int] = None
    car: Optional[str] = Field(None, description="another car the fact is about (the rival), else null")
    rank: int = Field(0, description="1 = the fact that matters most")


class Hypothesis(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=1, max_length=400)
    supported_by: list[str] = Field(min_length=1, max_length=6)


class Measure(BaseModel):
    model_config = ConfigDict(extra="forbid")
    metric: str = Field(description="e.g. median_section_time_s")
    target: float
    over_laps: int = Field(ge=1, le=50)


class Action(BaseModel):
    model_config = ConfigDict(extra="forbid")
    section: Optional[str] = Field(None, description="s1..s3 or a sub-section; null for a whole-lap action")
    action: str = Field(min_length=1, max_length=400)
    measure: Measure
    evidence: list[str] = Field(min_length=1, max_length=6)


class Synthesis(BaseModel):
    """What a generator writes (a model's JSON answer is validated against this)."""
    model_config = ConfigDict(extra="forbid")
    headline: str = Field(min_length=1, max_length=300)
    hypotheses: list[Hypothesis] = Field(default_factory=list, max_length=5)
    actions: list[Action] = Field(default_factory=list, max_length=5)


class RatedHypothesis(Hypothesis):
    confidence: Confidence = Field(description="derived from the cited facts' intervals and n "
                                               "(docs/DATA_REFERENCE.md §11.3), never from the model")
    confidence_basis: str = ""


class Generator(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: GeneratorKind
    label: str = Field(description="shown to users, e.g. 'deterministic (rule-based, no language model)'")
    model: Optional[str] = None
    endpoint: Optional[str] = None
    prompt_version: Optional[str] = None
    attempts: int = 0
    validation: Outcome
    fallback_reason: Optional[str] = None
    errors: list[str] = Field(default_factory=list, description="validator messages of rejected answers")
    cached: bool = False
    latency_s: Optional[float] = None
    prompt_tokens: Optional[int] = None
    completion_tokens: Optional[int] = None
    brief_hash: str = ""


class Objective(BaseModel):
    """The one objective of a car's race (coaching.objective.pick_objective; docs/DATA_REFERENCE.md §11.6)."""
    model_config = ConfigDict(extra="forbid")
    kind: Literal["section", "none"]
    reason: str
    section: Optional[str] = None
    place: Optional[str] = Field(None, description="the section in the track's turns, e.g. 'IM2 (Turns 8–11, "
                                   "Carousel, The Kink)', or in corners C1… where none are placed")
    diagnosis: Optional[Literal["pace", "consistency", "section"]] = None
    fact_ids: list[str] = Field(default_factory=list)
    rule: str = ""
    rival: Optional[str] = Field(None, description="the nearest faster car of the class, when there is one")
    rival_ahead: Optional[str] = Field(None, description="the car ahead at the flag in the class (official "
                                       "results), where it is not the nearest faster car; null for the winner")
    traffic: list[str] = Field(default_factory=list, description="sections whose loss was clear of zero but seen "
                               "only on laps in traffic (coaching/traffic.py): passed over, not blamed on the driver")


class FollowUp(BaseModel):
    """Race 1's finding checked on this race (engines/persistence.py; docs/DATA_REFERENCE.md §10.6)."""
    model_config = ConfigDict(extra="forbid")
    race_id: str = Field(description="the earlier race of the weekend")
    section: str
    place: Optional[str] = None
    race1: dict = Field(description="race 1's section loss there (value, lo, hi, n)")
    race2: Optional[dict] = Field(None, description="this race's section loss there, null without statistics")
    held: bool
    text: str


class CoachingDocument(BaseModel):
    """Coaching for one car in one race (store collection ``coaching_insights``)."""
    model_config = ConfigDict(extra="forbid")
    race_id: str
    track_id: Optional[str] = None
    car: str
    class_: Optional[str] = Field(None, alias="class")
    n_clean: int = 0
    headline: str
    facts: list[Fact]
    hypotheses: list[RatedHypothesis]
    actions: list[Action]
    generator: Generator
    objective: Optional[Objective] = None
    follow_up: Optional[FollowUp] = None


SCHEMA_PATH = Path(__file__).resolve().parents[3] / "serve" / "schemas" / "coaching.schema.json"


def json_schema() -> dict:
    """The published JSON Schema of the coaching document."""
    schema = CoachingDocument.model_json_schema(by_alias=True)
    schema["$id"] = "https://kaizenlap/schemas/coaching.schema.json"
    return schema


def schema_text() -> str:
    return json.dumps(json_schema(), indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def synthesis_schema(fact_ids: list[str] | None = None, sections: list[str] | None = None,
                     metrics: list[str] | None = None, max_items: int = 3, headline_chars: int = 300,
                     text_chars: int = 400) -> dict:
    """JSON Schema a model's answer must match (self-contained, no $ref: what constrained decoders take).
    With ``fact_ids``/``sections``/``metrics`` the ids, sections and metrics are enums of one brief's."""
    ids = {"type": "string", **({"enum": fact_ids} if fact_ids else {})}
    # an enum alone (llama.cpp's schema-to-grammar ignores an enum beside a list of types)
    section = {"enum": [*sections, None]} if sections else {"type": ["string", "null"]}
    metric = {"type": "string", **({"enum": metrics} if metrics else {})}
    return {
        "type": "object", "additionalProperties": False, "required": ["headline", "hypotheses", "actions"],
        "properties": {
            "headline": {"type": "string", "maxLength": headline_chars},
            "hypotheses": {"type": "array", "maxItems": max_items, "items": {
                "type": "object", "additionalProperties": False, "required": ["text", "supported_by"],
                "properties": {"text": {"type": "string", "maxLength": text_chars},
                               "supported_by": {"type": "array", "minItems": 1, "maxItems": 4, "items": ids}}}},
            "actions": {"type": "array", "maxItems": max_items, "items": {
                "type": "object", "additionalProperties": False,
                "required": ["section", "action", "measure", "evidence"],
                "properties": {"section": section, "action": {"type": "string", "maxLength": text_chars},
                               "measure": {"type": "object", "additionalProperties": False,
                                           "required": ["metric", "target", "over_laps"],
                                           "properties": {"metric": metric, "target": {"type": "number"},
                                                          "over_laps": {"type": "integer", "minimum": 1,
                                                                        "maximum": 50}}},
                               "evidence": {"type": "array", "minItems": 1, "maxItems": 4, "items": ids}}}},
        },
    }
