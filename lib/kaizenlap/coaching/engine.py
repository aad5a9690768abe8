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
from concurrent.futures import ThreadPoolExecutor, wait
from pathlib import Path

from kaizenlap.core import __version__, params, paths
from kaizenlap.core.atomic import write_json
from kaizenlap.core.ids import doc_id
from kaizenlap.core.jsonclean import plain
from kaizenlap.coaching import deterministic
from kaizenlap.coaching.brief import Brief, brief_for_car, brief_text, fmt, race_cars, section_label
from kaizenlap.coaching.confidence import hypothesis_confidence
from kaizenlap.coaching.model import CoachingDocument, Generator, Synthesis, synthesis_schema
from kaizenlap.coaching.synth import (Breaker, CallError, Deterministic, Synthesizer, _redact, breaker_for,
                                     from_setting, generator_label, prompt)
from kaizenlap.coaching.validate import validate

ENGINE = "coaching"
COLLECTION = "coaching_insights"


def cfg() -> dict:
    return params.load("coaching")


# --------------------------------------------------------------------------- cache

def cache_dir() -> Path:
    return paths.cache_dir() / "coaching"


def cache_key(brief: Brief, model: str | None, endpoint_kind: str, prompt_version: str,
              endpoint: str | None = None) -> str:
    """hash(brief + model + endpoint + prompt version): an unchanged brief is not sent again to the same
    server; another server (another URL, same model name) is asked, and its answers are its own."""
    text = json.dumps({"brief": brief.hash(), "model": model, "kind": endpoint_kind, "prompt": prompt_version,
                       "endpoint": endpoint}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def objective_section(det) -> str | None:
    """The section the deterministic coaching acts on (its first action), which an answer must keep."""
    return det.actions[0].section if det.actions and det.actions[0].section else None


def drops_objective(answer, section: str | None) -> str | None:
    """Why a model answer is not used although it validates: it has no action on the objective's section."""
    if section is None:
        return None
    if any((a.section or "").lower() == section.lower() for a in answer.actions):
        return None
    return f"the answer drops the objective: no action on {section_label(section)}"


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
        "generator": generator.model_dump(), "objective": objective_of(brief)})
    return doc.model_dump(by_alias=True)


def objective_of(brief: Brief) -> dict | None:
    """The document's ``objective`` (additive field): the brief's one objective, its place in corners and rivals
    (the nearest faster car; the car ahead at the flag where it is another car)."""
    o = brief.objective
    if o is None:
        return None
    return {**o.to_dict(), "place": brief.place(o.section) if o.section else None, "rival": brief.rival,
            "rival_ahead": brief.rival_ahead}


def deterministic_synthesis(brief: Brief):
    """The deterministic text of ``brief``, checked by the validator (an AssertionError names the car when a
    rule writes something ungrounded: a bug, reported as that car's failure, never as the race's)."""
    syn = deterministic.synthesize(brief)
    check = validate(syn.model_dump(), brief)
    if not check.ok:       # a bug in the rules: say so rather than store an ungrounded text
        raise AssertionError(f"deterministic text for {brief.race_id}/{brief.car} fails the validator: "
                             f"{check.message()}")
    return syn


def _deterministic_doc(brief: Brief, *, reason: str | None = None, base: dict | None = None, syn=None) -> dict:
    syn = syn if syn is not None else deterministic_synthesis(brief)
    gen = {"kind": "deterministic", "label": deterministic.LABEL, "attempts": 0, "brief_hash": brief.hash(),
           **(base or {}), "validation": "fallback" if reason else "accepted", "fallback_reason": reason}
    if reason:
        gen["label"] = f"{deterministic.LABEL}; fallback: {_reason_kind(reason)}"
    return document(brief, syn, Generator.model_validate(gen))


class _Budget:
    def __init__(self, seconds: float) -> None:
        self.deadline = time.monotonic() + float(seconds)

    def left(self) -> float:
        return self.deadline - time.monotonic()


def run_budget_s() -> float:
    """``synthesis.run_budget_s``, capped at ``run_budget_cell_share`` of the pipeline's cell timeout: the
    coaching cell always ends (with every car coached, deterministically where the model was not in time)
    before the pipeline would kill it."""
    s = cfg()["synthesis"]
    budget = float(s["run_budget_s"])
    try:
        cell = float(params.load("pipeline")["cell_timeout_s"])
    except (KeyError, TypeError, ValueError, OSError):
        return budget
    return min(budget, float(s.get("run_budget_cell_share", 0.7)) * cell)


def coach_car(brief: Brief, synth: Synthesizer, *, cache: AnswerCache | None, budget: _Budget,
              prompt_version: str | None = None, breaker: Breaker | None = None) -> tuple[dict, list[dict]]:
    """``(coaching document, calls)`` for one car: the deterministic text first (so a model can only improve
    on it), then a cached answer, or model call -> validator -> one repair; any failure of the model path
    (timeout, deadline, open circuit breaker, rejected text) keeps the deterministic text, with the reason.
    Every call is bounded by ``min(synthesis.timeout_s, budget.left())`` seconds of wall-clock time."""
    det = deterministic_synthesis(brief)
    if isinstance(synth, Deterministic):
        return _deterministic_doc(brief, syn=det), []
    s = cfg()["synthesis"]
    p = prompt(prompt_version)
    label = generator_label(synth)
    base = {"model": synth.model, "endpoint": None, "prompt_version": p["version"], "brief_hash": brief.hash()}

    def fallback(reason: str, **extra) -> dict:
        return _deterministic_doc(brief, reason=_redact(reason), base={**base, **extra}, syn=det)

    limit = brief.fact("limit.clean_laps")
    if limit is not None:
        return fallback(f"not sent to the model: {limit.text}"), []
    endpoint = getattr(synth, "endpoint", None)
    key = cache_key(brief, synth.model, synth.kind, p["version"], endpoint if isinstance(endpoint, str) else None)
    objective = objective_section(det)
    if cache is not None and (hit := cache.get(key)) is not None:
        check = validate(hit["answer"], brief)
        if check.ok and not drops_objective(check.synthesis, objective):
            gen = Generator.model_validate({**base, **hit["generator"], "cached": True, "kind": synth.kind,
                                            "label": label, "endpoint": None})
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
            return fallback(reason, attempts=attempts, errors=errors), calls
        closed = breaker.allow() if breaker is not None else None
        if closed is not None:
            calls.append({"car": brief.car, "attempt": attempt + 1, "error": closed, "skipped": True})
            return fallback(f"not sent to the model: {closed}", attempts=attempts, errors=errors), calls
        try:
            comp = synth.complete(messages, schema, max_tokens=int(s["max_tokens"]),
                                  timeout_s=min(float(s["timeout_s"]), left))
        except Exception as exc:  # a failing endpoint never fails the run: the car falls back, reason recorded
            why = exc.reason if isinstance(exc, CallError) else f"{type(exc).__name__}: {exc}"
            if breaker is not None:
                breaker.record(False, _redact(why))
            calls.append({"car": brief.car, "attempt": attempt + 1, "error": why})
            return fallback(f"model call failed: {why}", attempts=attempts + 1, errors=errors), calls
        if breaker is not None:
            breaker.record(True)
        attempts += 1
        check = validate(comp.text, brief)
        if check.ok and (why := drops_objective(check.synthesis, objective)):
            check.ok, check.errors = False, [why]
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
                                "generator": gen.model_dump(exclude={"cached", "label", "kind", "endpoint"})})
            return document(brief, check.synthesis, gen), calls
        errors.extend(check.errors)
        messages = messages + [{"role": "assistant", "content": comp.text},
                               {"role": "user", "content": p["repair"].format(
                                   errors="\n".join(f"- {e}" for e in check.errors[:10]), previous=comp.text[:4000])}]
    reason = f"rejected by the validator: {'; '.join(errors[:3])}"
    return fallback(reason, attempts=attempts, errors=errors), calls


# --------------------------------------------------------------------------- a race

def _failure(car: str, stage: str, exc: BaseException) -> tuple[None, list[dict]]:
    return None, [{"car": str(car), "failed": stage, "error": f"{type(exc).__name__}: {str(exc)[:300]}"}]


def _coach_one(brief: Brief, synth: Synthesizer, cache, budget, prompt_version, breaker):
    """:func:`coach_car`, or — when even the deterministic text fails — ``(None, [failure])``: that car's
    failure, recorded, while the race's other cars are coached."""
    try:
        return coach_car(brief, synth, cache=cache, budget=budget, prompt_version=prompt_version, breaker=breaker)
    except Exception as exc:  # one car's failure is that car's entry, never the race's
        try:      # the model path may be what failed: the deterministic text still stands
            return _deterministic_doc(brief, reason=f"coaching failed: {type(exc).__name__}: {exc}"), \
                [{"car": brief.car, "error": f"{type(exc).__name__}: {str(exc)[:300]}"}]
        except Exception as exc2:
            return _failure(brief.car, "coaching", exc2)


def coach_briefs(briefs: list[Brief], synth: Synthesizer, *, cache: AnswerCache | None = None,
                 prompt_version: str | None = None, budget_s: float | None = None,
                 breaker: Breaker | None | bool = True) -> list[tuple[dict | None, list[dict]]]:
    """:func:`coach_car` for every brief, at most ``synthesis.concurrency`` model calls in flight (and at most
    the synthesizer's own limit: one for llama.cpp in process), within one wall-clock run budget
    (:func:`run_budget_s`) and behind the endpoint's circuit breaker (``breaker``: True = the process's
    breaker of the endpoint, a :class:`~.synth.Breaker`, or None/False = none). In order. A car whose
    coaching failed outright is ``(None, [{"car", "failed", "error"}])``."""
    budget = _Budget(run_budget_s() if budget_s is None else budget_s)
    if breaker is True:
        breaker = None if isinstance(synth, Deterministic) else breaker_for(synth.endpoint)
    breaker = breaker or None
    workers = max(1, min(int(getattr(synth, "concurrency", 1)), int(cfg()["synthesis"]["concurrency"])))
    run = lambda b: _coach_one(b, synth, cache, budget, prompt_version, breaker)  # noqa: E731
    if isinstance(synth, Deterministic) or workers == 1 or len(briefs) < 2:
        return [run(b) for b in briefs]
    pool = ThreadPoolExecutor(max_workers=workers)
    futures = [pool.submit(run, b) for b in briefs]
    # Every call ends by the budget's deadline; a few seconds more are allowed for closing sockets. A car whose
    # work is still running then keeps its deterministic text.
    wait(futures, timeout=max(0.0, budget.left()) + 10.0)
    out = []
    for b, fut in zip(briefs, futures):
        if fut.done():
            out.append(fut.result())
            continue
        fut.cancel()
        try:
            out.append((_deterministic_doc(b, reason="the run's deadline passed before the model answered"),
                        [{"car": b.car, "error": "the run's deadline passed"}]))
        except Exception as exc:
            out.append(_failure(b.car, "coaching", exc))
    pool.shutdown(wait=False, cancel_futures=True)
    return out


# Fallback reasons that are the brief's, not the model server's: the same inputs give them again.
_STABLE_FALLBACKS = ("not sent to the model: only",)


def reusable(doc: dict) -> tuple[bool, str | None]:
    """Whether a coaching engine document may be reused by a later run with the same inputs: not when a model
    was asked for and any car fell back for a reason of the moment (timeout, dead endpoint, circuit breaker,
    spent budget, rejected text), so the next run asks the model again."""
    gen = doc.get("generator") or {}
    if gen.get("kind") in (None, "deterministic"):
        return True, None
    fallbacks = [c for c in doc.get("cars") or [] if (c.get("generator") or {}).get("validation") == "fallback"
                 and not str(c["generator"].get("fallback_reason") or "").startswith(_STABLE_FALLBACKS)]
    if fallbacks:
        return False, f"{len(fallbacks)} car(s) fell back from the model ({_reason_kind(fallbacks[0]['generator'].get('fallback_reason'))})"
    return True, None


def analyse(race_docs: dict[str, dict | None], track_docs: dict[str, dict | None] | None = None,
            quality: dict | None = None, *, synthesizer: Synthesizer | str | None = None,
            cache: AnswerCache | None | bool = True, prompt_version: str | None = None,
            breaker: Breaker | None | bool = True, follow_ups: list[dict] | None = None,
            previous_race_id: str | None = None) -> dict:
    """The coaching engine document of one race: a coaching document per car.

    ``race_docs``: ``{"composite", "sections", "weather", "pattern"}`` -> the race's engine documents;
    ``track_docs``: ``{"weather_track", "composite_track"}``; ``quality``: the race's data_quality
    document. ``synthesizer``: a :class:`~.synth.Synthesizer` or a setting (``--llm``); default
    ``$KAIZENLAP_LLM`` or deterministic. ``cache``: True = the project's cache, None/False = none.

    A car whose brief or coaching fails is listed in ``failed_cars`` (``{car, stage, error}``) and the
    other cars are coached. ``reusable`` is False (with ``not_reusable_reason``) when a model fell back:
    the pipeline does not reuse such a result (:func:`reusable`).
    """
    synth = synthesizer if synthesizer is not None and not isinstance(synthesizer, str) else from_setting(synthesizer)
    store = AnswerCache() if cache is True else (cache or None)
    t0 = time.monotonic()
    briefs: list[Brief] = []
    failed: list[dict] = []
    for car in race_cars(race_docs):
        try:
            briefs.append(brief_for_car(car, race_docs, track_docs, quality))
        except Exception as exc:  # one car's brief failing is that car's entry
            failed.append({"car": car, "stage": "brief", "error": f"{type(exc).__name__}: {str(exc)[:300]}"})
    results = coach_briefs(briefs, synth, cache=store, prompt_version=prompt_version, breaker=breaker)
    cars = [d for d, _ in results if d is not None]
    if follow_ups is not None:
        places = {b.car: b.places for b in briefs}
        rows = {str(r["car"]): r for r in follow_ups}
        for d in cars:
            d["follow_up"] = follow_up(rows.get(str(d["car"])), previous_race_id or "race 1",
                                       places.get(d["car"]) or {})
    calls = [c for _, cs in results for c in cs if "failed" not in c]
    failed += [{"car": c["car"], "stage": c["failed"], "error": c["error"]} for _, cs in results for c in cs
               if "failed" in c]
    race_id = next((d.get("race_id") for d in race_docs.values() if d), None)
    track_id = next((d.get("track_id") for d in race_docs.values() if d), None)
    outcomes = Counter(d["generator"]["validation"] for d in cars)
    reasons = Counter(_reason_kind(d["generator"].get("fallback_reason")) for d in cars
                      if d["generator"]["validation"] == "fallback")
    doc = {"engine": ENGINE, "scope": "race", "race_id": race_id, "track_id": track_id,
           "generator": {"kind": synth.kind, "model": synth.model, "endpoint": synth.endpoint,
                         "prompt_version": None if isinstance(synth, Deterministic) else prompt(prompt_version)["version"],
                         "label": generator_label(synth)},
           "n_cars": len(cars), "outcomes": dict(outcomes), "fallback_reasons": dict(reasons),
           "failed_cars": sorted(failed, key=lambda f: f["car"]), "n_failed": len(failed),
           "elapsed_s": round(time.monotonic() - t0, 3), "kaizenlap_version": __version__,
           "calls": calls, "cars": cars}
    ok, why = reusable(doc)
    doc["reusable"], doc["not_reusable_reason"] = ok, why
    return doc


def follow_up(r: dict | None, race1_id: str, places: dict[str, str]) -> dict | None:
    """Race 1's finding for a car checked on this race, from its row of ``engines.persistence.check`` (the
    weakest section whose section-loss interval lies above zero in race 1 held when its interval lies above zero
    here too; the caller, a layer above both, computes the rows); None when race 1 found nothing for the car or
    this race has no statistics for it."""

    if not r:
        return None
    place = places.get(r["section"]) or section_label(r["section"])
    a, b = r["race1"], r["race2"]
    ci = (lambda e: f"95% CI {fmt(e['lo'], 3)} to {fmt(e['hi'], 3)}, n={e['n']}")
    text = (f"Race 1 ({race1_id}) found {place} {fmt(a['value'], 3)} s/lap slower than the car's overall pace "
            f"predicts ({ci(a)}). ")
    if b is None:
        text += "This race has no figure for it."
    else:
        way = "slower" if b["value"] >= 0 else "quicker"
        verdict = "it held (interval above zero again)" if r["held"] else \
            ("it did not hold (interval below zero)" if b["hi"] is not None and b["hi"] < 0 else
             "it did not hold (interval includes zero)")
        text += f"Here it is {fmt(abs(b['value']), 3)} s/lap {way} ({ci(b)}): {verdict}."
    text += (" The driver did not see race 1's notes: this checks the diagnosis, not coaching; a race-1 extreme "
             "tends to shrink (regression to the mean).")
    return {"race_id": race1_id, "section": r["section"], "place": place, "race1": a, "race2": b,
            "held": bool(r["held"]), "text": text}


def _reason_kind(reason: str | None) -> str:
    if not reason:
        return "none"
    for key in ("circuit breaker", "not sent to the model", "deadline", "budget", "timeout", "rejected", "HTTP",
                "connection", "credentials", "model call failed", "coaching failed"):
        if key in reason:
            return {"not sent to the model": "too few clean laps", "HTTP": "http error",
                    "model call failed": "call failed", "circuit breaker": "circuit breaker open"}.get(key, key)
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
    failed = doc.get("failed_cars") or []
    text = (f"{n} cars coached ({kind}): {o.get('accepted', 0)} accepted, {o.get('repaired', 0)} repaired, "
            f"{o.get('fallback', 0)} fallback")
    if failed:
        text += f"; {len(failed)} car(s) failed: " + ", ".join(f"{f['car']!s:.24} ({f['stage']})" for f in failed[:5])
    out = {"text": text, "cars": n, **{k: o.get(k, 0) for k in ("accepted", "repaired", "fallback")},
           "failed": len(failed), "failed_cars": [{"car": f["car"], "stage": f["stage"], "error": f["error"][:200]}
                                                   for f in failed[:20]]}
    ok, why = (doc["reusable"], doc.get("not_reusable_reason")) if "reusable" in doc else reusable(doc)
    out["reusable"] = bool(ok)
    if not ok:
        out["not_reusable_reason"] = why
    return out


def documents(doc: dict) -> list[dict]:
    """Engine document -> the store's ``coaching_insights`` documents: one per car-race, id
    ``{race_id}~{car}~coaching``, with the recommendation fields (SCHEMA.md)."""
    out = []
    for car in doc.get("cars") or []:
        top = next((a["section"] for a in car.get("actions") or [] if a.get("section")), None)
        out.append(plain({"id": doc_id(car["race_id"], car["car"], "coaching"), "type": "coaching", "engine": ENGINE,
                          "race_id": car["race_id"], "track_id": car.get("track_id"), "car": car["car"], "lap": None,
                          "section": top, "scope": "car", "message": car["headline"],
                          **{k: v for k, v in car.items() if k not in ("race_id", "track_id", "car")},
                          "generator": {**car["generator"], "endpoint": None}}))
    return out


def calls_table(doc: dict) -> list[dict]:
    """One row per model call: car, attempt, latency, tokens, accepted or the validator's first message."""
    return [{"car": c["car"], "attempt": c.get("attempt"), "cached": c.get("cached", False),
             "latency_s": c.get("latency_s"), "prompt_tokens": c.get("prompt_tokens"),
             "completion_tokens": c.get("completion_tokens"), "http_attempts": c.get("http_attempts"),
             "result": "ok" if c.get("ok") or c.get("cached") else (c.get("error") or "; ".join(c.get("errors") or []))}
            for c in doc.get("calls") or []]


__all__ = ["analyse", "headline", "documents", "validation_table", "calls_table", "coach_car",
           "coach_briefs", "reusable", "run_budget_s", "AnswerCache", "cache_key", "ENGINE", "COLLECTION"]
