"""One Settings object for the whole service.

Built only in composition roots (CLI, API factory, worker app, tests) through the cached
``get_settings()``; everything below receives the section it needs as an argument.
Environment variables use the ``CALLINTEL_`` prefix and ``__`` for nesting, e.g.
``CALLINTEL_ASR__MODEL=base`` or ``CALLINTEL_DATABASE_URL=postgresql+psycopg://...``.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class _Section(BaseModel):
    # Field docstrings become descriptions (OpenAPI, the README settings table).
    model_config = ConfigDict(use_attribute_docstrings=True)


class AudioSettings(_Section):
    """Limits applied when decoding uploaded or fetched audio."""

    max_duration_s: float = Field(4 * 3600.0, description="Longest call accepted, in seconds.")
    """Longest call accepted, in seconds (default 4 h)."""
    max_bytes: int = Field(512 * 1024 * 1024, description="Largest recording accepted, in bytes.")
    """Largest recording accepted, in bytes."""
    sample_rate: int = 16000
    """Rate the decoder resamples to; Whisper expects 16 kHz."""


class AsrSettings(_Section):
    """Speech recognition (faster-whisper)."""

    model: Literal["tiny.en", "base"] = "tiny.en"
    """Packaged Whisper model: ``tiny.en`` (fast, English) or ``base`` (multilingual, better on 8 kHz)."""
    compute_type: str = "int8"
    """CTranslate2 compute type on CPU."""
    cpu_threads: int = 2
    """Threads per transcription."""
    beam_size: int = 5
    """Beam width for decoding."""
    language: str | None = "en"
    """Forced language, or None to detect (only with the multilingual model)."""
    no_speech_threshold: float = 0.6
    """Segments whose no-speech probability is above this are dropped."""
    min_avg_logprob: float = -1.2
    """Segments whose average log-probability is below this are dropped as hallucinations."""
    turn_gap_s: float = 1.0
    """A gap between two words longer than this starts a new turn."""
    max_compression_ratio: float = 2.4
    """Segments whose text compresses better than this (gzip ratio) are repetition loops and dropped."""
    max_ngram_repeats: int = 4
    """A word sequence (1 to 4 words) repeated back to back more often than this is a loop."""


class ModelSettings(_Section):
    """Where models and trained heads live."""

    cache_dir: Path = Path("var/models")
    """Folder for derived model files (the joined Whisper base model, retrained heads)."""
    embedder: str = "minilm"
    """Sentence embedder backend name."""
    heads_dir: Path | None = None
    """Folder of retrained head versions; None means ``<cache_dir>/heads``. With no version there,
    the heads shipped with the package are used."""
    sentiment_model_dir: Path | None = None
    """Optional local Hugging Face sequence-classification model folder used for sentiment
    instead of the head."""
    torch_threads: int | None = 1
    """Intra-op threads for torch (embeddings, heads). 1 keeps latency steady when several requests
    embed at once; None lets torch use every core."""
    low_confidence: float = 0.55
    """Classifier outputs below this confidence are labelled low-confidence."""
    intent_call_low_confidence: float = 0.45
    """A whole call's intent (pooled over its turns, which spreads probability) below this becomes
    ``other`` with low confidence; single utterances use ``low_confidence``."""


    def resolved_heads_dir(self) -> Path:
        """Where retrained heads are written and read (the same folder for API, workers and CLI)."""
        return self.heads_dir or self.cache_dir / "heads"


class PrivacySettings(_Section):
    """PII handling."""

    keep_raw_transcript: bool = False
    """Store the unredacted transcript too. Off by default: stored transcripts are redacted."""
    redact_audio: bool = True
    """Produce a redacted audio copy with PII spans silenced."""


class WebhookSettings(_Section):
    """Outgoing webhooks (Standard Webhooks signatures)."""

    secret: SecretStr = SecretStr("whsec_" + "Y2FsbGludGVsLWRldi13ZWJob29rLXNlY3JldA==")
    """Signing secret in ``whsec_<base64>`` form. Override in production."""
    max_attempts: int = 8
    """Delivery attempts before a webhook is marked failed."""
    backoff_base_s: float = 2.0
    """First retry delay; doubles each attempt."""
    timeout_s: float = 10.0
    """HTTP timeout per delivery attempt."""


class FetchSettings(_Section):
    """Fetching recordings from URLs."""

    allow_private: bool = False
    """Allow loopback and private (RFC 1918, ULA) targets (tests only; SSRF risk). Link-local and
    metadata addresses stay refused."""
    allowed_networks: list[str] = []
    """Addresses or CIDR networks allowed even though private, e.g. an internal recording server."""
    timeout_s: float = 30.0
    """Total time allowed for one download."""
    max_redirects: int = 3
    """Redirects followed, each one re-checked."""
    allowed_content_types: list[str] = ["audio/", "video/", "application/octet-stream"]
    """Accepted Content-Type prefixes."""


class WorkerSettings(_Section):
    """Job execution."""

    max_deliveries: int = 3
    """A job delivered more times than this ends failed with ``worker_crashed``."""
    job_deadline_s: int = 300
    """A running job extends its deadline by this much every third of it (heartbeat); a queued or
    running job past its deadline (lost message, dead worker) is re-enqueued by the reconciler."""
    visibility_timeout_s: int = 7200
    """Redis visibility timeout; must exceed the longest job."""
    reconcile_interval_s: int = 60
    """How often the reconciler looks for stuck jobs."""
    concurrency: int = 1
    """Worker processes per `callintel worker`."""
    queue_prefix: str = ""
    """Prefix for the broker's Redis keys, so several deployments (or test runs) can share one Redis."""
    debug_delay_s: float = 0.0
    """Sleep this long before analysing each job. Tests use it to kill a worker mid-job; keep 0."""


class SecuritySettings(_Section):
    """Authentication and integrations."""

    twilio_auth_token: SecretStr | None = None
    """Auth token used to check ``X-Twilio-Signature``; Twilio routes refuse requests when unset."""
    bootstrap_admin_key: SecretStr | None = None
    """If set, an admin key with this value is created for the default tenant at start-up."""
    public_base_url: str | None = None
    """External base URL, used to rebuild the URL Twilio signed when behind a proxy."""


class LiveSettings(_Section):
    """Live agent assist."""

    session_ttl_s: int = 4 * 3600
    """Idle live sessions expire after this many seconds."""
    kb_top_k: int = 3
    """Knowledge-base suggestions returned per utterance."""
    kb_min_score: float = 0.3
    """Hybrid-search score (0-1) below which an article is not suggested live (small talk)."""
    kb_context_turns: int = 3
    """Recent substantive customer turns joined into the live knowledge-base query."""
    max_utterance_chars: int = 4000
    """Longest utterance text accepted (longer ones are refused with ``invalid_input``)."""
    max_turns: int = 2000
    """Utterances a session accepts before it must be ended."""
    lock_timeout_s: float = 10.0
    """How long an utterance waits for the session lock held by the previous one."""
    load_starter_kb: bool = True
    """Load the packaged starter knowledge base for the default tenant when it has no articles."""


class GuardrailSettings(_Section):
    """Human-escalation guardrail."""

    policy_path: Path | None = None
    """Default policy YAML; None uses the packaged default."""
    refund_authority_limit: float = 100.0
    """Refunds or credits above this amount need a supervisor."""
    repeat_contact_count: int = 3
    """Contacts by one customer within ``repeat_contact_days`` that count as repeat contact."""
    repeat_contact_days: int = 7
    """Window for repeat-contact detection in our own history."""


class Settings(BaseSettings):
    """All configuration. Embedded defaults need no services: SQLite, a local blob folder, and an
    in-database Celery broker."""

    model_config = SettingsConfigDict(
        env_prefix="CALLINTEL_", env_nested_delimiter="__", env_file=".env", extra="ignore",
        use_attribute_docstrings=True,
    )

    data_dir: Path = Path("var")
    """Root folder for embedded-mode state (SQLite database, blobs, broker)."""
    database_url: str | None = None
    """SQLAlchemy URL; None means SQLite at ``<data_dir>/callintel.db``."""
    broker_url: str | None = None
    """Celery broker URL (e.g. ``redis://host:6379/0``); None means the embedded SQLite broker."""
    redis_url: str | None = None
    """Redis for live sessions and KB-change notices; defaults to ``broker_url`` when that is Redis."""
    blob_dir: Path | None = None
    """Local blob folder; None means ``<data_dir>/blobs``."""
    s3_bucket: str | None = None
    """Store blobs in this S3-compatible bucket instead of a folder."""
    s3_endpoint_url: str | None = None
    """Endpoint of the S3-compatible store (MinIO, Ceph...)."""
    log_json: bool = True
    """Emit JSON log lines."""
    log_level: str = "INFO"
    """Root log level."""

    audio: AudioSettings = AudioSettings()
    asr: AsrSettings = AsrSettings()
    models: ModelSettings = ModelSettings()
    privacy: PrivacySettings = PrivacySettings()
    webhooks: WebhookSettings = WebhookSettings()
    fetch: FetchSettings = FetchSettings()
    worker: WorkerSettings = WorkerSettings()
    security: SecuritySettings = SecuritySettings()
    live: LiveSettings = LiveSettings()
    guardrail: GuardrailSettings = GuardrailSettings()

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'callintel.db').resolve()}"

    def resolved_broker_url(self) -> str:
        if self.broker_url:
            return self.broker_url
        return f"sqla+sqlite:///{(self.data_dir / 'broker.db').resolve()}"

    def resolved_blob_dir(self) -> Path:
        return (self.blob_dir or self.data_dir / "blobs").resolve()

    def resolved_redis_url(self) -> str | None:
        if self.redis_url:
            return self.redis_url
        if self.broker_url and self.broker_url.startswith("redis"):
            return self.broker_url
        return None

    @property
    def embedded(self) -> bool:
        """True when no external broker is configured (single-machine mode)."""
        return self.broker_url is None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings. Call only from composition roots."""
    return Settings()
