"""SparseLab's records (common/metrics.ts) from Python: built, validated against the records' generated JSON
Schema (common/records.schema.json) and encoded as the protocol's frames or JSON lines.

Non-finite numbers (a diverged loss) travel as the strings "NaN", "Infinity" and "-Infinity", as in the
TypeScript protocol.
"""

import json
import math
import os
import struct
from pathlib import Path

from .schema import ValidationError, Validator

#: The protocol version this client speaks (common/protocol.ts PROTOCOL_VERSION).
PROTOCOL_VERSION = 2
#: Record kinds, as `metrics` messages name them.
KINDS = ("iteration", "evaluation", "layerStats", "histogram")

_REPO_ROOT = Path(__file__).resolve().parents[3]
#: Where the schema is looked for: $SPARSELAB_RECORDS_SCHEMA, else the repository's common/.
SCHEMA_PATH = Path(os.environ.get("SPARSELAB_RECORDS_SCHEMA", _REPO_ROOT / "common" / "records.schema.json"))


def load_validators(path=None):
    """A Validator per record kind, from the generated JSON Schema ($defs holds one schema per kind)."""
    path = Path(path or SCHEMA_PATH)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise FileNotFoundError("the records' JSON Schema is not at %s (set SPARSELAB_RECORDS_SCHEMA): %s" % (path, e))
    definitions = document.get("$defs", {})
    for kind in KINDS:
        if kind not in definitions:
            raise ValueError("%s has no schema for %s records (looked in $defs)" % (path, kind))
    return {kind: Validator(definitions[kind], root=document) for kind in KINDS}


def wire_value(value):
    """A value as the protocol's JSON carries it: non-finite floats as tokens, tensors and numpy scalars as numbers."""
    if isinstance(value, dict):
        return {k: wire_value(v) for k, v in value.items() if v is not None or k == "threshold"}
    if isinstance(value, (list, tuple)):
        return [wire_value(v) for v in value]
    if hasattr(value, "item") and callable(value.item):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if value != value else ("Infinity" if value > 0 else "-Infinity")
    return value


class RecordChecker:
    """Validates records of each kind; a bad record raises ValidationError naming the kind and field."""

    def __init__(self, path=None):
        self.validators = load_validators(path)

    def check(self, kind, record):
        if kind not in KINDS:
            raise ValueError("unknown record kind %r; expected one of %s" % (kind, ", ".join(KINDS)))
        try:
            self.validators[kind].validate(record)
        except ValidationError as e:
            raise ValidationError("%s record.%s" % (kind, e.path) if e.path else kind + " record", str(e).split(": ", 1)[-1])
        return record


def encode_frame(header):
    """The protocol's frame: [u32 LE header length][UTF-8 JSON header], no payload."""
    body = json.dumps(dict(header, payloadBytes=0), separators=(",", ":"), allow_nan=False).encode("utf-8")
    return struct.pack("<I", len(body)) + body


def decode_frame(data):
    """A frame's header (a dict); raises ValueError on a malformed frame."""
    if len(data) < 4:
        raise ValueError("a frame of %d bytes is shorter than its 4-byte header length" % len(data))
    (length,) = struct.unpack("<I", data[:4])
    if length > len(data) - 4:
        raise ValueError("header length %d runs past the end of a %d-byte frame" % (length, len(data)))
    header = json.loads(data[4 : 4 + length].decode("utf-8"))
    if not isinstance(header, dict) or "type" not in header:
        raise ValueError("a frame header without a type")
    return header
