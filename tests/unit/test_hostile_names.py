"""Names chosen by a hostile customer: every pattern is a full match (a trailing newline or a
shell metacharacter never passes), and a mailbox address never reaches a server's shell."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from glue.catalog import CatalogError, load_catalog
from glue.errors import BubbleError
from glue.models import (
    ACCOUNT_NAME_RE,
    DOMAIN_RE,
    EMAIL_RE,
    IPV4_RE,
    MAILBOX_LOCAL_RE,
    PLAN_NAME_RE,
    SERVER_NAME_RE,
)
from glue.services.context import Context
from glue.services.credentials import set_mailbox

CliResult = tuple[int, str, str]

GOOD = [
    (ACCOUNT_NAME_RE, "alice"),
    (SERVER_NAME_RE, "web-1"),
    (PLAN_NAME_RE, "base"),
    (DOMAIN_RE, "bob.example"),
    (DOMAIN_RE, "xn--bcher-kva.example"),
    (EMAIL_RE, "owner@bob.example"),
    (IPV4_RE, "198.18.0.11"),
    (MAILBOX_LOCAL_RE, "info.sales+x"),
]


@pytest.mark.parametrize(("pattern", "good"), GOOD)
@pytest.mark.parametrize("tail", ["\n", "\n;id", " ", ";touch /root/pwn"])
def test_nothing_may_follow_a_valid_name(pattern: object, good: str, tail: str) -> None:
    import re

    assert isinstance(pattern, re.Pattern)
    assert pattern.fullmatch(good)
    assert not pattern.fullmatch(good + tail)


@pytest.mark.parametrize("local", ["", ".x", "x.", "a..b", "x;y", "$(id)", "a/b", "../x", "A b"])
def test_mailbox_local_parts_that_a_shell_or_a_path_would_read(local: str) -> None:
    assert not MAILBOX_LOCAL_RE.fullmatch(local)


def test_a_domain_with_a_trailing_newline_cannot_shadow_another_account(
    root: Path, bubble: Callable[..., CliResult], two_servers: None
) -> None:
    assert bubble("account", "create", "bob", "--domain", "bob.example")[0] == 0
    assert bubble("account", "create", "eve", "--domain", "eve.example")[0] == 0
    eve = root / "catalog" / "accounts" / "eve.yml"
    before = eve.read_text()
    eve.write_text(before.replace("- eve.example", '- "bob.example\\n"'))
    with pytest.raises(CatalogError) as caught:
        load_catalog(root)
    assert "eve.yml" in str(caught.value) and "domain" in str(caught.value)
    code, _, err = bubble("account", "create", "mal", "--domain", "bob.example\n")
    assert code != 0 and "domain" in err


@pytest.mark.parametrize(
    "address",
    [
        "x;touch /root/pwn;#@bob.example",
        "$(touch /root/pwn)@bob.example",
        "a b@bob.example",
        "../../srv@bob.example",
        "info@bob.example\n",
        "info@bob.example.attacker.example",
    ],
)
def test_a_hostile_mailbox_address_is_refused_before_any_server_is_asked(
    root: Path, bubble: Callable[..., CliResult], two_servers: None, address: str
) -> None:
    assert bubble("account", "create", "bob", "--domain", "bob.example")[0] == 0
    # The servers in this catalog were never built: a refusal must come before any ssh.
    with pytest.raises(BubbleError, match="mailbox"):
        set_mailbox(Context(root), "bob", address, "a-good-password")
