"""What the state DB forgets of an account's panel login when the account is removed: a new
account given the same name later must not inherit its password, sessions or API tokens.
(The logins themselves are made and checked by glue.panel.auth.)"""

from __future__ import annotations

from sqlalchemy import Engine, delete, select

from glue.state.schema import panel_sessions, panel_tokens, panel_users


def forget_customer_login(engine: Engine, account: str) -> None:
    with engine.begin() as connection:
        names = select(panel_users.c.name).where(panel_users.c.account == account)
        connection.execute(delete(panel_sessions).where(panel_sessions.c.user.in_(names)))
        connection.execute(delete(panel_tokens).where(panel_tokens.c.user.in_(names)))
        connection.execute(delete(panel_users).where(panel_users.c.account == account))
