"""Mailboxes: every folder and message from the old IMAP server into the account's mailbox.

Reads with EXAMINE + BODY.PEEK[] so the old host's \\Seen flags never change. A message is
known by its Message-ID (a hash of Date/From/Subject when it has none) plus RFC822.SIZE;
duplicates count: two identical source messages give two target messages. A re-run appends
only what is missing and brings flags (keywords included) in line with the source. A folder
the target refuses (its name, or a NO while copying it) is reported and skipped; every other
folder is still copied. A broken connection fails the whole part.
"""

from __future__ import annotations

import contextlib
import hashlib
import ssl
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email.parser import BytesHeaderParser
from typing import Any

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientAbortError, IMAPClientError, LoginError

from migrator.errors import MigrationError
from migrator.network import OPEN, Network
from migrator.sources import MailSource, TlsOptions
from migrator.tlsutil import context

TIMEOUT = 60
HEADER = b"BODY.PEEK[HEADER.FIELDS (MESSAGE-ID DATE FROM SUBJECT)]"
HEADER_KEY = b"BODY[HEADER.FIELDS (MESSAGE-ID DATE FROM SUBJECT)]"
BATCH_BYTES = 16 * 1024 * 1024
BATCH_COUNT = 200
NOT_COPYABLE = {b"\\recent"}  # servers set it themselves; APPEND refuses it

# RFC 6154 special-use attributes and the names old hosts use without announcing them.
SPECIAL_USE = ("\\Sent", "\\Drafts", "\\Trash", "\\Junk", "\\Archive")
WELL_KNOWN = {
    "\\Sent": ("sent", "sent items", "sent messages", "sent mail", "gesendet", "envoyés"),
    "\\Drafts": ("drafts", "draft", "entwürfe", "brouillons"),
    "\\Trash": ("trash", "deleted items", "deleted messages", "papierkorb", "corbeille"),
    "\\Junk": ("junk", "spam", "junk e-mail", "junk mail"),
    "\\Archive": ("archive", "archives", "archiv"),
}
DEFAULT_NAMES = {"\\Sent": "Sent", "\\Drafts": "Drafts", "\\Trash": "Trash", "\\Junk": "Junk",
                 "\\Archive": "Archive"}  # fmt: skip


@dataclass(frozen=True)
class MailTarget:
    """The account's mailbox over IMAP (its server's Dovecot)."""

    host: str
    port: int
    user: str
    ssl: bool = True
    tls: TlsOptions = field(default_factory=TlsOptions)
    starttls: bool = False

    @property
    def label(self) -> str:
        return f"imap{'s' if self.ssl else ''}://{self.user}@{self.host}:{self.port}"


@dataclass(frozen=True)
class Folder:
    name: str
    delimiter: str
    flags: frozenset[str]

    @property
    def selectable(self) -> bool:
        return not ({"\\noselect", "\\nonexistent"} & {f.lower() for f in self.flags})


@dataclass
class FolderCount:
    source: int = 0
    target: int = 0
    source_bytes: int = 0


@dataclass
class MailResult:
    source: str
    mailbox: str
    folders: dict[str, FolderCount] = field(default_factory=dict)  # keyed by target name
    copied: int = 0
    copied_bytes: int = 0
    skipped: int = 0
    flags_synced: int = 0
    verified: bool = False
    mismatches: list[str] = field(default_factory=list)
    # Source folder name -> why it was not copied; every other folder still is.
    skipped_folders: dict[str, str] = field(default_factory=dict)


@dataclass
class MailInfo:
    folders: dict[str, tuple[int, int]] = field(default_factory=dict)  # source name: n, bytes

    @property
    def messages(self) -> int:
        return sum(n for n, _ in self.folders.values())

    @property
    def bytes(self) -> int:
        return sum(b for _, b in self.folders.values())


def connect(
    label: str, host: str, port: int, use_ssl: bool, tls: TlsOptions, starttls: bool, user: str,
    password: str, network: Network = OPEN,
) -> IMAPClient:  # fmt: skip
    try:
        ctx = context(tls, host)  # the name for TLS; the checked address dialled
        client = IMAPClient(network.pin(host, port), port=port, ssl=use_ssl, ssl_context=ctx,
                            timeout=TIMEOUT)  # fmt: skip
        network.peer(host, client.socket())
        client.normalise_times = False  # keep INTERNALDATE's own offset
        if starttls and not use_ssl:
            client.starttls(ctx)
    except (OSError, ssl.SSLError, IMAPClientError) as exc:
        raise MigrationError(label, "connect", str(exc) or type(exc).__name__) from None
    try:
        client.login(user, password)
    except LoginError as exc:
        raise MigrationError(label, "login", _text(exc)) from None
    except (OSError, IMAPClientError) as exc:
        raise MigrationError(label, "login", _text(exc)) from None
    return client


def _text(exc: BaseException) -> str:
    text = str(exc)
    if text.startswith("b'") or text.startswith('b"'):
        text = text[2:-1]
    return text or type(exc).__name__


def _folders(client: IMAPClient) -> list[Folder]:
    out = []
    for flags, delim, name in client.list_folders():
        d = delim.decode() if isinstance(delim, bytes) else (delim or "/")
        out.append(Folder(name, d, frozenset(f.decode() for f in flags)))
    return out


def _prefix(client: IMAPClient) -> str:
    if not client.has_capability("NAMESPACE"):
        return ""
    personal = client.namespace().personal
    return str(personal[0][0]) if personal else ""


def special_use_of(folder: Folder, prefix: str) -> str | None:
    for flag in folder.flags:
        for use in SPECIAL_USE:
            if flag.lower() == use.lower():
                return use
    short = folder.name[len(prefix) :] if prefix and folder.name.startswith(prefix) else folder.name
    if folder.delimiter in short:
        return None  # only top-level folders are matched by name
    for use, names in WELL_KNOWN.items():
        if short.lower() in names:
            return use
    return None


def map_folder(
    folder: Folder, src_prefix: str, tgt_delim: str, tgt_prefix: str, tgt_special: dict[str, str]
) -> str:
    """The target folder for a source folder: INBOX stays, special-use folders meet their
    counterparts, prefixes are swapped and hierarchy separators translated."""
    if folder.name.upper() == "INBOX":
        return "INBOX"
    use = special_use_of(folder, src_prefix)
    if use:
        return tgt_special.get(use) or tgt_prefix + DEFAULT_NAMES[use]
    name = folder.name
    if src_prefix and name.startswith(src_prefix):
        name = name[len(src_prefix) :]
    parts = [p.replace(tgt_delim, "_") for p in name.split(folder.delimiter)] if folder.delimiter \
        else [name.replace(tgt_delim, "_")]  # fmt: skip
    return tgt_prefix + tgt_delim.join(parts)


def message_key(header: bytes, size: int) -> str:
    h = BytesHeaderParser().parsebytes(header)
    msgid = " ".join(str(h.get("Message-ID", "")).split())
    if msgid:
        return f"{msgid}|{size}"
    # No Message-ID (drafts, some list mail): what identifies a message to a reader.
    raw = "\0".join(" ".join(str(h.get(k, "")).split()) for k in ("Date", "From", "Subject"))
    return f"hash:{hashlib.sha256(raw.encode()).hexdigest()[:32]}|{size}"


@dataclass
class _Msg:
    uid: int
    key: str
    size: int
    flags: frozenset[bytes]
    date: datetime | None


def _scan(client: IMAPClient, uids: Sequence[int]) -> list[_Msg]:
    out: list[_Msg] = []
    for i in range(0, len(uids), 500):
        chunk = uids[i : i + 500]
        data = client.fetch(chunk, [b"RFC822.SIZE", b"FLAGS", b"INTERNALDATE", HEADER])
        for uid in chunk:
            d = data.get(uid)
            if d is None:
                continue  # expunged meanwhile
            size = int(d[b"RFC822.SIZE"])
            flags = frozenset(f for f in d[b"FLAGS"] if f.lower() not in NOT_COPYABLE)
            out.append(_Msg(uid, message_key(d.get(HEADER_KEY, b""), size), size, flags,
                            d.get(b"INTERNALDATE")))  # fmt: skip
    return out


def _listing(client: IMAPClient) -> list[_Msg]:
    return _scan(client, sorted(client.search("ALL")))


class MailCopier:
    def __init__(self, src: MailSource, password: str, dst: MailTarget, dst_password: str,
                 network: Network = OPEN) -> None:  # fmt: skip
        self.src, self.network = src, network
        self.dst = dst
        self._pw = password
        self._dst_pw = dst_password

    def _source(self) -> IMAPClient:
        s = self.src
        return connect(
            s.label,
            s.host,
            s.port,
            s.scheme == "imaps",
            s.tls,
            s.starttls,
            s.user,
            self._pw,
            self.network,
        )

    def _target(self) -> IMAPClient:
        t = self.dst
        return connect(
            f"mailbox {t.user}", t.host, t.port, t.ssl, t.tls, t.starttls, t.user, self._dst_pw
        )

    def inspect(self) -> MailInfo:
        """Pre-flight: both logins, folders, message counts and bytes."""
        info = MailInfo()
        src = self._source()
        try:
            for folder in _folders(src):
                if not folder.selectable:
                    continue
                src.select_folder(folder.name, readonly=True)
                uids = src.search("ALL")
                sizes = src.fetch(uids, [b"RFC822.SIZE"]) if uids else {}
                total = sum(int(v[b"RFC822.SIZE"]) for v in sizes.values())
                info.folders[folder.name] = (len(uids), total)
        except IMAPClientError as exc:
            raise MigrationError(self.src.label, "list folders", _text(exc)) from None
        finally:
            _logout(src)
        _logout(self._target())
        return info

    def copy(self, progress: Callable[[int], None] | None = None) -> MailResult:
        result = MailResult(self.src.label, self.dst.user)
        src, dst = self._source(), self._target()
        try:
            plan = self._plan(src, dst, result)
            for folder, target_name in plan:
                try:
                    self._copy_folder(src, dst, folder, target_name, result, progress)
                except IMAPClientAbortError:
                    raise  # the connection broke: the whole part fails
                except IMAPClientError as exc:  # this folder only (the server said NO)
                    result.folders.pop(target_name, None)
                    result.skipped_folders[folder.name] = f"not copied: {_text(exc)}"
        except IMAPClientError as exc:
            raise MigrationError(self.src.label, "copy", _text(exc)) from None
        finally:
            _logout(src)
            _logout(dst)
        result.verified = not result.mismatches
        return result

    def _plan(
        self, src: IMAPClient, dst: IMAPClient, result: MailResult
    ) -> list[tuple[Folder, str]]:
        src_prefix = _prefix(src)
        dst_folders = _folders(dst)
        dst_delim = dst_folders[0].delimiter if dst_folders else "/"
        dst_prefix = _prefix(dst)
        special: dict[str, str] = {}
        for f in dst_folders:
            use = special_use_of(f, dst_prefix) if f.name.upper() != "INBOX" else None
            if use and (use not in special or any(x.lower() == use.lower() for x in f.flags)):
                special[use] = f.name
        existing = {f.name for f in dst_folders}
        plan: list[tuple[Folder, str]] = []
        for folder in _folders(src):
            name = map_folder(folder, src_prefix, dst_delim, dst_prefix, special)
            why = self._create(dst, name, dst_delim, existing)
            if why:
                # Reported and skipped: one folder the target refuses stops no other.
                result.skipped_folders[folder.name] = why
            elif folder.selectable:
                plan.append((folder, name))
        return plan

    def _create(self, dst: IMAPClient, name: str, delim: str, existing: set[str]) -> str:
        """Creates the folder and its parents (servers without auto-create of the hierarchy);
        the target's refusal, or "" when it exists."""
        parts = name.split(delim)
        for i in range(1, len(parts) + 1):
            sub = delim.join(parts[:i])
            if sub in existing:
                continue
            try:
                dst.create_folder(sub)
            except IMAPClientAbortError:
                raise  # the connection broke: not this folder's fault
            except IMAPClientError as exc:
                if "ALREADYEXISTS" not in _text(exc).upper():
                    return f"the mailbox refuses to create {sub}: {_text(exc)}"
            existing.add(sub)
            # A subscription is a convenience, not data.
            with contextlib.suppress(IMAPClientError):
                dst.subscribe_folder(sub)
        return ""

    def _copy_folder(
        self,
        src: IMAPClient,
        dst: IMAPClient,
        folder: Folder,
        target_name: str,
        result: MailResult,
        progress: Callable[[int], None] | None,
    ) -> None:
        src.select_folder(folder.name, readonly=True)  # EXAMINE: nothing changes on the old host
        source = _listing(src)
        dst.select_folder(target_name)
        target = _listing(dst)
        count = result.folders.setdefault(target_name, FolderCount())
        count.source += len(source)
        count.source_bytes += sum(m.size for m in source)
        have: dict[str, list[_Msg]] = defaultdict(list)
        for m in target:
            have[m.key].append(m)
        missing: list[_Msg] = []
        for m in source:
            twins = have.get(m.key)
            if twins:
                twin = twins.pop(0)
                result.skipped += 1
                if twin.flags != m.flags:
                    dst.set_flags([twin.uid], list(m.flags), silent=True)
                    result.flags_synced += 1
                if progress:
                    progress(m.size)
            else:
                missing.append(m)
        for batch in _batches(missing):
            bodies = src.fetch([m.uid for m in batch], [b"BODY.PEEK[]"])
            for m in batch:
                body = bodies.get(m.uid, {}).get(b"BODY[]")
                if body is None:
                    continue  # expunged on the old host since the listing
                self._append(dst, target_name, m, body)
                result.copied += 1
                result.copied_bytes += m.size
                if progress:
                    progress(m.size)
        # Verify: every source message (by key, counting duplicates) is there.
        dst.select_folder(target_name)
        after = Counter(m.key for m in _listing(dst))
        count.target = sum(after.values())
        want = Counter(m.key for m in source)
        short = sum((want - after).values())
        if short:
            result.mismatches.append(f"{target_name}: {short} message(s) missing")

    def _append(self, dst: IMAPClient, folder: str, m: _Msg, body: bytes) -> None:
        try:
            dst.append(folder, body, flags=list(m.flags), msg_time=m.date)
        except IMAPClientError as exc:
            text = _text(exc)
            if "OVERQUOTA" in text.upper() or "quota" in text.lower():
                raise MigrationError(
                    f"mailbox {self.dst.user}", f"append to {folder}",
                    f"the account's mailbox is over quota ({text})",
                ) from None  # fmt: skip
            raise MigrationError(f"mailbox {self.dst.user}", f"append to {folder}", text) from None
        except (TimeoutError, OSError) as exc:
            raise MigrationError(
                f"mailbox {self.dst.user}", f"append to {folder}", str(exc)
            ) from None


def _batches(msgs: Iterable[_Msg]) -> Iterable[list[_Msg]]:
    batch: list[_Msg] = []
    size = 0
    for m in msgs:
        if batch and (size + m.size > BATCH_BYTES or len(batch) >= BATCH_COUNT):
            yield batch
            batch, size = [], 0
        batch.append(m)
        size += m.size
    if batch:
        yield batch


def _logout(client: Any) -> None:
    with contextlib.suppress(IMAPClientError, OSError):
        client.logout()
