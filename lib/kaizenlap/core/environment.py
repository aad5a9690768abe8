"""Every environment variable the project reads, declared in one place.

:mod:`kaizenlap.core.settings` builds the typed, validated settings object of a job or the service from these;
the few modules below it that need one value before any settings object exists (where ``params/`` is, the
cache folders) read it with :func:`env`. Nothing else reads ``os.environ`` for configuration
(tests/test_layers.py checks it).
"""
from __future__ import annotations

import os

VARIABLES: dict[str, str] = {
    "KAIZENLAP_DATA": "the run's inputs (os.pathsep-separated paths or gs:// URLs); default data/sample",
    "KAIZENLAP_STORE": "the results store URL (sqlite:///PATH or firestore://PROJECT[/DATABASE])",
    "KAIZENLAP_REPORTS": "the reports folder `run` writes and `serve` reads (default reports)",
    "KAIZENLAP_LLM": "the coaching generator setting (README, 'Coaching with a language model')",
    "KAIZENLAP_LLM_API_KEY": "the bearer token sent to an OpenAI-compatible chat server",
    "KAIZENLAP_HOST": "the address `serve` listens on",
    "KAIZENLAP_WEB_DIR": "the web build `serve` serves (default serve/web)",
    "KAIZENLAP_LOG": "the log file (default .kaizenlap/logs/kaizenlap.log)",
    "KAIZENLAP_PARAMS": "the params/ folder (default: the repository's, or the installed wheel's copy)",
    "KAIZENLAP_CACHE": "the parse and coaching caches (default .kaizenlap/cache)",
    "KAIZENLAP_MODELS": "where the packaged GGUF model is assembled (default .kaizenlap/models)",
    "KAIZENLAP_FIRESTORE_EMULATOR": "the Firestore emulator binary (tests, bench)",
    "KAIZENLAP_TRD": "the real TRD files the tests, benches and scripts read (default ../shared/trd)",
    "KAIZENLAP_POINTER_TTL_S": "how long `serve` trusts the store's active-run pointer (s)",
    "KAIZENLAP_API_MAX_AGE_S": "Cache-Control max-age of API responses (s)",
    "PORT": "the port `serve` listens on (Cloud Run sets it)",
    "USE_LOCAL_FILES": "false: read the data from Cloud Storage and publish to Firestore",
    "GCS_BUCKET_NAME": "the bucket holding the TRD files",
    "GCS_PREFIX": "the folder in that bucket",
    "GOOGLE_CLOUD_PROJECT": "the Google Cloud project",
    "FIRESTORE_PROJECT_ID": "the Firestore project (default GOOGLE_CLOUD_PROJECT)",
    "FIRESTORE_DATABASE": "the Firestore database id (default (default))",
    "FIRESTORE_EMULATOR_HOST": "the Firestore emulator (anonymous credentials)",
    "STORAGE_EMULATOR_HOST": "the Cloud Storage emulator (anonymous credentials)",
    "K_SERVICE": "set by Cloud Run for a service",
    "CLOUD_RUN_JOB": "set by Cloud Run for a job",
}


def env(name: str) -> str | None:
    """The value of one declared variable, None when unset or empty."""
    if name not in VARIABLES:
        raise KeyError(f"{name} is not a declared setting (kaizenlap.core.environment.VARIABLES)")
    return os.environ.get(name) or None
