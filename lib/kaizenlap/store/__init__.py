"""The document store: one interface, two backends, chosen by a URL.

``sqlite:///PATH`` (embedded default, ``.kaizenlap/store.db`` at the project root) or
``firestore://PROJECT[/DATABASE]``. ``$KAIZENLAP_STORE`` overrides the default.

>>> store = open_store()                                         # doctest: +SKIP
>>> docs, meta = build.documents_for_races(races)                # doctest: +SKIP
>>> publish_documents(store, "20251126T101500Z", docs, meta)     # doctest: +SKIP

Several writers (the pipeline's notebooks), one owner::

    begin_run(store, run_id)                          # owner
    stage(store, run_id, "barber-r1.sections", docs)  # each writer, its own part
    finish_run(store, run_id, parts=[...])            # owner: check, then flip the pointer
"""
from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import unquote, urlparse

from . import build
from .base import (COLLECTIONS, QUERIES, RECOMMENDATION_COLLECTIONS, Store, StoreError)
from .publish import (RunExists, begin_run, data_version, discard, finish_run, heartbeat, prune, publish_documents,
                      stage)

__all__ = ["COLLECTIONS", "QUERIES", "RECOMMENDATION_COLLECTIONS", "Store", "StoreError", "RunExists", "build",
           "begin_run", "data_version", "default_url", "discard", "finish_run", "heartbeat", "open_store", "prune",
           "publish_documents", "stage"]


def default_url() -> str:
    """``$KAIZENLAP_STORE``, else the embedded file ``.kaizenlap/store.db`` at the project root."""
    env = os.environ.get("KAIZENLAP_STORE")
    if env:
        return env
    from .. import params
    try:
        root = params.params_dir().parent
    except FileNotFoundError:
        root = Path.cwd()
    return f"sqlite:///{root / '.kaizenlap' / 'store.db'}"


def open_store(url: str | None = None) -> Store:
    """The store named by ``url`` (default :func:`default_url`). A relative SQLite path is relative to the
    current directory: ``sqlite:///.kaizenlap/store.db``; an absolute one has four slashes."""
    url = url or default_url()
    parsed = urlparse(url)
    if parsed.scheme == "sqlite":
        from .sqlite import SqliteStore
        rest = url[len("sqlite://"):].split("?", 1)[0]
        if not rest.startswith("/"):
            raise ValueError(f"bad SQLite store URL {url!r}: use sqlite:///relative/path or sqlite:////absolute/path")
        path = unquote(rest[1:])                 # sqlite:///rel -> rel, sqlite:////abs -> /abs (SQLAlchemy's)
        if not path:
            raise ValueError(f"no file in store URL {url!r}")
        return SqliteStore(Path(path), url=url)
    if parsed.scheme == "firestore":
        from .firestore import FirestoreStore
        project = parsed.netloc
        if not project:
            raise ValueError(f"no project in store URL {url!r}: use firestore://PROJECT[/DATABASE]")
        database = parsed.path.strip("/") or "(default)"
        return FirestoreStore(project, database, url=url)
    raise ValueError(f"unknown store URL {url!r}: use sqlite:///PATH or firestore://PROJECT[/DATABASE]")
