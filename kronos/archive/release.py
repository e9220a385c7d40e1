"""A suite's InRelease: downloaded, verified by apt's rule, parsed with python-debian."""

from __future__ import annotations

import datetime as dt
import email.utils
import tempfile
from dataclasses import dataclass
from pathlib import Path

from debian.deb822 import Release

from ..cache import Cache, download
from ..clock import now
from ..errors import FetchError, VerifyError
from ..run import run

WEAK_DIGESTS = {"1", "2", "3"}  # MD5, SHA1, RIPEMD160 (RFC 4880 hash algorithm ids)


@dataclass(frozen=True)
class Signatures:
    good: tuple[str, ...]  # fingerprints with a valid, strong signature
    bad: tuple[str, ...]  # key ids with a BADSIG
    unknown: tuple[str, ...]  # key ids gpgv has no key for, expired or weak ones

    @property
    def acceptable(self) -> bool:
        """apt's rule: at least one good signature from the keyring and no bad one."""
        return bool(self.good) and not self.bad


def parse_status(status: str) -> Signatures:
    """Read gpgv's --status-fd output."""
    good: list[str] = []
    bad: list[str] = []
    unknown: list[str] = []
    for line in status.splitlines():
        parts = line.split()
        if len(parts) < 3 or parts[0] != "[GNUPG:]":
            continue
        kind = parts[1]
        if kind == "VALIDSIG" and len(parts) >= 10:
            if parts[9] in WEAK_DIGESTS:
                unknown.append(parts[2])
            else:
                good.append(parts[2])
        elif kind == "BADSIG":
            bad.append(parts[2])
        elif kind in ("ERRSIG", "EXPKEYSIG", "REVKEYSIG", "EXPSIG"):
            unknown.append(parts[2])
    return Signatures(tuple(good), tuple(bad), tuple(unknown))


def verify_clearsigned(path: Path, keyrings: list[Path], what: str) -> bytes:
    """Verify a clearsigned file by apt's rule; return the signed content."""
    for keyring in keyrings:
        if not keyring.exists():
            raise VerifyError(f"{what}: keyring {keyring} does not exist")
    with tempfile.TemporaryDirectory(prefix="kronos-gpgv-") as tmp:
        out = Path(tmp) / "content"
        argv = ["gpgv", "--status-fd", "1", "--output", str(out)]
        for keyring in keyrings:
            argv += ["--keyring", str(keyring)]
        proc = run([*argv, str(path)], check=False, env={"GNUPGHOME": tmp})
        sigs = parse_status(proc.stdout.decode(errors="replace"))
        if not sigs.acceptable:
            if sigs.bad:
                reason = f"bad signature from key {', '.join(sigs.bad)}"
            elif sigs.unknown:
                reason = f"no good signature (unknown, expired or weak key {', '.join(sigs.unknown)})"
            else:
                reason = "not signed"
            raise VerifyError(f"{what}: {reason} (keyring {', '.join(map(str, keyrings))})")
        return out.read_bytes()


def parse_date(value: str, what: str) -> dt.datetime:
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        raise VerifyError(f"{what}: cannot parse date '{value}'") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed


@dataclass(frozen=True)
class SignedRelease:
    """The verified Release of one suite of a mirror."""

    mirror: str
    suite: str
    release: Release

    def url(self, relpath: str) -> str:
        return f"{self.mirror}/dists/{self.suite}/{relpath}"

    def entry(self, relpath: str) -> tuple[str, int] | None:
        for item in self.release.get("SHA256", []):
            if item["name"] == relpath:
                return item["sha256"], int(item["size"])
        return None

    def index(self, cache: Cache, stem: str) -> tuple[Path, str]:
        """Fetch the best-compressed form of index `stem` (e.g. main/source/Sources)."""
        for ext in (".xz", ".gz", ""):
            found = self.entry(stem + ext)
            if found:
                sha, size = found
                what = f"{self.suite} {stem}{ext}"
                return cache.fetch(self.url(stem + ext), sha, size, what), ext
        raise FetchError(f"{self.mirror} {self.suite}: Release lists no {stem} index")


def fetch_release(
    cache: Cache, mirror: str, suite: str, keyrings: list[Path], snapshot: bool
) -> SignedRelease:
    """Download dists/<suite>/InRelease, verify it, check its dates and names."""
    what = f"{suite} InRelease"
    dest = cache.root / "releases" / mirror.replace("/", "_").replace(":", "") / suite / "InRelease"
    download(f"{mirror}/dists/{suite}/InRelease", dest, what)
    content = verify_clearsigned(dest, keyrings, f"{what} from {mirror}")
    release = Release(content)
    names = {release.get("Suite"), release.get("Codename")}
    if suite not in names:
        raise VerifyError(f"{what} from {mirror}: it names suite {'/'.join(sorted(map(str, names)))}")
    if not snapshot and "Valid-Until" in release:
        until = parse_date(release["Valid-Until"], what)
        if until < now():
            raise VerifyError(
                f"{what} from {mirror}: expired on {release['Valid-Until']}"
                " (set the archive's snapshot = true for a frozen snapshot mirror)"
            )
    return SignedRelease(mirror, suite, release)
