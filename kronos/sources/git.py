"""Git sources: one commit of a repository, its tree packed as the .orig.

The commit is fetched into a bare mirror under <cache>/git/ (one per URL, kept between runs) and
must be the full id the recipe names. The .orig is written here, from the tree's objects, not by
`git archive`: it is a function of the tree alone (and the top directory's name), whatever the
commit, the git version, the user's git configuration or the repository's .gitattributes
(export-ignore and export-subst are not applied): entries sorted by path, every mtime MTIME,
uid/gid 0 without names, modes 0644/0755 (symlinks 0777), GNU tar (no pax headers), `gzip -n`.
It is kept under <cache>/git/orig/ by the tree's hash, since a pool refuses a file name whose bytes
change. Submodules are refused (one line naming them) unless the recipe follows them: each is
fetched from its .gitmodules URL at the commit the tree records and packed at its path.
"""

from __future__ import annotations

import io
import os
import posixpath
import shutil
import tarfile
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from ..cache import Cache, atomic_path
from ..errors import CommandError, FetchError
from ..executor.locks import file_lock
from ..keys import content_key
from ..run import run

FORMAT = 1  # bump when the bytes of the .orig made from a tree change
MTIME = 0  # every entry's mtime, as a local directory's tarball has (kronos.sources.local)
# no prompt for a password (a recipe's fetch runs unattended), ssh in batch mode, a stalled transfer
# (under 1 byte/s for a minute) abandoned; the user's git configuration still applies to the
# transport (credential helpers, proxies, insteadOf) and to nothing else: the .orig is written
# from object contents
ENV = {"GIT_TERMINAL_PROMPT": "0", "GIT_SSH_COMMAND": "ssh -o BatchMode=yes -o ConnectTimeout=30",
       "GIT_HTTP_LOW_SPEED_LIMIT": "1", "GIT_HTTP_LOW_SPEED_TIME": "60"}
GITLINK = "160000"
TREE = "040000"


@dataclass(frozen=True)
class Entry:
    """One object of a tree: `path` inside the tarball, its git mode and id, the mirror holding it."""

    path: str
    mode: str
    sha: str
    mirror: Path


@dataclass(frozen=True)
class Fetched:
    """A git source's .orig, with what it was made of (inputs of the content key)."""

    orig: Path
    tree: str
    submodules: tuple[tuple[str, str], ...]  # (path, commit) of each followed submodule, sorted


def remote(url: str, recipe_dir: Path) -> str:
    """The URL git is handed: a URL (scheme://, or scp-like host:path) as written, a path resolved
    against the recipe's directory."""
    if "://" in url or (":" in url.split("/", 1)[0] and not url.startswith((".", "/"))):
        return url
    return str((recipe_dir / url).resolve())


def _env() -> dict[str, str]:
    agent = os.environ.get("SSH_AUTH_SOCK")  # an ssh:// URL's key may be in the user's agent
    return {**ENV, "SSH_AUTH_SOCK": agent} if agent else dict(ENV)


def _git(mirror: Path, *args: str, input: bytes | None = None) -> bytes:
    return run(["git", "-C", str(mirror), *args], env=_env(), input=input, merge_stderr=False).stdout


def _why(e: CommandError) -> str:
    """git's first `fatal:` or `error:` line (its advice follows it), else its last line."""
    lines = [ln.strip() for ln in e.output.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith(("fatal:", "error:"))]
    return (errors or lines or [f"exit code {e.returncode}"])[0 if errors else -1]


def _has_commit(mirror: Path, commit: str) -> bool:
    proc = run(["git", "-C", str(mirror), "cat-file", "-e", f"{commit}^{{commit}}"], env=_env(), check=False)
    return proc.returncode == 0


def mirror_of(cache: Cache, url: str, commit: str, what: str) -> Path:
    """The bare mirror of url (made and fetched as needed) once it holds commit; a FetchError when
    url cannot be fetched or has no such commit."""
    mirror = cache.root / "git" / f"{content_key(['git', url])[:32]}.git"
    with file_lock(cache.root / "locks" / f"git-{mirror.stem}.lock"):
        if not (mirror / "HEAD").exists():
            staged = mirror.with_name(f".{mirror.name}.new")
            shutil.rmtree(staged, ignore_errors=True)
            staged.mkdir(parents=True)
            run(["git", "init", "--quiet", "--bare", str(staged)], env=_env())
            _git(staged, "config", "gc.auto", "0")  # what was fetched by id has no branch to keep it
            shutil.rmtree(mirror, ignore_errors=True)  # a mirror left half-made
            staged.rename(mirror)
        if _has_commit(mirror, commit):
            return mirror
        try:
            _git(mirror, "fetch", "--quiet", "--no-tags", "--", url, commit)
        except CommandError:  # a server that serves no commit by id: every branch and tag, then look
            try:
                _git(mirror, "fetch", "--quiet", "--no-tags", "--", url,
                     "+refs/heads/*:refs/kronos/heads/*", "+refs/tags/*:refs/kronos/tags/*")
            except CommandError as e:
                raise FetchError(f"{what}: git {url}: cannot fetch: {_why(e)}") from None
        if not _has_commit(mirror, commit):
            raise FetchError(f"{what}: git {url}: commit {commit} not found")
        _git(mirror, "update-ref", f"refs/kronos/commits/{commit}", commit)
    return mirror


def tree_of(mirror: Path, commit: str) -> str:
    return _git(mirror, "rev-parse", f"{commit}^{{tree}}").decode().strip()


def _entries(mirror: Path, tree: str, prefix: str) -> list[Entry]:
    out = []
    listing = _git(mirror, "ls-tree", "-r", "-t", "-z", "--full-tree", tree)
    for record in listing.split(b"\0"):
        if not record:
            continue
        meta, _, name = record.partition(b"\t")
        mode, _kind, sha = meta.decode().split()
        out.append(Entry(posixpath.join(prefix, name.decode("utf-8", "surrogateescape")), mode, sha, mirror))
    return out


def _submodule_urls(mirror: Path, commit: str) -> dict[str, str]:
    """.gitmodules of commit: submodule path -> URL (as written)."""
    proc = run(["git", "-C", str(mirror), "config", "--blob", f"{commit}:.gitmodules", "-z", "--get-regexp",
                r"^submodule\..*\.(path|url)$"], env=_env(), check=False, merge_stderr=False)
    names: dict[str, dict[str, str]] = {}
    for record in proc.stdout.decode("utf-8", "surrogateescape").split("\0"):
        key, _, value = record.partition("\n")
        if key:
            name, _, field = key.removeprefix("submodule.").rpartition(".")
            names.setdefault(name, {})[field] = value
    return {d["path"]: d["url"] for d in names.values() if "path" in d and "url" in d}


def _join(base: str, relative: str) -> str:
    """A .gitmodules URL `./x` or `../x`, relative to the superproject's URL, as git resolves it."""
    if "://" in base:
        parts = urllib.parse.urlsplit(base)
        path = posixpath.normpath(posixpath.join(parts.path.rstrip("/"), relative))
        return urllib.parse.urlunsplit(parts._replace(path=path))
    return posixpath.normpath(posixpath.join(base.rstrip("/"), relative))


def collect(cache: Cache, url: str, commit: str, follow: bool, what: str, top: str, at: str = "",
            ) -> tuple[list[Entry], list[tuple[str, str]]]:
    """Every entry of commit's tree (its followed submodules' too) with its path in the tarball
    (under top, at `at` for a submodule), and the followed submodules as (path, commit)."""
    mirror = mirror_of(cache, url, commit, what)
    base = "/".join(p for p in (top, at) if p)
    entries = _entries(mirror, tree_of(mirror, commit), base)
    links = {e.path.removeprefix(f"{base}/"): e for e in entries if e.mode == GITLINK}
    if links and not follow:
        paths = ", ".join(sorted(links))
        raise FetchError(f"{what}: git {url}: commit {commit} has submodules ({paths}); set submodules ="
                         " \"follow\" in [source] to pack each at the commit the tree records")
    followed = []
    urls = _submodule_urls(mirror, commit) if links else {}
    for inner, link in sorted(links.items()):
        path = posixpath.join(at, inner)
        sub_url = urls.get(inner, "")
        if not sub_url or sub_url.startswith("-"):
            raise FetchError(f"{what}: git {url}: submodule {path} of commit {commit} has no usable url in"
                             " .gitmodules")
        if sub_url.startswith(("./", "../")):
            sub_url = _join(url, sub_url)
        sub_entries, sub_followed = collect(cache, sub_url, link.sha, True, what, top, path)
        entries += [Entry(link.path, TREE, link.sha, link.mirror), *sub_entries]  # its directory too
        followed += [(path, link.sha), *sub_followed]
    return [e for e in entries if e.mode != GITLINK], followed


def _contents(entries: list[Entry]) -> dict[str, bytes]:
    """Each blob's bytes by id (one `git cat-file --batch` per mirror)."""
    out: dict[str, bytes] = {}
    by_mirror: dict[Path, list[str]] = {}
    for e in entries:
        if e.mode != TREE:
            by_mirror.setdefault(e.mirror, []).append(e.sha)
    for mirror, shas in by_mirror.items():
        wanted = sorted(set(shas))
        data = _git(mirror, "cat-file", "--batch", input="".join(f"{s}\n" for s in wanted).encode())
        at = 0
        for sha in wanted:
            header_end = data.index(b"\n", at)
            got, _kind, size = data[at:header_end].decode().split()
            assert got == sha, f"git cat-file answered {got} for {sha}"
            start = header_end + 1
            out[sha] = data[start:start + int(size)]
            at = start + int(size) + 1
    return out


def _info(path: str, kind: bytes, mode: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(path)
    info.type, info.mode, info.mtime = kind, mode, MTIME
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def write_tar(entries: list[Entry], top: str, out: Path) -> None:
    """The deterministic tar of entries (paths already under `top`) into out."""
    blobs = _contents(entries)
    with tarfile.open(out, "w", format=tarfile.GNU_FORMAT) as tar:
        tar.addfile(_info(top, tarfile.DIRTYPE, 0o755))
        for e in sorted(entries, key=lambda x: x.path.encode("utf-8", "surrogateescape")):
            if e.mode == TREE:
                tar.addfile(_info(e.path, tarfile.DIRTYPE, 0o755))
            elif e.mode == "120000":
                link = _info(e.path, tarfile.SYMTYPE, 0o777)
                link.linkname = blobs[e.sha].decode("utf-8", "surrogateescape")
                tar.addfile(link)
            else:
                body = blobs[e.sha]
                info = _info(e.path, tarfile.REGTYPE, 0o755 if e.mode == "100755" else 0o644)
                info.size = len(body)
                tar.addfile(info, io.BytesIO(body))


def fetch(cache: Cache, url: str, commit: str, follow: bool, top: str, what: str) -> Fetched:
    """The .orig.tar.gz of commit's tree with top directory `top`, from the cache when this tree was
    packed before; `what` (the recipe) begins every error line."""
    mirror = mirror_of(cache, url, commit, what)
    tree = tree_of(mirror, commit)
    entries, followed = collect(cache, url, commit, follow, what, top)
    # the tree's id covers its submodules' commits; `top` is in the bytes
    orig = cache.root / "git" / "orig" / f"{tree}-{content_key([FORMAT, top])[:16]}.tar.gz"
    if not orig.exists():
        with atomic_path(orig) as tmp:
            tar = tmp.with_name(tmp.name + ".tar")
            try:
                write_tar(entries, top, tar)
                run(["gzip", "-n", "-9", "-f", str(tar)])
                shutil.move(str(tar) + ".gz", tmp)
            finally:
                tar.unlink(missing_ok=True)
    return Fetched(orig, tree, tuple(sorted(followed)))


def reachable(cache: Cache, url: str, commit: str, follow: bool, what: str) -> str:
    """"" when commit (and each submodule it follows) can be fetched, else the one line why. A commit
    that no branch or tag ends at can only be asked for by fetching it: it is fetched into the
    mirror, which the build then uses; a commit the mirror holds is not asked for again."""
    try:
        collect(cache, url, commit, follow, what, "")
    except FetchError as e:
        return str(e)
    return ""
