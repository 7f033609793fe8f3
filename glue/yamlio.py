"""YAML in and out of the catalog: strict reading, stable writing, edits that keep what people
wrote (comments, blank lines, key order, quoting), atomic replacement."""

from __future__ import annotations

import io
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


# Only a write pays for the round-trip library (a 10,000-account load reads with libyaml).
_YAML11 = yaml.resolver.Resolver()
_STR = "tag:yaml.org,2002:str"
_PREAMBLE = re.compile(r"(?:[ \t]*(?:#[^\n]*)?\n)*---[ \t]*\n")


def update_yaml(text: str, old: dict[str, Any], new: dict[str, Any]) -> str:
    """`text`, a YAML mapping as people wrote it, edited from `old` to `new` (both the plain data
    a full write would dump): only the values that differ between the two are replaced, added or
    removed; comments, blank lines, key order, quoting and indentation stay. A value equal in
    `old` and `new` is left as written, even where it is spelled differently (`2048MiB`).

    The caller checks that the result reads back as `new`: this edits text, it does not
    know the models."""
    from ruamel.yaml import YAML
    from ruamel.yaml.comments import CommentedMap

    match = _PREAMBLE.match(text)  # ruamel drops comments above `---`: kept here verbatim
    preamble, body = (text[: match.end()], text[match.end() :]) if match else ("", text)
    editor = YAML(typ="rt")
    editor.preserve_quotes = True
    editor.width = 4096  # never fold a long line that was one line
    mapping, offset = _indents(body)
    editor.indent(mapping=mapping, sequence=offset + 2, offset=offset)
    document = editor.load(body)
    if not isinstance(document, CommentedMap):
        raise YamlError("not a mapping: cannot edit it in place")
    _merge(document, old, new)
    out = io.StringIO()
    editor.dump(document, out)
    return preamble + out.getvalue()


def _merge(node: Any, old: Any, new: Any) -> None:
    """Edit the round-trip `node` (a mapping or a list) from `old` to `new`, in place."""
    if isinstance(new, dict):
        for key in [k for k in old if k not in new and k in node]:
            del node[key]
        previous = -1  # new keys go after the last key before them that the file has
        for key, value in new.items():
            if key in node:
                _edit(node, key, old.get(key), value)
                previous = list(node).index(key)
            elif old.get(key) != value:
                previous += 1
                node.insert(previous, key, _written(value))
        return
    for index, value in enumerate(new):
        if index < len(node):
            _edit(node, index, old[index] if index < len(old) else None, value)
        else:
            node.append(_written(value))
    del node[len(new) :]


def _edit(node: Any, key: Any, old: Any, new: Any) -> None:
    """One value the file has: left alone if unchanged, edited within if a mapping or list on
    every side, else replaced."""
    if old == new:
        return
    current = node[key]
    for kind in (dict, list):
        if isinstance(current, kind) and isinstance(old, kind) and isinstance(new, kind):
            _merge(current, old, new)
            return
    node[key] = _written(new)


def _written(value: Any) -> Any:
    """A new value as the strict (YAML 1.1) reader will read it back: text that it would take
    for something else (`on`, `1:20`, `0.5`) is quoted; decimals are text."""
    from ruamel.yaml.scalarstring import SingleQuotedScalarString

    if isinstance(value, dict):
        return {k: _written(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_written(v) for v in value]
    if isinstance(value, Decimal):
        value = str(value)
    if isinstance(value, str) and _plain_tag(value) != _STR:
        return SingleQuotedScalarString(value)
    return value


def _plain_tag(text: str) -> str:
    """What the strict reader takes `text` for when it is written without quotes."""
    tag: str = _YAML11.resolve(yaml.ScalarNode, text, (True, False))  # type: ignore[no-untyped-call]
    return tag


def _indents(text: str) -> tuple[int, int]:
    """(mapping indent, offset of a list's dash under its key) as the file has them; the
    catalog's own 2 and 2 (yamllint's style) where the file does not say."""
    mapping: int | None = None
    offset: int | None = None
    opener: int | None = None  # indentation of the last `key:` line that opens a block
    for line in text.splitlines():
        stripped = line.lstrip(" ")
        if not stripped or stripped.startswith("#"):
            continue
        indent = len(line) - len(stripped)
        if opener is not None and indent >= opener:
            if stripped.startswith("- ") and offset is None:
                offset = indent - opener
            elif not stripped.startswith("- ") and indent > opener and mapping is None:
                mapping = indent - opener
        opens = stripped.rstrip().endswith(":") and not stripped.startswith("- ")
        opener = indent if opens else None
    return mapping or 2, 2 if offset is None else offset


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
