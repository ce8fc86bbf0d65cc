"""Renders the settings reference (every environment variable, default and description).

``python -m callintel.settings_doc`` prints the Markdown table kept in README.md; a test checks that
the README lists every setting, so the README stays the truth.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel, SecretStr

from callintel.config import Settings

PREFIX = "CALLINTEL_"


def _default(value: Any) -> str:
    if isinstance(value, SecretStr):
        return "(secret)"
    if isinstance(value, list):
        return ", ".join(map(str, value))
    return "" if value is None else str(value)


def settings_rows() -> Iterator[tuple[str, str, str]]:
    """``(environment variable, default, description)`` for every leaf setting."""
    for name, field in Settings.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            for sub, subfield in annotation.model_fields.items():
                env = f"{PREFIX}{name.upper()}__{sub.upper()}"
                yield env, _default(subfield.default), _one_line(subfield.description)
        else:
            yield f"{PREFIX}{name.upper()}", _default(field.default), _one_line(field.description)


def _one_line(text: str | None) -> str:
    return " ".join((text or "").split())


def render_table() -> str:
    lines = ["| variable | default | meaning |", "|---|---|---|"]
    for env, default, description in settings_rows():
        default_md = f"`{default}`" if default else ""
        lines.append(f"| `{env}` | {default_md} | {description.replace('|', '/')} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(render_table())
