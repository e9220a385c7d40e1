"""The invoke Collection (the only module that imports invoke), also the `kronos` program."""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from invoke.collection import Collection
from invoke.context import Context
from invoke.exceptions import Exit
from invoke.program import Program
from invoke.tasks import task

from . import __version__, log
from .config import Settings, load_settings
from .errors import KronosError

F = TypeVar("F", bound=Callable[..., Any])


def debugging() -> bool:
    """`kronos --debug …` (invoke's core flag) or KRONOS_DEBUG=1 shows tracebacks."""
    return bool(os.environ.get("KRONOS_DEBUG")) or logging.getLogger().isEnabledFor(logging.DEBUG)


def handled(func: F) -> F:
    """Turn a KronosError into one line and a non-zero exit (a traceback only when debugging)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        log.setup()
        try:
            return func(*args, **kwargs)
        except KronosError as e:
            if debugging():
                raise
            raise Exit(f"kronos: error: {e}", code=e.exit_code) from None
        except KeyboardInterrupt:
            raise Exit("kronos: interrupted", code=130) from None

    return wrapper  # type: ignore[return-value]


def settings(c: Context) -> Settings:
    root = Path(os.environ.get("KRONOS_ROOT", os.getcwd()))
    config = os.environ.get("KRONOS_CONFIG")
    return load_settings(root, Path(config) if config else None)


def _pipeline(s: Settings) -> Any:
    from .engine import get_engine
    from .pipeline import Pipeline

    return Pipeline(s, get_engine())


@task
@handled
def targets(c: Context) -> None:
    """List the configured targets (archive, suites, components, version rule)."""
    s = settings(c)
    for t in s.targets.values():
        mark = "*" if t.name in s.default_targets else " "
        suites = ",".join((t.suite, *t.pockets))
        extra = f" build-deps-from={','.join(t.extra_suites)}" if t.extra_suites else ""
        print(f"{mark} {t.name:10} {t.archive:7} {suites:40} {','.join(t.components):14}"
              f" {t.version_suffix}{extra}")


@task
@handled
def recipes(c: Context) -> None:
    """List the recipes: source, targets, what each comes after."""
    from .recipe import load_recipes

    s = settings(c)
    for r in load_recipes(s).values():
        what = r.describe_source()
        after = f" after={','.join(r.after)}" if r.after else ""
        print(f"{r.name:16} {what:34} targets={','.join(r.targets)}{after}")


@task(iterable=["target"], help={"target": "a target (repeatable; default: the default targets)",
                                 "refresh": "rebuild even when an image with the same key exists"})
@handled
def images(c: Context, target: list[str] | None = None, refresh: bool = False) -> None:
    """Build base images with mmdebstrap and import them into the engine (content-keyed)."""
    for image in _pipeline(settings(c)).images(target or None, refresh):
        print(f"{image.target}: {image.ref}")


@task(iterable=["target", "only"], help={"target": "a target (repeatable; default: the default targets)",
                                         "only": "build only this recipe and what it comes after (repeatable)"})
@handled
def build(c: Context, target: list[str] | None = None, only: list[str] | None = None) -> None:
    """Build the recipes for the targets in clean containers; unchanged inputs are not rebuilt."""
    outcomes = _pipeline(settings(c)).build(target or None, only or None)
    built = sum(o.built for o in outcomes)
    for o in outcomes:
        print(f"{o.target:10} {o.recipe:16} {o.version:32} {'built' if o.built else 'up to date'}")
    print(f"{built} built, {len(outcomes) - built} up to date")


@task(help={"ledger": "also forget the version ledger (versions may then be reused)",
            "images": "also remove kronos's images from the engine"})
@handled
def clean(c: Context, ledger: bool = False, images: bool = False) -> None:
    """Remove outputs, logs and the download cache (the version ledger stays unless --ledger)."""
    from .clean import clean as do_clean

    do_clean(settings(c), ledger=ledger, images=images)


ns = Collection(targets, recipes, images, build, clean)
program = Program(namespace=ns, version=__version__, name="kronos", binary="kronos")


def main() -> None:
    program.run()
