"""KaizenLap's read-only HTTP API and static web build (``serve.app:app``)."""
