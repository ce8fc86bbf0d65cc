"""Pydantic models at the HTTP boundary (with OpenAPI examples)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from callintel.domain import ChannelMap

CallStatusName = Literal["queued", "processing", "completed", "failed"]


class ErrorBody(BaseModel):
    """Every error answer."""

    code: str = Field(examples=["idempotency_conflict"])
    message: str = Field(examples=["this Idempotency-Key was used with a different request body"])
    details: dict[str, Any] | None = None


def _http_url(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    if not value.lower().startswith(("http://", "https://")) or len(value) > 2048:
        raise ValueError("must be an http or https URL")
    return value


class CallMetadata(BaseModel):
    """Metadata sent with a call (multipart form fields, or JSON keys next to ``recording_url``)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    external_id: str | None = Field(None, max_length=200, examples=["CA1234-rec-1"])
    agent_id: str | None = Field(None, max_length=200, examples=["agent-17"])
    customer_id: str | None = Field(None, max_length=200, examples=["cust-9001"])
    queue: str | None = Field(None, max_length=200, examples=["billing"])
    started_at: datetime | None = Field(None, examples=["2026-12-01T14:03:00Z"])
    channel_map: str = Field(
        "agent,customer", description="Roles of the left and right channels.", examples=["agent,customer"]
    )
    language: str | None = Field(
        None, max_length=16, pattern=r"^[a-z]{2,3}(-[A-Za-z]{2,4})?$", examples=["en"]
    )
    model: Literal["tiny.en", "base"] | None = Field(None, description="ASR model for this call.")
    callback_url: str | None = Field(
        None, description="Receives signed webhooks for this call.", examples=["https://example.com/hooks"]
    )

    @field_validator("channel_map")
    @classmethod
    def _channel_map(cls, value: str) -> str:
        parsed = ChannelMap.parse(value)
        return f"{parsed.left},{parsed.right}"

    @field_validator("callback_url")
    @classmethod
    def _callback(cls, value: str | None) -> str | None:
        return _http_url(value)


RECORDING_EXAMPLE: dict[str, Any] = {
    "recording_url": "https://recordings.example.com/calls/123.wav",
    "external_id": "123",
    "agent_id": "agent-17",
    "channel_map": "agent,customer",
    "callback_url": "https://example.com/hooks",
}


class RecordingRequest(CallMetadata):
    """``POST /v1/calls`` with a JSON body: the worker downloads the recording."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [RECORDING_EXAMPLE]})
    recording_url: str = Field(examples=["https://recordings.example.com/calls/123.wav"])

    @field_validator("recording_url")
    @classmethod
    def _recording(cls, value: str) -> str:
        checked = _http_url(value)
        assert checked is not None
        return checked


class CallAccepted(BaseModel):
    """Answer to an accepted call (202)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "call_5f1c...",
                    "status": "queued",
                    "status_url": "/v1/calls/call_5f1c...",
                    "replay": False,
                }
            ]
        }
    )
    id: str
    status: CallStatusName
    status_url: str
    replay: bool = Field(False, description="True when an Idempotency-Key replay returned an existing call.")


class CallError(BaseModel):
    code: str = Field(examples=["audio_unreadable"])
    message: str


class Escalation(BaseModel):
    decision: str | None = None
    priority: str | None = None


class CallSummaryOut(BaseModel):
    """One call in a list."""

    id: str
    status: CallStatusName
    error: CallError | None = None
    source: str
    external_id: str | None = None
    agent_id: str | None = None
    customer_id: str | None = None
    queue: str | None = None
    started_at: datetime | None = None
    channel_map: str
    language: str | None = None
    created_at: datetime
    completed_at: datetime | None = None
    duration_s: float | None = None
    intent: str | None = None
    sentiment: str | None = None
    flags: list[str] = []
    escalation: Escalation = Escalation()
    qa_score: float | None = None


class CallDetail(CallSummaryOut):
    """A call with its latest analysis document when completed."""

    analysis_version: int | None = None
    analysis: dict[str, Any] | None = Field(
        None,
        description="The whole analysis (transcript, intent, sentiment, flags, summary, escalation, "
        "kb_suggestions, qa, metrics, pii, low_confidence) when status is completed.",
    )


class CallList(BaseModel):
    items: list[CallSummaryOut]
    next_cursor: str | None = Field(None, description="Pass as ?cursor= for the next page; null on the last.")


class TranscriptOut(BaseModel):
    call_id: str
    language: str | None = None
    channel_map: dict[str, Any] | None = None
    channels: int | None = None
    turns: list[dict[str, Any]] = Field(
        description="Ordered turns (speaker, start, end, text; PII redacted)."
    )


class SummaryOut(BaseModel):
    call_id: str
    summary: dict[str, Any] | None
    intent: dict[str, Any] | None = None
    flags: list[dict[str, Any]] = []
    escalation: dict[str, Any] | None = None
    sentiment: dict[str, Any] | None = None


class WebhookAttemptOut(BaseModel):
    number: int
    status_code: int | None
    outcome: str = Field(examples=["success"])
    error: str | None = None
    duration_ms: float
    created_at: datetime


class WebhookDeliveryOut(BaseModel):
    id: str = Field(description="The webhook-id header value.")
    event: str = Field(examples=["call.completed"])
    url: str
    status: Literal["pending", "delivered", "failed"]
    attempt_count: int
    created_at: datetime
    delivered_at: datetime | None = None
    attempts: list[WebhookAttemptOut]


class WebhookList(BaseModel):
    items: list[WebhookDeliveryOut]
