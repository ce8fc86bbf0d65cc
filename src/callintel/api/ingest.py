"""Reading a ``POST /v1/calls`` request: multipart upload or JSON ``{recording_url}``.

The upload is copied to a temporary file while it is hashed and counted (the body limit itself is
enforced while streaming by ``BodyLimitMiddleware``), then probed so that an empty or non-audio
file is refused at once with its code rather than failing later in a worker.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import Request
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from callintel.api.schemas import CallMetadata, RecordingRequest
from callintel.errors import (
    AudioChannels,
    AudioEmpty,
    AudioTooLarge,
    AudioUnreadable,
    InvalidInput,
    UnsupportedMediaType,
)


@dataclass(frozen=True)
class Upload:
    path: Path
    size: int
    sha256: str
    content_type: str


@dataclass(frozen=True)
class IngestRequest:
    metadata: CallMetadata
    upload: Upload | None
    recording_url: str | None

    @property
    def body_hash(self) -> str:
        """What makes two requests 'the same' for Idempotency-Key: metadata plus audio or URL."""
        doc = {
            "meta": self.metadata.model_dump(mode="json", exclude_none=True),
            "audio": self.upload.sha256 if self.upload else None,
            "url": self.recording_url,
        }
        return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


def validated(model: type[CallMetadata], data: dict[str, Any]) -> CallMetadata:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
        first = errors[0]
        raise InvalidInput(f"{'.'.join(map(str, first['loc']))}: {first['msg']}", errors=errors) from None


async def _save_upload(file: UploadFile, *, max_bytes: int, folder: Path) -> Upload:
    digest, size = hashlib.sha256(), 0
    fd, name = tempfile.mkstemp(prefix="upload-", dir=folder)
    with os.fdopen(fd, "wb") as out:
        while chunk := await file.read(1 << 20):
            size += len(chunk)
            if size > max_bytes:
                out.close()
                os.unlink(name)
                raise AudioTooLarge(f"the file exceeds {max_bytes} bytes", max_bytes=max_bytes)
            digest.update(chunk)
            out.write(chunk)
    if size == 0:
        os.unlink(name)
        raise AudioEmpty("the uploaded file is empty")
    return Upload(Path(name), size, digest.hexdigest(), file.content_type or "application/octet-stream")


def probe_audio(path: Path) -> None:
    """Refuse files FFmpeg cannot read as audio, and more than two channels."""
    import av

    try:
        with av.open(str(path), mode="r", metadata_errors="ignore") as container:
            if not container.streams.audio:
                raise AudioUnreadable("the file has no audio stream")
            stream = container.streams.audio[0]
            channels = stream.codec_context.channels or 0
            next(container.decode(stream), None)
    except (av.error.FFmpegError, ValueError, OSError, EOFError, StopIteration) as exc:
        raise AudioUnreadable(f"the file is not readable audio ({type(exc).__name__})") from None
    if channels > 2:
        raise AudioChannels(f"the audio has {channels} channels; mono or stereo only", channels=channels)


async def _multipart(request: Request, *, max_bytes: int, folder: Path) -> IngestRequest:
    form = await request.form(max_files=1, max_fields=30)
    file = form.get("file")
    if not isinstance(file, UploadFile):
        raise InvalidInput("multipart body needs a 'file' part with the recording")
    fields = {k: v for k, v in form.items() if k != "file" and isinstance(v, str) and v != ""}
    metadata = validated(CallMetadata, fields)
    upload = await _save_upload(file, max_bytes=max_bytes, folder=folder)
    await form.close()
    return IngestRequest(metadata=metadata, upload=upload, recording_url=None)


async def _json(request: Request) -> IngestRequest:
    try:
        data = json.loads(await request.body())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidInput("JSON body must be an object with 'recording_url'")
    body = validated(RecordingRequest, data)
    assert isinstance(body, RecordingRequest)
    metadata = CallMetadata.model_validate(body.model_dump(exclude={"recording_url"}))
    return IngestRequest(metadata=metadata, upload=None, recording_url=body.recording_url)


async def read_ingest(request: Request, *, max_bytes: int, folder: Path) -> AsyncIterator[IngestRequest]:
    """Parse the request; the temporary upload is removed when the request ends."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "multipart/form-data":
        ingest = await _multipart(request, max_bytes=max_bytes, folder=folder)
    elif content_type == "application/json":
        ingest = await _json(request)
    else:
        raise UnsupportedMediaType(
            "send multipart/form-data with a 'file', or JSON with 'recording_url'", content_type=content_type
        )
    try:
        if ingest.upload is not None:
            await run_in_threadpool(probe_audio, ingest.upload.path)
        yield ingest
    finally:
        if ingest.upload is not None:
            ingest.upload.path.unlink(missing_ok=True)
