"""The live layer in process: every route, message type and failure (docs/websocket.md)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from httpx_ws import WebSocketDisconnect

from app.schemas.live import PresenceList
from tests.ws.conftest import Live, LiveFactory, Socket


async def project(env: Live, object_id: str = "42", **data: Any) -> str:
    """Records an event for host object project/`object_id` (creating its stream)."""
    response = await env.http.post(
        "/api/events/",
        json={
            "object_type": "project",
            "object_id": object_id,
            "event_type": "project_created",
            "data": {"name": "Tower", **data},
        },
        headers=env.tokens.headers("owner"),
    )
    assert response.status_code in (200, 201), response.text
    return str(response.json()["stream"])


async def post(
    env: Live,
    object_type: str,
    object_id: str,
    event_type: str,
    data: dict[str, Any] | None = None,
    **fields: Any,
) -> dict[str, Any]:
    response = await env.http.post(
        "/api/events/",
        json={
            "object_type": object_type,
            "object_id": object_id,
            "event_type": event_type,
            "data": data or {},
            **fields,
        },
        headers=env.tokens.headers("owner"),
    )
    assert response.status_code in (200, 201), response.text
    return response.json()  # type: ignore[no-any-return]


async def closed_with(ws_context: Any) -> tuple[int, dict[str, Any] | None]:
    """(close code, the error frame before it) of a socket the server refuses."""
    async with ws_context as ws:
        socket = ws if isinstance(ws, Socket) else Socket(ws)
        frame = await socket.next()
        return await closed(socket), frame


async def closed(socket: Socket, wait: float = 5.0) -> int:
    """Reads until the server closes the socket; its close code."""
    try:
        while True:
            await socket.next(wait)
    except WebSocketDisconnect as exc:
        return exc.code


async def test_a_missing_or_bad_token_closes_4401(live: LiveFactory) -> None:
    async with live() as env:
        await project(env)
        missing = env.raw("/ws/projects/42/")
        code, frame = await closed_with(missing)
        assert code == 4401
        assert frame is not None
        assert (frame["type"], frame["code"]) == ("error", "unauthorized")
        garbage = env.raw("/ws/projects/42/?token=not-a-jwt")
        assert (await closed_with(garbage))[0] == 4401
        # an expired-looking or foreign-key token is refused the same way
        forged = env.raw("/ws/notifications/", subprotocols=["bearer.abc.def.ghi"])
        assert (await closed_with(forged))[0] == 4401


async def test_an_unknown_or_foreign_object_closes_4404(live: LiveFactory) -> None:
    async with live() as env:
        slug = await project(env)
        code, frame = await closed_with(env.connect("/ws/projects/999/"))
        assert code == 4404
        assert frame is not None
        assert frame["code"] == "not_found"
        # another tenant's stream: not found, never forbidden
        assert (await closed_with(env.connect(f"/ws/streams/{slug}/", tenant="elsewhere")))[
            0
        ] == 4404
        assert (await closed_with(env.connect("/ws/projects/42/", tenant="elsewhere")))[0] == 4404


async def test_established_then_join_and_leave_once_per_user(live: LiveFactory) -> None:
    async with live() as env:
        await project(env)
        async with env.connect("/ws/projects/42/", "bob", query="page=/board") as bob:
            hello = await bob.expect("connection_established")
            assert (hello["object"]["type"], hello["object"]["id"]) == ("project", "42")
            assert hello["user"]["id"] == "bob"
            assert [p["user"]["id"] for p in hello["presence"]] == ["bob"]
            assert hello["presence"][0]["current_page"] == "/board"
            assert hello["presence"][0]["is_active"] is True
            async with env.connect("/ws/projects/42/", "alice", first_name="Alice") as tab1:
                first = await tab1.expect("connection_established")
                assert {p["user"]["id"] for p in first["presence"]} == {"alice", "bob"}
                assert first["present_count"] == 2
                joined = await bob.expect("user_joined")
                assert joined["user"] == {"id": "alice", "name": "Alice", "email": None}
                async with env.connect("/ws/projects/42/", "alice") as tab2:
                    await tab2.expect("connection_established")
                    # a second tab of alice: bob hears nothing
                    assert not [f for f in await bob.quiet() if f["type"] == "user_joined"]
                # one tab closed, alice is still here
                assert not [f for f in await bob.quiet() if f["type"] == "user_left"]
            left = await bob.expect("user_left")
            assert left["user"]["id"] == "alice"


async def test_events_reach_watchers_as_seed_003_types(live: LiveFactory) -> None:
    async with live() as env:
        await project(env)
        async with env.connect("/ws/projects/42/") as watcher:
            await watcher.expect("connection_established")
            await post(env, "project", "42", "project_updated", {"changed_fields": ["scope"]})
            await post(env, "project", "42", "task_created", {"task_name": "Pour"})
            await post(env, "project", "42", "note", {"text": "Looks good"})
            await post(env, "project", "42", "custom")
            updated = await watcher.expect("project_updated")
            assert updated["event"]["event_type"] == "project_updated"
            assert updated["event"]["data"] == {"changed_fields": ["scope"]}
            assert updated["id"] == updated["event"]["id"]
            created = await watcher.expect("task_created")
            assert created["event"]["summary"] == "Task created: Pour"
            assert (await watcher.expect("comment_added"))["event"]["event_type"] == "note"
            assert (await watcher.expect("event"))["event"]["event_type"] == "custom"
            # another object's events do not come here
            await post(env, "project", "43", "project_created", {"name": "Other"})
            assert not [f for f in await watcher.quiet() if "event" in f]


async def test_a_batch_reaches_watchers_whole_and_in_order(live: LiveFactory) -> None:
    """A batch's events are published in one pipeline: every one arrives, in order."""
    async with live() as env:
        await project(env)
        async with env.connect("/ws/projects/42/") as watcher:
            await watcher.expect("connection_established")
            items = [
                {
                    "object_type": "project",
                    "object_id": object_id,
                    "event_type": "note",
                    "data": {"text": f"n{i}"},
                }
                for i, object_id in enumerate(["42", "43", "42", "42", "43", "42"])
            ]
            response = await env.http.post(
                "/api/events/batch/",
                json={"events": items},
                headers=env.tokens.headers("owner"),
            )
            assert response.status_code == 201, response.text
            texts = [
                (await watcher.expect("comment_added"))["event"]["data"]["text"] for _ in range(4)
            ]
            assert texts == ["n0", "n2", "n3", "n5"]  # project 43's are not for this socket
            assert not [f for f in await watcher.quiet() if "event" in f]


async def test_typing_goes_to_the_others_throttled_and_never_back(live: LiveFactory) -> None:
    async with live() as env:
        await post(env, "task", "7", "task_created", {"task_name": "Pour"})
        async with (
            env.connect("/ws/tasks/7/", "alice") as alice,
            env.connect("/ws/tasks/7/", "bob") as bob,
        ):
            await alice.expect("connection_established")
            await bob.expect("connection_established")
            for _ in range(5):
                await alice.send({"type": "typing", "is_typing": True})
            await alice.send({"type": "typing", "is_typing": False})
            got = [f for f in await bob.quiet(0.5) if f["type"] == "user_typing"]
            assert [f["is_typing"] for f in got] == [True, False]  # five starts relayed once
            assert got[0]["user"]["id"] == "alice"
            assert not [f for f in await alice.quiet() if f["type"] == "user_typing"]


async def test_typing_on_a_project_socket_is_refused_with_an_error(live: LiveFactory) -> None:
    async with live() as env:
        await project(env)
        async with env.connect("/ws/projects/42/") as socket:
            await socket.expect("connection_established")
            await socket.send({"type": "typing"})
            error = await socket.expect("error")
            assert error["code"] == "not_allowed"


async def test_a_comment_over_the_task_socket_is_stored_and_broadcast(live: LiveFactory) -> None:
    async with live() as env:
        await post(env, "task", "9", "task_created", {"task_name": "Frame"})
        async with (
            env.connect("/ws/tasks/9/", "alice") as alice,
            env.connect("/ws/tasks/9/", "bob") as bob,
        ):
            await alice.expect("connection_established")
            await bob.expect("connection_established")
            await alice.send({"type": "comment", "content": "Starting tomorrow"})
            seen_by_bob = await bob.expect("comment_added")
            seen_by_alice = await alice.expect("comment_added")
            assert seen_by_bob["id"] == seen_by_alice["id"]
            assert seen_by_bob["event"]["data"] == {"text": "Starting tomorrow"}
            assert seen_by_bob["event"]["actor"]["id"] == "alice"
            await alice.send({"type": "comment", "content": ""})
            assert (await alice.expect("error"))["code"] == "invalid_frame"
        timeline = await env.http.get(
            "/api/v1/activities/timeline/",
            params={"object_type": "task", "object_id": "9"},
            headers=env.tokens.headers("bob"),
        )
        assert timeline.json()["events"][0]["event_type"] == "comment"


async def test_notifications_socket_pushes_items_counts_and_reads(live: LiveFactory) -> None:
    async with live() as env:
        slug = await project(env)
        bob = env.tokens.headers("bob")
        assert (
            await env.http.post(f"/api/streams/{slug}/subscribe/", json={}, headers=bob)
        ).status_code
        async with (
            env.connect("/ws/notifications/", "bob") as inbox,
            env.connect("/ws/notifications/", "bob") as other_tab,
        ):
            hello = await inbox.expect("connection_established")
            assert hello["object"] is None
            assert (await inbox.expect("unread_count"))["count"] == 0
            await other_tab.expect("unread_count")
            posted = await post(env, "project", "42", "project_updated", {"changed_fields": ["x"]})
            new = await inbox.expect("new_notification")
            assert new["notification"]["id"] == posted["id"]
            assert new["notification"]["activity_type"] == "project_updated"
            assert new["notification"]["is_read"] is False
            assert (await inbox.expect("unread_count")) == {
                "type": "unread_count",
                "count": 1,
                "by_type": {"project_updated": 1},
            }
            await other_tab.expect("new_notification")
            await inbox.send({"type": "mark_read", "ids": [posted["id"]]})
            read = await inbox.expect("notification_read")
            assert (read["ids"], read["updated_count"]) == ([posted["id"]], 1)
            assert (await inbox.expect("unread_count"))["count"] == 0
            # the other tab hears of it too, and so does a read over REST
            assert (await other_tab.expect("notification_read"))["updated_count"] == 1
            await post(env, "project", "42", "project_updated", {"changed_fields": ["y"]})
            await inbox.expect("new_notification")
            marked = await env.http.post(
                "/api/events/activity-feed/mark-read/", json={"mark_all": True}, headers=bob
            )
            assert marked.json()["updated_count"] == 1
            everything = await inbox.expect("notification_read")
            assert everything["all"] is True
            # marking nothing still answers the socket that asked
            await inbox.send({"type": "mark_read", "all": True})
            assert (await inbox.expect("notification_read"))["updated_count"] == 0
            await inbox.send({"type": "mark_read"})
            assert (await inbox.expect("error"))["code"] == "invalid_frame"


async def test_bad_frames_get_errors_and_the_server_stays_up(live: LiveFactory) -> None:
    async with live() as env:
        await project(env)
        async with env.connect("/ws/projects/42/") as socket:
            await socket.expect("connection_established")
            await socket.send({"type": "ping", "ts": 12})
            assert (await socket.expect("pong"))["ts"] == 12
            await socket.ws.send_text("{not json")
            assert (await socket.expect("error"))["code"] == "malformed_json"
            await socket.send({"type": "dance"})
            assert (await socket.expect("error"))["code"] == "unknown_type"
            await socket.send({"no": "type"})
            assert (await socket.expect("error"))["code"] == "invalid_frame"
            await socket.ws.send_text("[1, 2]")
            assert (await socket.expect("error"))["code"] == "invalid_frame"
            await socket.send({"type": "presence", "current_page": "x" * 501})
            assert (await socket.expect("error"))["code"] == "invalid_frame"
            await socket.ws.send_bytes(b"\x00\x01")
            assert (await socket.expect("error"))["code"] == "invalid_frame"
            await socket.send({"type": "ping"})
            assert (await socket.expect("pong"))["type"] == "pong"  # still up
        async with env.connect("/ws/projects/42/") as big:
            await big.expect("connection_established")
            await big.ws.send_text('{"type": "ping", "ts": "' + "x" * 70_000 + '"}')
            assert (await big.expect("error"))["code"] == "message_too_large"
            assert await closed(big) == 1009
        async with env.connect("/ws/projects/42/") as after:
            assert (await after.expect("connection_established"))["type"]


async def test_a_client_over_its_rate_is_told_so(live: LiveFactory) -> None:
    async with live() as env:
        await project(env)
        async with env.connect("/ws/projects/42/") as socket:
            await socket.expect("connection_established")
            for _ in range(60):
                await socket.send({"type": "pong"})
            assert (await socket.expect("error"))["code"] == "rate_limited"


async def test_reconnecting_with_last_event_id_replays_exactly_the_missed(
    live: LiveFactory,
) -> None:
    async with live() as env:
        await project(env)
        async with env.connect("/ws/projects/42/") as socket:
            await socket.expect("connection_established")
            seen = await post(env, "project", "42", "project_updated", {"changed_fields": ["a"]})
            assert (await socket.expect("project_updated"))["id"] == seen["id"]
        missed = [await post(env, "project", "42", "note", {"text": f"n{n}"}) for n in range(3)]
        # a backdated one too: replay follows the order recorded, not the time it claims
        missed.append(
            await post(
                env,
                "project",
                "42",
                "note",
                {"text": "old"},
                occurred_at="2020-01-01T00:00:00Z",
            )
        )
        async with env.connect("/ws/projects/42/", query=f"last_event_id={seen['id']}") as back:
            await back.expect("connection_established")
            await post(env, "project", "42", "note", {"text": "live"})
            frames = [f for f in await back.quiet(0.6) if "event" in f]
            ids = [f["id"] for f in frames]
            assert ids[:4] == [m["id"] for m in missed]
            assert len(ids) == len(set(ids)) == 5  # then the live one, once
            assert frames[4]["event"]["data"] == {"text": "live"}
        async with env.connect("/ws/projects/42/", query="last_event_id=not-an-id") as lost:
            await lost.expect("connection_established")
            assert (await lost.expect("resync_required"))["reason"] == "unknown_event"


async def test_replay_beyond_its_bound_asks_for_a_resync(live: LiveFactory) -> None:
    async with live(ws_replay_limit=2) as env:
        first = await post(env, "project", "5", "project_created", {"name": "P"})
        for n in range(3):
            await post(env, "project", "5", "note", {"text": str(n)})
        path = f"/ws/projects/5/?token={env.token()}&last_event_id={first['id']}"
        async with env.raw(path) as ws:
            socket = Socket(ws)
            await socket.expect("connection_established")
            assert (await socket.expect("resync_required"))["reason"] == "too_many_missed"


async def test_notifications_resume_replays_missed_items(live: LiveFactory) -> None:
    async with live() as env:
        slug = await project(env)
        await env.http.post(
            f"/api/streams/{slug}/subscribe/", json={}, headers=env.tokens.headers("bob")
        )
        first = await post(env, "project", "42", "project_updated", {"changed_fields": ["a"]})
        later = [await post(env, "project", "42", "note", {"text": f"n{n}"}) for n in range(2)]
        async with env.connect(
            "/ws/notifications/", "bob", query=f"last_event_id={first['id']}"
        ) as inbox:
            await inbox.expect("connection_established")
            replayed = [
                (await inbox.expect("new_notification"))["notification"]["id"] for _ in later
            ]
            assert replayed == [e["id"] for e in later]
            counts = [f for f in await inbox.quiet() if f["type"] == "unread_count"]
            assert counts[-1]["count"] == 3


async def test_a_silent_client_is_closed_after_two_missed_pings(live: LiveFactory) -> None:
    async with live(ws_heartbeat_seconds=0.2) as env:
        await post(env, "project", "6", "project_created", {"name": "P"})
        started = time.monotonic()
        async with env.raw(f"/ws/projects/6/?token={env.token()}") as ws:
            socket = Socket(ws)
            await socket.expect("connection_established")
            assert (await socket.expect("ping"))["type"] == "ping"
            assert await closed(socket) == 4408
        assert time.monotonic() - started < 5


async def test_a_client_that_answers_pings_stays(live: LiveFactory) -> None:
    async with live(ws_heartbeat_seconds=0.15) as env:
        await post(env, "project", "6", "project_created", {"name": "P"})
        async with env.raw(f"/ws/projects/6/?token={env.token()}") as ws:
            socket = Socket(ws)
            await socket.expect("connection_established")
            for _ in range(5):
                await socket.expect("ping")
                await socket.send({"type": "pong"})
            await socket.send({"type": "ping"})
            assert (await socket.expect("pong"))["type"] == "pong"


async def test_presence_over_rest_and_a_crashed_process_is_swept(live: LiveFactory) -> None:
    async with live() as env:
        await project(env)
        async with env.connect("/ws/projects/42/", "bob", query="page=/gantt") as bob:
            await bob.expect("connection_established")
            listed = await env.http.get(
                "/api/presence/",
                params={"object_type": "project", "object_id": "42"},
                headers=env.tokens.headers("carol"),
            )
            assert listed.status_code == 200, listed.text
            body = PresenceList.model_validate(listed.json())
            assert body.present_count == 1
            assert body.results[0].user.id == "bob"
            assert body.results[0].current_page == "/gantt"
            assert body.results[0].is_active
            # A connection of a process that died: present, but never refreshed again.
            stream = await env.app.state.directory.by_object(env.tokens.tenant, "project", "42")
            store = env.app.state.presence.store
            now = int(time.time() * 1000)
            first, _, _ = await store.join(
                env.tokens.tenant,
                stream.stream_id,
                "ghost",
                "0" * 32,
                {"user": {"id": "ghost"}, "session_start": now, "last_seen": now},
                now_ms=now,
                expires_ms=now + 50,
            )
            assert first
            await asyncio.sleep(0.1)
            await env.app.state.hub.upkeep()
            assert (await bob.expect("user_left"))["user"]["id"] == "ghost"
            again = await env.http.get(
                "/api/presence/",
                params={"stream": stream.slug},
                headers=env.tokens.headers("carol"),
            )
            assert [r["user"]["id"] for r in again.json()["results"]] == ["bob"]
        assert (
            await env.http.get(
                "/api/presence/",
                params={"object_type": "project"},
                headers=env.tokens.headers("carol"),
            )
        ).status_code == 422
        assert (
            await env.http.get(
                "/api/presence/",
                params={"object_type": "project", "object_id": "nope"},
                headers=env.tokens.headers("carol"),
            )
        ).status_code == 404
        assert (
            await env.http.get(
                "/api/presence/",
                params={"object_type": "project", "object_id": "42"},
                headers=env.tokens.headers("carol", tenant="elsewhere"),
            )
        ).status_code == 404


async def test_the_asyncapi_document_describes_every_route_and_frame(live: LiveFactory) -> None:
    async with live() as env:
        doc = (await env.http.get("/asyncapi.json")).json()
        assert doc["asyncapi"] == "3.0.0"
        addresses = {c["address"] for c in doc["channels"].values()}
        assert addresses == {
            "/ws/projects/{project_id}/",
            "/ws/tasks/{task_id}/",
            "/ws/streams/{slug}/",
            "/ws/notifications/",
        }
        schemas = doc["components"]["schemas"]
        for message in doc["components"]["messages"].values():
            assert message["payload"]["$ref"].rsplit("/", 1)[1] in schemas
        types = {
            t
            for s in schemas.values()
            if "type" in s.get("properties", {})
            for t in [
                s["properties"]["type"].get("const"),
                *s["properties"]["type"].get("enum", []),
            ]
            if t
        }
        assert {"connection_established", "user_typing", "mark_read", "unread_count"} <= types
