"""InfluxDB 1.x made ready for the toolkit from the settings: the database, its retention
policies and continuous queries, and the usage agents' own write-only user. The one way:
`bubble scaler influx-setup` (an operator's InfluxDB) and `bubble lab up` (the lab's) run it.
2.x and 3.x have neither retention policies nor continuous queries: their owner sets
retention and roll-ups (README, "InfluxDB settings and set-up")."""

from __future__ import annotations

from glue.errors import BubbleError
from glue.settings import Settings

NOT_1X = (
    "InfluxDB setup: auth token means InfluxDB 2.x/3.x, which has no retention policies or "
    "continuous queries to create; set its retention and roll-ups yourself "
    '(README, "InfluxDB settings and set-up")'
)


def setup(settings: Settings) -> list[str]:
    """What it changed ([] when all was in place: a second run changes nothing). Every
    refusal is one BubbleError line; the agents' password is read before anything changes."""
    from scaler.agent_http import InfluxUnavailable
    from scaler.influx import InfluxClient, InfluxQueryError

    if settings.influx_auth == "token":
        raise BubbleError(NOT_1X)
    agent = _agent_user(settings)
    try:
        client = InfluxClient.from_settings(settings)
        changed = client.ensure_retention()
        if agent is not None:
            changed += client.ensure_writer(*agent)
    except InfluxQueryError as exc:
        raise BubbleError(_auth_refused(settings) if exc.status == 401 else _line(exc)) from None
    except (InfluxUnavailable, ValueError) as exc:
        raise BubbleError(_line(exc)) from None
    return changed


def _agent_user(settings: Settings) -> tuple[str, str] | None:
    """The agents' own 1.x user and password when they have one (else they share the
    control plane's, and there is nothing to make)."""
    if settings.influx_auth != "basic" or not settings.influx_agent_username:
        return None
    if settings.influx_agent_username == settings.influx_username:
        # ensure_writer would set the agents' password on, and revoke grants from, this user.
        raise BubbleError(
            "InfluxDB setup: BUBBLE_INFLUX_AGENT_USERNAME is the control plane's own user: "
            "name a user of the agents' own, or unset it (they then share the control plane's)"
        )
    agent = settings.influx_agent_environment()
    return agent["BUBBLE_INFLUX_AGENT_USERNAME"], agent["BUBBLE_INFLUX_AGENT_PASSWORD"]


def _auth_refused(settings: Settings) -> str:
    where = f"InfluxDB setup: {settings.influx_url} refused"
    if settings.influx_auth == "none":
        return (
            f"{where} a request without credentials (HTTP 401): "
            "set BUBBLE_INFLUX_AUTH=basic, a user and its password"
        )
    return (
        f"{where} user {settings.influx_username}'s credentials (HTTP 401): check "
        "BUBBLE_INFLUX_USERNAME and BUBBLE_INFLUX_PASSWORD or BUBBLE_INFLUX_PASSWORD_FILE"
    )


def _line(exc: Exception) -> str:
    return "InfluxDB setup: " + " ".join(str(exc).split())
