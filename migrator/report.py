"""What a migration found and did, as data (for --json and the job record) and as text."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

MIB = 1024 * 1024


@dataclass
class PartCheck:
    """Pre-flight of one part: logins worked, and how much there is."""

    kind: str  # files | db | mail
    source: str
    target: str
    bytes: int = 0
    items: int = 0  # files, rows or messages
    detail: dict[str, int] = field(default_factory=dict)  # tables, folders, dirs...


@dataclass
class PreflightReport:
    parts: list[PartCheck] = field(default_factory=list)
    disk_limit_mib: int | None = None

    @property
    def total_bytes(self) -> int:
        return sum(p.bytes for p in self.parts)

    @property
    def fits(self) -> bool:
        return self.disk_limit_mib is None or self.total_bytes <= self.disk_limit_mib * MIB

    def refusal(self) -> str:
        need = -(-self.total_bytes // MIB)
        return (
            f"the old host holds {need} MiB, more than the account's disk limit of "
            f"{self.disk_limit_mib} MiB: nothing was copied"
        )


@dataclass
class PartReport:
    kind: str
    source: str
    target: str
    state: str = "pending"  # pending | skipped (resumed) | verified | failed
    copied: int = 0
    copied_bytes: int = 0
    skipped: int = 0
    failed: int = 0
    details: list[str] = field(default_factory=list)
    error: str = ""


@dataclass
class MigrationReport:
    account: str
    job_id: int | None = None
    preflight: PreflightReport | None = None
    parts: list[PartReport] = field(default_factory=list)
    error: str = ""
    check_only: bool = False
    warnings: list[str] = field(default_factory=list)  # plaintext or unchecked sources

    @property
    def ok(self) -> bool:
        if self.error:
            return False
        return all(p.state in ("verified", "skipped") for p in self.parts) or self.check_only

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["ok"] = self.ok
        if self.preflight:
            out["preflight"]["total_bytes"] = self.preflight.total_bytes
            out["preflight"]["fits"] = self.preflight.fits
        return out

    def lines(self) -> list[str]:
        out: list[str] = []
        if self.preflight:
            for c in self.preflight.parts:
                extra = ", ".join(f"{v} {k}" for k, v in c.detail.items())
                out.append(
                    f"check  {c.kind:5} {c.source}: {_size(c.bytes)}, {c.items} items"
                    + (f" ({extra})" if extra else "")
                )
            limit = self.preflight.disk_limit_mib
            out.append(
                f"total  {_size(self.preflight.total_bytes)}"
                + (f" of a {limit} MiB disk limit" if limit is not None else "")
            )
        for p in self.parts:
            line = (
                f"{p.state:8} {p.kind:5} {p.source} -> {p.target}: {p.copied} copied "
                f"({_size(p.copied_bytes)}), {p.skipped} unchanged"
            )
            if p.failed:
                line += f", {p.failed} failed"
            out.append(line)
            out.extend(f"         {d}" for d in p.details)
            if p.error:
                out.append(f"         error: {p.error}")
        return out  # self.error is the caller's to show (the CLI: one `error:` line on stderr)


def _size(n: int) -> str:
    if n >= MIB:
        return f"{n / MIB:.1f} MiB"
    return f"{n / 1024:.1f} KiB" if n >= 1024 else f"{n} B"
