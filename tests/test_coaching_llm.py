"""Coaching with real model plumbing on 127.0.0.1: a real llama_cpp.server serving the packaged Gemma 3 270M
GGUF, the in-process llama.cpp path, and the Vertex AI request shape against a local server of the test's
own (which also plays Google's token endpoint, so google-auth's own service-account flow runs).

The 270M model is a *base* model: these tests check the plumbing (schema-constrained JSON, validation,
timeouts, fallback with the reason recorded), not coaching quality. Small max_tokens keep them fast.
"""
import json
import os
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from kaizenlap.core import params
from kaizenlap.coaching import deterministic, engine, model
from kaizenlap.coaching.brief import Brief
from kaizenlap.coaching.model import Fact
from kaizenlap.coaching.synth import ChatAdapter, from_setting
from kaizenlap.coaching.validate import validate


def brief_one(with_target: bool = False) -> Brief:
    """One car-race's brief (numbers as the engines give them for a car with 22 clean laps)."""
    def F(fid, value, unit="s/lap", n=22, lo=None, hi=None, digits=3, section=None, kind="section_loss", text=""):
        return Fact(fact_id=fid, text=text or fid, value=value, unit=unit, n=n, lo=lo, hi=hi, digits=digits,
                    source="sections", kind=kind, section=section)
    facts = [F("sections.im2.section_loss", 0.3124, lo=0.2011, hi=0.4187, section="im2",
               text="IM2 (rank 1): 0.312 s/lap lost beyond the car's overall deficit (95% CI 0.201 to 0.419, n=22)"),
             F("sections.im2.pace_gap", 0.2507, lo=0.1, hi=0.38, section="im2", kind="section_detail",
               text="IM2 pace gap to the field's best: 0.251 s/lap (95% CI 0.100 to 0.380, n=22)"),
             F("sections.im2.consistency_cost", 0.0617, lo=0.01, hi=0.12, section="im2", kind="section_detail",
               text="IM2 consistency cost: 0.062 s/lap (95% CI 0.010 to 0.120, n=22)"),
             F("sections.im2.best_k", 24.5126, unit="s", lo=24.4, hi=24.6, section="im2", kind="section_detail",
               text="IM2 median of the car's 3 fastest times: 24.513 s (95% CI 24.400 to 24.600, n=22)"),
             F("pattern.residual_sd", 0.4518, unit="s", kind="consistency",
               text="lap-time robust SD 0.452 s over 22 clean laps")]
    if with_target:      # the objective's target against the field's median on the same lap (DATA_REFERENCE 11.6)
        facts += [F("target.im2.p25", 0.1234, unit="s", section="im2", kind="target",
                    text="IM2: 0.123 s slower than the field's median on the same lap on its better quarter of laps"),
                  F("target.im2.median", 0.2501, unit="s", section="im2", kind="target",
                    text="IM2: median 0.250 s slower than the field's median on the same lap")]
    for i, f in enumerate(facts, start=1):
        f.rank = i
    return Brief(race_id="barber-r1", track_id="barber", car="13", car_class="Am", n_clean=22, n_laps=27,
                 facts=facts, cars=["13", "7"], sections=["im1a", "im1", "im2a", "im2", "im3a", "fl"],
                 laps=list(range(1, 28)))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def synthesis_cfg(monkeypatch):
    """Small, fast settings for these tests (params are a cached dict: patch the entries)."""
    s = params.load("coaching")["synthesis"]
    for k, v in {"max_tokens": 220, "timeout_s": 120, "retries": 3, "backoff_initial_s": 0.05, "backoff_max_s": 0.2,
                 "repair_attempts": 1, "max_hypotheses": 1, "max_actions": 1, "max_headline_chars": 80,
                 "max_text_chars": 100}.items():
        monkeypatch.setitem(s, k, v)
    return s


# --------------------------------------------------------------------------- Vertex AI request shape

class VertexLike(BaseHTTPRequestHandler):
    """Google's token endpoint and a Vertex AI endpoint's OpenAI-compatible chat-completions route."""
    token = "ya29.test-token"
    route = "/v1beta1/projects/kl-test/locations/us-central1/endpoints/4242/chat/completions"
    seen: list = []
    fail_first: list = []

    def log_message(self, *a):
        pass

    def _json(self, code, obj):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    in_flight = 0
    max_in_flight = 0
    delay_s = 0.0
    lock = threading.Lock()

    def do_POST(self):
        with VertexLike.lock:
            VertexLike.in_flight += 1
            VertexLike.max_in_flight = max(VertexLike.max_in_flight, VertexLike.in_flight)
        try:
            time.sleep(VertexLike.delay_s)
            self._post()
        finally:
            with VertexLike.lock:
                VertexLike.in_flight -= 1

    def _post(self):
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path == "/token":
            assert b"grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer" in raw
            return self._json(200, {"access_token": self.token, "expires_in": 3600, "token_type": "Bearer"})
        body = json.loads(raw)
        VertexLike.seen.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
        if self.path != self.route:
            return self._json(404, {"error": {"code": 404, "message": f"no route {self.path}"}})
        if self.headers.get("Authorization") != f"Bearer {self.token}":
            return self._json(401, {"error": {"code": 401, "message": "UNAUTHENTICATED", "status": "UNAUTHENTICATED"}})
        if VertexLike.fail_first:
            VertexLike.fail_first.pop()
            return self._json(429, {"error": {"code": 429, "message": "Resource exhausted", "status":
                                              "RESOURCE_EXHAUSTED"}})
        answer = deterministic.synthesize(brief_one()).model_dump()
        return self._json(200, {
            "id": "chatcmpl-1", "object": "chat.completion", "created": int(time.time()),
            "model": body["model"], "system_fingerprint": "",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": json.dumps(answer)},
                         "finish_reason": "stop", "logprobs": None}],
            "usage": {"prompt_tokens": 812, "completion_tokens": 143, "total_tokens": 955}})


@pytest.fixture
def vertex_server(tmp_path):
    srv = ThreadingHTTPServer(("127.0.0.1", 0), VertexLike)
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    VertexLike.seen = []
    yield srv
    srv.shutdown()
    srv.server_close()


def service_account(tmp_path, token_uri) -> Path:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    info = {"type": "service_account", "project_id": "kl-test", "private_key_id": "k1", "private_key": pem,
            "client_email": "coach@kl-test.iam.gserviceaccount.com", "client_id": "1", "token_uri": token_uri}
    path = tmp_path / "sa.json"
    path.write_text(json.dumps(info))
    return path


def test_vertex_request_shape(vertex_server, tmp_path, monkeypatch, synthesis_cfg):
    port = vertex_server.server_address[1]
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(service_account(tmp_path, f"http://127.0.0.1:{port}/token")))
    setting = (f"vertex+http://127.0.0.1:{port}/v1beta1/projects/kl-test/locations/us-central1/endpoints/4242"
               "?model=google/gemma-3-4b-it")
    synth = from_setting(setting)
    assert isinstance(synth, ChatAdapter) and synth.flavour == "vertex"
    VertexLike.fail_first = [True]           # one 429 first: tenacity retries with backoff
    doc, calls = engine.coach_car(brief_one(), synth, cache=engine.AnswerCache(tmp_path / "cache"),
                                  budget=engine._Budget(60))
    assert len(VertexLike.seen) == 2
    req = VertexLike.seen[-1]
    assert req["path"] == VertexLike.route and req["auth"] == "Bearer ya29.test-token"
    body = req["body"]
    assert body["model"] == "google/gemma-3-4b-it" and body["max_tokens"] == 220 and body["stream"] is False
    assert [m["role"] for m in body["messages"]] == ["system", "user"]
    assert "[sections.im2.section_loss]" in body["messages"][1]["content"]
    rf = body["response_format"]
    assert rf["type"] == "json_schema" and rf["json_schema"]["schema"]["required"] == ["headline", "hypotheses",
                                                                                         "actions"]
    assert "sections.im2.best_k" in json.dumps(rf["json_schema"]["schema"])
    g = doc["generator"]
    assert g["kind"] == "openai_chat" and g["validation"] == "accepted" and g["prompt_version"] == "coaching_v1"
    assert (g["prompt_tokens"], g["completion_tokens"]) == (812, 143)
    assert calls[0]["http_attempts"] == 2
    model.CoachingDocument.model_validate(doc)
    # the same brief, model and prompt again: answered from the cache, not sent
    doc2, _ = engine.coach_car(brief_one(), synth, cache=engine.AnswerCache(tmp_path / "cache"),
                               budget=engine._Budget(60))
    assert len(VertexLike.seen) == 2 and doc2["generator"]["cached"] is True
    assert doc2["hypotheses"] == doc["hypotheses"]


def test_bounded_concurrency(vertex_server, tmp_path, monkeypatch, synthesis_cfg):
    port = vertex_server.server_address[1]
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(service_account(tmp_path, f"http://127.0.0.1:{port}/token")))
    monkeypatch.setitem(synthesis_cfg, "concurrency", 2)
    monkeypatch.setattr(VertexLike, "delay_s", 0.15)
    VertexLike.max_in_flight = 0
    synth = from_setting(f"vertex+http://127.0.0.1:{port}/v1beta1/projects/kl-test/locations/us-central1/endpoints/4242")
    briefs = []
    for _ in range(6):
        b = brief_one()
        b.facts[0].value += len(briefs) * 1e-9          # six distinct briefs (no cache hits between them)
        briefs.append(b)
    out = engine.coach_briefs(briefs, synth, cache=None)
    assert [d["generator"]["validation"] for d, _ in out] == ["accepted"] * 6
    assert VertexLike.max_in_flight == 2                 # never more than synthesis.concurrency at once


def test_endpoint_down_falls_back_with_reason(synthesis_cfg):
    synth = from_setting(f"http://127.0.0.1:{free_port()}/v1")
    doc, calls = engine.coach_car(brief_one(), synth, cache=None, budget=engine._Budget(60))
    g = doc["generator"]
    assert g["kind"] == "deterministic" and g["validation"] == "fallback"
    assert "connection error" in g["fallback_reason"] and "fallback" in g["label"]


def test_vertex_without_credentials_falls_back(tmp_path, monkeypatch, synthesis_cfg):
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "absent.json"))
    synth = from_setting(f"vertex+http://127.0.0.1:{free_port()}/v1beta1/projects/p/locations/l/endpoints/e")
    doc, _ = engine.coach_car(brief_one(), synth, cache=None, budget=engine._Budget(60))
    assert doc["generator"]["validation"] == "fallback"
    assert doc["generator"]["fallback_reason"].startswith("model call failed: credentials: DefaultCredentialsError")


def test_budget_spent_falls_back(synthesis_cfg):
    synth = from_setting(f"http://127.0.0.1:{free_port()}/v1")
    doc, calls = engine.coach_car(brief_one(), synth, cache=None, budget=engine._Budget(0))
    assert doc["generator"]["fallback_reason"] == "the run's model budget was spent" and not calls


def test_setting_grammar():
    assert from_setting("deterministic").kind == "deterministic"
    assert from_setting("").kind == "deterministic"
    v = from_setting("vertex://proj/europe-west4/123?model=gemma-3-12b-it")
    assert v.route == ("https://europe-west4-aiplatform.googleapis.com/v1beta1/projects/proj/locations/"
                       "europe-west4/endpoints/123/chat/completions") and v.model == "gemma-3-12b-it"
    o = from_setting("ollama+http://127.0.0.1:11434")
    assert o.route == "http://127.0.0.1:11434/v1/chat/completions" and o.model == "gemma3:4b"
    ll = from_setting("llamacpp+http://127.0.0.1:8080/v1")
    assert ll.response_format({"type": "object"}) == {"type": "json_object", "schema": {"type": "object"}}
    assert [m["role"] for m in ll.body([{"role": "system", "content": "S"}, {"role": "user", "content": "U"}],
                                       {}, 10)["messages"]] == ["user"]
    with pytest.raises(ValueError):
        from_setting("ftp://x")


# --------------------------------------------------------------------------- real llama.cpp

@pytest.fixture(scope="module")
def gguf():
    """The packaged Gemma 3 270M GGUF (assembled into the project's model cache once)."""
    try:
        import llama_cpp  # noqa: F401
    except ImportError:
        if os.environ.get("KAIZENLAP_REQUIRE_LLM"):
            raise
        pytest.skip("llama-cpp-python not installed: pip install -e '.[llm]' (make test does)")
    from kaizenlap.coaching.synth import packaged_gguf
    return packaged_gguf()


@pytest.fixture(scope="module")
def llama_server(gguf):
    port = free_port()
    log = open(Path(os.environ.get("TMPDIR", "/tmp")) / f"llama-server-{port}.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--host", "127.0.0.1",
                             "--port", str(port), "--chat_format", "gemma", "--n_ctx", "2048", "--n_threads", "1",
                             "--n_threads_batch", "1"],
                            stdout=log, stderr=subprocess.STDOUT)
    import httpx
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=2).status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.3)
        if proc.poll() is not None:
            pytest.fail(f"llama_cpp.server exited: {Path(log.name).read_text()[-2000:]}")
    else:
        proc.kill()
        pytest.fail("llama_cpp.server did not start in 120 s")
    yield f"llamacpp+http://127.0.0.1:{port}/v1?model=gemma3-270m"
    proc.terminate()
    proc.wait(timeout=20)
    log.close()


def test_llama_cpp_server_schema_constrained_json(llama_server, synthesis_cfg):
    synth = from_setting(llama_server)
    b = brief_one()
    schema = engine.schema_for(b)
    comp = synth.complete(engine.messages_for(b, engine.prompt()), schema, max_tokens=300, timeout_s=240)
    answer = json.loads(comp.text)               # constrained decoding: the text is JSON of the schema's shape
    assert set(answer) == {"headline", "hypotheses", "actions"} and isinstance(answer["headline"], str)
    assert len(answer["headline"]) <= 80 and len(answer["hypotheses"]) <= 1 and len(answer["actions"]) <= 1
    for h in answer["hypotheses"]:
        assert set(h) == {"text", "supported_by"} and set(h["supported_by"]) <= set(b.ids())
    for a in answer["actions"]:
        assert set(a) == {"section", "action", "measure", "evidence"} and set(a["evidence"]) <= set(b.ids())
        assert a["section"] in b.sections + [None] and set(a["measure"]) == {"metric", "target", "over_laps"}
    assert comp.prompt_tokens > 100 and 0 < comp.completion_tokens <= 300
    # The grounding validator judges it (a base model usually fails it). llama.cpp's grammar does not enforce
    # every keyword (e.g. an integer's minimum): the validator's schema check is what catches those.
    r = validate(comp.text, b)
    assert r.ok or r.errors


def test_llama_cpp_server_timeout_and_garbage_fall_back(llama_server, synthesis_cfg, monkeypatch):
    synth = from_setting(llama_server)
    monkeypatch.setitem(synthesis_cfg, "timeout_s", 0.05)
    monkeypatch.setitem(synthesis_cfg, "max_tokens", 8)      # the server finishes the abandoned request quickly
    doc, _ = engine.coach_car(brief_one(), synth, cache=None, budget=engine._Budget(60))
    g = doc["generator"]
    assert g["validation"] == "fallback" and g["fallback_reason"].startswith("model call failed: timeout")
    assert g["kind"] == "deterministic" and doc["headline"] == deterministic.synthesize(brief_one()).headline
    # garbage: an answer cut off after 4 tokens is no JSON; the repair is cut off too -> fallback, reason kept
    monkeypatch.setitem(synthesis_cfg, "timeout_s", 120)
    monkeypatch.setitem(synthesis_cfg, "max_tokens", 4)
    doc, calls = engine.coach_car(brief_one(), synth, cache=None, budget=engine._Budget(60))
    g = doc["generator"]
    assert g["validation"] == "fallback" and g["attempts"] == 2, g
    assert "rejected by the validator: invalid JSON" in g["fallback_reason"]
    assert len(calls) == 2 and all(c["completion_tokens"] <= 4 for c in calls)


def test_in_process_llama_on_one_car_race(gguf, synthesis_cfg, tmp_path):
    synth = from_setting("llama-cpp:gemma3-270m")
    assert synth.kind == "llama_cpp" and Path(synth.model_path) == gguf
    synthesis_cfg["max_tokens"] = 300                      # (the fixture restores the params afterwards)
    synthesis_cfg["timeout_s"] = 240
    synthesis_cfg["repair_attempts"] = 0
    doc, calls = engine.coach_car(brief_one(), synth, cache=engine.AnswerCache(tmp_path), budget=engine._Budget(300))
    model.CoachingDocument.model_validate(doc)
    g = doc["generator"]
    assert g["validation"] in ("accepted", "repaired", "fallback")
    assert calls and calls[0]["prompt_tokens"] > 100 and calls[0]["completion_tokens"] > 0
    if g["validation"] == "fallback":
        assert g["fallback_reason"] and g["errors"]
    else:
        assert g["kind"] == "llama_cpp"
