"""The schema fingerprint: a hash of the code that folds an aggregate's events, the same in every process.

Every process running the same code must compute the same value (a snapshot written by one process is
trusted by another only if they agree; docs/local-aws.md, "Values compared across processes"), so nothing that
depends on the hash seed, on set or dict order or on memory addresses may reach the hash: values are
written in a canonical, type-tagged encoding (`canonical`), sets and mappings sorted by the encoding of
their elements, never through `repr`. A value the encoding does not know is written as its type's name.
"""

from __future__ import annotations

import enum
import hashlib
import sys
import types
from collections.abc import Iterator
from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from core.aggregate import Aggregate

#: Code attributes that say what a function does; line numbers and positions are left out.
_CODE_PARTS = ("co_argcount", "co_posonlyargcount", "co_kwonlyargcount", "co_flags", "co_names", "co_varnames",
               "co_freevars", "co_cellvars")


def fingerprint(cls: type[Aggregate]) -> str:
    """A hash of the code that folds events: every function the class (and its bases below `Aggregate`)
    defines, with `@requires` declarations, the global values and class attributes they name,
    `snapshot_version`, and its `upcasting` (versions, steps and each upcaster's code), for this Python minor
    version.

    Line numbers and docstrings are left out, so moving or documenting code keeps snapshots valid; any
    change to what the code does (or a Python upgrade that changes bytecode) makes them stale, which
    is safe: hydrate replays and the next commit past the threshold writes a fresh one.
    """
    digest = hashlib.blake2b(digest_size=16)
    digest.update(f"python={sys.version_info[0]}.{sys.version_info[1]};".encode())
    digest.update(canonical(cls.snapshot_version))
    names: set[str] = set()
    for name, function in _functions(cls):
        digest.update(canonical(name))
        digest.update(_function(function, names, set()))
        for field, kind in sorted(getattr(function, "__requires__", {}).items()):
            digest.update(canonical((field, kind)))
    for klass in _own_classes(cls):  # class attributes the functions read through `self.NAME`
        for name, value in sorted(vars(klass).items()):
            if name in names and not _is_code(value) and not name.startswith("__") and name != "_dispatch":
                digest.update(canonical((klass.__qualname__, name, value)))
    upcasting = cls.upcasting  # how old events are read decides the state they fold to
    if upcasting is not None:
        digest.update(canonical(upcasting.describe()))
        for _, step in sorted(upcasting.steps.items()):
            change = step.change
            digest.update(_function(change, set(), set()) if isinstance(change, types.FunctionType)
                          else canonical(change))
    return digest.hexdigest()


def canonical(value: Any, depth: int = 0) -> bytes:
    """A byte string that identifies the value: equal values give equal bytes in every process."""
    if depth > 50:
        return b"<deep>"
    deeper = depth + 1
    if value is None or value is Ellipsis or isinstance(value, bool):
        return repr(value).encode()
    if isinstance(value, enum.Enum):  # before int and str: IntEnum and StrEnum members are those too
        return b"e" + _named(type(value)) + canonical(value.name, deeper) + canonical(value.value, deeper)
    if isinstance(value, int):
        return b"i%d;" % value
    if isinstance(value, float):
        return b"f" + value.hex().encode() + b";"
    if isinstance(value, complex):
        return b"j" + value.real.hex().encode() + b"," + value.imag.hex().encode() + b";"
    if isinstance(value, Decimal):
        return b"d" + str(value).encode() + b";"  # str keeps the exponent: 0.01 and 0.010 differ
    if isinstance(value, str):
        data = value.encode("utf-8", "surrogatepass")
        return b"s%d:" % len(data) + data
    if isinstance(value, (bytes, bytearray)):
        return b"b%d:" % len(value) + bytes(value)
    if isinstance(value, (tuple, list)):
        tag = b"t" if isinstance(value, tuple) else b"l"
        return tag + b"(" + b"".join(canonical(item, deeper) for item in value) + b")"
    if isinstance(value, (set, frozenset)):
        return b"S(" + b"".join(sorted(canonical(item, deeper) for item in value)) + b")"
    if isinstance(value, dict):
        pairs = sorted(canonical(key, deeper) + canonical(item, deeper) for key, item in value.items())
        return b"m(" + b"".join(pairs) + b")"
    if isinstance(value, types.CodeType):
        return _code(value, None)
    if isinstance(value, type):
        if issubclass(value, enum.Enum):
            members = [(name, member.value) for name, member in value.__members__.items()]
            return b"E" + _named(value) + canonical(members, deeper)
        return b"y" + _named(value)
    return b"o" + _named(type(value))  # an object of no known kind: its type, never its repr


def _named(kind: type) -> bytes:
    return canonical(f"{kind.__module__}.{kind.__qualname__}")


def _code(code: types.CodeType, doc: str | None) -> bytes:
    """Bytecode, names and constants (the docstring left out) of a code object and those nested in it."""
    parts = [b"C(", canonical(code.co_code), canonical(getattr(code, "co_exceptiontable", b""))]
    parts += [canonical(getattr(code, name)) for name in _CODE_PARTS]
    parts += [canonical(const) for const in code.co_consts if not (doc is not None and const is doc)]
    return b"".join(parts) + b")"


def _function(function: types.FunctionType, names: set[str], seen: set[int]) -> bytes:
    """The function's code, defaults and closure, and the globals it names: values, or the code of a
    function defined in the same module (a helper a handler calls), followed once."""
    seen.add(id(function))
    code = function.__code__
    parts = [_code(code, function.__doc__), canonical(function.__defaults__), canonical(function.__kwdefaults__)]
    for cell in function.__closure__ or ():
        try:
            parts.append(canonical(cell.cell_contents))
        except ValueError:  # an empty cell
            parts.append(b"<empty>")
    for name in sorted(_all_names(code)):
        names.add(name)
        if name not in function.__globals__:
            continue
        value = function.__globals__[name]
        if isinstance(value, types.ModuleType):
            continue
        parts.append(canonical(name))
        if isinstance(value, types.FunctionType):
            same_module = value.__module__ == function.__module__
            if same_module and id(value) not in seen:
                parts.append(_function(value, names, seen))
            else:
                parts.append(canonical(f"{value.__module__}.{value.__qualname__}"))
        else:
            parts.append(canonical(value))
    return b"".join(parts)


def _all_names(code: types.CodeType) -> set[str]:
    found = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            found |= _all_names(const)
    return found


def _own_classes(cls: type) -> Iterator[type]:
    from core.aggregate import Aggregate

    for klass in cls.__mro__:
        if klass is Aggregate or klass is object:
            return
        yield klass


def _is_code(value: Any) -> bool:
    return isinstance(value, (types.FunctionType, staticmethod, classmethod, property))


def _functions(cls: type) -> Iterator[tuple[str, types.FunctionType]]:
    for klass in _own_classes(cls):
        for name, value in sorted(vars(klass).items()):
            if isinstance(value, (staticmethod, classmethod)):
                value = value.__func__
            functions = [value.fget, value.fset, value.fdel] if isinstance(value, property) else [value]
            for position, function in enumerate(functions):
                if isinstance(function, types.FunctionType):
                    yield f"{klass.__qualname__}.{name}" + ("" if position == 0 else f"#{position}"), function
