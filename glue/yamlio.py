"""YAML in and out of the catalog: strict reading, stable writing, atomic replacement."""

from __future__ import annotations

import os
import tempfile
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from glue.errors import BubbleError


class YamlError(BubbleError):
    """A file that is not the YAML we can read; the message names the file and the line."""


_SafeLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present: 10x
_SafeDumper: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class _Loader(_SafeLoader):  # type: ignore[misc]
    """SafeLoader that keeps decimals exact and refuses duplicate keys (PyYAML keeps the last)."""


def _decimal(loader: _Loader, node: yaml.ScalarNode) -> Decimal:
    return Decimal(loader.construct_scalar(node).replace("_", ""))


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


class _Dumper(_SafeDumper):  # type: ignore[misc]
    """Block style, keys in the order given (the models' field order), no aliases."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _represent_decimal(dumper: _Dumper, value: Decimal) -> yaml.ScalarNode:
    node: yaml.ScalarNode = dumper.represent_scalar("tag:yaml.org,2002:str", str(value))
    return node


_Dumper.add_representer(Decimal, _represent_decimal)


def dump_yaml(data: Any, header: str | None = None) -> str:
    body = yaml.dump(
        data, Dumper=_Dumper, sort_keys=False, default_flow_style=False, allow_unicode=True
    )
    return f"{header}\n{body}" if header else body


def atomic_write(path: Path, text: str) -> None:
    """Write via a temp file in the same directory and rename: readers see old or new, whole."""
    path.parent.mkdir(parents=True, exist_ok=True)
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
