"""JSON Schemas of the API: a policy's valid events, and the OpenAPI document.

`event_schema(checker)` describes what `/v1/check` decides without a 400 for that
policy: its attributes (enum values, bools, numbers; required when they have no
default), its leaf categories (scores in [0, 1]), `text`, `id`; no other key. A
gateway in any language can validate with it before calling. (Only `null` needs a
word: it is never a value, so no property allows it.)
"""

from __future__ import annotations

from typing import Any

from policyc.runtime.checker import Checker

EVENT_SCHEMA_ID = "policyc/event/v1"


def event_schema(checker: Checker) -> dict[str, Any]:
    attributes: dict[str, Any] = {}
    required: list[str] = []
    categories: dict[str, Any] = {}
    for v in checker.variables:
        if v.kind == "score":
            categories[v.name] = {"type": "number", "minimum": 0, "maximum": 1}
            continue
        prop: dict[str, Any]
        if v.kind == "enum":
            prop = {"type": "string", "enum": list(v.values)}
        elif v.kind == "bool":
            prop = {"type": "boolean"}
        else:
            prop = {"type": "number"}
        if v.default is not None:
            prop["default"] = v.default
        else:
            required.append(v.name)
        attributes[v.name] = prop
    context: dict[str, Any] = {"type": "object", "properties": attributes,
                               "additionalProperties": False}
    if required:
        context["required"] = required
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"{EVENT_SCHEMA_ID}/{checker.policy}/{checker.version}",
        "title": f"an event for {checker.policy} {checker.version}",
        "type": "object",
        "additionalProperties": False,
        "anyOf": [{"required": ["text"]}, {"required": ["context"]}, {"required": ["scores"]}],
        "properties": {
            "id": {"type": ["string", "number"]},
            "text": {"type": "string"},
            "context": context,
            "scores": {"type": "object", "properties": categories,
                       "additionalProperties": False},
        },
        "x-policyc": {"policy": checker.policy, "version": checker.version,
                      "hash": checker.hash, "categories": sorted(categories),
                      "text_categories": sorted(checker.bindings.categories)},
    }


_DECISION = {
    "type": "object",
    "required": ["schema", "action", "argument", "rule", "policy", "version", "hash",
                 "matched", "scores"],
    "properties": {
        "id": {"type": ["string", "number", "null"]},
        "schema": {"const": "policyc/decision/v1"},
        "action": {"enum": ["allow", "warn", "redact", "redirect", "refuse", "escalate"]},
        "argument": {"type": ["string", "null"]},
        "rule": {"type": ["string", "null"]},
        "policy": {"type": "string"}, "version": {"type": "string"},
        "hash": {"type": "string"},
        "matched": {"type": "array", "items": {"type": "string"}},
        "scores": {"type": "object", "additionalProperties": {"type": "number"}},
        "errors": {"type": "array", "items": {"type": "string"}},
        "redacted": {"type": "string"},
        "spans": {"type": "array", "items": {"type": "array", "items": {"type": "integer"}}},
        "decision_id": {"type": "string"},
        "latency_ms": {"type": "number"},
    },
}
_ERROR = {"type": "object", "required": ["error"], "properties": {"error": {
    "type": "object", "required": ["status", "message"],
    "properties": {"status": {"type": "integer"}, "message": {"type": "string"},
                   "line": {"type": "integer"}, "help": {"type": "string"}}}}}
_EVENT = {"type": "object", "description": "see GET /v1/policies/{name}/schema",
          "properties": {"id": {"type": ["string", "number"]}, "text": {"type": "string"},
                         "context": {"type": "object"}, "scores": {"type": "object"}}}
_BATCH_ITEM = {"oneOf": [{"$ref": "#/components/schemas/Decision"}, {
    "type": "object", "required": ["error"],
    "properties": {"id": {}, "line": {"type": "integer"}, "index": {"type": "integer"},
                   "error": {"type": "string"}}}]}


def _json(ref: str) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}}}


def openapi(version: str) -> dict[str, Any]:
    """The OpenAPI 3.1 document of the API (``GET /openapi.json``)."""
    err = {"description": "a located error", **_json("Error")}
    check = {"requestBody": {"required": True, **_json("Event")},
             "responses": {"200": {"description": "the decision", **_json("Decision")},
                           "400": err, "401": err, "404": err, "413": err}}
    batch = {"requestBody": {"required": True, "content": {
        "application/json": {"schema": {"type": "array",
                                        "items": {"$ref": "#/components/schemas/Event"}}},
        "application/x-ndjson": {"schema": {"type": "string"}}}},
        "responses": {"200": {"description": "one item per event, in order",
                              **_json("Batch")}, "400": err, "401": err, "413": err}}
    name = [{"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}]
    plain = {"responses": {"200": {"description": "ok"}}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "policyc decision service", "version": version},
        "paths": {
            "/v1/check": {"post": {"summary": "decide one event (default policy)", **check}},
            "/v1/check/batch": {"post": {"summary": "decide many events (default policy)",
                                         **batch}},
            "/v1/policies": {"get": {"summary": "the policies served", **plain}},
            "/v1/policies/{name}/check": {"post": {"summary": "decide one event",
                                                   "parameters": name, **check}},
            "/v1/policies/{name}/check/batch": {"post": {"summary": "decide many events",
                                                         "parameters": name, **batch}},
            "/v1/policies/{name}/schema": {"get": {"summary": "JSON Schema of an event",
                                                   "parameters": name, **plain}},
            "/health": {"get": {"summary": "liveness, with each bundle's status", **plain}},
            "/ready": {"get": {"summary": "200 when every configured bundle is loaded",
                               "responses": {"200": {"description": "ready"},
                                             "503": {"description": "not ready"}}}},
            "/metrics": {"get": {"summary": "Prometheus metrics", **plain}},
        },
        "components": {
            "schemas": {"Event": _EVENT, "Decision": _DECISION, "Error": _ERROR,
                        "Batch": {"type": "object", "properties": {
                            "decisions": {"type": "array", "items": _BATCH_ITEM},
                            "summary": {"type": "object"}}}},
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
    }
