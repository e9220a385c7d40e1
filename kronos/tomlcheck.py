"""Strict access to TOML tables: every error names the file and the key."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from .errors import ConfigError

T = TypeVar("T")


def load(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML: {e}") from None


class Table:
    """A TOML table read with type checks; unknown keys are refused by done()."""

    def __init__(self, data: Mapping[str, Any], file: str, path: str = "") -> None:
        self.file = file
        self.path = path
        if not isinstance(data, Mapping):
            raise ConfigError(f"{self.where}: expected a table")
        self.data = data
        self.seen: set[str] = set()

    @property
    def where(self) -> str:
        """`file: table.path` (or just the file for the top level)."""
        return f"{self.file}: {self.path}" if self.path else self.file

    def at(self, key: str) -> str:
        """`file: table.path.key`."""
        return f"{self.file}: {self.path}.{key}" if self.path else f"{self.file}: {key}"

    def _get(self, key: str, kind: type[T] | tuple[type, ...], default: Any, required: bool) -> Any:
        self.seen.add(key)
        if key not in self.data:
            if required:
                raise ConfigError(f"{self.where}: missing key '{key}'")
            return default
        value = self.data[key]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            names = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
            raise ConfigError(f"{self.at(key)}: expected {names}, got {type(value).__name__}")
        return value

    def text(self, key: str, default: str | None = None, required: bool = False) -> Any:
        return self._get(key, str, default, required)

    def flag(self, key: str, default: bool = False) -> bool:
        result: bool = self._get(key, bool, default, False)
        return result

    def number(self, key: str, default: int = 0) -> int:
        result: int = self._get(key, int, default, False)
        return result

    def strings(self, key: str, default: tuple[str, ...] = ()) -> tuple[str, ...]:
        value = self._get(key, list, list(default), False)
        for item in value:
            if not isinstance(item, str):
                raise ConfigError(f"{self.at(key)}: expected a list of strings")
        return tuple(value)

    def sub(self, key: str, required: bool = False) -> Table:
        value = self._get(key, dict, {}, required)
        return Table(value, self.file, f"{self.path}.{key}" if self.path else key)

    def choice(self, key: str, choices: tuple[str, ...], default: str | None = None) -> str:
        value = self.text(key, default, required=default is None)
        if value not in choices:
            raise ConfigError(f"{self.at(key)}: '{value}' is not one of {', '.join(choices)}")
        result: str = value
        return result

    def done(self) -> None:
        extra = sorted(set(self.data) - self.seen)
        if extra:
            raise ConfigError(f"{self.where}: unknown key '{extra[0]}'")
