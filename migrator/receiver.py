"""The receiving end on the account's server: stdlib only, sent over stdin to `python3 -c`.

One long-lived process per migration takes frames from every download connection, so many
FTP/SFTP streams funnel into one ssh session. Frames: 4-byte big-endian length, a JSON header,
then `n` payload bytes. Replies (only to requests carrying an "id") use the same framing.
Partial files live in a staging directory in the account's tmp/ (same filesystem as the web
root: the final rename is atomic) and are named by the source file's identity, so a re-run
resumes them.
"""

# os-level calls on purpose: this file runs alone on the server, with no imports of ours.
# ruff: noqa: PTH103, PTH105, PTH107, PTH110, PTH112, PTH114, PTH115, PTH118, PTH120, PTH123
# ruff: noqa: PTH202, PTH208, PTH211

import contextlib
import json
import os
import shutil
import stat
import struct
import sys
from typing import Any, BinaryIO

# In the account's own tmp/: the home itself is root's (the account cannot create entries
# there), and tmp/ sits on the same subvolume as the web root, so the final rename is atomic.
STAGING = "tmp/.bubble-migrate"


def _safe(rel: str) -> str:
    # Refuse anything that would leave the account's home: absolute paths and '..'.
    parts = [p for p in rel.split("/") if p not in ("", ".")]
    if not parts or ".." in parts or rel.startswith("/"):
        raise ValueError("unsafe path: " + rel)
    return os.path.join(*parts)


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def _no_linked_parents(dest: str) -> None:
    # Files are written through real directories only, never through a link.
    parent = os.path.dirname(dest) or "."
    if os.path.realpath(parent) != os.path.normpath(os.path.join(os.path.realpath("."), parent)):
        raise ValueError("a directory above it is a link: " + dest)


def _link(root: str, dest: str, target: str) -> None:
    """A link made without following anything, kept only if it resolves inside the root."""
    if not target or target.startswith("/"):
        raise ValueError("not a relative link target")
    if not _inside(os.path.normpath(os.path.join(os.path.dirname(dest), target)), root):
        raise ValueError("leads out of the web root")
    _no_linked_parents(dest)
    if os.path.lexists(dest):
        if not os.path.islink(dest):
            raise ValueError("something else is there already")
        if os.readlink(dest) == target:
            return
        os.remove(dest)  # removes the link itself, never what it points to
    os.symlink(target, dest)
    if not _inside(os.path.realpath(dest), os.path.realpath(root)):
        os.remove(dest)
        raise ValueError("resolves outside the web root (through a link on the server)")


def _listing(root: str) -> dict[str, Any]:
    files: dict[str, list[int]] = {}
    dirs: list[str] = []
    links: dict[str, str] = {}
    if os.path.isdir(root):
        for base, dnames, fnames in os.walk(root):  # does not follow links
            rel_base = os.path.relpath(base, root)
            for name in dnames + fnames:
                full = os.path.join(base, name)
                rel = name if rel_base == "." else rel_base + "/" + name
                st = os.lstat(full)
                if stat.S_ISLNK(st.st_mode):
                    links[rel] = os.readlink(full)
                elif name in dnames:
                    dirs.append(rel)
                else:
                    files[rel] = [st.st_size, int(st.st_mtime)]
    parts: dict[str, int] = {}
    pdir = os.path.join(STAGING, "parts")
    if os.path.isdir(pdir):
        for name in os.listdir(pdir):
            parts[name] = os.path.getsize(os.path.join(pdir, name))
    return {"files": files, "dirs": dirs, "links": links, "parts": parts}


def _usage() -> int:
    total = 0
    for base, _dnames, fnames in os.walk("."):
        for f in fnames:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(base, f)).st_blocks * 512
    return total


def main() -> None:
    inp = sys.stdin.buffer
    out = sys.stdout.buffer
    handles: dict[int, BinaryIO] = {}
    errors: dict[int, str] = {}

    def reply(msg: dict[str, Any]) -> None:
        data = json.dumps(msg).encode()
        out.write(struct.pack(">I", len(data)) + data)
        out.flush()

    while True:
        head = inp.read(4)
        if len(head) < 4:
            break
        (length,) = struct.unpack(">I", head)
        req = json.loads(inp.read(length))
        op = req["op"]
        payload = inp.read(req["n"]) if req.get("n") else b""
        try:
            if op == "write":
                h = req["h"]
                if h in handles and h not in errors:
                    try:
                        handles[h].write(payload)
                    except OSError as exc:
                        errors[h] = exc.strerror or str(exc)
                continue
            if op == "open":
                h = req["h"]
                os.makedirs(os.path.join(STAGING, "parts"), exist_ok=True)
                path = os.path.join(STAGING, "parts", _safe(req["part"]))
                f = open(path, "r+b" if req["offset"] and os.path.exists(path) else "wb")  # noqa: SIM115
                f.truncate(req["offset"])
                f.seek(req["offset"])
                handles[h] = f
                errors.pop(h, None)
                continue
            if op == "abort":
                if req["h"] in handles:
                    handles.pop(req["h"]).close()
                errors.pop(req["h"], None)
                continue
            if op == "bye":
                break
            if op == "finish":
                h = req["h"]
                f = handles.pop(h)
                err = errors.pop(h, None)
                try:
                    f.flush()  # on disk at the 'sync' that ends the copy, not one by one
                except OSError as exc:
                    err = err or exc.strerror or str(exc)
                f.close()
                if err:
                    reply({"id": req["id"], "error": err})
                    continue
                part = os.path.join(STAGING, "parts", _safe(req["part"]))
                size = os.path.getsize(part)
                if size != req["size"]:
                    reply({"id": req["id"], "error": f"size {size}, expected {req['size']}"})
                    continue
                dest = _safe(req["dest"])
                _no_linked_parents(dest)
                os.makedirs(os.path.dirname(dest) or ".", exist_ok=True)
                os.utime(part, (req["mtime"], req["mtime"]))
                os.replace(part, dest)
                reply({"id": req["id"], "ok": True})
            elif op == "list":
                reply(dict(_listing(_safe(req["root"])), id=req["id"]))
            elif op == "link":
                _link(_safe(req["root"]), _safe(req["dest"]), req["target"])
                reply({"id": req["id"], "ok": True})
            elif op == "sync":
                os.sync()
                reply({"id": req["id"], "ok": True})
            elif op == "mkdir":
                os.makedirs(_safe(req["path"]), exist_ok=True)
                reply({"id": req["id"], "ok": True})
            elif op == "usage":
                reply({"id": req["id"], "used": _usage()})
            elif op == "cleanup":
                shutil.rmtree(STAGING, ignore_errors=True)
                reply({"id": req["id"], "ok": True})
            else:
                reply({"id": req.get("id"), "error": "unknown op " + op})
        except (OSError, ValueError, KeyError) as exc:
            if "id" in req:
                reply({"id": req["id"], "error": getattr(exc, "strerror", None) or str(exc)})


if __name__ == "__main__":
    main()
