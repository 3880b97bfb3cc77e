"""YAML read with the line of every value, so that each error can name its file and line.

PyYAML's composed node tree keeps marks; the values are built from it by the same safe
constructor as `yaml.safe_load`. Two departures from PyYAML's defaults, both on purpose:
dates stay strings (the schema speaks of ISO date strings, and `date` objects are not JSON, so
the declaration's digest could not be computed), and a key given twice is an error instead of
the later value silently winning.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

Path = tuple[str | int, ...]


class _Loader(yaml.SafeLoader):
    """SafeLoader without the implicit timestamp type."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


class YamlError(ValueError):
    """The text is not YAML (or not one mapping); `line` is 1-based, or None."""

    def __init__(self, line: int | None, path: Path, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.path = path
        self.message = message


@dataclass(frozen=True)
class Document:
    """One parsed YAML document and where each of its values starts (1-based lines)."""

    value: Any
    lines: dict[Path, int]

    def line_of(self, path: Path) -> int:
        """The line of the value at `path`, or of its nearest ancestor that exists."""
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get((), 1)


def parse(text: str) -> Document:
    """Parse one YAML document holding a mapping, keeping the line of every value."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise YamlError(1, (), "the file is empty")
        if not isinstance(node, yaml.MappingNode):
            raise YamlError(node.start_mark.line + 1, (), "the file must hold a mapping")
        lines: dict[Path, int] = {}
        _walk(loader, node, (), lines, set())
        value = loader.construct_document(node)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = error.problem or error.context or "not YAML"
        raise YamlError(line, (), f"YAML syntax: {problem}") from None
    except yaml.YAMLError as error:
        raise YamlError(None, (), f"YAML: {error}") from None
    finally:
        loader.dispose()
    return Document(value, lines)


def _walk(
    loader: _Loader, node: yaml.Node, path: Path, lines: dict[Path, int], seen_nodes: set[int]
) -> None:
    # A mapping's value is placed at its key's line (`title:`), where a reader looks for it;
    # a block value itself starts on the next line.
    lines.setdefault(path, node.start_mark.line + 1)
    # An alias is the same node met again. Declarations need none, and a few nested aliases
    # grow into billions of values (the "billion laughs"): refused before anything is built.
    if isinstance(node, yaml.CollectionNode):
        if id(node) in seen_nodes:
            # Named at the key or list where the alias stands (the node's mark is the anchor's).
            message = "anchors and aliases (&, *) are not used in declarations"
            at = path if not path or isinstance(path[-1], str) else path[:-1]
            raise YamlError(lines[at], path, message)
        seen_nodes.add(id(node))
    if isinstance(node, yaml.MappingNode):
        seen: set[Any] = set()
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if not isinstance(key, str):
                raise YamlError(key_node.start_mark.line + 1, path, f"key {key!r} is not a text")
            if key in seen:
                raise YamlError(key_node.start_mark.line + 1, (*path, key), f"'{key}' given twice")
            seen.add(key)
            lines[(*path, key)] = key_node.start_mark.line + 1
            _walk(loader, value_node, (*path, key), lines, seen_nodes)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(loader, item, (*path, index), lines, seen_nodes)


def dotted(path: Path) -> str:
    """`form[1].label.fr`: the path of a value as a person reads it."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text
