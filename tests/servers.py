"""Real uvicorn processes of the app, for the browser and multi-process tests: what they
do is committed for real, so each test works in a tenant of its own."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.settings import Settings
from tests.conftest import ROOT

STARTUP_SECONDS = 30


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def app_server(
    settings: Settings, log_dir: Path, env_overrides: dict[str, str] | None = None
) -> Iterator[str]:
    """The app under `uvicorn --factory app.main:create_app` on a free port, on the test
    database and Redis, with the tests' JWT secret (plus `env_overrides`); yields its
    base URL and stops it at the end."""
    assert settings.database_url
    assert settings.redis_url
    assert settings.jwt_secret
    port = _free_port()
    env = {
        **os.environ,
        "TIDINGS_ENVIRONMENT": "test",
        "TIDINGS_DATABASE_URL": settings.database_url,
        "TIDINGS_REDIS_URL": settings.redis_url,
        "TIDINGS_JWT_SECRET": settings.jwt_secret.get_secret_value(),
        "TIDINGS_DATA_DIR": str(settings.data_dir),
        "TIDINGS_LOG_LEVEL": "WARNING",
        "TIDINGS_LOG_JSON": "false",
        **(env_overrides or {}),
    }
    log_path = log_dir / f"uvicorn-{port}.log"
    with log_path.open("wb") as log_file:
        proc = subprocess.Popen(
            [
                *(sys.executable, "-m", "uvicorn", "--factory", "app.main:create_app"),
                *("--host", "127.0.0.1", "--port", str(port), "--lifespan", "on"),
                *("--ws-per-message-deflate", "false"),
                *("--no-access-log", "--log-level", "warning", "--timeout-graceful-shutdown", "5"),
            ],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(base_url, proc, log_path)
        yield base_url
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _wait_healthy(base_url: str, proc: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    with httpx.Client(base_url=base_url, timeout=2) as client:
        while proc.poll() is None and time.monotonic() < deadline:
            try:
                if client.get("/healthz").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
    if proc.poll() is None:
        problem = f"did not answer /healthz in {STARTUP_SECONDS} s"
    else:
        problem = f"exited with code {proc.returncode}"
    output = log_path.read_text(errors="replace")[-4000:]
    pytest.fail(f"the live server {problem}; its output:\n{output}", pytrace=False)
