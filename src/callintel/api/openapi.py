"""OpenAPI pieces that FastAPI cannot infer: the two request bodies of ``POST /v1/calls`` and the
shared error responses."""

from __future__ import annotations

from typing import Any

from callintel.api.schemas import RECORDING_EXAMPLE, CallMetadata, ErrorBody, RecordingRequest

_ERROR = {"application/json": {"schema": ErrorBody.model_json_schema()}}

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing or invalid API key (`unauthorized`)", "content": _ERROR},
    403: {"description": "The key lacks the scope (`forbidden`)", "content": _ERROR},
    404: {"description": "Unknown call, or another tenant's (`not_found`)", "content": _ERROR},
    409: {"description": "`idempotency_conflict`, `call_not_ready`, `call_busy`", "content": _ERROR},
    413: {"description": "`payload_too_large`, `audio_too_large`", "content": _ERROR},
    415: {"description": "Body is neither multipart nor JSON (`unsupported_media_type`)", "content": _ERROR},
    422: {
        "description": "`invalid_input`, `audio_empty`, `audio_unreadable`, `audio_channels`",
        "content": _ERROR,
    },
}


def _multipart_schema() -> dict[str, Any]:
    schema = CallMetadata.model_json_schema()
    properties = {"file": {"type": "string", "format": "binary", "description": "The recording."}}
    for name, prop in schema["properties"].items():
        properties[name] = {
            k: v
            for k, v in prop.items()
            if k in ("type", "description", "examples", "anyOf", "default", "format", "enum")
        }
    return {"type": "object", "required": ["file"], "properties": properties}


CREATE_CALL_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {"schema": _multipart_schema()},
            "application/json": {
                "schema": RecordingRequest.model_json_schema(),
                "example": RECORDING_EXAMPLE,
            },
        },
    },
    "parameters": [],
}
