"""Configuration by environment (kaizenlap.core.settings): typed, derived values, flags over variables, and a
missing or contradictory setting stops ``run``/``serve`` at start with one line naming the variable."""
from __future__ import annotations

import pytest

from kaizenlap import cli
from kaizenlap.core.settings import Settings, SettingsError, load

CLOUD_ENV = {"GOOGLE_CLOUD_PROJECT": "kaizenlap-prod", "USE_LOCAL_FILES": "false",
             "GCS_BUCKET_NAME": "kaizenlap-trd", "GCS_PREFIX": "/seasons/2025/"}


def test_defaults_are_the_laptop():
    s = load({})
    assert (s.use_local_files, s.port, s.llm, s.firestore_database) == (True, 8000, "deterministic", "(default)")
    assert s.data() is None                                   # -> data/sample
    assert s.store_url(local_default=False) is None           # run publishes only when asked
    assert s.store_url().startswith("sqlite:///") and s.store_url().endswith(".kaizenlap/store.db")
    assert s.bind_host() == "127.0.0.1" and not s.on_cloud_run


def test_cloud_settings_derive_the_bucket_and_the_firestore_store():
    s = load(CLOUD_ENV)
    assert s.data() == ["gs://kaizenlap-trd/seasons/2025"]
    assert s.store_url() == "firestore://kaizenlap-prod"
    s = load({**CLOUD_ENV, "FIRESTORE_PROJECT_ID": "kaizenlap-data", "FIRESTORE_DATABASE": "kaizenlap"})
    assert s.store_url() == "firestore://kaizenlap-data/kaizenlap"          # may differ from the project
    s = load({**CLOUD_ENV, "K_SERVICE": "kaizenlap", "PORT": "8080"})
    assert (s.on_cloud_run, s.bind_host(), s.port) == (True, "0.0.0.0", 8080)
    assert s.bind_host("127.0.0.1") == "127.0.0.1"


def test_flags_override_the_environment():
    s = load({**CLOUD_ENV, "KAIZENLAP_STORE": "firestore://kaizenlap-prod/other"})
    assert s.data(["data/sample"]) == ["data/sample"]
    assert s.store_url("sqlite:///x.db") == "sqlite:///x.db"
    assert s.store_url() == "firestore://kaizenlap-prod/other"                # KAIZENLAP_STORE over derived
    s = load({"KAIZENLAP_DATA": "a:b", "KAIZENLAP_HOST": "127.0.0.2"})
    assert s.data() == ["a", "b"] and s.bind_host() == "127.0.0.2"
    s = load({"USE_LOCAL_FILES": "0", "KAIZENLAP_DATA": "gs://kaizenlap-trd/a:gs://kaizenlap-trd/b",
              "KAIZENLAP_STORE": "sqlite:///x.db"})
    assert s.data() == ["gs://kaizenlap-trd/a", "gs://kaizenlap-trd/b"]     # a gs:// colon is not a separator


def test_llm_setting():
    assert load({"KAIZENLAP_LLM": "none"}).llm_kind == "off"
    s = load({"KAIZENLAP_LLM": "http://127.0.0.1:8080/"})
    assert (s.llm_kind, s.llm) == ("server", "http://127.0.0.1:8080")
    # one parser: the settings object and the coaching synthesizer read the setting alike
    from kaizenlap.coaching import synth
    from kaizenlap.core import settings
    assert synth.llm_setting is settings.llm_setting        # the synthesizer parses with the settings' parser
    for value in ("ollama+http://127.0.0.1:11434?model=gemma3:4b", "vertex://my-project/us-central1/123",
                  "vllm+http://127.0.0.1:8000/v1?model=google/gemma-3-4b-it", "llama-cpp:gemma3-270m", "off"):
        assert load({"KAIZENLAP_LLM": value}).llm == settings.parse_setting(value)
    assert load({"KAIZENLAP_LLM": "llamacpp+http://127.0.0.1:8080"}).llm_kind == "server"
    assert load({"KAIZENLAP_LLM": "llama-cpp:gemma3-270m"}).llm_kind == "model"
    assert load({"KAIZENLAP_LLM": "deterministic"}).llm_kind == "off"
    for bad in ("ftp://x", "vertex://p/only-location", "llama-cpp:/no/such.gguf", "gopher+http://h:1"):
        with pytest.raises(SettingsError, match="KAIZENLAP_LLM"):
            load({"KAIZENLAP_LLM": bad})


@pytest.mark.parametrize("env, needle", [
    ({"PORT": "abc"}, "PORT='abc'"),
    ({"PORT": "70000"}, "PORT='70000'"),
    ({"GCS_PREFIX": "trd"}, "GCS_PREFIX is set but GCS_BUCKET_NAME is not"),
    ({"GCS_BUCKET_NAME": "gs://kaizenlap-trd"}, "GCS_BUCKET_NAME='gs://kaizenlap-trd' is not a bucket name"),
    ({"USE_LOCAL_FILES": "maybe"}, "USE_LOCAL_FILES='maybe'"),
    ({"KAIZENLAP_DATA": "gs://kaizenlap-trd/x"}, "USE_LOCAL_FILES is true"),
    ({"KAIZENLAP_STORE": "firestore://proj-a", "FIRESTORE_PROJECT_ID": "proj-b"}, "names project 'proj-a'"),
    ({"GOOGLE_CLOUD_PROJECT": "Not_A_Project"}, "GOOGLE_CLOUD_PROJECT='Not_A_Project'"),
    ({"FIRESTORE_DATABASE": "x"}, "FIRESTORE_DATABASE='x'"),
    ({"KAIZENLAP_LLM": "gpt-4"}, "KAIZENLAP_LLM='gpt-4'"),
    ({"KAIZENLAP_LLM": "/nowhere/model.gguf"}, "no such model file"),
])
def test_bad_settings_are_one_line_naming_the_variable(env, needle):
    with pytest.raises(SettingsError) as exc:
        load(env)
    msg = str(exc.value)
    assert needle in msg and "\n" not in msg and msg.startswith("configuration: ")


@pytest.mark.parametrize("argv, env, needle", [
    (["serve"], {"K_SERVICE": "kaizenlap"}, "on Cloud Run a store is required"),
    (["serve"], {"PORT": "eighty"}, "PORT='eighty'"),
    (["serve"], {"USE_LOCAL_FILES": "false"}, "needs FIRESTORE_PROJECT_ID"),
    (["run"], {"USE_LOCAL_FILES": "false", "GOOGLE_CLOUD_PROJECT": "kaizenlap-prod"}, "needs GCS_BUCKET_NAME"),
    (["run", "--data", "data/sample"], {"CLOUD_RUN_JOB": "kaizenlap-pipeline"}, "on Cloud Run a store is required"),
])
def test_commands_stop_at_start_with_one_line(argv, env, needle, monkeypatch, capsys):
    for field in Settings.model_fields.values():            # every variable the settings read
        for name in field.validation_alias.choices:
            monkeypatch.delenv(name, raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    assert cli.main(argv) == 2                  # before uvicorn binds a port or the pipeline ingests anything
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0] and err[0].startswith(f"run_pipeline.py {argv[0]}: configuration: ")


def test_a_params_edit_is_seen_without_a_restart(tmp_path, monkeypatch):
    """params.load keeps a parsed file only while the file is unchanged (a live kernel sees an edit)."""
    import shutil
    from pathlib import Path
    from kaizenlap.core import params
    shutil.copytree(Path(__file__).resolve().parents[1] / "params", tmp_path / "params")
    monkeypatch.setenv("KAIZENLAP_PARAMS", str(tmp_path / "params"))
    assert params.load("engines")["pattern"]["trend_fdr"] == 0.05
    path = tmp_path / "params" / "engines.yaml"
    path.write_text(path.read_text().replace("trend_fdr: 0.05", "trend_fdr: 0.2"))
    assert params.load("engines")["pattern"]["trend_fdr"] == 0.2
