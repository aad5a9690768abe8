"""The grounding validator: every generator's answer passes it before it is stored (docs/DATA_REFERENCE.md §11.4).

Rules, each a message in the result when broken:

1. The answer is JSON and validates against :class:`~.model.Synthesis`.
2. Every cited ``fact_id`` (``supported_by``, ``evidence``) is a fact of the brief; each hypothesis cites
   at least one, each action has evidence.
3. Every number in a text matches a fact at its display rounding: in a hypothesis or action, one of the
   facts it cites (value, lo, hi or n; a signed value may be written without its sign); in the headline,
   any fact of the brief. An action's text may also say its own ``over_laps``. ``m:ss.sss`` is read as
   seconds. Numbers in ``validator.allowed_numbers`` (the interval level) need no fact.
4. Every car (``car 13``, ``#13``), lap (``lap 7``), section (``S2``, ``IM1a``, ``FL``) and turn (``Turn 5``,
   ``Turns 1–4``, ``T5``: one of the track's official turns, params/tracks ``turns``) named exists in the brief;
   an action's ``section`` too. A section's name in turns (``IM1A (Turns 1–4)``, the brief's ``places``) is one
   name: its turn numbers are no figures.
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

from kaizenlap.coaching import conf
from kaizenlap.coaching.brief import Brief, _label, fmt, section_label
from kaizenlap.coaching.model import Fact, Synthesis
from kaizenlap.coaching.telemetry_facts import quantities

NUMBER = re.compile(r"(?<![A-Za-z0-9_.])([-+−]?)(\d+:\d{2}(?:\.\d+)?|\d+(?:\.\d+)?)(?![A-Za-z0-9_]|\.\d)")
CAR_REF = re.compile(r"(?:\bcar\s*(?:no\.?\s*|number\s*)?#?|#)(\d+(?:-\d+)?)(?![.:]\d)\b", re.I)
LAP_REF = re.compile(r"\blaps?\s+(?:no\.?\s*|number\s*)?(\d+)(?![.:]\d)(?:\s*(?:-|to|and|–)\s*(\d+)(?![.:]\d))?\b",
                     re.I)
SECTION_REF = re.compile(r"\b(s\d+|im\d+a?|fl|sector\s+\d+)\b", re.I)
SECTION_OF_SECTOR = {"sector 1": "s1", "sector 2": "s2", "sector 3": "s3"}


def cfg() -> dict:
    return conf.load("coaching")["validator"]


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


_PATTERNS: dict[tuple, list] = {}


def _name_patterns(brief: Brief, tagged: bool = False) -> list:
    """Patterns of the brief's car and section names as coaching text may write them, longest first
    (``tagged``: ``(pattern, kind, key)`` with kind ``car`` or ``section``). Memoised by the names."""
    key = (str(brief.car), tuple(str(c) for c in brief.cars), tuple(brief.sections),
           tuple(sorted((getattr(brief, "places", None) or {}).items())))
    hit = _PATTERNS.get(key)
    if hit is None:
        if len(_PATTERNS) > 2048:
            _PATTERNS.clear()
        hit = _PATTERNS[key] = _build_patterns(brief)
    return hit if tagged else [t[0] for t in hit]


def _build_patterns(brief: Brief) -> list:
    pats: dict[str, tuple] = {}
    for car in {str(brief.car), *(str(c) for c in brief.cars)}:
        for form in {car, _label(car)}:
            if form:
                pats["c" + form] = (len(form) + 4, re.compile(_CAR_PREFIX + re.escape(form) + r"(?![\w])(?![.:]\d)",
                                                              re.I), "car", car)
    for sec, label in (getattr(brief, "places", None) or {}).items():
        if label and label.upper() != str(sec).upper():
            pats["p" + label] = (len(label) + 100, re.compile(re.escape(label), re.I), "section", str(sec))
    for sec in brief.sections:
        for form in {str(sec), _label(str(sec).upper()), section_label(sec)}:
            if not form:
                continue
            bare = form[len("section "):] if form.lower().startswith("section ") else form
            if any(ch.isalpha() for ch in bare):
                rx = r"(?<![\w])" + re.escape(form) + r"(?![\w])(?![.:]\d)"
            else:                       # a name without a letter counts only as "section 7"
                rx = r"\bsection\s+" + re.escape(bare) + r"(?![\w])(?![.:]\d)"
            pats["s" + form] = (len(form), re.compile(rx, re.I), "section", str(sec))
        alias = {v: k for k, v in SECTION_OF_SECTOR.items()}.get(str(sec).lower())
        if alias:
            pats["a" + alias] = (len(alias), re.compile(r"\b" + alias.replace(" ", r"\s+") + r"\b", re.I), "section",
                                 str(sec))
    ordered = sorted(pats.values(), key=lambda t: -t[0])
    return [t[1:] for t in ordered]


_SCANS: dict[tuple, tuple[str, list, list]] = {}


def scan(text: str, brief: Brief) -> tuple[str, list[tuple[int, int, str, str]]]:
    """``(masked, mentions)``: ``text`` with the brief's car and section names replaced by :data:`MASK`
    characters (same length, so positions hold) and where each was: ``(start, end, "car"|"section", key)``.
    One pass of each pattern (its matches are what ``sub`` would replace); memoised by the text and the names,
    as a validation scans each text three times."""
    pats = _name_patterns(brief, tagged=True)
    key = (text, id(pats))
    hit = _SCANS.get(key)
    if hit is not None and hit[2] is pats:
        return hit[0], list(hit[1])
    mentions = []
    for rx, kind, name in pats:
        spans = [m.span() for m in rx.finditer(text)]
        if not spans:
            continue
        parts, at = [], 0
        for a, b in spans:
            parts += [text[at:a], MASK * (b - a)]
            at = b
            mentions.append((a, b, kind, name))
        text = "".join(parts) + text[at:]
    out = (text, sorted(mentions))
    if len(_SCANS) > 4096:
        _SCANS.clear()
    _SCANS[key] = (*out, pats)
    return out[0], list(out[1])


def mask_names(text: str, brief: Brief) -> str:
    """``text`` with the brief's own car and section names replaced by :data:`MASK`."""
    return scan(text, brief)[0]


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
    known = {c.upper() for c in brief.corners}
    if any(m.group(0).upper() in known for m in CORNER_REF.finditer(masked)):
        return                       # a corner of this track
    official = {str(t).lower() for t in getattr(brief, "turns", None) or []}
    if official and any(all(g.lower() in official for g in m.groups() if g) for m in TURN_REF.finditer(masked)):
        return                       # an official turn of this track
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
    meaning(syn.headline, brief, brief.facts, "headline", errors)
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
        meaning(h.text, brief, facts, where, errors)
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
        else:
            target_unit(a, facts, where, errors)
        text = mask_names(a.action, brief)
        meaning(a.action, brief, facts, where, errors, extra={str(m.over_laps)})
        _refs(text, brief, where, errors)
        sec = next((x for x in brief.sections if str(x).lower() == a.section.lower()), None) if section_ok else None
        _content(a.action, text, brief, facts, where, errors, section=sec, need_topic=True)
    whole_answer(syn, brief, errors)
    return Result(not errors, errors, syn if not errors else syn)


# --------------------------------------------------------------------------- meaning, not only numbers
# (issue 20, item 8; docs/DATA_REFERENCE.md §11.4 rules 8-14)

_UNIT = (r"ms|msecs?|milliseconds?|secs?|seconds?|s|%|percent|per\s?cent|kph|km/h|kmh|mph|metres?|meters?|m|ft|feet|"
         r"°\s?c|degrees?|tenths?|hundredths?|th|st|nd|rd")
TOKEN = re.compile(r"(?<![A-Za-z0-9_.\u00a7])([-+−]?)(\d+:\d{2}(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)"
                   rf"(\s?(?:{_UNIT})(?![A-Za-z]))?(?![0-9])", re.I)
_SMALL = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
          "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
          "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19}
_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80,
         "ninety": 90}
_ORD = {"first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7, "eighth": 8,
        "ninth": 9, "tenth": 10, "eleventh": 11, "twelfth": 12, "fifteenth": 15, "twentieth": 20, "thirtieth": 30}
_CARD = "|".join(sorted([*_SMALL, *_TENS], key=len, reverse=True))
WORD_FRACTION = re.compile(rf"\b({_CARD})\s+(tenths?|hundredths?)\b", re.I)
WORD_HALF = re.compile(r"\b(half a second|a second and a half|(?:a|one)\s+quarter of a second|a quarter second)\b",
                       re.I)
_CARD_WORDS = "|".join(k for k in _SMALL if len(k) > 2 and k != "one")     # "in one lap" is an idiom, not a figure
WORD_CARD = re.compile(rf"\b((?:{'|'.join(_TENS)})(?:[\s-](?:{_CARD_WORDS}))?|"
                       rf"{_CARD_WORDS})\s+(laps?|cars?|seconds?|percent|per cent|"
                       r"tenths?|hundredths?)\b", re.I)
ORDINAL_LAP = re.compile(rf"\b(\d+)(?:st|nd|rd|th)\s+lap\b|\b({'|'.join(_ORD)})\s+lap\b|\blap\s+({_CARD})\b", re.I)
POSITION_REF = re.compile(r"\bP(\d+)\b|\b(\d+)(?:st|nd|rd|th)\s+place\b|\bposition\s+(\d+)\b")
TURN_REF = re.compile(r"\b(?:T(\d+[a-z]?)|turns?\s+(\d+[a-z]?)(?:\s*(?:-|–|to|and)\s*(\d+[a-z]?))?)\b", re.I)
CORNER_REF = re.compile(r"\bC(\d+)\b")

LOSS_WORDS = re.compile(r"\b(slower|slow|lose|loses|losing|lost|loss|losses|costs?|costing|deficit|behind|"
                        r"fad(?:e|es|ed|ing)|degrad\w*|drops?|weak\w*)\b", re.I)
GAIN_WORDS = re.compile(r"\b(quicker|quick|faster|fast|gains?|gain(?:ed|ing)|strength|strong|ahead|improv\w*|"
                        r"found|finds)\b", re.I)
STRENGTH_CLAIM = re.compile(r"\b(a|its|the car's|your)?\s*(relative\s+)?(strength|strongest|strong point|"
                            r"best section|no problem|not a problem)\b", re.I)
WEAKNESS_CLAIM = re.compile(r"\b(weakness|weakest|weak spot|weak point|where (?:the|most) time goes|"
                            r"loses the most|biggest loss|main loss|the problem|objective|focus)\b", re.I)
NOTHING_CLAIM = re.compile(r"\b(no section stands out|nothing stands out|no clear weakness|no weakness|"
                           r"no significant|no section loses|no objective|nothing to work on)\b", re.I)
NEGATION = re.compile(r"\b(no|not|never|nothing|may be zero|includes zero|isn't|is not)\b", re.I)
WEATHER_WORDS = re.compile(r"\b(temperatures?|track temp\w*|°\s?c|heat|hot|cold|cool(?:er|ing)?|rain\w*|wet|"
                           r"weather|humid\w*|wind|winds|windy|sun|sunny|sunshine|ambient)\b", re.I)
MOSTLY = re.compile(r"\b(mostly|mainly|largely|most of|majority)\b", re.I)
FUEL = re.compile(r"\bfuel\b", re.I)
UNIT_OF_METRIC = {"median_section_time_s": {"s"}, "median_lap_time_s": {"s"}, "residual_sd_s": {"s"},
                  "section_loss_s": {"s/lap"}, "median_section_delta_to_field_s": {"s"},
                  "section_time_iqr_s": {"s"}}
DIRECTIONAL = {"section_loss", "rival", "target", "trend", "telemetry", "traffic"}


@dataclass
class Tok:
    start: int
    sign: str
    value: float
    decimals: int
    cat: str | None          # time | pct | temp | speed | dist | laps | ordinal | None
    text: str


def _cat(unit: str) -> str | None:
    u = re.sub(r"\s", "", unit.lower())
    if not u:
        return None
    if u in ("ms", "msec", "msecs", "millisecond", "milliseconds", "sec", "secs", "second", "seconds", "s",
             "tenth", "tenths", "hundredth", "hundredths"):
        return "time"
    if u in ("%", "percent", "percent", "percent"):
        return "pct"
    if u.startswith("per") or u == "%":
        return "pct"
    if u in ("°c", "degree", "degrees"):
        return "temp"
    if u in ("kph", "km/h", "kmh", "mph"):
        return "speed"
    if u in ("m", "metre", "metres", "meter", "meters", "ft", "feet"):
        return "dist"
    if u in ("th", "st", "nd", "rd"):
        return "ordinal"
    return None


def tokens(masked: str) -> list[Tok]:
    """Every number in ``masked`` text: digits (with a unit glued or not: ``0.400s``, ``740ms``, ``.400``,
    ``39%``, m:ss.mmm as seconds) and number words (``three tenths``, ``half a second``, ``twenty laps``)."""
    skip = []
    for rx in (CAR_REF, LAP_REF, SECTION_REF, TURN_REF, CORNER_REF, POSITION_REF, ORDINAL_LAP):
        skip += [m.span() for m in rx.finditer(masked)]
    out = []
    for m in TOKEN.finditer(masked):
        if any(a <= m.start() < b for a, b in skip):
            continue
        raw, unit = m.group(2), (m.group(3) or "")
        if ":" in raw:
            mm, ss = raw.split(":", 1)
            val, dec = int(mm) * 60 + float(ss), len(ss.split(".")[1]) if "." in ss else 0
        else:
            val, dec = float(raw), len(raw.split(".")[1]) if "." in raw else 0
        u = re.sub(r"\s", "", unit.lower())
        if u in ("ms", "msec", "msecs", "millisecond", "milliseconds"):
            val, dec = val / 1000, dec + 3
        elif u.startswith("tenth"):
            val, dec = val / 10, dec + 1
        elif u.startswith("hundredth"):
            val, dec = val / 100, dec + 2
        out.append(Tok(m.start(), m.group(1), val, dec, _cat(unit), m.group(0)))
    for m in WORD_FRACTION.finditer(masked):
        n = _SMALL.get(m.group(1).lower(), _TENS.get(m.group(1).lower(), 1))
        tenth = m.group(2).lower().startswith("tenth")
        out.append(Tok(m.start(), "", n / (10 if tenth else 100), 1 if tenth else 2, "time", m.group(0)))
    for m in WORD_HALF.finditer(masked):
        w = m.group(1).lower()
        v = 0.5 if w.startswith("half") else 1.5 if "and a half" in w else 0.25
        out.append(Tok(m.start(), "", v, 1 if v != 0.25 else 2, "time", m.group(0)))
    for m in WORD_CARD.finditer(masked):
        if any(t.start == m.start() for t in out):
            continue
        words = re.split(r"[\s-]+", m.group(1).lower())
        v = sum(_TENS.get(w, _SMALL.get(w, 0)) for w in words)
        unit = m.group(2).lower()
        cat = "laps" if unit.startswith("lap") else "pct" if unit.startswith("per") else \
            "time" if unit.startswith("sec") else None
        if unit.startswith(("tenth", "hundredth")):
            continue
        out.append(Tok(m.start(), "", float(v), 0, cat, m.group(0)))
    return sorted(out, key=lambda t: t.start)


def _close(tok: Tok, v: float, digits: int) -> bool:
    """Whether ``tok`` is ``v`` as shown (at the fact's display rounding) or honestly rounded (fewer decimals,
    within 10% of the value)."""
    x = abs(tok.value)
    v = abs(v)
    if tok.decimals > digits:
        return False
    if tok.decimals == digits:
        return fmt(x, digits) == fmt(v, digits)
    if fmt(x, tok.decimals) != fmt(v, tok.decimals):
        return False
    return abs(x - v) <= 0.1 * v + 1e-12


def _close_whole(tok: Tok, v: float) -> bool:
    """Whether ``tok`` is the whole number ``v`` (metres, km/h as a telemetry fact writes them) as shown, or
    honestly rounded: ``v`` rounded to the nearest 5 or 10 and within a quarter of it ("~10 m" for 12 m, "20 m"
    for 19 m; not "30 m" for 19 m nor "5 km/h" for 3). A decimal the fact does not show is false precision."""
    x, v = abs(tok.value), abs(v)
    if tok.decimals > 0:
        return False
    if x == round(v):
        return True
    for step in (5, 10):
        if x % step == 0 and x == step * math.floor(v / step + 0.5) and abs(x - v) <= 0.25 * v:
            return True
    return False


def _telemetry_matches(tok: Tok, f: Fact) -> list[tuple[Fact, str]]:
    """A metre or km/h figure of a telemetry fact (coaching/telemetry_facts.py): the brake point difference in
    metres; the car's and the reference's minimum speeds and their difference in km/h."""
    q = _quantities(f)
    keys = ("brake_m",) if tok.cat == "dist" else ("min_kph", "ref_min_kph", "min_kph_diff")
    return [(f, k) for k in keys if q.get(k) is not None and (q[k] != 0 or k == "brake_m")
            and _close_whole(tok, q[k])]


def _quantities(f: Fact) -> dict:
    return quantities(f.fact_id, f.text)


def matches(tok: Tok, facts: list[Fact]) -> list[tuple[Fact, str]]:
    """``(fact, how)`` pairs a number can be (how: value | lo | hi | n; for a telemetry fact's metres and km/h,
    ``brake_m``, ``min_kph``, ``ref_min_kph``, ``min_kph_diff``), unit-compatible."""
    out = []
    for f in facts:
        if tok.cat in ("speed", "dist"):
            if f.kind == "telemetry" and not f.missing:
                out += _telemetry_matches(tok, f)
            continue                 # only a telemetry fact says a speed or a distance
        if tok.cat is None and f.kind == "telemetry" and not f.missing and tok.decimals == 0:
            out += [(f, k) for k in ("brake_m", "min_kph", "ref_min_kph", "min_kph_diff")
                    if _quantities(f).get(k) and tok.value == abs(_quantities(f)[k])]    # "98 km/h against 106"
        if tok.cat == "ordinal":
            continue                 # an ordinal is no figure
        cands = [(f.value, "value"), (f.lo, "lo"), (f.hi, "hi")]
        for v, how in cands:
            if v is None or not math.isfinite(v):
                continue
            if tok.cat == "time" and f.unit not in ("s", "s/lap"):
                continue
            if tok.cat == "temp" and f.unit != "°C":
                continue
            if tok.cat == "laps" and f.unit != "laps":
                continue
            if tok.cat == "pct":
                if f.unit == "share":
                    t2 = Tok(tok.start, tok.sign, tok.value / 100, tok.decimals + 2, None, tok.text)
                    if _close(t2, v, f.digits):
                        out.append((f, how))
                    continue
                if f.unit != "%":
                    continue
            if f.unit == "share" and tok.cat is None and tok.decimals == 0:
                continue
            if _close(tok, v, f.digits):
                out.append((f, how))
        if tok.cat in (None, "laps") and tok.decimals == 0 and f.n and float(f.n) == tok.value:
            out.append((f, "n"))
    return out


def _sentences(masked: str) -> list[tuple[int, int]]:
    spans, start = [], 0
    for m in re.finditer(r"[.;!?](?=\s|$)|;", masked):
        spans.append((start, m.end()))
        start = m.end()
    spans.append((start, len(masked)))
    return [s for s in spans if s[1] > s[0]]


def _clause_span(masked: str, pos: int) -> tuple[int, int]:
    a, b = next(((a, b) for a, b in _sentences(masked) if a <= pos < b), (0, len(masked)))
    cuts = [a] + [a + m.end() for m in re.finditer(r",|\b(?:while|but|whereas|than|although|though)\b",
                                                     masked[a:b])] + [b]
    for x, y in zip(cuts, cuts[1:]):
        if x <= pos < y:
            return x, y
    return a, b


def _clause(masked: str, pos: int) -> str:
    x, y = _clause_span(masked, pos)
    return masked[x:y]


def _subject_car(mentions, pos: int, clause: tuple[int, int], sent: tuple[int, int]) -> str | None:
    """The car a number is said of: the first car named in its clause (the subject: "Car 22 gains 0.140 s/lap on
    Car 13"), else the nearest named before it in the sentence, else the first after."""
    inside = [m for m in mentions if m[2] == "car" and clause[0] <= m[0] < clause[1] and m[0] < pos]
    if inside:
        return inside[0][3]
    return _governing(mentions, "car", pos, sent)


def _governing(mentions, kind: str, pos: int, sent: tuple[int, int]) -> str | None:
    inside = [m for m in mentions if m[2] == kind and sent[0] <= m[0] < sent[1]]
    before = [m for m in inside if m[0] < pos]
    if before:
        return before[-1][3]
    after = [m for m in inside if m[0] > pos]
    return after[0][3] if after else None


def _said_of_other(f: Fact, gcar: str | None, tok: Tok, masked: str, mentions, sent) -> bool:
    """Whether the number is said of the other car of a fact: the rival of a rival fact."""
    return gcar is not None and gcar == f.car


def _telemetry_ref(f: Fact) -> set[str]:
    ref = _quantities(f).get("reference") if f.kind == "telemetry" else None
    return {_label(str(ref))} if ref else set()


def _said_of_ref(f: Fact, tok: Tok, mentions, sent) -> bool:
    """A telemetry fact's time in a sentence whose subject (the first car named) is the reference car: whose
    loss or gain it is cannot be told from the words, so its direction is not checked."""
    if f.kind != "telemetry":
        return False
    first = next((m[3] for m in mentions if m[2] == "car" and sent[0] <= m[0] < sent[1]), None)
    return first is not None and _label(first) in _telemetry_ref(f)


def _subject_before(mentions, pos: int, clause: tuple[int, int], sent: tuple[int, int]) -> str | None:
    """The car a number is said of, from the cars named before it only: the first in its clause, else the last
    before it in the sentence."""
    cars = [m for m in mentions if m[2] == "car" and sent[0] <= m[0] < pos]
    return next((m[3] for m in cars if m[0] >= clause[0]), cars[-1][3] if cars else None)


def _loss_expected(f: Fact, subject_is_rival: bool) -> bool:
    if f.kind == "rival":
        return (f.value < 0) if subject_is_rival else (f.value > 0)
    return f.value > 0


def meaning(text: str, brief: Brief, facts: list[Fact], where: str, errors: list[str], *,
            extra: set[str] = frozenset(), strict_numbers: bool = True) -> None:
    """Rules 8-12 on one text: every number (digits glued to units, number words, percentages) is a cited
    fact's at its display rounding or honestly rounded, in a compatible unit; bound to that fact's section and
    car; with its direction (a loss is not called a gain) and sign; laps, positions, turns and corners exist;
    strengths are not called weaknesses nor the reverse; weather only where the brief has readings; "mostly"
    only for a share of at least one half; no fuel load for a fade relative to the field."""
    masked, mentions = scan(text, brief)
    sents = _sentences(masked)
    allowed = set(cfg()["allowed_numbers"]) | set(extra)
    for tok in tokens(masked):
        if tok.cat in (None, "pct") and tok.decimals == 0 and str(int(tok.value)) in allowed:
            continue
        m = matches(tok, facts)
        if not m:
            if strict_numbers:
                errors.append(f"{where}: the number {tok.text.strip()} is not a cited fact's value at its display "
                              "rounding (or honestly rounded, in its unit)")
            continue
        sent = next((s for s in sents if s[0] <= tok.start < s[1]), (0, len(masked)))
        figures = [(f, how) for f, how in m if how != "n"]
        if not figures or len(figures) < len(m):
            continue                 # a count (n) is no claim about a section or direction
        gsec = _governing(mentions, "section", tok.start, sent)
        secs = {f.section for f, _ in figures}
        if gsec is not None and None not in secs and gsec.lower() not in {str(s).lower() for s in secs}:
            errors.append(f"{where}: the number {tok.text.strip()} belongs to "
                          f"{', '.join(brief.place(s) for s in sorted(secs))}, not {brief.place(gsec)}")
            continue
        if all(how in TELEMETRY_HOW for _, how in figures):
            _telemetry_meaning(tok, figures, masked, mentions, sent, brief, where, errors)
            continue
        gcar = _subject_car(mentions, tok.start, _clause_span(masked, tok.start), sent)
        if gcar is not None and not any(_label(gcar) in {_label(brief.car), *([_label(f.car)] if f.car else []),
                                                         *_telemetry_ref(f)} for f, _ in figures):
            errors.append(f"{where}: the number {tok.text.strip()} is not car {gcar}'s")
            continue
        if all(f.kind == "telemetry" for f, _ in figures) and not _telemetry_corner(tok, figures, masked, sent,
                                                                                    where, errors):
            continue
        values = [(f, how) for f, how in figures if how == "value"]
        if tok.sign and values:
            neg = tok.sign in "-−"
            if all((f.value < 0) != neg for f, _ in values) and not any(how != "value" for _, how in figures):
                errors.append(f"{where}: the sign of {tok.text.strip()} is not its fact's")
                continue
        dirs = [f for f, _ in values if f.kind in DIRECTIONAL and f.value]
        if dirs and len(dirs) == len(figures):
            clause = _clause(masked, tok.start)
            has_loss, has_gain = bool(LOSS_WORDS.search(clause)), bool(GAIN_WORDS.search(clause))
            if has_loss != has_gain and not any(_said_of_ref(f, tok, mentions, sent) for f in dirs):
                bad = all(_loss_expected(f, _said_of_other(f, gcar, tok, masked, mentions, sent)) != has_loss
                          for f in dirs)
                if bad:
                    errors.append(f"{where}: {tok.text.strip()} is written as a {'loss' if has_loss else 'gain'} "
                                  f"but its fact says the opposite ({dirs[0].fact_id})")
                    continue
        if MOSTLY.search(masked[sent[0]:sent[1]]) and any(f.unit == "share" and f.value is not None and f.value < 0.5
                                                         for f, _ in values):
            errors.append(f"{where}: 'mostly' for a share under one half ({tok.text.strip()})")
    _references(masked, brief, where, errors)
    _claims(masked, mentions, brief, where, errors)


TELEMETRY_HOW = {"brake_m", "min_kph", "ref_min_kph", "min_kph_diff"}
EARLY_LATE = re.compile(r"\b(earlier|later|sooner|deeper)\b", re.I)
MORE_LESS = re.compile(r"\b(more|faster|higher|quicker|less|slower|lower)\b", re.I)
AGAINST = re.compile(r"\b(against|versus|vs\.?|compared with|to)\s*$", re.I)
ADVICE = re.compile(r"\b(should|try|trying|aim|aiming|needs?\s+to|must|could|can|would|brake|carry|keep|roll)\b",
                    re.I)
DESCRIBES = re.compile(r"\b(brakes|braked|is braking|carries|carried|has|keeps|rolls|takes|is)\b", re.I)


def _telemetry_corner(tok: Tok, figures: list[tuple[Fact, str]], masked: str, sent: tuple[int, int], where: str,
                      errors: list[str]) -> bool:
    """A telemetry fact's number is said of its corner: the corner named nearest before it in the sentence, else
    the first after, is the fact's (or none is named). False (with the error) when not."""
    corners = [(m.start(), m.group(0).upper()) for m in CORNER_REF.finditer(masked) if sent[0] <= m.start() < sent[1]]
    before = [c for p, c in corners if p < tok.start]
    after = [c for p, c in corners if p > tok.start]
    named = before[-1] if before else after[0] if after else None
    own = {str(_quantities(f).get("corner", "")).upper() for f, _ in figures}
    if named is not None and named not in own:
        errors.append(f"{where}: the number {tok.text.strip()} belongs to {', '.join(sorted(own))}, not {named}")
        return False
    return True


def _telemetry_meaning(tok: Tok, figures: list[tuple[Fact, str]], masked: str, mentions, sent: tuple[int, int],
                       brief: Brief, where: str, errors: list[str]) -> None:
    """Rule 15 on a metre or km/h figure of a telemetry fact: said of its corner (the corner named nearest
    before it in the sentence, else the first after), of the car or its reference car (no third car), and in
    its direction. A description ("Car 13 brakes 12 m earlier than Car 22") keeps the fact's direction, reversed
    when the reference car is its subject; advice ("brake 12 m later", "carry 3 km/h more") goes the other way:
    towards the reference. Advice: a modal or bare verb before the number ("should brake", "could carry"), or
    a clause with no car before the number and no describing verb ("Braking ~20 m later into C5 ...")."""
    text = tok.text.strip()
    if not _telemetry_corner(tok, figures, masked, sent, where, errors):
        return
    gcar = _subject_car(mentions, tok.start, _clause_span(masked, tok.start), sent)
    refs = set().union(*(_telemetry_ref(f) for f, _ in figures))
    if gcar is not None and _label(gcar) not in {_label(brief.car)} | refs:
        errors.append(f"{where}: the number {text} is not car {gcar}'s")
        return
    x, y = _clause_span(masked, tok.start)
    subject = _subject_before(mentions, tok.start, (x, y), sent)
    speeds = [h for _, h in figures if h in ("min_kph", "ref_min_kph")]
    if speeds and len(speeds) == len(figures):
        # a minimum speed is its owner's: the car named just before it ("Car 22's 106 km/h"), else the
        # sentence's subject (the first car named), else the car; "against 106" is the other car's
        near = [m for m in mentions if m[2] == "car" and m[1] <= tok.start
                and re.fullmatch(r"['’]s\s*", masked[m[1]:tok.start])]
        first = next((m[3] for m in mentions if m[2] == "car" and sent[0] <= m[0] < sent[1]), None)
        owner = near[-1][3] if near else first or brief.car
        is_ref = _label(owner) in refs and _label(owner) != _label(brief.car)
        if AGAINST.search(masked[max(x, tok.start - 14):tok.start]):
            is_ref = not is_ref
        want = "ref_min_kph" if is_ref else "min_kph"
        if want not in speeds:
            whose = "the reference car's" if "ref_min_kph" in speeds else f"car {brief.car}'s"
            errors.append(f"{where}: the number {text} is {whose} minimum speed, said of "
                          f"{'the reference car' if is_ref else f'car {brief.car}'}")
            return
    subject_is_ref = subject is not None and _label(subject) in refs and _label(subject) != _label(brief.car)
    clause = masked[x:y]
    advice = bool(ADVICE.search(masked[x:tok.start])) or (not DESCRIBES.search(clause) and subject is None)
    for f, how in figures:
        q = _quantities(f)
        if how == "brake_m" and q.get("brake_dir"):
            w = EARLY_LATE.search(masked[tok.start:y])
            if not w:
                return
            said = "earlier" if w.group(1).lower() in ("earlier", "sooner") else "later"
            want = q["brake_dir"]
            if advice or subject_is_ref:           # advice: towards the reference; the reference said: reversed
                want = "later" if want == "earlier" else "earlier"
            if said != want:
                errors.append(f"{where}: {text} {said} is the wrong way round: {f.fact_id} says car {brief.car} "
                              f"brakes {q['brake_m']:.0f} m {q['brake_dir']} than car {q.get('reference')}")
            return
        if how == "min_kph_diff" and not any(h in ("min_kph", "ref_min_kph") for _, h in figures):
            w = MORE_LESS.search(masked[tok.start:y])
            if not w:
                return
            said = "more" if w.group(1).lower() in ("more", "faster", "higher", "quicker") else "less"
            want = "more" if q["min_kph_diff"] > 0 else "less"
            if advice or subject_is_ref:
                want = "less" if want == "more" else "more"
            if said != want:
                errors.append(f"{where}: {text} {w.group(1)} is the wrong way round: {f.fact_id} says car "
                              f"{brief.car}'s minimum is {q['min_kph']:.0f} km/h against {q['ref_min_kph']:.0f}")
            return


def _references(masked: str, brief: Brief, where: str, errors: list[str]) -> None:
    laps = set(brief.laps)
    for m in ORDINAL_LAP.finditer(masked):
        g = m.group(1) or m.group(2) or m.group(3)
        n = int(g) if g.isdigit() else _ORD.get(g.lower(), _SMALL.get(g.lower(), _TENS.get(g.lower(), -1)))
        if n not in laps:
            errors.append(f"{where}: lap {g} ({m.group(0)}) is not a lap of car {brief.car}")
    for m in POSITION_REF.finditer(masked):
        errors.append(f"{where}: a position ({m.group(0)}) is no fact of the brief")
    official = {str(t).lower() for t in getattr(brief, "turns", None) or []}
    for m in TURN_REF.finditer(masked):
        if official and all(g.lower() in official for g in m.groups() if g):
            continue                 # the track's official turn numbers (params/tracks turns)
        named = [*(f"Turn {t}" for t in getattr(brief, "turns", None) or []), *brief.corners]
        errors.append(f"{where}: {m.group(0)!r} is no corner of the brief (its corners: "
                      f"{', '.join(named) or 'none listed'})")
    known = {c.upper() for c in brief.corners}
    for m in CORNER_REF.finditer(masked):
        if m.group(0).upper() not in known:
            errors.append(f"{where}: corner {m.group(0)} is not a corner of this track")


def _claims(masked: str, mentions, brief: Brief, where: str, errors: list[str]) -> None:
    loss = {f.section: f for f in brief.facts if f.kind == "section_loss" and f.section}
    objective = getattr(brief, "objective", None)
    in_traffic = {str(s).lower() for s in getattr(objective, "traffic", None) or []}
    # a sure loss seen only in traffic (objective.in_traffic_only) is not the driver's: "no objective" may be said
    sure = [f for f in loss.values() if f.lo is not None and f.lo > 0 and str(f.section).lower() not in in_traffic]
    for a, b in _sentences(masked):
        sent = masked[a:b]
        for rx, kind in ((STRENGTH_CLAIM, "strength"), (WEAKNESS_CLAIM, "weakness")):
            for m in rx.finditer(sent):
                if NEGATION.search(sent[max(0, m.start() - 40):m.start()]):
                    continue
                sec = _governing(mentions, "section", a + m.start(), (a, b))
                f = loss.get(sec) if sec else None
                if f is None or f.lo is None or f.hi is None:
                    continue
                if kind == "strength" and f.lo > 0:
                    errors.append(f"{where}: {brief.place(sec)} is called a strength but it loses time (interval "
                                  "above zero)")
                if kind == "weakness" and f.lo <= 0 and m.group(0).lower() not in ("objective", "focus"):
                    errors.append(f"{where}: {brief.place(sec)} is called the weakness but its loss "
                                  + ("is a relative strength" if f.hi < 0 else "may be zero"))
                if kind == "weakness" and objective is not None and objective.section and \
                        m.group(0).lower() in ("objective", "focus") and sec.lower() != objective.section.lower():
                    errors.append(f"{where}: the objective is {brief.place(objective.section)}, not {brief.place(sec)}")
        if sure and NOTHING_CLAIM.search(sent):
            errors.append(f"{where}: says nothing stands out, but {brief.place(sure[0].section)} loses time with "
                          "its interval above zero")
    weather = [f for f in brief.facts if f.kind == "weather"]
    if WEATHER_WORDS.search(masked) and not any(not f.missing and f.value is not None for f in weather):
        errors.append(f"{where}: a weather claim, but the brief has no weather readings")
    if FUEL.search(masked):
        errors.append(f"{where}: fuel load is no explanation for a change relative to the field (every car burns "
                      "fuel)")


def whole_answer(syn: Synthesis, brief: Brief, errors: list[str]) -> None:
    """Rules 13-14: the answer is not empty, covers the brief's objective (its section in the headline and an
    action on it) and gives no action where there is no objective; an action's text names no other section than
    its own; its target is in its metric's unit."""
    if len(re.findall(r"[A-Za-z]{2,}", syn.headline)) < 3:
        errors.append("headline: empty or too short to say anything")
    o = getattr(brief, "objective", None)
    if o is None:
        return
    if o.kind == "none":
        if syn.actions:
            errors.append(f"actions: the brief has no objective ({o.reason}): no action")
        return
    sec = o.section
    _, mentions = scan(syn.headline, brief)
    if not any(k == "section" and key.lower() == sec.lower() for _, _, k, key in mentions):
        errors.append(f"headline: does not name the objective {brief.place(sec)}")
    if not any((a.section or "").lower() == sec.lower() for a in syn.actions):
        errors.append(f"actions: none on the objective {brief.place(sec)}")
    for i, a in enumerate(syn.actions, start=1):
        _, mentions = scan(a.action, brief)
        other = {key for _, _, k, key in mentions if k == "section" and key.lower() != (a.section or "").lower()}
        if a.section and other:
            errors.append(f"action {i}: its section is {brief.place(a.section)} but its text names "
                          f"{', '.join(brief.place(x) for x in sorted(other))}")


def target_unit(a, facts: list[Fact], where: str, errors: list[str]) -> None:
    units = UNIT_OF_METRIC.get(a.measure.metric)
    if not units:
        return
    ok = [f for f in facts if f.value is not None and f.unit in units and f.kind not in ("data", "limit")
          and fmt(a.measure.target, f.digits) == fmt(f.value, f.digits)]
    if not ok:
        errors.append(f"{where}: target {a.measure.target} is not a cited {'/'.join(sorted(units))} figure "
                      f"(the metric {a.measure.metric} is in {'/'.join(sorted(units))})")
