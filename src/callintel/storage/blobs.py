"""Blob storage for audio: a local folder by default, an S3-compatible bucket when configured."""

from __future__ import annotations

import os
import re
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol

from callintel.errors import NotFound

if TYPE_CHECKING:
    from callintel.config import Settings

_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,299}$")


def check_key(key: str) -> str:
    """Keys are relative, slash-separated and never climb out of the store."""
    if not _KEY.match(key) or ".." in key.split("/"):
        raise ValueError(f"invalid blob key: {key!r}")
    return key


class BlobStore(Protocol):
    """Where audio bytes live. Keys look like ``<tenant>/<call>/audio``."""

    def put(self, key: str, data: bytes, *, content_type: str = "application/octet-stream") -> None: ...

    def put_file(self, key: str, path: Path, *, content_type: str = "application/octet-stream") -> None: ...

    def get(self, key: str) -> bytes: ...

    def open(self, key: str) -> BinaryIO: ...

    def delete(self, key: str) -> None: ...

    def exists(self, key: str) -> bool: ...

    def delete_prefix(self, prefix: str) -> int:
        """Delete every blob whose key starts with ``prefix`` (ending in ``/``); returns how many."""
        ...

    def check(self) -> None:
        """Raise when the store cannot be reached (readiness)."""
        ...


class LocalBlobStore:
    """Files under one folder; writes go to a temporary name and are renamed (atomic)."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def put(self, key: str, data: bytes, *, content_type: str = "application/octet-stream") -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)

    def put_file(self, key: str, path: Path, *, content_type: str = "application/octet-stream") -> None:
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
        with path.open("rb") as src, tmp.open("wb") as out:
            for chunk in iter(lambda: src.read(1 << 20), b""):
                out.write(chunk)
        os.replace(tmp, target)

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise NotFound("blob not found", key=key) from None

    def open(self, key: str) -> BinaryIO:
        try:
            return self._path(key).open("rb")
        except FileNotFoundError:
            raise NotFound("blob not found", key=key) from None

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def delete_prefix(self, prefix: str) -> int:
        folder = self._path(prefix.rstrip("/"))
        if not folder.is_dir():
            return 0
        files = [p for p in folder.rglob("*") if p.is_file()]
        shutil.rmtree(folder, ignore_errors=True)
        return len(files)

    def check(self) -> None:
        if not os.access(self.root, os.W_OK):
            raise OSError(f"blob folder {self.root} is not writable")


class S3BlobStore:
    """An S3-compatible bucket (AWS, MinIO, Ceph) through boto3."""

    def __init__(self, bucket: str, *, endpoint_url: str | None = None, client: Any = None) -> None:
        import boto3

        self.bucket = bucket
        self.client = client or boto3.client("s3", endpoint_url=endpoint_url)

    def put(self, key: str, data: bytes, *, content_type: str = "application/octet-stream") -> None:
        self.client.put_object(Bucket=self.bucket, Key=check_key(key), Body=data, ContentType=content_type)

    def put_file(self, key: str, path: Path, *, content_type: str = "application/octet-stream") -> None:
        self.client.upload_file(
            str(path), self.bucket, check_key(key), ExtraArgs={"ContentType": content_type}
        )

    def _get_object(self, key: str) -> Any:
        try:
            return self.client.get_object(Bucket=self.bucket, Key=check_key(key))
        except self.client.exceptions.NoSuchKey:
            raise NotFound("blob not found", key=key) from None

    def get(self, key: str) -> bytes:
        return bytes(self._get_object(key)["Body"].read())

    def open(self, key: str) -> BinaryIO:
        body: BinaryIO = self._get_object(key)["Body"]
        return body

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=check_key(key))

    def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=check_key(key))
        except ClientError:
            return False
        return True

    def delete_prefix(self, prefix: str) -> int:
        paginator = self.client.get_paginator("list_objects_v2")
        count = 0
        for page in paginator.paginate(Bucket=self.bucket, Prefix=check_key(prefix.rstrip("/")) + "/"):
            keys = [{"Key": obj["Key"]} for obj in page.get("Contents", [])]
            if keys:
                self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": keys, "Quiet": True})
                count += len(keys)
        return count

    def check(self) -> None:
        self.client.head_bucket(Bucket=self.bucket)


def make_blob_store(settings: Settings) -> BlobStore:
    """S3 when ``s3_bucket`` is set, else the local folder."""
    if settings.s3_bucket:
        return S3BlobStore(settings.s3_bucket, endpoint_url=settings.s3_endpoint_url)
    return LocalBlobStore(settings.resolved_blob_dir())


def iter_chunks(stream: BinaryIO, size: int = 1 << 16) -> Iterator[bytes]:
    """Read a blob stream in chunks (for streaming responses)."""
    try:
        yield from iter(lambda: stream.read(size), b"")
    finally:
        stream.close()
