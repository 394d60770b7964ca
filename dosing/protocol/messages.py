"""Pydantic's validation errors, told the way a protocol author needs them: the field path
(with regimen ids beside list indexes), what is wrong, and for an unknown key the valid keys
and the closest match ("did you mean 'every'?")."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError

from .model import PatientValue, Protocol


def describe(err: ValidationError, data: dict[str, Any]) -> str:
    lines = []
    for item in err.errors()[:10]:
        path = _path(item["loc"], data)
        lines.append(f"{path}: {_message(item, data)}")
    more = err.error_count() - len(lines)
    if more > 0:
        lines.append(f"... and {more} more problem(s)")
    return "invalid protocol\n  " + "\n  ".join(lines)


def _path(loc: tuple[Any, ...], data: Any) -> str:
    parts: list[str] = []
    node = data
    for key in loc:
        if isinstance(key, int):
            label = f"[{key}]"
            if isinstance(node, list) and key < len(node) and isinstance(node[key], dict) and "id" in node[key]:
                label = f"[{key}] (id {node[key]['id']!r})"
            parts.append(label)
        elif key in ("function-after", "function-before") or str(key).startswith(("function-", "list[", "int", "str")):
            continue
        else:
            parts.append(("." if parts else "") + str(key))
        node = node[key] if isinstance(node, (dict, list)) and _has(node, key) else None
    return "".join(parts) or "(top level)"


def _has(node: Any, key: Any) -> bool:
    if isinstance(node, dict):
        return key in node
    return isinstance(key, int) and 0 <= key < len(node)


def _message(item: Any, data: dict[str, Any]) -> str:
    kind = item["type"]
    if kind == "extra_forbidden":
        return _unknown_key(item["loc"], data)
    if kind == "missing":
        return "required field is missing"
    if kind in ("model_type", "dict_type"):
        table = _table_example(item["loc"])
        if table is not None:
            got = repr(item["input"])
            return f"expected a table, e.g. {table} (got {got if len(got) <= 40 else got[:37] + '...'})"
    msg = str(item["msg"])
    return msg.removeprefix("Value error, ")


#: Example values of a table's keys, by their type, for "expected a table" messages.
_EXAMPLES = {int: "1", float: "1.5", str: '"..."', bool: "true"}


def _table_example(loc: tuple[Any, ...]) -> str | None:
    """``key = { a = 1, b = "..." }`` for a field whose type is a model (its first few keys)."""
    model = _model_at(loc)
    if model is None or not loc:
        return None
    names = [(f.alias or name, f.annotation) for name, f in model.model_fields.items() if name != "source"]
    shown = [f"{key} = {_EXAMPLES.get(_plain(annotation), '...')}" for key, annotation in names[:4]]
    more = ", ..." if len(names) > 4 else ""
    return f"{loc[-1]} = {{ {', '.join(shown)}{more} }}"


def _plain(annotation: Any) -> Any:
    """``int`` for ``int`` or ``int | None``; anything else (a parsed text such as "2 days") as it is."""
    import types
    import typing

    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    union = typing.get_origin(annotation) in (typing.Union, types.UnionType)
    return args[0] if union and len(args) == 1 else annotation


def _unknown_key(loc: tuple[Any, ...], data: dict[str, Any]) -> str:
    import difflib

    key = str(loc[-1])
    model = _model_at(loc[:-1])
    valid = sorted(f.alias or name for name, f in model.model_fields.items() if name != "source") if model else []
    guess = difflib.get_close_matches(key, valid, n=1)
    hint = f"; did you mean {guess[0]!r}?" if guess else ""
    return f"unknown key {key!r}{hint} (valid keys: {', '.join(valid)})"


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    model: Any = Protocol
    for key in loc:
        if isinstance(key, int) or model is None:
            continue
        if model is Protocol and key == "patient_values":
            model = "dict"
            continue
        if model == "dict":
            model = PatientValue
            continue
        field = _field_by_alias(model, str(key))
        if field is None:
            return None
        model = _inner_model(field.annotation)
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def _field_by_alias(model: type[BaseModel], key: str) -> Any:
    for name, field in model.model_fields.items():
        if (field.alias or name) == key:
            return field
    return None


def _inner_model(annotation: Any) -> Any:
    import typing

    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _inner_model(arg)
        if found is not None:
            return found
    return None
