"""Bulk import of knowledge-base articles from JSON, JSONL, CSV, Markdown (files, folders, zips).

Every record becomes an ``Article``; a record that cannot be read raises ``InvalidInput``
naming the file and line (or record number), so a 500-article import tells the user exactly
which one to fix. Fields: ``id`` (optional: derived from the title or file name), ``title``,
``body`` (also accepted: ``content``, ``text``), ``tags`` (a list, or a string split on ``,``
``;`` or ``|``), ``url``.
"""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from collections.abc import Iterable
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from callintel.errors import InvalidInput, UnsupportedMediaType
from callintel.kb.index import Article

FORMATS = (".json", ".jsonl", ".csv", ".md", ".markdown", ".zip")
MAX_ZIP_ENTRIES = 5000
MAX_ZIP_BYTES = 64 * 1024 * 1024
_BODY_KEYS = ("body", "content", "text")
_MD_SUFFIXES = (".md", ".markdown")


def slugify(text: str) -> str:
    """A URL-safe id from a title or file name."""
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug[:120] or "article"


def _where(source: str, line: int | None) -> str:
    return f"{source} line {line}" if line is not None else source


def article_from_record(record: Any, *, source: str, line: int | None = None) -> Article:
    """One ``Article`` from a decoded JSON/CSV record."""
    where = _where(source, line)
    if not isinstance(record, dict):
        raise InvalidInput(f"{where}: expected an object with title and body", source=source, line=line)
    title = str(record.get("title") or "").strip()
    body = next((str(record[k]) for k in _BODY_KEYS if record.get(k)), "").strip()
    if not title:
        raise InvalidInput(f"{where}: missing 'title'", source=source, line=line)
    if not body:
        raise InvalidInput(f"{where}: missing 'body'", source=source, line=line)
    raw_id = record.get("id")
    article_id = str(raw_id).strip() if raw_id not in (None, "") else slugify(title)
    url = record.get("url")
    return Article(
        id=article_id, title=title, body=body, tags=_tags(record.get("tags"), where=where),
        url=str(url).strip() if url else None,
    )


def _tags(value: Any, *, where: str) -> tuple[str, ...]:
    if value in (None, ""):
        return ()
    if isinstance(value, str):
        return tuple(t.strip() for t in re.split(r"[,;|]", value) if t.strip())
    if isinstance(value, list) and all(isinstance(t, str | int) for t in value):
        return tuple(str(t).strip() for t in value if str(t).strip())
    raise InvalidInput(f"{where}: 'tags' must be a list of strings or a comma-separated string")


def parse_json(text: str, *, source: str) -> list[Article]:
    """A JSON array of articles, or an object with an ``articles`` array."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"{source} line {exc.lineno}: invalid JSON: {exc.msg}", source=source) from None
    if isinstance(data, dict) and isinstance(data.get("articles"), list):
        data = data["articles"]
    elif isinstance(data, dict):
        data = [data]
    if not isinstance(data, list):
        raise InvalidInput(f"{source}: expected a list of articles", source=source)
    return [article_from_record(r, source=f"{source} record {n}") for n, r in enumerate(data, 1)]


def parse_jsonl(text: str, *, source: str) -> list[Article]:
    """One JSON object per line; blank lines are skipped."""
    out: list[Article] = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InvalidInput(f"{source} line {n}: invalid JSON: {exc.msg}", source=source, line=n) from None
        out.append(article_from_record(record, source=source, line=n))
    return out


def parse_csv(text: str, *, source: str) -> list[Article]:
    """A header row with at least ``title`` and ``body`` columns."""
    reader = csv.DictReader(io.StringIO(text))
    header = {h.strip().lower() for h in reader.fieldnames or []}
    if "title" not in header or not header & set(_BODY_KEYS):
        raise InvalidInput(
            f"{source} line 1: the header needs 'title' and 'body' columns (found: {sorted(header)})",
            source=source, line=1,
        )
    out: list[Article] = []
    for row in reader:
        record = {(k or "").strip().lower(): v for k, v in row.items()}
        out.append(article_from_record(record, source=source, line=reader.line_num))
    return out


_FRONT = re.compile(r"\A---\s*\n(.*?)\n---\s*\n", re.S)


def parse_markdown(text: str, *, source: str) -> Article:
    """One article: YAML front matter (id, title, tags, url) or the first ``#`` heading as title."""
    meta: dict[str, Any] = {}
    match = _FRONT.match(text)
    if match:
        try:
            loaded = yaml.safe_load(match.group(1))
        except yaml.YAMLError as exc:
            raise InvalidInput(f"{source}: invalid front matter: {exc}", source=source) from None
        if not isinstance(loaded, dict):
            raise InvalidInput(f"{source}: front matter must be a mapping", source=source)
        meta, text = loaded, text[match.end():]
    if not meta.get("title"):
        heading = re.search(r"^\s*#\s+(.+?)\s*#*\s*$", text, re.M)
        if heading is None:
            raise InvalidInput(f"{source}: no title (front matter 'title' or a '# heading')", source=source)
        meta["title"] = heading.group(1)
        text = text[: heading.start()] + text[heading.end():]
    meta.setdefault("id", slugify(PurePosixPath(source).stem))
    meta["body"] = _plain_markdown(text)
    return article_from_record(meta, source=source)


def _plain_markdown(text: str) -> str:
    """Markdown syntax that would pollute keyword search removed; lists and paragraphs kept."""
    text = re.sub(r"```.*?```", " ", text, flags=re.S)
    text = re.sub(r"!\[[^\]]*\]\([^)]*\)", " ", text)
    text = re.sub(r"\[([^\]]+)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"^\s*#{1,6}\s*", "", text, flags=re.M)
    text = re.sub(r"[*_`]{1,3}", "", text)
    return text.strip()


def parse_bytes(name: str, data: bytes) -> list[Article]:
    """Articles from an uploaded file, chosen by its extension."""
    suffix = PurePosixPath(name.lower()).suffix
    if suffix == ".zip":
        return parse_zip(data, source=name)
    if suffix not in FORMATS:
        raise UnsupportedMediaType(
            f"{name}: unsupported file type; use one of {', '.join(FORMATS)}", formats=list(FORMATS)
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInput(f"{name}: not UTF-8 text", source=name) from None
    if suffix == ".json":
        return parse_json(text, source=name)
    if suffix == ".jsonl":
        return parse_jsonl(text, source=name)
    if suffix == ".csv":
        return parse_csv(text, source=name)
    return [parse_markdown(text, source=name)]


def parse_zip(data: bytes, *, source: str) -> list[Article]:
    """Every supported file inside a zip (Markdown, JSON, JSONL, CSV), with size limits."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise InvalidInput(f"{source}: not a valid zip file", source=source) from None
    entries = [i for i in archive.infolist() if not i.is_dir() and not _hidden(i.filename)]
    if len(entries) > MAX_ZIP_ENTRIES or sum(i.file_size for i in entries) > MAX_ZIP_BYTES:
        raise InvalidInput(
            f"{source}: zip too large (at most {MAX_ZIP_ENTRIES} files, 64 MiB)", source=source
        )
    out: list[Article] = []
    for info in sorted(entries, key=lambda i: i.filename):
        suffix = PurePosixPath(info.filename.lower()).suffix
        if suffix in FORMATS and suffix != ".zip":
            out.extend(parse_bytes(f"{source}/{info.filename}", archive.read(info)))
    if not out:
        raise InvalidInput(f"{source}: no Markdown, JSON, JSONL or CSV files inside", source=source)
    return out


def _hidden(name: str) -> bool:
    return any(part.startswith((".", "__MACOSX")) for part in PurePosixPath(name).parts)


def load_path(path: Path) -> list[Article]:
    """Articles from a file or from every supported file under a folder."""
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in FORMATS
                       and not _hidden(str(p.relative_to(path))))
        if not files:
            raise InvalidInput(f"{path}: no Markdown, JSON, JSONL or CSV files", source=str(path))
        return [a for f in files for a in parse_bytes(str(f), f.read_bytes())]
    if not path.is_file():
        raise InvalidInput(f"{path}: no such file or folder", source=str(path))
    return parse_bytes(str(path), path.read_bytes())


def check_unique(articles: Iterable[Article]) -> None:
    """Refuse an import where two records share an id (the second would silently win)."""
    seen: set[str] = set()
    for art in articles:
        if art.id in seen:
            raise InvalidInput(
                f"article id '{art.id}' appears more than once in the import", article_id=art.id
            )
        seen.add(art.id)


def starter_articles() -> list[Article]:
    """The packaged starter knowledge base (about 50 support articles for the demo tenant)."""
    from importlib.resources import files

    text = files("callintel").joinpath("resources/kb/starter.jsonl").read_text(encoding="utf-8")
    return parse_jsonl(text, source="starter.jsonl")
