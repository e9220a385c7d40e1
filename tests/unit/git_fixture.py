"""Git repositories made by a test: commits with fixed names and dates, no user or system git
configuration (a developer's commit.gpgsign or init.defaultBranch changes nothing here)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ENV = {"GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1", "GIT_AUTHOR_NAME": "Kronos Tests",
       "GIT_AUTHOR_EMAIL": "tests@example.invalid", "GIT_COMMITTER_NAME": "Kronos Tests",
       "GIT_COMMITTER_EMAIL": "tests@example.invalid"}


def git(repo: Path, *args: str, when: int = 1700000000) -> str:
    env = {**os.environ, **ENV, "GIT_AUTHOR_DATE": f"@{when} +0000", "GIT_COMMITTER_DATE": f"@{when} +0000"}
    proc = subprocess.run(["git", "-C", str(repo), *args], env=env, check=True, capture_output=True)
    return proc.stdout.decode().strip()


def make_repo(path: Path, files: dict[str, str], executable: tuple[str, ...] = (),
              links: dict[str, str] | None = None) -> str:
    """A repository at path with files (name -> text), executable ones and symlinks (name -> target),
    committed once; its commit id."""
    path.mkdir(parents=True)
    git(path, "init", "--quiet", "--initial-branch=main")
    return commit(path, files, executable, links)


def commit(path: Path, files: dict[str, str], executable: tuple[str, ...] = (),
           links: dict[str, str] | None = None, when: int = 1700000000, message: str = "change") -> str:
    """Write files (and symlinks) into the repository's work tree and commit them all; the commit id."""
    for name, text in files.items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_text(text)
        (path / name).chmod(0o755 if name in executable else 0o644)
    for name, target in (links or {}).items():
        (path / name).symlink_to(target)
    git(path, "add", "--all")
    git(path, "commit", "--quiet", "--allow-empty", "-m", message, when=when)
    return git(path, "rev-parse", "HEAD")


def add_submodule(path: Path, at: str, url: str, sub_commit: str, when: int = 1700000100) -> str:
    """Record sub_commit of url at `at` (a gitlink and its .gitmodules entry, as `git submodule add`
    leaves them, without cloning); the new commit id."""
    gitmodules = path / ".gitmodules"
    old = gitmodules.read_text() if gitmodules.exists() else ""
    gitmodules.write_text(old + f'[submodule "{at}"]\n\tpath = {at}\n\turl = {url}\n')
    git(path, "update-index", "--add", "--cacheinfo", f"160000,{sub_commit},{at}")
    git(path, "add", ".gitmodules")
    git(path, "commit", "--quiet", "-m", f"add {at}", when=when)
    return git(path, "rev-parse", "HEAD")
