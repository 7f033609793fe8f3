"""Client side of the receiver: one target process, shared by every download connection."""

from __future__ import annotations

import hashlib
import json
import struct
import threading
from concurrent.futures import Future
from dataclasses import dataclass
from importlib import resources
from typing import Any

from migrator.errors import MigratorError
from migrator.target import Target

# Reads the receiver's source from stdin, then the same stdin carries the frames. No '$' here:
# systemd-run would expand it.
_BOOT = (
    "import sys;b=sys.stdin.buffer;"
    "exec(compile(b.read(int(b.readline())),'bubble-receiver','exec'),{'__name__':'__main__'})"
)


class SinkError(MigratorError):
    """The receiver refused a request or went away."""


@dataclass(frozen=True)
class TargetListing:
    files: dict[str, tuple[int, int]]  # path relative to the web root -> (size, mtime)
    dirs: set[str]
    links: dict[str, str]  # path -> link target, as stored
    parts: dict[str, int]  # staged partial files -> bytes already there


def part_name(rel: str, size: int, mtime: int) -> str:
    """A partial file is only resumed for the very same source file (path, size, mtime)."""
    return hashlib.sha256(f"{rel}\0{size}\0{mtime}".encode()).hexdigest()[:32]


class Sink:
    def __init__(self, target: Target) -> None:
        self.target = target
        self._proc = target.spawn([target.python, "-c", _BOOT])
        assert self._proc.stdin and self._proc.stdout and self._proc.stderr
        self._stdin = self._proc.stdin
        self._lock = threading.Lock()
        self._pending: dict[int, Future[dict[str, Any]]] = {}
        self._next = 0
        self._stderr = b""
        self._dead: str | None = None
        code = resources.files("migrator").joinpath("receiver.py").read_bytes()
        self._stdin.write(b"%d\n" % len(code) + code)
        self._stdin.flush()
        self._reader = threading.Thread(target=self._read_replies, daemon=True)
        self._reader.start()
        self._errs = threading.Thread(target=self._read_stderr, daemon=True)
        self._errs.start()

    # -- plumbing
    def _read_stderr(self) -> None:
        assert self._proc.stderr
        for line in self._proc.stderr:
            self._stderr = (self._stderr + line)[-4000:]

    def _read_replies(self) -> None:
        out = self._proc.stdout
        assert out
        while True:
            head = out.read(4)
            if len(head) < 4:
                break
            (length,) = struct.unpack(">I", head)
            msg = json.loads(out.read(length))
            with self._lock:
                fut = self._pending.pop(msg.get("id"), None)
            if fut:
                fut.set_result(msg)
        self._proc.wait()
        self._errs.join(timeout=5)
        last = self._stderr.decode("utf-8", "replace").strip().splitlines()
        self._dead = last[-1] if last else f"receiver exited with code {self._proc.returncode}"
        with self._lock:
            pending, self._pending = self._pending, {}
        for fut in pending.values():
            fut.set_exception(SinkError(self._dead))

    def _send(
        self, header: dict[str, Any], payload: bytes = b"", want_reply: bool = False
    ) -> Future[dict[str, Any]] | None:
        fut: Future[dict[str, Any]] | None = None
        with self._lock:
            if self._dead:
                raise SinkError(self._dead)
            if want_reply:
                self._next += 1
                header["id"] = self._next
                fut = Future()
                self._pending[self._next] = fut
            if payload:
                header["n"] = len(payload)
            data = json.dumps(header).encode()
            try:
                self._stdin.write(struct.pack(">I", len(data)) + data + payload)
                if want_reply:
                    self._stdin.flush()
            except (BrokenPipeError, ValueError) as exc:
                raise SinkError(self._dead or f"receiver gone: {exc}") from None
        return fut

    def _call(self, header: dict[str, Any], timeout: float = 3600) -> dict[str, Any]:
        fut = self._send(header, want_reply=True)
        assert fut is not None
        msg = fut.result(timeout=timeout)
        if "error" in msg:
            raise SinkError(str(msg["error"]))
        return msg

    # -- the protocol
    def listing(self) -> TargetListing:
        msg = self._call({"op": "list", "root": self.target.web_root})
        return TargetListing(
            files={k: (int(v[0]), int(v[1])) for k, v in msg["files"].items()},
            dirs=set(msg["dirs"]),
            links={str(k): str(v) for k, v in msg["links"].items()},
            parts={k: int(v) for k, v in msg["parts"].items()},
        )

    def usage(self) -> int:
        return int(self._call({"op": "usage"})["used"])

    def mkdir(self, rel: str) -> None:
        self._call({"op": "mkdir", "path": f"{self.target.web_root}/{rel}"})

    def link(self, rel: str, target: str) -> None:
        """A relative link; the receiver refuses one that resolves outside the web root."""
        root = self.target.web_root
        self._call({"op": "link", "root": root, "dest": f"{root}/{rel}", "target": target})

    def open(self, handle: int, part: str, offset: int) -> None:
        self._send({"op": "open", "h": handle, "part": part, "offset": offset})

    def write(self, handle: int, data: bytes) -> None:
        self._send({"op": "write", "h": handle}, data)

    def abort(self, handle: int) -> None:
        self._send({"op": "abort", "h": handle}, want_reply=False)

    def finish(
        self, handle: int, part: str, rel: str, size: int, mtime: int
    ) -> Future[dict[str, Any]]:
        """Put the file in place. Not waited for (no round trip per file): check the reply
        with `settled` before relying on it."""
        dest = f"{self.target.web_root}/{rel}"
        header = {"op": "finish", "h": handle, "part": part, "dest": dest, "size": size}
        fut = self._send(dict(header, mtime=mtime), want_reply=True)
        assert fut is not None
        return fut

    @staticmethod
    def settled(fut: Future[dict[str, Any]], timeout: float = 3600) -> None:
        msg = fut.result(timeout=timeout)
        if "error" in msg:
            raise SinkError(str(msg["error"]))

    def sync(self) -> None:
        """Every finished file on disk: one sync for the run instead of one per file."""
        self._call({"op": "sync"})

    def cleanup(self) -> None:
        self._call({"op": "cleanup"})

    def close(self) -> None:
        try:
            self._send({"op": "bye"})
            self._stdin.close()
        except (SinkError, OSError):
            pass
        try:
            self._proc.wait(timeout=30)
        except Exception:
            self._proc.kill()
            self._proc.wait()
        self._reader.join(timeout=5)

    def __enter__(self) -> Sink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
