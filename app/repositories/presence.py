"""Who is connected to a stream's object, across processes: Redis, with expiry.

Per watched stream, four keys under `tidings:{tenant}:presence:{stream}`:

- `:conns`, a sorted set of connections (`user \\x1f connection id`) scored by the time
  (ms) they expire unless their process refreshes them: a crashed process's connections
  lapse on their own;
- `:count`, a hash user -> live connections (joins and leaves are per user, not per tab);
- `:users`, a sorted set of present users scored by their arrival, for a stable list;
- `:info`, a hash user -> JSON (`user`, `current_page`, `session_start`, `last_seen`).

Each change is one Lua script, so two processes never see a half-made change.
"""

from __future__ import annotations

import uuid
from typing import Any

import orjson
from redis.asyncio import Redis

SEPARATOR = "\x1f"
# Keys of a stream nobody watches any more disappear after an hour.
IDLE_MS = 3_600_000
REFRESH_CHUNK = 500  # connections refreshed per pipeline

_PREAMBLE = """
local conns, counts, users, info = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local function keep()
  for i = 1, 4 do redis.call('PEXPIRE', KEYS[i], IDLE_MS) end
end
-- Drops connections whose expiry has passed; returns the info of users left with none.
local function sweep(now)
  local gone = redis.call('ZRANGEBYSCORE', conns, '-inf', now)
  local left = {}
  for _, member in ipairs(gone) do
    redis.call('ZREM', conns, member)
    local user = string.sub(member, 1, string.find(member, '\\31', 1, true) - 1)
    if redis.call('HINCRBY', counts, user, -1) <= 0 then
      redis.call('HDEL', counts, user)
      redis.call('ZREM', users, user)
      local about = redis.call('HGET', info, user)
      redis.call('HDEL', info, user)
      table.insert(left, about or cjson.encode({user = {id = user}}))
    end
  end
  return left
end
""".replace("IDLE_MS", str(IDLE_MS))

# ARGV: member, user, expires at, now, info JSON. Returns {1 if the user's first
# connection else 0, info JSON now stored, infos of swept users...}.
_JOIN = (
    _PREAMBLE
    + """
local left = sweep(ARGV[4])
redis.call('ZADD', conns, ARGV[3], ARGV[1])
local n = redis.call('HINCRBY', counts, ARGV[2], 1)
local stored = ARGV[5]
if n == 1 then
  redis.call('ZADD', users, ARGV[4], ARGV[2])
else
  local old = redis.call('HGET', info, ARGV[2])
  if old then
    local merged = cjson.decode(ARGV[5])
    merged['session_start'] = cjson.decode(old)['session_start']
    stored = cjson.encode(merged)
  end
end
redis.call('HSET', info, ARGV[2], stored)
keep()
local out = {n == 1 and 1 or 0, stored}
for _, about in ipairs(left) do table.insert(out, about) end
return out
"""
)

# ARGV: member, user. Returns the user's info JSON if that was their last connection
# (they left), '' if they are still here, nil if the connection had already lapsed.
_LEAVE = (
    _PREAMBLE
    + """
if redis.call('ZREM', conns, ARGV[1]) == 0 then return nil end
if redis.call('HINCRBY', counts, ARGV[2], -1) > 0 then return '' end
redis.call('HDEL', counts, ARGV[2])
redis.call('ZREM', users, ARGV[2])
local about = redis.call('HGET', info, ARGV[2])
redis.call('HDEL', info, ARGV[2])
return about or cjson.encode({user = {id = ARGV[2]}})
"""
)

# ARGV: user, changes JSON. Returns the merged info, or nil if the user is not present.
_TOUCH = (
    _PREAMBLE
    + """
local old = redis.call('HGET', info, ARGV[1])
if not old then return nil end
local merged = cjson.decode(old)
for k, v in pairs(cjson.decode(ARGV[2])) do merged[k] = v end
local stored = cjson.encode(merged)
redis.call('HSET', info, ARGV[1], stored)
return stored
"""
)

# ARGV: now, limit. Returns {count of present users, infos of swept users as one JSON
# array, infos of the first `limit` present users...}.
_LIST = (
    _PREAMBLE
    + """
local left = sweep(ARGV[1])
keep()
local first = redis.call('ZRANGE', users, 0, tonumber(ARGV[2]) - 1)
local out = {redis.call('ZCARD', users), cjson.encode(left)}
if #first > 0 then
  local abouts = redis.call('HMGET', info, unpack(first))
  for i, user in ipairs(first) do
    local about = cjson.decode(abouts[i] or cjson.encode({user = {id = user}}))
    about['connections'] = tonumber(redis.call('HGET', counts, user) or '0')
    table.insert(out, cjson.encode(about))
  end
end
return out
"""
)

# ARGV: now. Returns the infos of the users whose last connection lapsed.
_SWEEP = (
    _PREAMBLE
    + """
local left = sweep(ARGV[1])
keep()
return left
"""
)


def _keys(tenant_id: str, stream_id: uuid.UUID) -> list[str]:
    base = f"tidings:{tenant_id}:presence:{stream_id}"
    return [f"{base}:conns", f"{base}:count", f"{base}:users", f"{base}:info"]


def member(user_id: str, connection_id: str) -> str:
    return f"{user_id}{SEPARATOR}{connection_id}"


def _decode(value: Any) -> dict[str, Any]:
    decoded = orjson.loads(value)
    return decoded if isinstance(decoded, dict) else {}


class PresenceStore:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._join = redis.register_script(_JOIN)
        self._leave = redis.register_script(_LEAVE)
        self._touch = redis.register_script(_TOUCH)
        self._list = redis.register_script(_LIST)
        self._sweep = redis.register_script(_SWEEP)

    async def join(
        self,
        tenant_id: str,
        stream_id: uuid.UUID,
        user_id: str,
        connection_id: str,
        info: dict[str, Any],
        *,
        now_ms: int,
        expires_ms: int,
    ) -> tuple[bool, dict[str, Any], list[dict[str, Any]]]:
        """(whether this is the user's first connection, their info as stored, the users
        whose connections lapsed meanwhile)."""
        out = await self._join(
            keys=_keys(tenant_id, stream_id),
            args=[member(user_id, connection_id), user_id, expires_ms, now_ms, orjson.dumps(info)],
        )
        return bool(int(out[0])), _decode(out[1]), [_decode(v) for v in out[2:]]

    async def leave(
        self, tenant_id: str, stream_id: uuid.UUID, user_id: str, connection_id: str
    ) -> dict[str, Any] | None:
        """The user's info if that was their last connection (they left), else None."""
        out = await self._leave(
            keys=_keys(tenant_id, stream_id), args=[member(user_id, connection_id), user_id]
        )
        return _decode(out) if out else None

    async def touch(
        self, tenant_id: str, stream_id: uuid.UUID, user_id: str, changes: dict[str, Any]
    ) -> dict[str, Any] | None:
        out = await self._touch(
            keys=_keys(tenant_id, stream_id), args=[user_id, orjson.dumps(changes)]
        )
        return _decode(out) if out else None

    async def present(
        self, tenant_id: str, stream_id: uuid.UUID, *, now_ms: int, limit: int
    ) -> tuple[int, list[dict[str, Any]], list[dict[str, Any]]]:
        """(how many users are present, the first `limit` of them by arrival, the users
        whose connections lapsed and were swept just now)."""
        out = await self._list(keys=_keys(tenant_id, stream_id), args=[now_ms, limit])
        left = orjson.loads(out[1]) if out[1] not in (b"{}", "{}") else []
        return int(out[0]), [_decode(v) for v in out[2:]], [_decode(v) for v in left]

    async def sweep(
        self, tenant_id: str, stream_id: uuid.UUID, *, now_ms: int
    ) -> list[dict[str, Any]]:
        out = await self._sweep(keys=_keys(tenant_id, stream_id), args=[now_ms])
        return [_decode(v) for v in out]

    async def refresh(
        self, connections: list[tuple[str, uuid.UUID, str, str]], *, expires_ms: int
    ) -> None:
        """Pushes back the expiry of (tenant, stream, user, connection id) connections this
        process still holds (only those still listed: a lapsed one stays gone)."""
        for start in range(0, len(connections), REFRESH_CHUNK):
            # A pipeline per chunk: building thousands of commands at once would hold
            # the event loop (and every socket's frames) for a tenth of a second.
            async with self.redis.pipeline(transaction=False) as pipe:
                for tenant_id, stream_id, user_id, connection_id in connections[
                    start : start + REFRESH_CHUNK
                ]:
                    pipe.zadd(
                        _keys(tenant_id, stream_id)[0],
                        {member(user_id, connection_id): expires_ms},
                        xx=True,
                    )
                await pipe.execute()
