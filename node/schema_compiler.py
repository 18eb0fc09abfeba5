"""A fast path through the marshmallow schemas for bodies that are valid.

The schemas in :mod:`node.schemas` are the one definition of every body, and
marshmallow's generic machinery is slow on deeply nested documents: a denial
with its parties takes more than a millisecond to load and dump, which
dominates a bulk import. :func:`compile_schema` walks a schema's declared
fields once and generates plain Python functions (one loader and one dumper
per schema, the common type checks and validators written inline) doing what
``to_json_doc(schema, schema.load(data))`` does, using the fields' own
validators, deserializers and serializers and the schema's own
``validates_schema`` and ``post_load`` hooks.

A field of a custom type may have a ``fast_deserialize(value)`` method: what
its ``_deserialize`` gives for the values it is sure of, :class:`GiveUp` for
any other; the compiled loader calls it (then the field's validators)
instead of ``_deserialize``.

The compiled function only ever accepts. At the first doubt (a value that
fails a check, a type it does not handle itself, a hook it does not know) it
raises :class:`GiveUp`, and the caller runs marshmallow, which gives the
result or the field-by-field errors. A test compares both paths on many
valid and invalid documents.
"""

from __future__ import annotations

from typing import Any, Callable

from marshmallow import RAISE, Schema, ValidationError, fields, missing, validate

POST_LOAD = "post_load"
VALIDATES_SCHEMA = "validates_schema"


class GiveUp(Exception):
    """The fast path cannot vouch for this value; run marshmallow instead."""


Loader = Callable[[Any], Any]
Dumper = Callable[[Any], Any]


def _never(value):
    raise GiveUp


def _call_validator(validator) -> Callable[[Any], None]:
    """A validator the generated code does not inline, raising :class:`GiveUp` instead of an error."""
    def call(value):
        try:
            if validator(value) is False:
                raise GiveUp
        except ValidationError:
            raise GiveUp from None
    return call


def _run_validators(validators) -> Callable[[Any], None] | None:
    if not validators:
        return None
    source = _Source()
    source.line("def check(value):")
    source.lines(_check_code(validators, source), indent=4)
    source.line("    return None")
    return source.build("check")


def _field_loader(field: fields.Field, name: str) -> Loader:
    """A function turning one present, non-None raw value into what ``field.deserialize`` returns."""
    if field.pre_load or field.post_load:
        return _generic_loader(field, name)
    kind = type(field)
    if kind in (fields.String, fields.Boolean, fields.Integer, fields.List):
        source = _Source()
        source.line("def load(value):")
        source.lines(_value_code(field, name, source), indent=4)
        source.line("    return value")
        return source.build("load")
    check = _run_validators(field.validators)
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
    fast = getattr(field, "fast_deserialize", None)
    if fast is not None:
        def load_fast(value):
            out = fast(value)
            if check:
                check(out)
            return out
        return load_fast
    if kind is fields.Nested and isinstance(field.nested, type) and issubclass(field.nested, Schema) \
            and not field.many and field.only is None and not field.exclude and field.unknown in (None, RAISE):
        load_nested = compile_loader(field.schema)
        if not check:
            return load_nested

        def load_schema(value):
            out = load_nested(value)
            check(out)
            return out
        return load_schema
    return _generic_loader(field, name)


# Field types whose compiled loader (no field-level pre/post-load) raises GiveUp for None.
REFUSE_NONE = (fields.String, fields.Boolean, fields.Integer, fields.Nested)


def _item_loader(field: fields.Field, name: str) -> Loader:
    """Loader for an item of a List or a key/value of a Dict: the item may be None."""
    load = _field_loader(field, name)
    allow_none = field.allow_none
    if not allow_none and not (field.pre_load or field.post_load) and type(field) in REFUSE_NONE:
        return load  # these loaders refuse None themselves

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


SCALARS = frozenset((str, bool, int))


def _dumps_as_is(field: fields.Field) -> bool:
    """Fields whose loaded value (a str, bool or int) is what ``to_json_doc`` writes."""
    kind = type(field)
    if kind in (fields.String, fields.Boolean, fields.Integer):
        return True
    return isinstance(field, fields.String) and kind._serialize is fields.String._serialize


def _field_dumper(field: fields.Field, name: str) -> Dumper:
    """A function turning a loaded value into what ``to_json_doc`` puts in the document."""
    kind = type(field)
    if _dumps_as_is(field):
        def same(value):
            if type(value) not in SCALARS:
                raise GiveUp
            return value
        return same
    if kind is fields.List:
        if _dumps_as_is(field.inner):
            def dump_scalars(value):
                for item in value:
                    if item is not None and type(item) not in SCALARS:
                        raise GiveUp
                return list(value)
            return dump_scalars
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
    for field in schema.load_fields.values():
        if field.attribute is not None:
            _LOADERS[cls] = _never
            return _never
    source = _Source()
    source.line("def load(data):")
    source.line("    if type(data) is not dict:")
    source.line("        raise GiveUp")
    source.line("    out = {}")
    source.line("    seen = 0")
    for attr, field in schema.load_fields.items():
        key = field.data_key if field.data_key is not None else attr
        source.line(f"    value = data.get({key!r}, MISSING)")
        source.line("    if value is not MISSING:")
        source.line("        seen += 1")
        source.line("        if value is None:")
        source.line(f"            out[{attr!r}] = None" if field.allow_none else "            raise GiveUp")
        source.line("        else:")
        source.lines(_value_code(field, key, source), indent=12)
        source.line(f"            out[{attr!r}] = value")
        if field.required:
            source.line("    else:")
            source.line("        raise GiveUp")
        elif field.load_default is not missing:
            default = source.name(field.load_default)
            source.line("    else:")
            call = "()" if callable(field.load_default) else ""
            source.line(f"        out[{attr!r}] = {default}{call}")
    source.line("    if seen != len(data):")
    source.line("        raise GiveUp  # a key the schema does not know")
    hooks = [(getattr(schema, attr), "validator") for attr, _, _ in schema._hooks[VALIDATES_SCHEMA]]
    hooks += [(getattr(schema, attr), "post_load") for attr, _, _ in schema._hooks[POST_LOAD]]
    if hooks:
        unknown = source.name(schema.unknown)
        source.line("    try:")
        for hook, kind in hooks:
            name = source.name(hook)
            if kind == "validator":
                source.line(f"        {name}(out, partial=None, many=False, unknown={unknown})")
            else:
                source.line(f"        out = {name}(out, many=False, partial=None, unknown={unknown})")
        source.line("    except ValidationError:")
        source.line("        raise GiveUp from None")
    source.line("    return out")
    load = source.build("load")
    _LOADERS[cls] = load
    return load


class _Source:
    """Python source of one generated function and the values it refers to by name."""

    def __init__(self):
        self.text: list[str] = []
        self.env: dict[str, Any] = {"GiveUp": GiveUp, "MISSING": missing, "ValidationError": ValidationError}

    def line(self, text: str) -> None:
        self.text.append(text)

    def lines(self, texts: list[str], indent: int) -> None:
        self.text.extend(" " * indent + text for text in texts)

    def name(self, value: Any) -> str:
        name = f"_v{len(self.env)}"
        self.env[name] = value
        return name

    def build(self, function: str) -> Callable:
        exec(compile("\n".join(self.text), f"<compiled {function}>", "exec"), self.env)  # noqa: S102 - our own source
        return self.env[function]


def _value_code(field: fields.Field, name: str, source: _Source) -> list[str]:
    """Lines turning ``value`` (present, not None) into its loaded form, in place."""
    kind = type(field)
    plain = not (field.pre_load or field.post_load)
    if plain and kind is fields.String:
        return ["if type(value) is not str:", "    raise GiveUp"] + _check_code(field.validators, source, text=True)
    if plain and kind is fields.Boolean:
        return ["if value is not True and value is not False:", "    raise GiveUp"] + _check_code(field.validators, source)
    if plain and kind is fields.Integer:
        return ["if type(value) is not int:", "    raise GiveUp"] + _check_code(field.validators, source)
    if plain and kind is fields.List and type(field.inner) is fields.String and not field.inner.allow_none \
            and not (field.inner.pre_load or field.inner.post_load):
        inner = _check_code(field.inner.validators, source, "item", text=True)
        return (["if type(value) is not list:", "    raise GiveUp", "for item in value:",
                 "    if type(item) is not str:", "        raise GiveUp"]
                + ["    " + text for text in inner] + ["value = list(value)"] + _check_code(field.validators, source))
    if plain and kind is fields.List:
        item = source.name(_item_loader(field.inner, name))
        return (["if type(value) is not list:", "    raise GiveUp", f"value = [{item}(item) for item in value]"]
                + _check_code(field.validators, source))
    return [f"value = {source.name(_field_loader(field, name))}(value)"]


def _check_code(validators, source: _Source, var: str = "value", *, text: bool = False) -> list[str]:
    """Lines raising GiveUp when ``var`` fails one of ``validators`` (Length, Regexp and, when ``var``
    is known to be a str, OneOf inlined)."""
    out = []
    for validator in validators:
        kind = type(validator)
        if kind is validate.Length and validator.equal is None:
            if validator.min:
                out += [f"if len({var}) < {validator.min!r}:", "    raise GiveUp"]
            if validator.max is not None:
                out += [f"if len({var}) > {validator.max!r}:", "    raise GiveUp"]
            continue
        if kind is validate.Regexp:
            out += [f"if {source.name(validator.regex.match)}({var}) is None:", "    raise GiveUp"]
            continue
        if kind is validate.OneOf and text:
            try:
                choices = source.name(frozenset(validator.choices))
            except TypeError:
                pass
            else:
                out += [f"if {var} not in {choices}:", "    raise GiveUp"]
                continue
        out.append(f"{source.name(_call_validator(validator))}({var})")
    return out


def compile_dumper(schema: Schema) -> Dumper:
    """``_plain(schema.dump(loaded))``: the JSON document of loaded data, None values left out."""
    cls = type(schema)
    if cls in _DUMPERS:
        return _DUMPERS[cls]
    if schema._hooks.get("pre_dump") or schema._hooks.get("post_dump") or schema.only or schema.exclude:
        _DUMPERS[cls] = _never
        return _never
    for field in schema.dump_fields.values():
        if field.attribute is not None:
            _DUMPERS[cls] = _never
            return _never
    source = _Source()
    source.env["SCALARS"] = SCALARS
    source.line("def dump(loaded):")
    source.line("    if type(loaded) is not dict:")
    source.line("        raise GiveUp")
    source.line("    out = {}")
    for attr, field in schema.dump_fields.items():
        key = field.data_key if field.data_key is not None else attr
        source.line(f"    value = loaded.get({attr!r})")
        source.line("    if value is not None:")
        if _dumps_as_is(field):
            source.line("        if type(value) not in SCALARS:")
            source.line("            raise GiveUp")
            source.line(f"        out[{key!r}] = value")
        elif type(field) is fields.List and _dumps_as_is(field.inner):
            source.line("        for item in value:")
            source.line("            if item is not None and type(item) not in SCALARS:")
            source.line("                raise GiveUp")
            source.line(f"        out[{key!r}] = list(value)")
        elif type(field) is fields.List:
            inner = source.name(_field_dumper(field.inner, key))
            source.line(f"        out[{key!r}] = [None if item is None else {inner}(item) for item in value]")
        else:
            source.line(f"        out[{key!r}] = {source.name(_field_dumper(field, key))}(value)")
    source.line("    return out")
    dump = source.build("dump")
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
