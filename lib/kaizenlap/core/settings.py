"""Configuration by environment: one typed settings object, read once at start (README: "Settings").

Every setting is an environment variable; ``run_pipeline.py`` / ``kaizenlap`` flags override them
(``--data``, ``--store``, ``--port``, ``--host``, ``--web-dir``). :func:`load` validates them together and
raises :class:`SettingsError` with one line naming the variable, so a missing or contradictory setting
stops the service or the job at start, never at its first request.

Where things come from:

* data (``run``): ``--data``, else ``gs://$GCS_BUCKET_NAME/$GCS_PREFIX`` when ``USE_LOCAL_FILES=false``,
  else ``$KAIZENLAP_DATA`` (``os.pathsep``-separated), else ``data/sample``;
* store: ``--store``, else ``$KAIZENLAP_STORE``, else ``firestore://$FIRESTORE_PROJECT_ID/$FIRESTORE_DATABASE``
  when a Firestore project is set (``FIRESTORE_PROJECT_ID``, else ``GOOGLE_CLOUD_PROJECT``) and
  ``USE_LOCAL_FILES=false``, else the embedded SQLite file (:func:`kaizenlap.store.default_url`);
* on Cloud Run (``K_SERVICE`` or ``CLOUD_RUN_JOB`` set) the embedded SQLite default is refused: the
  container's disk is not shared nor kept, so a store must be named.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Literal, Optional
from urllib.parse import urlparse, urlsplit, urlunsplit

from pydantic import AliasChoices, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from kaizenlap.core.paths import default_store_url, split_data_env

_BUCKET = re.compile(r"^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$")
_PROJECT = re.compile(r"^[a-z][a-z0-9-]{3,61}[a-z0-9]$")
_DATABASE = re.compile(r"^\(default\)$|^[a-z][a-z0-9-]{2,61}[a-z0-9]$")


LLM_ENV = "KAIZENLAP_LLM"
FLAVOURS = ("openai", "ollama", "vllm", "llamacpp", "vertex")
OFF = ("", "off", "none", "deterministic")


def parse_setting(value: str | None) -> str:
    """The one parser of the generator setting (``--llm``, ``$KAIZENLAP_LLM``; :mod:`kaizenlap.core.settings`
    validates with it): the setting normalised, or ValueError naming what is wrong. ``off``/``none``/empty
    mean ``deterministic``; a bare ``/path/model.gguf`` means ``llama-cpp:/path/model.gguf``; a URL keeps
    its ``?model=`` and loses a trailing ``/``. Nothing is contacted or loaded here (:func:`from_setting`)."""
    v = (value or "").strip()
    if v.lower() in OFF:
        return "deterministic"
    if v.endswith(".gguf") and ":" not in v.split("/")[0]:
        v = f"llama-cpp:{v}"
    if v.startswith("llama-cpp:"):
        name = v[len("llama-cpp:"):]
        if name in ("", "gemma3-270m"):
            return "llama-cpp:gemma3-270m"
        path = Path(name).expanduser()
        if not path.is_file():
            raise ValueError(f"{LLM_ENV}={value!r}: no such model file {str(path)!r}")
        return f"llama-cpp:{path.resolve()}"
    parts = urlsplit(v)
    if parts.scheme == "vertex":
        location_endpoint = [x for x in parts.path.strip("/").split("/") if x]
        if not parts.netloc or len(location_endpoint) != 2:
            raise ValueError(f"{LLM_ENV}={value!r}: write vertex://PROJECT/LOCATION/ENDPOINT_ID[?model=NAME]")
        return v
    flavour, _, transport = parts.scheme.partition("+")
    if not transport:
        flavour, transport = "openai", parts.scheme
    if transport not in ("http", "https") or flavour not in FLAVOURS:
        raise ValueError(f"{LLM_ENV}={value!r}: use deterministic (or off), llama-cpp:gemma3-270m, "
                         "llama-cpp:/path/model.gguf, vertex://PROJECT/LOCATION/ENDPOINT_ID, vertex+https://…/endpoints/ID, "
                         "[ollama+|vllm+|llamacpp+]http(s)://HOST:PORT[/v1][?model=NAME]")
    if not parts.netloc:
        raise ValueError(f"{LLM_ENV}={value!r} has no host (e.g. http://127.0.0.1:8080)")
    return urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), parts.query, ""))


def llm_setting(cli_value: str | None = None) -> str:
    """The one setting that chooses the synthesizer, parsed (:func:`parse_setting`): ``--llm`` when given,
    else the settings object's ``llm`` (``$KAIZENLAP_LLM``, :mod:`kaizenlap.core.settings`), else
    ``deterministic``."""
    if cli_value is not None:
        return parse_setting(cli_value)
    return load().llm



class SettingsError(ValueError):
    """A missing or contradictory setting: one line, naming the variable."""


def _env(*names: str):
    return Field(default=None, validation_alias=AliasChoices(*names))


class Settings(BaseSettings):
    """The environment, typed. Attribute → variable: see the ``validation_alias`` of each field."""
    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore", env_ignore_empty=True,
                                      populate_by_name=False)

    google_cloud_project: Optional[str] = _env("GOOGLE_CLOUD_PROJECT")
    firestore_project_id: Optional[str] = _env("FIRESTORE_PROJECT_ID")
    firestore_database: str = Field(default="(default)", validation_alias=AliasChoices("FIRESTORE_DATABASE"))
    gcs_bucket_name: Optional[str] = _env("GCS_BUCKET_NAME")
    gcs_prefix: str = Field(default="", validation_alias=AliasChoices("GCS_PREFIX"))
    use_local_files: bool = Field(default=True, validation_alias=AliasChoices("USE_LOCAL_FILES"))
    data_env: Optional[str] = _env("KAIZENLAP_DATA")
    store_env: Optional[str] = _env("KAIZENLAP_STORE")
    llm: str = Field(default="deterministic", validation_alias=AliasChoices("KAIZENLAP_LLM"))
    port: int = Field(default=8000, ge=1, le=65535, validation_alias=AliasChoices("PORT"))
    host: Optional[str] = _env("KAIZENLAP_HOST")
    web_dir: Optional[str] = _env("KAIZENLAP_WEB_DIR")
    reports: str = Field(default="reports", validation_alias=AliasChoices("KAIZENLAP_REPORTS"))
    pointer_ttl_s: float = Field(default=1.0, ge=0, validation_alias=AliasChoices("KAIZENLAP_POINTER_TTL_S"))
    api_max_age_s: int = Field(default=0, ge=0, validation_alias=AliasChoices("KAIZENLAP_API_MAX_AGE_S"))
    log: Optional[str] = _env("KAIZENLAP_LOG")
    k_service: Optional[str] = _env("K_SERVICE")
    cloud_run_job: Optional[str] = _env("CLOUD_RUN_JOB")
    storage_emulator_host: Optional[str] = _env("STORAGE_EMULATOR_HOST")
    firestore_emulator_host: Optional[str] = _env("FIRESTORE_EMULATOR_HOST")

    @field_validator("gcs_prefix")
    @classmethod
    def _prefix(cls, v: str) -> str:
        return v.strip("/")

    @field_validator("gcs_bucket_name")
    @classmethod
    def _bucket(cls, v: Optional[str]) -> Optional[str]:
        if v is not None and (v.startswith("gs://") or not _BUCKET.match(v)):
            raise ValueError(f"GCS_BUCKET_NAME={v!r} is not a bucket name (3-63 characters: lowercase letters, "
                             "digits, - _ .; the name alone, without gs://)")
        return v

    @field_validator("google_cloud_project", "firestore_project_id")
    @classmethod
    def _project(cls, v: Optional[str], info) -> Optional[str]:
        if v is not None and not _PROJECT.match(v):
            raise ValueError(f"{info.field_name.upper()}={v!r} is not a Google Cloud project id")
        return v

    @field_validator("firestore_database")
    @classmethod
    def _database(cls, v: str) -> str:
        if not _DATABASE.match(v):
            raise ValueError(f"FIRESTORE_DATABASE={v!r} is not a Firestore database id ((default), or 4-63 "
                             "characters: lowercase letters, digits, -)")
        return v

    @field_validator("llm")
    @classmethod
    def _llm(cls, v: str) -> str:
        return parse_setting(v)

    @model_validator(mode="after")
    def _together(self) -> "Settings":
        if self.gcs_prefix and not self.gcs_bucket_name:
            raise ValueError("GCS_PREFIX is set but GCS_BUCKET_NAME is not")
        if self.use_local_files and self.data_env and "gs://" in self.data_env:
            raise ValueError(f"KAIZENLAP_DATA={self.data_env} is in Cloud Storage but USE_LOCAL_FILES is true "
                             "(set USE_LOCAL_FILES=false)")
        if self.store_env and self.firestore_project:
            parsed = urlparse(self.store_env)
            if parsed.scheme == "firestore" and parsed.netloc != self.firestore_project:
                raise ValueError(f"KAIZENLAP_STORE={self.store_env} names project {parsed.netloc!r} but "
                                 f"FIRESTORE_PROJECT_ID/GOOGLE_CLOUD_PROJECT is {self.firestore_project!r}")
        return self

    def check(self, command: str, data_flag: list[str] | None = None, store_flag: str | None = None) -> None:
        """What ``command`` (``run`` or ``serve``) needs, checked before it starts: :class:`SettingsError`."""
        if command == "run" and not self.use_local_files and not data_flag and not self.gcs_bucket_name \
                and not (self.data_env or "").startswith("gs://"):
            raise SettingsError("configuration: USE_LOCAL_FILES=false needs GCS_BUCKET_NAME "
                                "(the bucket holding the TRD files) or --data gs://BUCKET/PREFIX")
        if command in ("run", "serve") and not self.use_local_files and not (store_flag or self.store_env) \
                and not self.firestore_project:
            raise SettingsError("configuration: USE_LOCAL_FILES=false needs FIRESTORE_PROJECT_ID "
                                "(or GOOGLE_CLOUD_PROJECT) for the results store, or KAIZENLAP_STORE")
        if command in ("run", "serve"):
            self.store_url(store_flag)

    # ------------------------------------------------------------------ derived

    @property
    def on_cloud_run(self) -> bool:
        return bool(self.k_service or self.cloud_run_job)

    @property
    def firestore_project(self) -> Optional[str]:
        """The Firestore project: ``FIRESTORE_PROJECT_ID``, else ``GOOGLE_CLOUD_PROJECT``."""
        return self.firestore_project_id or self.google_cloud_project

    @property
    def gcs_url(self) -> Optional[str]:
        if not self.gcs_bucket_name:
            return None
        return f"gs://{self.gcs_bucket_name}/{self.gcs_prefix}".rstrip("/")

    @property
    def llm_kind(self) -> Literal["off", "server", "model"]:
        """How coaching text is written: ``off`` (the deterministic text), a chat ``server`` (OpenAI-compatible,
        Ollama, vLLM, llama_cpp.server, Vertex AI) or a ``model`` run by llama.cpp in this process."""
        if self.llm == "deterministic":
            return "off"
        return "model" if self.llm.startswith("llama-cpp:") else "server"

    def data(self, flag: list[str] | None = None) -> list[str] | None:
        """The run's inputs (see the module docstring); None: the default ``data/sample``."""
        if flag:
            return list(flag)
        if not self.use_local_files:
            if self.data_env and self.data_env.startswith("gs://"):
                return split_data_env(self.data_env)
            return [self.gcs_url] if self.gcs_url else None
        if self.data_env:
            return split_data_env(self.data_env)
        return None

    def store_url(self, flag: str | None = None, local_default: bool = True) -> str | None:
        """The results store (see the module docstring); with ``local_default=False`` (``run``: publishing is
        asked for) None instead of the embedded file. Raises :class:`SettingsError` on Cloud Run when no
        store is named."""
        if flag:
            return flag
        if self.store_env:
            return self.store_env
        if self.firestore_project and not self.use_local_files:
            db = "" if self.firestore_database == "(default)" else f"/{self.firestore_database}"
            return f"firestore://{self.firestore_project}{db}"
        if self.on_cloud_run:
            raise SettingsError("configuration: on Cloud Run a store is required: set FIRESTORE_PROJECT_ID "
                                "(or GOOGLE_CLOUD_PROJECT) with USE_LOCAL_FILES=false, or KAIZENLAP_STORE")
        if not local_default:
            return None
        return default_store_url()

    def bind_host(self, flag: str | None = None) -> str:
        """The address ``serve`` listens on: ``--host``, ``$KAIZENLAP_HOST``, else 0.0.0.0 on Cloud Run
        (its front end connects from outside the container), else 127.0.0.1."""
        return flag or self.host or ("0.0.0.0" if self.k_service else "127.0.0.1")


class _FromMapping(Settings):
    """The settings from a mapping only (tests, tools): the process environment is not read."""

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, **_others):
        return (init_settings,)


def load(env: dict[str, str] | None = None) -> Settings:
    """The settings from ``env`` (default: the process environment), validated; :class:`SettingsError`
    (one line) when a setting is missing, malformed or contradicts another."""
    try:
        if env is None:
            return Settings()
        return _FromMapping(**{k.upper(): v for k, v in env.items() if v != ""})
    except ValidationError as exc:
        err = exc.errors()[0]
        msg = str(err.get("msg", exc)).removeprefix("Value error, ")
        loc = [str(x) for x in err.get("loc", ()) if x]
        if loc and "=" not in msg:                  # a type error: name the variable and its value
            msg = f"{loc[0].upper()}={err.get('input')!r}: {msg}"
        raise SettingsError(f"configuration: {msg}") from None
