"""The document store: one interface, two backends, chosen by a URL.

``sqlite:///PATH`` (embedded default, ``.kaizenlap/store.db`` at the project root) or
``firestore://PROJECT[/DATABASE]``. ``$KAIZENLAP_STORE`` overrides the default.

>>> store = open_store()                                         # doctest: +SKIP
>>> docs, meta = documents_for_races(races)   # kaizenlap.tasks.inprocess   # doctest: +SKIP
>>> publish_documents(store, "20251126T101500Z", docs, meta)     # doctest: +SKIP

Several writers (the pipeline's notebooks), one owner::

    begin_run(store, run_id)                          # owner
    stage(store, run_id, "barber-r1.sections", docs)  # each writer, its own part
    finish_run(store, run_id, parts=[...])            # owner: check, then flip the pointer
"""
from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlparse

from kaizenlap.core.paths import default_store_url

from kaizenlap.store.sqlite import SqliteStore
from kaizenlap.store.base import COLLECTIONS, QUERIES, RECOMMENDATION_COLLECTIONS, Store, StoreError
from kaizenlap.store.publish import (RunExists, begin_run, data_version, discard, finish_run, heartbeat, prune, publish_documents, stage)

__all__ = ["COLLECTIONS", "QUERIES", "RECOMMENDATION_COLLECTIONS", "Store", "StoreError", "RunExists",
           "begin_run", "data_version", "discard", "finish_run", "heartbeat", "open_store", "prune",
           "publish_documents", "stage"]


def open_store(url: str | None = None) -> Store:
    """The store named by ``url`` (default :func:`default_url`). A relative SQLite path is relative to the
    current directory: ``sqlite:///.kaizenlap/store.db``; an absolute one has four slashes."""
    url = url or default_store_url()
    parsed = urlparse(url)
    if parsed.scheme == "sqlite":
        rest = url[len("sqlite://"):].split("?", 1)[0]
        if not rest.startswith("/"):
            raise ValueError(f"bad SQLite store URL {url!r}: use sqlite:///relative/path or sqlite:////absolute/path")
        path = unquote(rest[1:])                 # sqlite:///rel -> rel, sqlite:////abs -> /abs (SQLAlchemy's)
        if not path:
            raise ValueError(f"no file in store URL {url!r}")
        return SqliteStore(Path(path), url=url)
    if parsed.scheme == "firestore":
        from kaizenlap.store.firestore import FirestoreStore   # google-cloud-firestore loads only when asked for
        project = parsed.netloc
        if not project:
            raise ValueError(f"no project in store URL {url!r}: use firestore://PROJECT[/DATABASE]")
        database = parsed.path.strip("/") or "(default)"
        return FirestoreStore(project, database, url=url)
    raise ValueError(f"unknown store URL {url!r}: use sqlite:///PATH or firestore://PROJECT[/DATABASE]")
