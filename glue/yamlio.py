"""YAML in and out of the catalog: strict reading, stable writing, atomic replacement."""

from __future__ import annotations

import json
import os
import re
import tempfile
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import yaml

from glue.errors import BubbleError
from glue.paths import private_dir


class YamlError(BubbleError):
    """A file that is not the YAML we can read; the message names the file and the line."""


_SafeLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present: 10x


class _Loader(_SafeLoader):  # type: ignore[misc]
    """SafeLoader that keeps decimals exact and refuses duplicate keys (PyYAML keeps the last)."""


def _decimal(loader: _Loader, node: yaml.ScalarNode) -> Decimal | str:
    """YAML floats as exact decimals; `.inf` and `.nan` stay text, so that validation names
    the field that holds them instead of a crash here."""
    text = str(loader.construct_scalar(node))
    try:
        value = Decimal(text.replace("_", ""))
    except InvalidOperation:
        return text
    return value if value.is_finite() else text


def _mapping(loader: _Loader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        seen.add(key)
    return dict(yaml.SafeLoader.construct_mapping(loader, node, deep=deep))


_Loader.add_constructor("tag:yaml.org,2002:float", _decimal)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def load_yaml_text(text: str, source: str) -> Any:
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise YamlError(f"{source}{where}: not valid YAML: {problem}") from exc


def load_yaml(path: Path, source: str | None = None) -> Any:
    return load_yaml_text(path.read_text(encoding="utf-8"), source or str(path))


class _Dumper(yaml.SafeDumper):
    """Block style, keys in the order given (the models' field order), no aliases, lists
    indented under their key (yamllint's style). Pure Python: catalog writes are small."""

    def ignore_aliases(self, data: Any) -> bool:
        return True

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def _represent_decimal(dumper: _Dumper, value: Decimal) -> yaml.ScalarNode:
    node: yaml.ScalarNode = dumper.represent_scalar("tag:yaml.org,2002:str", str(value))
    return node


_Dumper.add_representer(Decimal, _represent_decimal)


def dump_yaml(data: Any, header: str | None = None) -> str:
    body = yaml.dump(
        data,
        Dumper=_Dumper,
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=True,
        explicit_start=True,
    )
    return f"{header}\n{body}" if header else body


def dump_plain_yaml(data: Any, header: str) -> str:
    """Block-style YAML for generated files, ~10x faster than PyYAML's representer.

    Handles what rendering produces (dicts with plain keys, lists, str, int, bool, None).
    Strings are written JSON-quoted, which YAML reads back verbatim whatever they contain."""
    lines = [header]
    _emit(data, 0, lines)
    return "\n".join(lines) + "\n"


# Escaped: what YAML cannot hold raw, and the line breaks it would fold (NEL, LS, PS).
_NON_PRINTABLE = re.compile(
    "[^\t\n\r\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]"
)


def _escape(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def _scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        # JSON quoting is YAML double-quoting, except that YAML refuses raw non-printables.
        return _NON_PRINTABLE.sub(_escape, json.dumps(value, ensure_ascii=False))
    raise TypeError(f"cannot write {type(value).__name__} to generated YAML")


_PLAIN_KEY = re.compile(r"[a-z_][a-z0-9_-]*")
# YAML 1.1 reads these bare words as booleans or null: an account named `on` must stay a name.
_YAML11_WORDS = {"y", "n", "yes", "no", "on", "off", "true", "false", "null"}


def _key(key: str) -> str:
    return key if _PLAIN_KEY.fullmatch(key) and key not in _YAML11_WORDS else _scalar(key)


def _emit(data: Any, indent: int, lines: list[str]) -> None:
    pad = " " * indent
    if isinstance(data, dict):
        for raw_key, value in data.items():
            key = _key(raw_key)
            if isinstance(value, dict | list) and value:
                lines.append(f"{pad}{key}:")
                _emit(value, indent + 2, lines)
            else:
                empty = "{}" if isinstance(value, dict) else "[]"
                shown = empty if isinstance(value, dict | list) else _scalar(value)
                lines.append(f"{pad}{key}: {shown}")
    else:
        for item in data:
            if isinstance(item, dict | list):
                raise TypeError("generated YAML lists hold scalars only")
            lines.append(f"{pad}- {_scalar(item)}")


def atomic_write(path: Path, text: str) -> None:
    """Write via a temp file in the same directory and rename: readers see old or new, whole.
    The file is its owner's only (0600, mkstemp's mode), and so is any directory made for it."""
    if not path.parent.is_dir():
        private_dir(path.parent)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
