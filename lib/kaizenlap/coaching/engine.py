"""The coaching task of a race: briefs -> generator -> validator (-> repair -> deterministic fallback) ->
one coaching document per car, in one engine document (``engine: "coaching"``).

What a pipeline registry entry needs: :func:`analyse` (race documents + track documents + quality ->
engine document), :func:`headline` (the run index's figure) and :func:`documents` (engine
document -> its ``coaching_insights`` documents). It is registered as one EngineSpec in tasks/registry.py.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from kaizenlap.core import __version__, params, paths
from kaizenlap.core.atomic import write_json
from kaizenlap.core.ids import doc_id
from kaizenlap.core.jsonclean import plain
from kaizenlap.coaching import deterministic
from kaizenlap.coaching.brief import Brief, brief_text, briefs_for_race
from kaizenlap.coaching.confidence import hypothesis_confidence
from kaizenlap.coaching.model import CoachingDocument, Generator, Synthesis, synthesis_schema
from kaizenlap.coaching.synth import CallError, Deterministic, Synthesizer, from_setting, prompt
from kaizenlap.coaching.validate import validate

ENGINE = "coaching"
COLLECTION = "coaching_insights"


def cfg() -> dict:
    return params.load("coaching")


# --------------------------------------------------------------------------- cache

def cache_dir() -> Path:
    return paths.cache_dir() / "coaching"


def cache_key(brief: Brief, model: str | None, endpoint_kind: str, prompt_version: str) -> str:
    """hash(brief + model + prompt version): an unchanged brief is not sent again."""
    text = json.dumps({"brief": brief.hash(), "model": model, "kind": endpoint_kind, "prompt": prompt_version},
                      sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


class AnswerCache:
    """Accepted answers on disk, one JSON file per key (writes are atomic)."""

    def __init__(self, root: str | os.PathLike | None = None) -> None:
        self.root = Path(root) if root is not None else cache_dir()

    def get(self, key: str) -> dict | None:
        try:
            return json.loads((self.root / f"{key}.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def put(self, key: str, entry: dict) -> None:
        write_json(self.root / f"{key}.json", entry, indent=None, sort_keys=True, allow_nan=True)


# --------------------------------------------------------------------------- one car

def messages_for(brief: Brief, p: dict) -> list[dict]:
    s = cfg()["synthesis"]
    fill = {"metrics": ", ".join(cfg()["validator"]["metrics"]), "stint_laps": s["stint_laps"], "car": brief.car,
            "race_id": brief.race_id, "track_id": brief.track_id, "facts": brief_text(brief)}
    return [{"role": "system", "content": p["system"].format(**fill)},
            {"role": "user", "content": p["user"].format(**fill)}]


def schema_for(brief: Brief) -> dict:
    s = cfg()["synthesis"]
    return synthesis_schema(brief.ids(), brief.sections or None, cfg()["validator"]["metrics"],
                            max_items=int(max(s["max_hypotheses"], s["max_actions"])),
                            headline_chars=int(s["max_headline_chars"]), text_chars=int(s["max_text_chars"]))


def document(brief: Brief, syn: Synthesis, generator: Generator) -> dict:
    """The coaching document of one car (confidence derived here, from the cited facts)."""
    hyps = []
    for h in syn.hypotheses:
        conf, basis = hypothesis_confidence([f for f in (brief.fact(i) for i in h.supported_by) if f is not None])
        hyps.append({**h.model_dump(), "confidence": conf, "confidence_basis": basis})
    doc = CoachingDocument.model_validate({
        "race_id": brief.race_id, "track_id": brief.track_id, "car": brief.car, "class": brief.car_class,
        "n_clean": brief.n_clean, "headline": syn.headline, "facts": [f.model_dump() for f in brief.facts],
        "hypotheses": hyps, "actions": [a.model_dump() for a in syn.actions],
        "generator": generator.model_dump()})
    return doc.model_dump(by_alias=True)


def _deterministic_doc(brief: Brief, *, reason: str | None = None, base: dict | None = None) -> dict:
    syn = deterministic.synthesize(brief)
    check = validate(syn.model_dump(), brief)
    if not check.ok:       # a bug in the rules: say so rather than store an ungrounded text
        raise AssertionError(f"deterministic text for {brief.race_id}/{brief.car} fails the validator: "
                             f"{check.message()}")
    gen = {"kind": "deterministic", "label": deterministic.LABEL, "attempts": 0, "brief_hash": brief.hash(),
           **(base or {}), "validation": "fallback" if reason else "accepted", "fallback_reason": reason}
    if reason:
        gen["label"] = f"{deterministic.LABEL}; fallback: {reason}"
    return document(brief, syn, Generator.model_validate(gen))


class _Budget:
    def __init__(self, seconds: float) -> None:
        self.deadline = time.monotonic() + float(seconds)

    def left(self) -> float:
        return self.deadline - time.monotonic()


def coach_car(brief: Brief, synth: Synthesizer, *, cache: AnswerCache | None, budget: _Budget,
              prompt_version: str | None = None) -> tuple[dict, list[dict]]:
    """``(coaching document, calls)`` for one car: cached answer, or model call -> validator -> one repair
    -> deterministic fallback with the reason."""
    if isinstance(synth, Deterministic):
        return _deterministic_doc(brief), []
    s = cfg()["synthesis"]
    p = prompt(prompt_version)
    base = {"model": synth.model, "endpoint": synth.endpoint, "prompt_version": p["version"],
            "brief_hash": brief.hash()}
    limit = brief.fact("limit.clean_laps")
    if limit is not None:
        return _deterministic_doc(brief, reason=f"not sent to the model: {limit.text}", base=base), []
    key = cache_key(brief, synth.model, synth.kind, p["version"])
    label = f"{synth.model} via {synth.kind} ({synth.endpoint})"
    if cache is not None and (hit := cache.get(key)) is not None:
        check = validate(hit["answer"], brief)
        if check.ok:
            gen = Generator.model_validate({**base, **hit["generator"], "cached": True, "kind": synth.kind,
                                            "label": label})
            return document(brief, check.synthesis, gen), [{"car": brief.car, "cached": True, "outcome":
                                                             hit["generator"]["validation"]}]
    messages = messages_for(brief, p)
    schema = schema_for(brief)
    calls: list[dict] = []
    errors: list[str] = []
    attempts = 0
    for attempt in range(1 + int(s["repair_attempts"])):
        left = budget.left()
        if left <= 1:
            reason = "the run's model budget was spent" if attempt == 0 else \
                f"rejected ({'; '.join(errors[-3:])}); no budget left to repair"
            return _deterministic_doc(brief, reason=reason, base={**base, "attempts": attempts, "errors": errors}), calls
        try:
            comp = synth.complete(messages, schema, max_tokens=int(s["max_tokens"]),
                                  timeout_s=min(float(s["timeout_s"]), left))
        except Exception as exc:  # a failing endpoint never fails the run: the car falls back, reason recorded
            why = exc.reason if isinstance(exc, CallError) else f"{type(exc).__name__}: {exc}"
            calls.append({"car": brief.car, "attempt": attempt + 1, "error": why})
            return _deterministic_doc(brief, reason=f"model call failed: {why}",
                                      base={**base, "attempts": attempts + 1, "errors": errors}), calls
        attempts += 1
        check = validate(comp.text, brief)
        calls.append({"car": brief.car, "attempt": attempt + 1, "latency_s": round(comp.latency_s, 3),
                      "prompt_tokens": comp.prompt_tokens, "completion_tokens": comp.completion_tokens,
                      "http_attempts": comp.attempts, "ok": check.ok, "errors": check.errors[:5]})
        if check.ok:
            outcome = "accepted" if attempt == 0 else "repaired"
            gen = Generator.model_validate({**base, "kind": synth.kind, "label": label, "attempts": attempts,
                                            "validation": outcome, "errors": errors, "latency_s": comp.latency_s,
                                            "prompt_tokens": comp.prompt_tokens,
                                            "completion_tokens": comp.completion_tokens})
            if cache is not None:
                cache.put(key, {"answer": check.synthesis.model_dump(),
                                "generator": gen.model_dump(exclude={"cached", "label", "kind"})})
            return document(brief, check.synthesis, gen), calls
        errors.extend(check.errors)
        messages = messages + [{"role": "assistant", "content": comp.text},
                               {"role": "user", "content": p["repair"].format(
                                   errors="\n".join(f"- {e}" for e in check.errors[:10]), previous=comp.text[:4000])}]
    reason = f"rejected by the validator: {'; '.join(errors[:3])}"
    return _deterministic_doc(brief, reason=reason, base={**base, "attempts": attempts, "errors": errors}), calls


# --------------------------------------------------------------------------- a race

def coach_briefs(briefs: list[Brief], synth: Synthesizer, *, cache: AnswerCache | None = None,
                 prompt_version: str | None = None) -> list[tuple[dict, list[dict]]]:
    """:func:`coach_car` for every brief, at most ``synthesis.concurrency`` model calls in flight (and at most
    the synthesizer's own limit: one for llama.cpp in process), within one ``run_budget_s``. In order."""
    budget = _Budget(cfg()["synthesis"]["run_budget_s"])
    workers = max(1, min(int(getattr(synth, "concurrency", 1)), int(cfg()["synthesis"]["concurrency"])))
    if isinstance(synth, Deterministic) or workers == 1 or len(briefs) < 2:
        return [coach_car(b, synth, cache=cache, budget=budget, prompt_version=prompt_version) for b in briefs]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(lambda b: coach_car(b, synth, cache=cache, budget=budget,
                                                 prompt_version=prompt_version), briefs))


def analyse(race_docs: dict[str, dict | None], track_docs: dict[str, dict | None] | None = None,
            quality: dict | None = None, *, synthesizer: Synthesizer | str | None = None,
            cache: AnswerCache | None | bool = True, prompt_version: str | None = None) -> dict:
    """The coaching engine document of one race: a coaching document per car.

    ``race_docs``: ``{"composite", "sections", "weather", "pattern"}`` -> the race's engine documents;
    ``track_docs``: ``{"weather_track", "composite_track"}``; ``quality``: the race's data_quality
    document. ``synthesizer``: a :class:`~.synth.Synthesizer` or a setting (``--llm``); default
    ``$KAIZENLAP_LLM`` or deterministic. ``cache``: True = the project's cache, None/False = none.
    """
    synth = synthesizer if synthesizer is not None and not isinstance(synthesizer, str) else from_setting(synthesizer)
    store = AnswerCache() if cache is True else (cache or None)
    t0 = time.monotonic()
    briefs = briefs_for_race(race_docs, track_docs, quality)
    results = coach_briefs(briefs, synth, cache=store, prompt_version=prompt_version)
    cars = [d for d, _ in results]
    calls = [c for _, cs in results for c in cs]
    race_id = next((d.get("race_id") for d in race_docs.values() if d), None)
    track_id = next((d.get("track_id") for d in race_docs.values() if d), None)
    outcomes = Counter(d["generator"]["validation"] for d in cars)
    reasons = Counter(_reason_kind(d["generator"].get("fallback_reason")) for d in cars
                      if d["generator"]["validation"] == "fallback")
    return {"engine": ENGINE, "scope": "race", "race_id": race_id, "track_id": track_id,
            "generator": {"kind": synth.kind, "model": synth.model, "endpoint": synth.endpoint,
                          "prompt_version": None if isinstance(synth, Deterministic) else prompt(prompt_version)["version"],
                          "label": deterministic.LABEL if isinstance(synth, Deterministic) else synth.model},
            "n_cars": len(cars), "outcomes": dict(outcomes), "fallback_reasons": dict(reasons),
            "elapsed_s": round(time.monotonic() - t0, 3), "kaizenlap_version": __version__,
            "calls": calls, "cars": cars}


def _reason_kind(reason: str | None) -> str:
    if not reason:
        return "none"
    for key in ("not sent to the model", "budget", "timeout", "rejected", "HTTP", "connection", "model call failed"):
        if key in reason:
            return {"not sent to the model": "too few clean laps", "HTTP": "http error",
                    "model call failed": "call failed"}.get(key, key)
    return "other"


def validation_table(doc: dict) -> list[dict]:
    """Rows ``{outcome, reason, cars}``: accepted / repaired / fallback, by reason."""
    rows = Counter((d["generator"]["validation"], _reason_kind(d["generator"].get("fallback_reason"))
                    if d["generator"]["validation"] == "fallback" else "") for d in doc["cars"])
    return [{"outcome": o, "reason": r, "cars": n} for (o, r), n in sorted(rows.items())]


def headline(doc: dict) -> dict:
    """The run index's figure for a coaching document."""
    o = doc.get("outcomes") or {}
    n = doc.get("n_cars", 0)
    kind = (doc.get("generator") or {}).get("kind")
    return {"text": f"{n} cars coached ({kind}): {o.get('accepted', 0)} accepted, {o.get('repaired', 0)} repaired, "
                    f"{o.get('fallback', 0)} fallback", "cars": n, **{k: o.get(k, 0) for k in
                                                                       ("accepted", "repaired", "fallback")}}


def documents(doc: dict) -> list[dict]:
    """Engine document -> the store's ``coaching_insights`` documents: one per car-race, id
    ``{race_id}~{car}~coaching``, with the recommendation fields (SCHEMA.md)."""
    out = []
    for car in doc.get("cars") or []:
        top = next((a["section"] for a in car.get("actions") or [] if a.get("section")), None)
        out.append(plain({"id": doc_id(car["race_id"], car["car"], "coaching"), "type": "coaching", "engine": ENGINE,
                          "race_id": car["race_id"], "track_id": car.get("track_id"), "car": car["car"], "lap": None,
                          "section": top, "scope": "car", "message": car["headline"],
                          **{k: v for k, v in car.items() if k not in ("race_id", "track_id", "car")}}))
    return out


def calls_table(doc: dict) -> list[dict]:
    """One row per model call: car, attempt, latency, tokens, accepted or the validator's first message."""
    return [{"car": c["car"], "attempt": c.get("attempt"), "cached": c.get("cached", False),
             "latency_s": c.get("latency_s"), "prompt_tokens": c.get("prompt_tokens"),
             "completion_tokens": c.get("completion_tokens"), "http_attempts": c.get("http_attempts"),
             "result": "ok" if c.get("ok") or c.get("cached") else (c.get("error") or "; ".join(c.get("errors") or []))}
            for c in doc.get("calls") or []]


__all__ = ["analyse", "headline", "documents", "validation_table", "calls_table", "coach_car",
           "coach_briefs", "AnswerCache", "cache_key", "ENGINE", "COLLECTION"]
