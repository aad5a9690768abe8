"""Start and stop the official Cloud Firestore emulator on a free loopback port (tests and bench).

>>> with FirestoreEmulator() as emu:                     # doctest: +SKIP
...     os.environ["FIRESTORE_EMULATOR_HOST"] = emu.host
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from kaizenlap.core.environment import env

DEFAULT_BINARY = "/usr/lib/google-cloud-sdk/platform/cloud-firestore-emulator/cloud_firestore_emulator"


def find_binary() -> str | None:
    for cand in (env("KAIZENLAP_FIRESTORE_EMULATOR"), DEFAULT_BINARY,
                 shutil.which("cloud_firestore_emulator")):
        if cand and Path(cand).exists():
            return cand
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class FirestoreEmulator:
    def __init__(self, binary: str | None = None, port: int | None = None, startup_timeout_s: float = 90.0):
        self.binary = binary or find_binary()
        if not self.binary:
            raise FileNotFoundError(f"Firestore emulator not found (looked for {DEFAULT_BINARY}; "
                                    "set KAIZENLAP_FIRESTORE_EMULATOR)")
        self.port = port or free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.timeout = startup_timeout_s
        self.proc: subprocess.Popen | None = None
        self.log = tempfile.NamedTemporaryFile(prefix="firestore-emulator-", suffix=".log", delete=False)

    def start(self) -> "FirestoreEmulator":
        env = dict(os.environ, JAVA_TOOL_OPTIONS=os.environ.get("JAVA_TOOL_OPTIONS", "-Xmx1g"))
        self.proc = subprocess.Popen([self.binary, "start", "--host=127.0.0.1", f"--port={self.port}"],
                                     stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     env=env, start_new_session=True)
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"Firestore emulator exited ({self.proc.returncode}): {self.read_log()[-2000:]}")
            try:
                with urllib.request.urlopen(f"http://{self.host}/", timeout=1) as r:
                    if r.status == 200:
                        return self
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.2)
        self.stop()
        raise TimeoutError(f"Firestore emulator did not answer on {self.host} within {self.timeout:.0f} s")

    def read_log(self) -> str:
        try:
            return Path(self.log.name).read_text(errors="replace")
        except OSError:
            return ""

    def wipe(self, project: str, database: str = "(default)") -> None:
        """Delete every document of ``project`` (the emulator's DELETE endpoint)."""
        req = urllib.request.Request(
            f"http://{self.host}/emulator/v1/projects/{project}/databases/{database}/documents", method="DELETE")
        with urllib.request.urlopen(req, timeout=30) as r:
            r.read()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)   # the script starts java in its own group
                self.proc.wait(timeout=15)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(timeout=5)
        self.proc = None
        try:
            os.unlink(self.log.name)
        except OSError:
            pass

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
