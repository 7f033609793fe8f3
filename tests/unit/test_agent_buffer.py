"""The agent's buffer: bounded, oldest dropped and counted, delivered when InfluxDB is back."""

from __future__ import annotations

import gzip

from scaler.agent_buffer import Backoff, PointBuffer, pack
from scaler.agent_http import InfluxRejected, InfluxUnavailable


def _tick(n: int, points: int = 3) -> list[str]:
    return [f"m,i={i} seq={n}i {n}" for i in range(points)]


class FakeInflux:
    def __init__(self) -> None:
        self.up = True
        self.status = 0  # non-zero: answer with this 4xx
        self.stored: list[str] = []

    def send(self, body: bytes) -> None:
        if not self.up:
            raise InfluxUnavailable("down")
        if self.status:
            raise InfluxRejected(self.status, "no")
        self.stored.extend(gzip.decompress(body).decode().splitlines())


def test_delivered_in_order_after_an_outage_none_invented() -> None:
    influx = FakeInflux()
    buf = PointBuffer(max_bytes=1 << 20)
    influx.up = False
    for n in range(5):
        buf.add(_tick(n))
        assert buf.flush(influx.send).error == "down"
    assert buf.points == 15 and len(buf) == 5
    influx.up = True
    buf.add(_tick(5))
    result = buf.flush(influx.send)
    assert result.sent == 18 and result.error == ""
    assert influx.stored == [line for n in range(6) for line in _tick(n)]
    assert buf.points == 0 and buf.size_bytes == 0 and buf.dropped == 0


def test_bounded_oldest_dropped_first_and_counted() -> None:
    one = len(pack(_tick(0)).body)
    buf = PointBuffer(max_bytes=one * 3 + one // 2)
    influx = FakeInflux()
    influx.up = False
    for n in range(10):
        buf.add(_tick(n))
        buf.flush(influx.send)
        assert buf.size_bytes <= buf.max_bytes
    assert buf.dropped == 7 * 3
    influx.up = True
    buf.flush(influx.send)
    assert influx.stored == [line for n in (7, 8, 9) for line in _tick(n)]


def test_malformed_points_dropped_and_counted_but_auth_failures_kept() -> None:
    influx = FakeInflux()
    buf = PointBuffer(max_bytes=1 << 20)
    buf.add(_tick(0))
    influx.status = 401
    assert "401" in buf.flush(influx.send).error
    assert buf.points == 3 and buf.rejected == 0
    influx.status = 400
    result = buf.flush(influx.send)
    assert result.rejected == 3 and buf.rejected == 3 and buf.points == 0
    influx.status = 0
    buf.add(_tick(1))
    assert buf.flush(influx.send).sent == 3


def test_backoff_doubles_to_its_cap_and_resets() -> None:
    now = [0.0]
    backoff = Backoff(5, 20, clock=lambda: now[0])
    assert backoff.ready()
    delays = []
    for _ in range(4):
        backoff.failed()
        start = now[0]
        while not backoff.ready():
            now[0] += 1
        delays.append(now[0] - start)
    assert delays == [5, 10, 20, 20]
    backoff.failed()
    backoff.succeeded()
    assert backoff.ready()
