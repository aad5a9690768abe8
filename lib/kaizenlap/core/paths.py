"""Where things are: the repository root, the data a run or a notebook reads (``$KAIZENLAP_DATA``), the
embedded store's default file."""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Iterable

from kaizenlap.core import params
from kaizenlap.core.environment import env

DEFAULT_DATA = "data/sample"
DATA_ENV = "KAIZENLAP_DATA"


def repo_root() -> Path:
    """The repository root (the folder holding ``params/``)."""
    return params.params_dir().resolve().parent


def split_data_env(value: str) -> list[str]:
    """``$KAIZENLAP_DATA``: paths separated by ``os.pathsep``; the ``:`` of a ``gs://`` URL is not one."""
    sep = re.escape(os.pathsep)
    return [p for p in re.split(rf"{sep}(?!//)", value) if p]


def resolve_data(data: str | os.PathLike | Iterable[str | os.PathLike] | None = DEFAULT_DATA) -> list[Path | str]:
    """The notebook's ``data`` parameter as absolute paths.

    ``$KAIZENLAP_DATA`` (``os.pathsep``-separated) replaces the default ``data/sample`` when set. A relative
    path is taken from the current directory, else from the repository root (JupyterLab starts kernels
    in ``notebooks/``, papermill in the repository root): the notebooks run the same from either.
    A ``gs://BUCKET/PREFIX`` URL is passed on as it is (the ingest lists and reads the bucket).
    """
    if data is None or (isinstance(data, str) and data == DEFAULT_DATA and env(DATA_ENV)):
        data = env(DATA_ENV) or DEFAULT_DATA
        items = split_data_env(str(data))
    elif isinstance(data, (str, os.PathLike)):
        items = [data]
    else:
        items = list(data)
    out = []
    for item in items:
        if isinstance(item, str) and item.startswith("gs://"):
            out.append(item)             # Cloud Storage (kaizenlap.ingest.gcs): checked when listed
            continue
        p = Path(item).expanduser()
        if not p.is_absolute():
            for base in (Path.cwd(), repo_root()):
                if (base / p).exists():
                    p = base / p
                    break
        if not p.exists():
            hint = " (write the sample season with `make sample` or `make run`)" if Path(item) == Path(DEFAULT_DATA) \
                else ""
            raise FileNotFoundError(f"data not found: {item}{hint}; looked in {Path.cwd()} and {repo_root()}")
        out.append(p.resolve())
    return out


def default_store_url() -> str:
    """``$KAIZENLAP_STORE``, else the embedded file ``.kaizenlap/store.db`` at the project root."""
    return env("KAIZENLAP_STORE") or f"sqlite:///{state_dir() / 'store.db'}"


def state_dir() -> Path:
    """``.kaizenlap/`` at the project root (the current folder for an installed wheel without a checkout):
    the embedded store, logs, caches, models."""
    try:
        root = params.params_dir().parent
    except FileNotFoundError:
        root = Path.cwd()
    return root / ".kaizenlap"


def cache_dir() -> Path:
    """``$KAIZENLAP_CACHE``, else ``.kaizenlap/cache``: the parse cache (``ingest``) and the coaching cache."""
    value = env("KAIZENLAP_CACHE")
    return Path(value) if value else state_dir() / "cache"
