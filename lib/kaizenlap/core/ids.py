"""Document and run ids: one alphabet for both stores (Firestore and SQLite) and for the API's path
parameters, so every id the project builds is one the stores accept and the API routes."""
from __future__ import annotations

import re
from typing import Any

# Letters, digits and ._:~+=@- ; first a letter or digit; at most 200 characters. '/' never (a Firestore path
# separator), '~' joins the parts of an id, '=' escapes (below).
ID_CHARS = "A-Za-z0-9._:~+=@-"
ID_PATTERN = rf"^[A-Za-z0-9][{ID_CHARS}]{{0,199}}$"
_ID_OK = re.compile(ID_PATTERN)
# Inside one part: '~' (the separator) and '=' (the escape) are escaped too, so doc_id is injective.
_ESCAPED_IN_PART = re.compile(r"[^A-Za-z0-9._:+@-]")


def check_id(kind: str, value: str) -> str:
    """Run and document ids: printable, no '/', not '.'/'..', not Firestore's reserved ``__x__``."""
    if not isinstance(value, str) or not _ID_OK.match(value) or value.startswith("__"):
        raise ValueError(f"invalid {kind} id {value!r}: use letters, digits and ._:~+=@- (first a letter or digit)")
    return value


def id_part(value: Any) -> str:
    """A piece of a document id: characters outside [A-Za-z0-9._:+@-] become =XX (injective)."""
    return _ESCAPED_IN_PART.sub(lambda m: "".join(f"={b:02X}" for b in m.group().encode()), str(value))


def doc_id(*parts: Any) -> str:
    return "~".join(id_part(p) for p in parts)


def lap_key(lap: int) -> str:
    return f"l{int(lap):04d}"


def weather_track_id(race_id: str) -> str:
    """Id of a race's copy of its track's pooled weather model."""
    return doc_id(race_id, "weather", "track")
