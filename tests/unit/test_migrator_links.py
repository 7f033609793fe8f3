"""Which links of the old host are recreated, and as what (the receiver checks again)."""

from __future__ import annotations

import pytest

from migrator.files import RemoteLink, link_target


@pytest.mark.parametrize(
    ("path", "target", "root", "want"),
    [
        ("www", "public_html", None, "public_html"),
        ("public_html/latest.php", "wp/load.php", None, "wp/load.php"),
        ("public_html/wp/home", "../index.php", None, "../index.php"),
        ("loop", ".", None, "."),
        ("sub/up", "..", None, ".."),
        # Leading out of the copied tree: reported, not copied.
        ("public_html/escape", "../../outside.txt", None, None),
        ("up", "..", None, None),
        ("a", "b/../../c", None, None),
        ("public_html/passwd", "/etc/passwd", None, None),
        ("x", "", None, None),
        # Absolute targets are only understood where the source root is known (SFTP).
        ("www", "/home/u/site/public_html", "/home/u/site", "public_html"),
        ("a/b/c", "/home/u/site/d/e", "/home/u/site/", "../../d/e"),
        ("a", "/home/u/site", "/home/u/site", "."),
        ("a", "/home/u/sitex/f", "/home/u/site", None),
        ("a", "/home/u/site/public_html", None, None),
    ],
)
def test_link_target(path: str, target: str, root: str | None, want: str | None) -> None:
    assert link_target(RemoteLink(path, target), root) == want
