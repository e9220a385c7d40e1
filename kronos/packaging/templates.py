"""Rendering debian/ from jinja2 templates (files ending .j2 are rendered, others copied)."""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path

import jinja2

from ..errors import ConfigError


def render(templates: Path, dest: Path, context: Mapping[str, object]) -> None:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates)),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )
    for src in sorted(templates.rglob("*")):
        rel = src.relative_to(templates)
        if src.is_dir():
            continue
        out = dest / rel
        out.parent.mkdir(parents=True, exist_ok=True)
        if src.suffix == ".j2":
            out = out.with_suffix("")
            try:
                text = env.get_template(rel.as_posix()).render(**context)
            except jinja2.TemplateError as e:
                raise ConfigError(f"{src}: template error: {e}") from None
            out.write_text(text, encoding="utf-8")
        else:
            shutil.copyfile(src, out)
        out.chmod(src.stat().st_mode & 0o777)
