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


# Car numbers (``NUMBER`` of the lap file) after ingest's normalisation: 1-16 letters or digits. No '-' (a shared
# number's instances are NUMBER-k, so a number holding '-' could name another car), no '/', '.', '_', so a car
# id always matches ID_PATTERN and every document id built from it is far below Firestore's 1,500 bytes.
CAR_NUMBER_MAX_CHARS = 16
CAR_NUMBER_PATTERN = rf"^[A-Za-z0-9]{{1,{CAR_NUMBER_MAX_CHARS}}}$"
# Firestore's rules for a document id: at most 1,500 bytes of UTF-8, no '/', not '.' or '..', not __.*__.
MAX_DOC_ID_BYTES = 1500
_RESERVED = re.compile(r"^__.*__$", re.S)


def _escape(text: str) -> str:
    return "".join(f"={b:02X}" for b in text.encode())


def id_part(value: Any) -> str:
    """A piece of a document id: characters outside [A-Za-z0-9._:+@-] become =XX; so do a leading '_' (no id
    is Firestore's reserved ``__x__``) and a part of dots only ('.', '..' are no ids). Injective: '=' is
    always escaped, so every =XX decodes to the one character it stands for."""
    text = _ESCAPED_IN_PART.sub(lambda m: _escape(m.group()), str(value))
    if text and set(text) == {"."}:
        return _escape(text)
    return _escape("_") + text[1:] if text.startswith("_") else text


def valid_doc_id(value: Any) -> bool:
    """Whether ``value`` is a document id both stores accept (Firestore's rules; SQLite takes any text)."""
    return (isinstance(value, str) and bool(value) and "/" not in value and value not in (".", "..")
            and len(value.encode()) <= MAX_DOC_ID_BYTES and not _RESERVED.match(value))


def doc_id(*parts: Any) -> str:
    """The parts joined by '~', each escaped by :func:`id_part`. Raises ``ValueError`` for a result that is
    not a valid document id (:func:`valid_doc_id`): ingest admits only id parts that cannot give one."""
    did = "~".join(id_part(p) for p in parts)
    if not valid_doc_id(did):
        raise ValueError(f"invalid document id {did[:80]!r}{'...' if len(did) > 80 else ''} "
                         f"({len(did.encode())} bytes)")
    return did


def lap_key(lap: int) -> str:
    return f"l{int(lap):04d}"


def weather_track_id(race_id: str) -> str:
    """Id of a race's copy of its track's pooled weather model."""
    return doc_id(race_id, "weather", "track")
