"""The live layer across real processes: two uvicorn servers on one Redis and database,
real sockets (the `websockets` client) and real TCP back-pressure."""

from __future__ import annotations

import asyncio
import contextlib
import socket as socket_module
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import orjson
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from app.schemas.live import server_frame
from app.settings import Settings
from tests.conftest import Tokens
from tests.servers import app_server

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def servers(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[str]]:
    """Two API processes; small send queues, so a reader that stops reading is found out
    after a few frames."""
    logs = tmp_path_factory.mktemp("servers")
    small = {"TIDINGS_WS_SEND_QUEUE": "16"}
    with app_server(settings, logs, small) as first, app_server(settings, logs, small) as second:
        yield [first, second]


def ws_url(base: str, path: str, token: str, query: str = "") -> str:
    return (
        base.replace("http://", "ws://") + f"{path}?token={token}" + (f"&{query}" if query else "")
    )


@contextlib.asynccontextmanager
async def socket(url: str, **kwargs: Any) -> AsyncIterator[ClientConnection]:
    async with connect(url, open_timeout=10, **kwargs) as ws:
        yield ws


async def expect(ws: ClientConnection, type_: str, wait: float = 5.0) -> dict[str, Any]:
    async with asyncio.timeout(wait):
        while True:
            frame: dict[str, Any] = orjson.loads(await ws.recv())
            server_frame.validate_python(frame)
            if frame.get("type") == type_:
                return frame


def token(tokens: Tokens, user: str) -> str:
    return tokens.headers(user)["Authorization"].removeprefix("Bearer ")


async def record(base: str, tokens: Tokens, object_id: str, **fields: Any) -> dict[str, Any]:
    body = {
        "object_type": "project",
        "object_id": object_id,
        "event_type": "note",
        "data": {"text": "hello"},
        **fields,
    }
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        response = await client.post("/api/events/", json=body, headers=tokens.headers("owner"))
    assert response.status_code in (200, 201), response.text
    return response.json()  # type: ignore[no-any-return]


async def test_an_event_posted_to_one_process_reaches_a_socket_on_the_other(
    servers: list[str], tokens: Tokens
) -> None:
    first, second = servers
    await record(second, tokens, "77", event_type="project_created", data={"name": "Dam"})
    async with (
        socket(ws_url(first, "/ws/projects/77/", token(tokens, "bob"))) as bob,
        socket(ws_url(second, "/ws/projects/77/", token(tokens, "carol"))) as carol,
    ):
        await expect(bob, "connection_established")
        await expect(carol, "connection_established")
        joined = await expect(bob, "user_joined")  # carol, on the other process
        assert joined["user"]["id"] == "carol"
        posted = await record(second, tokens, "77", data={"text": "from the other side"})
        got = await expect(bob, "comment_added")
        assert got["id"] == posted["id"]
        assert got["event"]["data"] == {"text": "from the other side"}
        lists = []
        for base in servers:
            async with httpx.AsyncClient(base_url=base) as client:
                listed = await client.get(
                    "/api/presence/",
                    params={"object_type": "project", "object_id": "77"},
                    headers=tokens.headers("dave"),
                )
            lists.append(sorted(e["user"]["id"] for e in listed.json()["results"]))
        assert lists == [["bob", "carol"], ["bob", "carol"]]
    # carol's process sees bob leave, although bob was connected to the other one
    async with socket(ws_url(second, "/ws/projects/77/", token(tokens, "erin"))) as erin:
        hello = await expect(erin, "connection_established")
        assert [p["user"]["id"] for p in hello["presence"]] == ["erin"]


async def test_a_notification_is_pushed_by_the_process_holding_the_socket(
    servers: list[str], tokens: Tokens
) -> None:
    first, second = servers
    created = await record(first, tokens, "78", event_type="project_created", data={"name": "N"})
    async with httpx.AsyncClient(base_url=second) as client:
        subscribed = await client.post(
            f"/api/streams/{created['stream']}/subscribe/", json={}, headers=tokens.headers("bob")
        )
        assert subscribed.status_code == 201
    async with socket(ws_url(first, "/ws/notifications/", token(tokens, "bob"))) as inbox:
        await expect(inbox, "unread_count")
        posted = await record(second, tokens, "78")
        new = await expect(inbox, "new_notification")
        assert new["notification"]["id"] == posted["id"]
        assert (await expect(inbox, "unread_count"))["count"] == 1


async def test_a_reader_that_stops_reading_is_closed_then_resumes_losslessly(
    servers: list[str], tokens: Tokens
) -> None:
    first, second = servers
    start = await record(second, tokens, "79", event_type="project_created", data={"name": "S"})
    # The client stops reading after the handshake, on a socket with a small receive
    # buffer: the kernel's buffers fill, then the server's send queue (16 frames), and the
    # server closes with 1013 rather than hold more. 400 frames of ~20 KB are far more
    # than the buffers between them hold.
    raw = socket_module.socket()
    raw.setsockopt(socket_module.SOL_SOCKET, socket_module.SO_RCVBUF, 4096)
    host, port = first.removeprefix("http://").split(":")
    raw.connect((host, int(port)))
    posted: list[str] = []
    async with socket(
        ws_url(first, "/ws/projects/79/", token(tokens, "slow")),
        sock=raw,
        max_queue=1,
        max_size=None,
    ) as slow:
        await expect(slow, "connection_established")
        bulk = "x" * 20_000
        for n in range(400):
            event = await record(second, tokens, "79", description=bulk, data={"text": str(n)})
            posted.append(event["id"])
        with contextlib.suppress(ConnectionClosed, TimeoutError):
            async with asyncio.timeout(20):
                while True:
                    await slow.recv()
        closed_code = slow.close_code
    assert closed_code == 1013, f"closed with {closed_code}"
    async with socket(
        ws_url(first, "/ws/projects/79/", token(tokens, "slow"), f"last_event_id={start['id']}"),
        max_size=None,
    ) as back:
        await expect(back, "connection_established")
        replayed: list[str] = []
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(20):
                while len(replayed) < len(posted):
                    frame = orjson.loads(await back.recv())
                    if "event" in frame:
                        replayed.append(frame["id"])
        assert replayed == posted
