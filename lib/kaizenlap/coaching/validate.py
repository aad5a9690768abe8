"""The grounding validator: every generator's answer passes it before it is stored (docs/DATA_REFERENCE.md §11.4).

Rules, each a message in the result when broken:

1. The answer is JSON and validates against :class:`~.model.Synthesis`.
2. Every cited ``fact_id`` (``supported_by``, ``evidence``) is a fact of the brief; each hypothesis cites
   at least one, each action has evidence.
3. Every number in a text matches a fact at its display rounding: in a hypothesis or action, one of the
   facts it cites (value, lo, hi or n; a signed value may be written without its sign); in the headline,
   any fact of the brief. An action's text may also say its own ``over_laps``. ``m:ss.sss`` is read as
   seconds. Numbers in ``validator.allowed_numbers`` (the interval level) need no fact.
4. Every car (``car 13``, ``#13``), lap (``lap 7``) and section (``S2``, ``IM1a``, ``FL``) named exists in the
   brief; an action's ``section`` too.
5. A hypothesis is worded as one: it contains a hedge (``validator.hedges``).
6. An action's measure is testable: a known metric, a finite target equal to a cited fact's value at its
   display rounding, ``over_laps`` ≥ 1.
7. Content, not only numbers (``validator.refuse``): no instruction-injection markers ("ignore all previous
   instructions", chat-template tokens), no unsafe driving advice (disable traction control, skip braking,
   ignore flags, ...), no URL or markup (HTML tags, Markdown links, entities); every text is about the
   brief: the headline and each hypothesis name a section of the brief, a cited fact's number or a
   racing topic word (``validator.topic_words``), an action with a section names that section.

The brief's own car and section names are known references wherever they are written as the coaching
text writes them (:func:`~.brief.car_label`, :func:`~.brief.section_label`) or as they are: they are
masked before rules 3, 4 and 7 look at the text, so a car numbered ``13/B`` or ``GR86-013`` or a section
named ``T10`` is no stray number, and a ``<b>`` in a car number is no markup of the model's.
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field

from pydantic import ValidationError

from kaizenlap.core import params
from kaizenlap.coaching.brief import Brief, _label, fmt, section_label
from kaizenlap.coaching.model import Fact, Synthesis

NUMBER = re.compile(r"(?<![A-Za-z0-9_.])([-+−]?)(\d+:\d{2}(?:\.\d+)?|\d+(?:\.\d+)?)(?![A-Za-z0-9_]|\.\d)")
CAR_REF = re.compile(r"(?:\bcar\s*(?:no\.?\s*|number\s*)?#?|#)(\d+(?:-\d+)?)(?![.:]\d)\b", re.I)
LAP_REF = re.compile(r"\blaps?\s+(?:no\.?\s*|number\s*)?(\d+)(?![.:]\d)(?:\s*(?:-|to|and|–)\s*(\d+)(?![.:]\d))?\b",
                     re.I)
SECTION_REF = re.compile(r"\b(s\d+|im\d+a?|fl|sector\s+\d+)\b", re.I)
SECTION_OF_SECTOR = {"sector 1": "s1", "sector 2": "s2", "sector 3": "s3"}


def cfg() -> dict:
    return params.load("coaching")["validator"]


@dataclass
class Result:
    ok: bool
    errors: list[str] = field(default_factory=list)
    synthesis: Synthesis | None = None

    def message(self) -> str:
        return "; ".join(self.errors)


def _token_seconds(tok: str) -> str:
    if ":" in tok:
        m, s = tok.split(":", 1)
        return f"{int(m) * 60 + float(s):.{len(s.split('.')[1]) if '.' in s else 0}f}"
    return tok


def _forms(f: Fact) -> set[str]:
    out: set[str] = set()
    for v in (f.value, f.lo, f.hi):
        if v is not None and math.isfinite(v):
            out.add(fmt(v, f.digits))
            out.add(fmt(abs(v), f.digits))
    out.add(str(int(f.n)))
    return out


def numbers(text: str) -> list[str]:
    """Numbers written in ``text`` (sign dropped, m:ss.sss as seconds), skipping those that are a car, lap
    or section reference."""
    skip: list[tuple[int, int]] = []
    for rx in (CAR_REF, LAP_REF, SECTION_REF):
        for m in rx.finditer(text):
            skip.append(m.span())
    out = []
    for m in NUMBER.finditer(text):
        if any(a <= m.start() < b for a, b in skip):
            continue
        out.append(_token_seconds(m.group(2)))
    return out


MASK = "\u00a7"      # what a known name is replaced with before the number, reference and content checks
_CAR_PREFIX = r"(?:\bcar\s*(?:no\.?\s*|number\s*)?#?|#)"


def _name_patterns(brief: Brief) -> list[re.Pattern]:
    """Patterns of the brief's car and section names as coaching text may write them, longest first."""
    pats: dict[str, tuple[int, re.Pattern]] = {}
    for car in {str(brief.car), *(str(c) for c in brief.cars)}:
        for form in {car, _label(car)}:
            if form:
                pats["c" + form] = (len(form) + 4, re.compile(_CAR_PREFIX + re.escape(form) + r"(?![\w])(?![.:]\d)",
                                                              re.I))
    for sec in brief.sections:
        for form in {str(sec), _label(str(sec).upper()), section_label(sec)}:
            if not form:
                continue
            bare = form[len("section "):] if form.lower().startswith("section ") else form
            if any(ch.isalpha() for ch in bare):
                rx = r"(?<![\w])" + re.escape(form) + r"(?![\w])(?![.:]\d)"
            else:                       # a name without a letter counts only as "section 7"
                rx = r"\bsection\s+" + re.escape(bare) + r"(?![\w])(?![.:]\d)"
            pats["s" + form] = (len(form), re.compile(rx, re.I))
    return [p for _, p in sorted(pats.values(), key=lambda t: -t[0])]


def mask_names(text: str, brief: Brief) -> str:
    """``text`` with the brief's own car and section names replaced by :data:`MASK`."""
    for rx in _name_patterns(brief):
        text = rx.sub(MASK, text)
    return text


def _compiled(key: str) -> list[re.Pattern]:
    return [re.compile(rx, re.I) for rx in (cfg().get("refuse") or {}).get(key) or []]


def _content(text: str, masked: str, brief: Brief, facts: list[Fact], where: str, errors: list[str],
             section: str | None = None, need_topic: bool = True) -> None:
    """Rule 7 on one text (``masked``: with the brief's names masked)."""
    for key, what in (("injection", "an instruction-injection marker"), ("unsafe", "unsafe driving advice"),
                      ("markup", "a URL or markup")):
        for rx in _compiled(key):
            m = rx.search(masked)
            if m:
                errors.append(f"{where}: refused, {what} ({m.group(0)[:60]!r})")
                break
    if section is not None:
        forms = [p for p in _section_patterns(section)]
        if not any(p.search(text) for p in forms):
            errors.append(f"{where}: does not name its section {section_label(section)}")
        return
    if not need_topic:
        return
    if any(p.search(text) for s in brief.sections for p in _section_patterns(s)):
        return
    cited = set()
    for f in facts:
        cited |= _forms(f)
    if any(tok in cited for tok in numbers(masked)):
        return
    words = cfg().get("topic_words") or []
    low = masked.lower()
    if any(re.search(rf"(?<![a-z]){re.escape(w.lower())}(?![a-z])", low) for w in words):
        return
    errors.append(f"{where}: not about this car's race (names no section, fact or racing topic of the brief)")


def _section_patterns(sec: str) -> list[re.Pattern]:
    out = []
    for form in {str(sec), _label(str(sec).upper()), section_label(sec)}:
        bare = form[len("section "):] if form.lower().startswith("section ") else form
        if any(ch.isalpha() for ch in bare):
            out.append(re.compile(r"(?<![\w])" + re.escape(form) + r"(?![\w])", re.I))
        else:
            out.append(re.compile(r"\bsection\s+" + re.escape(bare) + r"(?![\w])", re.I))
    alias = {v: k for k, v in SECTION_OF_SECTOR.items()}.get(str(sec).lower())
    if alias:
        out.append(re.compile(r"\b" + alias.replace(" ", r"\s+") + r"\b", re.I))
    return out


def _refs(text: str, brief: Brief, where: str, errors: list[str]) -> None:
    cars = {c.lower() for c in brief.cars} | {c.split("-")[0].lower() for c in brief.cars}
    for m in CAR_REF.finditer(text):
        if m.group(1).lower() not in cars:
            errors.append(f"{where}: car {m.group(1)} is not in the brief")
    laps = set(brief.laps)
    for m in LAP_REF.finditer(text):
        for g in m.groups():
            if g is not None and int(g) not in laps:
                errors.append(f"{where}: lap {g} is not a lap of car {brief.car}")
    known = {s.lower() for s in brief.sections}
    for m in SECTION_REF.finditer(text):
        name = SECTION_OF_SECTOR.get(re.sub(r"\s+", " ", m.group(1).lower()), m.group(1).lower())
        if name not in known:
            errors.append(f"{where}: section {m.group(1)} is not in the brief"
                          + (f" (known: {', '.join(s.upper() for s in brief.sections)})" if brief.sections else
                             " (the brief has no section statistics)"))


def _grounded(text: str, facts: list[Fact], where: str, errors: list[str], extra: set[str] = frozenset()) -> None:
    allowed = set(cfg()["allowed_numbers"]) | set(extra)
    for f in facts:
        allowed |= _forms(f)
    for tok in numbers(text):
        if tok not in allowed:
            errors.append(f"{where}: the number {tok} is not a cited fact's value at its display rounding")


def _cited(ids: list[str], brief: Brief, where: str, errors: list[str]) -> list[Fact]:
    out = []
    for i in ids:
        f = brief.fact(i)
        if f is None:
            errors.append(f"{where}: cites unknown fact {i!r}")
        else:
            out.append(f)
    return out


def _hedged(text: str) -> bool:
    low = text.lower()
    return any(re.search(rf"(?<![a-z]){re.escape(h.lower())}(?![a-z])", low) for h in cfg()["hedges"])


def validate(answer: str | dict, brief: Brief) -> Result:
    """Check a generator's answer (JSON text or a parsed object) against ``brief``."""
    errors: list[str] = []
    if isinstance(answer, str):
        try:
            answer = json.loads(answer)
        except (json.JSONDecodeError, ValueError) as exc:
            return Result(False, [f"invalid JSON: {exc}"])
    try:
        syn = Synthesis.model_validate(answer)
    except ValidationError as exc:
        msgs = [f"{'.'.join(str(p) for p in e['loc']) or 'answer'}: {e['msg']}" for e in exc.errors()[:8]]
        return Result(False, [f"schema: {m}" for m in msgs])
    metrics = set(cfg()["metrics"])
    known_sections = {str(x).lower() for x in brief.sections}
    head = mask_names(syn.headline, brief)
    _grounded(head, brief.facts, "headline", errors)
    _refs(head, brief, "headline", errors)
    _content(syn.headline, head, brief, brief.facts, "headline", errors)
    for i, h in enumerate(syn.hypotheses, start=1):
        where = f"hypothesis {i}"
        facts = _cited(h.supported_by, brief, where, errors)
        if not h.supported_by:
            errors.append(f"{where}: cites no fact")
        if not _hedged(h.text):
            errors.append(f"{where}: stated as fact; word it as a hypothesis (e.g. 'may', 'likely', 'suggests')")
        text = mask_names(h.text, brief)
        _grounded(text, facts, where, errors)
        _refs(text, brief, where, errors)
        _content(h.text, text, brief, facts, where, errors)
    for i, a in enumerate(syn.actions, start=1):
        where = f"action {i}"
        facts = _cited(a.evidence, brief, where, errors)
        if not a.evidence:
            errors.append(f"{where}: has no evidence")
        section_ok = a.section is not None and a.section.lower() in known_sections
        if a.section is not None and not section_ok:
            errors.append(f"{where}: section {a.section} is not in the brief")
        m = a.measure
        if m.metric not in metrics:
            errors.append(f"{where}: metric {m.metric!r} is not measurable (one of {sorted(metrics)})")
        if not math.isfinite(m.target):
            errors.append(f"{where}: no measurable target")
        elif not any(f.value is not None and fmt(m.target, f.digits) == fmt(f.value, f.digits) for f in facts):
            errors.append(f"{where}: target {m.target} is not the value of a cited fact")
        text = mask_names(a.action, brief)
        _grounded(text, facts, where, errors, extra={str(m.over_laps)})
        _refs(text, brief, where, errors)
        sec = next((x for x in brief.sections if str(x).lower() == a.section.lower()), None) if section_ok else None
        _content(a.action, text, brief, facts, where, errors, section=sec, need_topic=True)
    return Result(not errors, errors, syn if not errors else syn)
