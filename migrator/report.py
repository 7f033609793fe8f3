"""What a migration found and did, as data (for --json and the job record) and as text."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

MIB = 1024 * 1024

# What a run ends as, and the exit code `bubble migrate` gives for it.
VERIFIED, WARNINGS, FAILED = "verified", "verified with warnings", "failed"
EXIT_CODES = {VERIFIED: 0, FAILED: 1, WARNINGS: 3}


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


@dataclass(frozen=True)
class ItemWarning:
    """One thing of a part that was not moved, and why: the part is still verified."""

    item: str  # a path, a folder name...
    why: str  # e.g. "refused by the source"


@dataclass
class PartReport:
    kind: str
    source: str
    target: str
    # pending | skipped (resumed) | verified | verified with warnings | failed
    state: str = "pending"
    copied: int = 0
    copied_bytes: int = 0
    skipped: int = 0
    failed: int = 0
    details: list[str] = field(default_factory=list)
    warnings: list[ItemWarning] = field(default_factory=list)
    error: str = ""
    seconds: float = 0.0  # wall time of the copy and verify

    @property
    def bytes_per_second(self) -> int:
        """Bytes read from the old host (copied or compared) per second of the part."""
        return int(self.copied_bytes / self.seconds) if self.seconds > 0 else 0

    def settle(self, verified: bool) -> None:
        """The part's state once copied: warnings turn "verified" into "verified with
        warnings"; they never hide a failure."""
        if not verified:
            self.state = FAILED
        else:
            self.state = WARNINGS if self.warnings else VERIFIED


def warn(part: PartReport, item: str, why: str) -> None:
    """The one way every part notes an item it did not move (the run ends with warnings)."""
    part.warnings.append(ItemWarning(item, why))


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
        done = (VERIFIED, WARNINGS, "skipped")
        return all(p.state in done for p in self.parts) or self.check_only

    @property
    def outcome(self) -> str:
        """verified | verified with warnings | failed."""
        if not self.ok:
            return FAILED
        return WARNINGS if any(p.warnings for p in self.parts) else VERIFIED

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.outcome]

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["ok"] = self.ok
        out["outcome"] = self.outcome
        for part, d in zip(self.parts, out["parts"], strict=True):
            d["seconds"] = round(part.seconds, 3)
            d["bytes_per_second"] = part.bytes_per_second
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
            out.extend(f"         warning: {w.item}: {w.why}" for w in p.warnings)
            if p.error:
                out.append(f"         error: {p.error}")
        return out  # self.error is the caller's to show (the CLI: one `error:` line on stderr)


def _size(n: int) -> str:
    if n >= MIB:
        return f"{n / MIB:.1f} MiB"
    return f"{n / 1024:.1f} KiB" if n >= 1024 else f"{n} B"
