"""CloudFormation's short-form functions (`!Ref`, `!GetAtt`, `!Sub`, `!If`, `!Equals`) as values, and the YAML
text of a template: sections in CloudFormation's order, resources grouped under a comment line each, keys in the
order they were built (never sorted), so the same modules always give the same text."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml  # type: ignore[import-untyped]  # PyYAML ships no type stubs (cfn-lint installs it)

WIDTH = 118


@dataclass(frozen=True)
class Ref:
    name: str


@dataclass(frozen=True)
class GetAtt:
    target: str  # "Resource.Attribute"


@dataclass(frozen=True)
class Sub:
    text: str


@dataclass(frozen=True)
class If:
    condition: str
    yes: Any
    no: Any


@dataclass(frozen=True)
class Equals:
    left: Any
    right: Any


NO_VALUE = Ref("AWS::NoValue")


def arn(resource: str) -> GetAtt:
    return GetAtt(f"{resource}.Arn")


class _Dumper(yaml.SafeDumper):
    def ignore_aliases(self, data: Any) -> bool:
        return True

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)  # lists indented under their key

    def choose_scalar_style(self) -> str:
        """`!Ref Name` rather than `!Ref 'Name'`: a tagged scalar is plain wherever YAML allows it."""
        event = self.event
        if isinstance(event, yaml.ScalarEvent) and event.tag and event.tag.startswith("!") and not event.style:
            analysis: Any = self.analyze_scalar(event.value)
            plain = analysis.allow_flow_plain if self.flow_level else analysis.allow_block_plain
            if plain and not analysis.multiline and not analysis.empty:
                return ""
        return str(super().choose_scalar_style())


SHORT = 80


def _plain(value: Any) -> bool:
    return isinstance(value, str | int | float | bool) and not (isinstance(value, str) and "\n" in value)


def _list(dumper: yaml.SafeDumper, value: list[Any]) -> yaml.Node:
    """Short lists of plain values on one line: `[GET, POST]`."""
    flow = bool(value) and all(_plain(item) for item in value) and len(repr(value)) < SHORT
    return dumper.represent_sequence("tag:yaml.org,2002:seq", value, flow_style=flow)


def _dict(dumper: yaml.SafeDumper, value: dict[str, Any]) -> yaml.Node:
    """Small mappings of plain values on one line: `{AttributeName: id, AttributeType: S}`."""
    flow = (0 < len(value) <= 2 and all(_plain(item) for item in value.values())
            and not any(":" in key for key in value) and len(repr(value)) < SHORT)
    return dumper.represent_mapping("tag:yaml.org,2002:map", value, flow_style=flow)


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


def _sub(dumper: yaml.SafeDumper, value: Sub) -> yaml.Node:
    if "\n" in value.text:
        return dumper.represent_scalar("!Sub", value.text, style="|")
    return dumper.represent_scalar("!Sub", value.text, style='"')


_Dumper.add_representer(str, _text)
_Dumper.add_representer(list, _list)
_Dumper.add_representer(dict, _dict)
_Dumper.add_representer(Ref, lambda dumper, value: dumper.represent_scalar("!Ref", value.name))
_Dumper.add_representer(GetAtt, lambda dumper, value: dumper.represent_scalar("!GetAtt", value.target))
_Dumper.add_representer(Sub, _sub)
_Dumper.add_representer(If, lambda dumper, value: dumper.represent_sequence(
    "!If", [value.condition, value.yes, value.no], flow_style=False))
_Dumper.add_representer(Equals, lambda dumper, value: dumper.represent_sequence(
    "!Equals", [value.left, value.right], flow_style=True))


class _Section(dict[str, Any]):
    """A top-level section: always in block style."""


_Dumper.add_representer(_Section, lambda dumper, value: dumper.represent_mapping(
    "tag:yaml.org,2002:map", value, flow_style=False))


def dump(value: Mapping[str, Any], indent: int = 0) -> str:
    text = yaml.dump(_Section(value), Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=WIDTH,
                     allow_unicode=True)
    pad = " " * indent
    return "".join(pad + line if line.strip() else line for line in text.splitlines(keepends=True))


def render(header: Mapping[str, Any], groups: list[tuple[str, dict[str, Any]]], outputs: Mapping[str, Any]) -> str:
    """The template's text: `header` (format version to Globals), then `Resources` in `groups` (a comment line
    naming each), then `Outputs`."""
    parts = []
    for key, value in header.items():
        parts.append(dump({key: value}))
    resources = ["Resources:\n"]
    for title, group in groups:
        if not group:
            continue
        resources.append(f"  # -- {title} " + "-" * max(3, WIDTH - len(title) - 8) + "\n")
        resources += [dump({name: resource}, indent=2) + "\n" for name, resource in group.items()]
    parts.append("".join(resources).rstrip("\n") + "\n")
    parts.append(dump({"Outputs": dict(outputs)}))
    return "\n".join(parts)
