"""The state DB: what happens (wallet ledger, limits in force, jobs), as opposed to the
catalog, which holds what people decided."""
