"""Domain errors with stable machine-readable codes.

Nothing here knows about HTTP: the API translates ``CallintelError.status`` in one handler,
the CLI prints ``code: message``, and workers persist ``code`` on a failed job.
"""

from __future__ import annotations

from typing import Any, ClassVar


class CallintelError(Exception):
    """Base of every error this service raises on purpose."""

    code: ClassVar[str] = "internal_error"
    status: ClassVar[int] = 500
    #: Transient errors may be retried by workers (network hiccups, busy databases).
    transient: ClassVar[bool] = False

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details:
            body["details"] = self.details
        return body


# --- audio -----------------------------------------------------------------------------------
class AudioError(CallintelError):
    code = "audio_error"
    status = 422


class AudioEmpty(AudioError):
    code = "audio_empty"


class AudioUnreadable(AudioError):
    code = "audio_unreadable"


class AudioNoSamples(AudioError):
    code = "audio_no_samples"


class AudioTooLong(AudioError):
    code = "audio_too_long"
    status = 413


class AudioTooLarge(AudioError):
    code = "audio_too_large"
    status = 413


class AudioChannels(AudioError):
    code = "audio_channels"


# --- models ----------------------------------------------------------------------------------
class ModelError(CallintelError):
    code = "model_error"
    status = 503


class ModelPackageMissing(ModelError):
    code = "model_package_missing"


class ModelNotFound(ModelError):
    code = "model_not_found"
    status = 422


# --- requests and resources ------------------------------------------------------------------
class InvalidInput(CallintelError):
    code = "invalid_input"
    status = 422


class DatasetInvalid(InvalidInput):
    """An evaluation dataset (manifest or call script) is missing or malformed."""

    code = "dataset_invalid"


class NotFound(CallintelError):
    code = "not_found"
    status = 404


class Conflict(CallintelError):
    code = "conflict"
    status = 409


class IdempotencyConflict(Conflict):
    code = "idempotency_conflict"


class CallNotReady(Conflict):
    """The call has no analysis yet (still queued or processing, or failed)."""

    code = "call_not_ready"


class CallBusy(Conflict):
    """The call is queued or processing; it cannot be re-analysed until that ends."""

    code = "call_busy"


class Unauthorized(CallintelError):
    code = "unauthorized"
    status = 401


class Forbidden(CallintelError):
    code = "forbidden"
    status = 403


class PayloadTooLarge(CallintelError):
    code = "payload_too_large"
    status = 413


class UnsupportedMediaType(CallintelError):
    code = "unsupported_media_type"
    status = 415


# --- fetching recordings -----------------------------------------------------------------------
class FetchError(CallintelError):
    code = "fetch_failed"
    status = 422


class FetchBlocked(FetchError):
    """The URL resolves to an address we refuse (SSRF protection)."""

    code = "url_blocked"


class FetchTransient(FetchError):
    code = "fetch_transient"
    transient = True


# --- configuration -----------------------------------------------------------------------------
class ConfigError(CallintelError):
    code = "config_invalid"
    status = 422


class FlowInvalid(ConfigError):
    code = "flow_invalid"


class PolicyInvalid(ConfigError):
    code = "policy_invalid"


class ScorecardInvalid(ConfigError):
    code = "scorecard_invalid"


class WorkerCrashed(CallintelError):
    code = "worker_crashed"
