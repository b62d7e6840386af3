"""A validator for the subset of JSON Schema (2020-12) that SparseLab's generated record schemas use.

Supported: type (one or a list), properties, required, additionalProperties (false or a schema), items,
minItems, maxItems, enum, const, minimum, maximum, exclusiveMinimum, exclusiveMaximum, minLength,
maxLength, anyOf, oneOf, allOf, $ref to "#/..." and annotations (title, description, default, unit, $schema,
$id, $defs). A keyword outside this list raises SchemaError rather than being skipped unchecked.
"""

import json
import math

ANNOTATIONS = {"$schema", "$id", "$defs", "definitions", "title", "description", "default", "examples", "$comment", "unit"}
KEYWORDS = ANNOTATIONS | {
    "type", "properties", "required", "additionalProperties", "items", "minItems", "maxItems", "enum",
    "const", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minLength", "maxLength",
    "anyOf", "oneOf", "allOf", "$ref",
}


class SchemaError(Exception):
    """The schema itself uses something this validator does not implement."""


class ValidationError(ValueError):
    """A value breaks the schema; path says where (e.g. records.0.loss)."""

    def __init__(self, path, message):
        super().__init__("%s: %s" % (path or "(value)", message))
        self.path = path


def _is_type(value, name):
    if name == "null":
        return value is None
    if name == "boolean":
        return isinstance(value, bool)
    if name == "integer":
        return (isinstance(value, int) and not isinstance(value, bool)) or (
            isinstance(value, float) and math.isfinite(value) and value.is_integer()
        )
    if name == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if name == "string":
        return isinstance(value, str)
    if name == "array":
        return isinstance(value, (list, tuple))
    if name == "object":
        return isinstance(value, dict)
    raise SchemaError("unknown type %r" % name)


def _join(path, key):
    return "%s.%s" % (path, key) if path else str(key)


class Validator:
    """Validates values against one schema; root is the document $ref pointers resolve in."""

    def __init__(self, schema, root=None):
        self.schema = schema
        self.root = root if root is not None else schema

    def validate(self, value, path=""):
        self._check(self.schema, value, path)

    def _resolve(self, ref):
        if not ref.startswith("#"):
            raise SchemaError("only local $ref pointers are supported, got %r" % ref)
        node = self.root
        for part in [p for p in ref[1:].split("/") if p]:
            node = node[part.replace("~1", "/").replace("~0", "~")]
        return node

    def _check(self, schema, value, path):
        if schema is True:
            return
        if schema is False:
            raise ValidationError(path, "no value is allowed here")
        unknown = set(schema) - KEYWORDS
        if unknown:
            raise SchemaError("unsupported keyword(s) %s at %s" % (", ".join(sorted(unknown)), path or "(root)"))
        if "$ref" in schema:
            self._check(self._resolve(schema["$ref"]), value, path)
        if "type" in schema:
            types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
            if not any(_is_type(value, t) for t in types):
                raise ValidationError(path, "expected %s, got %s" % (" or ".join(types), _describe(value)))
        if "const" in schema and not _same(value, schema["const"]):
            raise ValidationError(path, "must be %s" % json.dumps(schema["const"]))
        if "enum" in schema and not any(_same(value, e) for e in schema["enum"]):
            raise ValidationError(path, "must be one of %s, got %s" % (", ".join(json.dumps(e) for e in schema["enum"]), _describe(value)))
        if _is_type(value, "number"):
            self._bounds(schema, value, path)
        if isinstance(value, str):
            if "minLength" in schema and len(value) < schema["minLength"]:
                raise ValidationError(path, "must have at least %d characters" % schema["minLength"])
            if "maxLength" in schema and len(value) > schema["maxLength"]:
                raise ValidationError(path, "must have at most %d characters" % schema["maxLength"])
        if isinstance(value, (list, tuple)):
            if "minItems" in schema and len(value) < schema["minItems"]:
                raise ValidationError(path, "must have at least %d items" % schema["minItems"])
            if "maxItems" in schema and len(value) > schema["maxItems"]:
                raise ValidationError(path, "must have at most %d items" % schema["maxItems"])
            if "items" in schema:
                for i, item in enumerate(value):
                    self._check(schema["items"], item, _join(path, i))
        if isinstance(value, dict):
            for key in schema.get("required", []):
                if key not in value:
                    raise ValidationError(_join(path, key), "required")
            properties = schema.get("properties", {})
            for key, item in value.items():
                if key in properties:
                    self._check(properties[key], item, _join(path, key))
                elif "additionalProperties" in schema:
                    extra = schema["additionalProperties"]
                    if extra is False:
                        raise ValidationError(_join(path, key), "not a known field")
                    self._check(extra, item, _join(path, key))
        for keyword in ("anyOf", "oneOf"):
            if keyword in schema:
                passed = sum(1 for option in schema[keyword] if self._passes(option, value, path))
                if passed == 0 or (keyword == "oneOf" and passed > 1):
                    raise ValidationError(path, "matches %s of the allowed forms (%s)" % ("none" if passed == 0 else passed, _describe(value)))
        for option in schema.get("allOf", []):
            self._check(option, value, path)

    def _passes(self, schema, value, path):
        try:
            self._check(schema, value, path)
            return True
        except ValidationError:
            return False

    def _bounds(self, schema, value, path):
        if "minimum" in schema and value < schema["minimum"]:
            raise ValidationError(path, "must be at least %s, got %s" % (schema["minimum"], value))
        if "maximum" in schema and value > schema["maximum"]:
            raise ValidationError(path, "must be at most %s, got %s" % (schema["maximum"], value))
        if "exclusiveMinimum" in schema and value <= schema["exclusiveMinimum"]:
            raise ValidationError(path, "must be greater than %s, got %s" % (schema["exclusiveMinimum"], value))
        if "exclusiveMaximum" in schema and value >= schema["exclusiveMaximum"]:
            raise ValidationError(path, "must be less than %s, got %s" % (schema["exclusiveMaximum"], value))


def _same(a, b):
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    return a == b


def _describe(value):
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."
