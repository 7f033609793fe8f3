"""Whatever bytes a catalog file holds, loading it fails only with a CatalogError."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from glue.catalog import CatalogError, load_catalog
from glue.services.root import init_root

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.text(max_size=12),
    st.sampled_from(["1GHz", "2GiB", "30GB", "12.50", "lab", "web1", "a.example", "-1", "0"]),
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
keys = st.sampled_from(
    [
        "plan",
        "server",
        "domains",
        "state",
        "elastic",
        "overrides",
        "upgrades",
        "email",
        "provider",
        "cores",
        "core_ghz",
        "memory",
        "disk",
        "base",
        "elastic",
        "upgrade",
        "thresholds",
        "plans",
        "servers",
        "cpu",
        "x",
    ]
)
documents = st.one_of(
    st.dictionaries(keys, values, max_size=6),
    values,
    st.text(max_size=60),
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(plans=documents, servers=documents, account=documents)
def test_loading_never_crashes(
    tmp_path_factory, plans: object, servers: object, account: object
) -> None:  # type: ignore[no-untyped-def]
    import yaml

    root = init_root(tmp_path_factory.mktemp("fuzz"))
    for rel, doc in (("plans.yml", plans), ("servers.yml", servers), ("accounts/a.yml", account)):
        text = doc if isinstance(doc, str) else yaml.safe_dump(doc)
        (root / "catalog" / rel).write_text(text)
    try:
        load_catalog(Path(root))
    except CatalogError as exc:
        assert exc.problems and all(isinstance(p, str) and p for p in exc.problems)
