"""Account changes carried to the account's server right away (the `--no-apply` path only
edits the catalog; `bubble apply` catches up later): thin callers of the converge service.

The catalog is written first, so a failure on the way leaves the change there and running the
same command again (or `bubble apply`) finishes the job. A server not built or not configured
yet, down in the catalog, or not answering gets nothing now, and the caller says so at once.
"""

from __future__ import annotations

from collections.abc import Sequence

from glue.catalog import Catalog
from glue.services.accounts import delete_account, finish_removals
from glue.services.context import Context
from glue.services.converge import ConvergeResult, Operation, Report, converge
from glue.state.addresses import address_of


def current(ctx: Context) -> Catalog:
    """The catalog as it is now, read under the catalog lock: never half of a change that
    writes several files."""
    with ctx.editing() as catalog:
        return catalog


def carry(
    ctx: Context, operation: Operation, servers: Sequence[str], report: Report
) -> ConvergeResult:
    """The catalog as it is now, carried to these servers where they are ready."""
    return converge(ctx, current(ctx), operation, report, servers=servers)


def remove_account(ctx: Context, name: str, purge: bool, report: Report) -> ConvergeResult:
    """Record the removal in the catalog, remove the bubble from its server (archiving files
    and databases unless `purge`), then the account from the catalog. Until the server
    confirmed it the account stays in the catalog as `removing`, with its domains: the same
    command (or `bubble apply`) finishes the job."""
    server_name = delete_account(ctx, name, purge).server
    catalog = current(ctx)
    if name not in catalog.accounts:  # a converge running meanwhile finished it
        return ConvergeResult(updated=[server_name])
    # Never created: no bubble can exist anywhere.
    if not address_of(ctx.engine, server_name, catalog.servers[server_name]):
        finish_removals(ctx, catalog, [server_name], report)
        return ConvergeResult()
    return converge(ctx, catalog, Operation.REMOVE, report, servers=[server_name])
