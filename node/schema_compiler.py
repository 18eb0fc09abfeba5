"""A fast path through the marshmallow schemas for bodies that are valid.

The schemas in :mod:`node.schemas` are the one definition of every body, and
marshmallow's generic machinery is slow on deeply nested documents: a denial
with its parties takes more than a millisecond to load and dump, which
dominates a bulk import. :func:`compile_schema` walks a schema's declared
fields once and builds plain functions doing what
``to_json_doc(schema, schema.load(data))`` does, using the fields' own
validators, deserializers and serializers and the schema's own
``validates_schema`` and ``post_load`` hooks.

The compiled function only ever accepts. At the first doubt (a value that
fails a check, a type it does not handle itself, a hook it does not know) it
raises :class:`GiveUp`, and the caller runs marshmallow, which gives the
result or the field-by-field errors. A test compares both paths on many
valid and invalid documents.
"""

from __future__ import annotations

from typing import Any, Callable

from marshmallow import RAISE, Schema, ValidationError, fields, missing

POST_LOAD = "post_load"
VALIDATES_SCHEMA = "validates_schema"


class GiveUp(Exception):
    """The fast path cannot vouch for this value; run marshmallow instead."""


Loader = Callable[[Any], Any]
Dumper = Callable[[Any], Any]


def _never(value):
    raise GiveUp


def _run_validators(validators) -> Callable[[Any], None] | None:
    if not validators:
        return None
    validators = tuple(validators)

    def check(value):
        try:
            for validator in validators:
                if validator(value) is False:
                    raise GiveUp
        except ValidationError:
            raise GiveUp from None

    return check


def _field_loader(field: fields.Field, name: str) -> Loader:
    """A function turning one present, non-None raw value into what ``field.deserialize`` returns."""
    if field.pre_load or field.post_load:
        return _generic_loader(field, name)
    check = _run_validators(field.validators)
    kind = type(field)
    if kind is fields.String:
        def load_string(value):
            if type(value) is not str:
                raise GiveUp
            if check:
                check(value)
            return value
        return load_string
    if kind is fields.Boolean:
        def load_bool(value):
            if value is not True and value is not False:
                raise GiveUp
            if check:
                check(value)
            return value
        return load_bool
    if kind is fields.Integer:
        def load_int(value):
            if type(value) is not int:
                raise GiveUp
            if check:
                check(value)
            return value
        return load_int
    if kind is fields.List:
        inner = _item_loader(field.inner, name)

        def load_list(value):
            if type(value) is not list:
                raise GiveUp
            out = [inner(item) for item in value]
            if check:
                check(out)
            return out
        return load_list
    if kind is fields.Dict and field.key_field is not None and field.value_field is not None:
        load_key = _item_loader(field.key_field, name)
        load_value = _item_loader(field.value_field, name)

        def load_dict(value):
            if type(value) is not dict:
                raise GiveUp
            out = {load_key(k): load_value(v) for k, v in value.items()}
            if len(out) != len(value):
                raise GiveUp
            if check:
                check(out)
            return out
        return load_dict
    if kind is fields.Nested and isinstance(field.nested, type) and issubclass(field.nested, Schema) \
            and not field.many and field.only is None and not field.exclude and field.unknown in (None, RAISE):
        load_nested = compile_loader(field.schema)

        def load_schema(value):
            out = load_nested(value)
            if check:
                check(out)
            return out
        return load_schema
    return _generic_loader(field, name)


def _item_loader(field: fields.Field, name: str) -> Loader:
    """Loader for an item of a List or a key/value of a Dict: the item may be None."""
    load = _field_loader(field, name)
    allow_none = field.allow_none

    def load_item(value):
        if value is None:
            if allow_none:
                return None
            raise GiveUp
        return load(value)
    return load_item


def _generic_loader(field: fields.Field, name: str) -> Loader:
    """``field.deserialize`` for a present, non-None value (no field-level pre/post-load functions)."""
    if field.pre_load or field.post_load:
        def load_any(value):
            try:
                return field.deserialize(value, name, None)
            except ValidationError:
                raise GiveUp from None
        return load_any
    deserialize = field._deserialize
    check = _run_validators(field.validators)

    def load(value):
        try:
            out = deserialize(value, name, None)
        except ValidationError:
            raise GiveUp from None
        if check:
            check(out)
        return out
    return load


def _field_dumper(field: fields.Field, name: str) -> Dumper:
    """A function turning a loaded value into what ``to_json_doc`` puts in the document."""
    kind = type(field)
    if kind in (fields.String, fields.Boolean, fields.Integer):
        def same(value):
            if type(value) not in (str, bool, int):
                raise GiveUp
            return value
        return same
    if kind is fields.List:
        inner = _field_dumper(field.inner, name)
        return lambda value: [None if item is None else inner(item) for item in value]
    if kind is fields.Dict and field.key_field is not None and field.value_field is not None:
        dump_key = _field_dumper(field.key_field, name)
        dump_value = _field_dumper(field.value_field, name)
        return lambda value: {dump_key(k): dump_value(v) for k, v in value.items() if v is not None}
    if kind is fields.Nested and isinstance(field.nested, type) and issubclass(field.nested, Schema):
        return compile_dumper(field.schema)

    def generic(value):
        out = field._serialize(value, name, None)
        if out is None or type(out) not in (str, bool, int):
            raise GiveUp
        return out
    return generic


def _hooks_supported(schema: Schema) -> bool:
    for tag, hooks in schema._hooks.items():
        if not hooks:
            continue
        if tag not in (POST_LOAD, VALIDATES_SCHEMA):
            return False
        for _attr, hook_many, kwargs in hooks:
            if hook_many or kwargs.get("pass_original"):
                return False
    return True


_LOADERS: dict[type, Loader] = {}
_DUMPERS: dict[type, Dumper] = {}


def compile_loader(schema: Schema) -> Loader:
    """``schema.load`` for one object, raising :class:`GiveUp` instead of ``ValidationError``."""
    cls = type(schema)
    if cls in _LOADERS:
        return _LOADERS[cls]
    if (schema.many or schema.partial or schema.unknown != RAISE or schema.dict_class is not dict
            or schema.load_only or schema.dump_only or not _hooks_supported(schema)):
        _LOADERS[cls] = _never
        return _never
    plan = []
    for attr, field in schema.load_fields.items():
        if field.attribute is not None:
            _LOADERS[cls] = _never
            return _never
        key = field.data_key if field.data_key is not None else attr
        plan.append((attr, key, _field_loader(field, key), field.required, field.allow_none, field.load_default))
    keys = frozenset(key for _, key, *_rest in plan)
    validators = [getattr(schema, attr) for attr, _, _ in schema._hooks[VALIDATES_SCHEMA]]
    post_loads = [getattr(schema, attr) for attr, _, _ in schema._hooks[POST_LOAD]]
    unknown = schema.unknown

    def load(data):
        if type(data) is not dict or not keys.issuperset(data):
            raise GiveUp
        out = {}
        for attr, key, load_field, required, allow_none, default in plan:
            raw = data.get(key, missing)
            if raw is missing:
                if required:
                    raise GiveUp
                if default is not missing:
                    out[attr] = default() if callable(default) else default
                continue
            if raw is None:
                if not allow_none:
                    raise GiveUp
                out[attr] = None
                continue
            out[attr] = load_field(raw)
        try:
            for validator in validators:
                validator(out, partial=None, many=False, unknown=unknown)
            for post_load in post_loads:
                out = post_load(out, many=False, partial=None, unknown=unknown)
        except ValidationError:
            raise GiveUp from None
        return out

    _LOADERS[cls] = load
    return load


def compile_dumper(schema: Schema) -> Dumper:
    """``_plain(schema.dump(loaded))``: the JSON document of loaded data, None values left out."""
    cls = type(schema)
    if cls in _DUMPERS:
        return _DUMPERS[cls]
    if schema._hooks.get("pre_dump") or schema._hooks.get("post_dump") or schema.only or schema.exclude:
        _DUMPERS[cls] = _never
        return _never
    plan = []
    for attr, field in schema.dump_fields.items():
        if field.attribute is not None:
            _DUMPERS[cls] = _never
            return _never
        key = field.data_key if field.data_key is not None else attr
        plan.append((attr, key, _field_dumper(field, key)))

    def dump(loaded):
        if type(loaded) is not dict:
            raise GiveUp
        out = {}
        for attr, key, dump_field in plan:
            value = loaded.get(attr, missing)
            if value is missing or value is None:
                continue
            out[key] = dump_field(value)
        return out

    _DUMPERS[cls] = dump
    return dump


def compile_schema(schema: Schema) -> Callable[[Any], tuple[dict, dict]]:
    """``data -> (loaded, document)``; raises :class:`GiveUp` where marshmallow must decide."""
    load = compile_loader(schema)
    dump = compile_dumper(schema)

    def run(data):
        loaded = load(data)
        return loaded, dump(loaded)

    return run
