"""Points waiting for InfluxDB: a bounded queue that drops the oldest first and counts them.

Each tick's points are kept as one gzip chunk (InfluxDB accepts `Content-Encoding: gzip` on
/write): line protocol compresses about 8:1, so the same memory rides out an outage eight
times longer. The agent stamps every point with its own time, so a chunk sent twice (the
answer lost after InfluxDB stored it) overwrites the same points: a retry never invents data.
Stdlib only: copied to every server with the agent.
"""

from __future__ import annotations

import gzip
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from scaler.agent_http import InfluxRejected, InfluxUnavailable


@dataclass
class FlushResult:
    sent: int = 0  # points
    rejected: int = 0  # points
    error: str = ""


@dataclass(frozen=True)
class Chunk:
    body: bytes  # gzip of the lines, newline-terminated
    points: int


def pack(lines: Sequence[str]) -> Chunk:
    raw = ("\n".join(lines) + "\n").encode()
    return Chunk(gzip.compress(raw, compresslevel=1, mtime=0), len(lines))


class PointBuffer:
    def __init__(self, max_bytes: int) -> None:
        if max_bytes <= 0:
            raise ValueError("buffer: max_bytes must be positive")
        self.max_bytes = max_bytes
        self._chunks: deque[Chunk] = deque()
        self._bytes = 0
        self.points = 0  # waiting now
        self.dropped = 0  # since start: oldest points pushed out while InfluxDB was away
        self.rejected = 0  # since start: points InfluxDB refused as malformed (HTTP 400)

    def __len__(self) -> int:
        return len(self._chunks)

    @property
    def size_bytes(self) -> int:
        return self._bytes

    def add(self, lines: Sequence[str]) -> None:
        if not lines:
            return
        chunk = pack(lines)
        self._chunks.append(chunk)
        self._bytes += len(chunk.body)
        self.points += chunk.points
        while self._bytes > self.max_bytes and self._chunks:
            self.dropped += self._pop().points

    def _pop(self) -> Chunk:
        chunk = self._chunks.popleft()
        self._bytes -= len(chunk.body)
        self.points -= chunk.points
        return chunk

    def flush(self, send: Callable[[bytes], None]) -> FlushResult:
        """Send oldest first until empty or InfluxDB is away (then keep the rest for later)."""
        result = FlushResult()
        while self._chunks:
            chunk = self._chunks[0]
            try:
                send(chunk.body)
            except InfluxUnavailable as exc:
                result.error = str(exc)
                return result
            except InfluxRejected as exc:
                result.error = str(exc)
                if exc.status not in (400, 413):
                    # 401/403/404: wrong credentials or no database yet; an operator fixes
                    # that and the points must still be here then.
                    return result
                # Malformed points never become valid: drop them, count them, go on.
                result.rejected += chunk.points
                self.rejected += chunk.points
            else:
                result.sent += chunk.points
            self._pop()
        return result


class Backoff:
    """When to try InfluxDB again after a failure: doubling from `first` up to `cap` seconds."""

    def __init__(
        self, first: float, cap: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.first, self.cap, self.clock = first, cap, clock
        self._delay = 0.0
        self._next = 0.0

    def ready(self) -> bool:
        return self.clock() >= self._next

    def failed(self) -> None:
        self._delay = min(self.cap, self._delay * 2 if self._delay else self.first)
        self._next = self.clock() + self._delay

    def succeeded(self) -> None:
        self._delay = 0.0
        self._next = 0.0
