"""A suite's InRelease: downloaded, verified by apt's rule, parsed with python-debian."""

from __future__ import annotations

import datetime as dt
import email.utils
import functools
import hashlib
import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from debian.deb822 import Deb822, Release

from ..cache import Cache, atomic_path, download, sha256_file
from ..clock import now
from ..errors import FetchError, VerifyError, corrupt, load_json
from ..run import run

# RFC 4880 hash algorithm ids apt does not accept for a good signature
WEAK_DIGESTS = {"1": "MD5", "2": "SHA1", "3": "RIPEMD160"}
VERDICTS = ("GOODSIG", "EXPSIG", "EXPKEYSIG", "REVKEYSIG", "BADSIG", "ERRSIG")


@dataclass
class Signature:
    """One signature as gpgv reports it: NEWSIG, then one verdict line, then VALIDSIG if it checked."""

    verdict: str = ""  # one of VERDICTS ("" while none was seen)
    keyid: str = ""
    fingerprint: str = ""  # from VALIDSIG: the signature is cryptographically valid
    digest: str = ""  # VALIDSIG's hash algorithm id
    errsig_rc: str = ""

    @property
    def good(self) -> bool:
        """apt's good signature: GOODSIG (a valid key, not expired or revoked) with a strong digest."""
        return self.verdict == "GOODSIG" and bool(self.fingerprint) and self.digest not in WEAK_DIGESTS

    @property
    def problem(self) -> str:
        """Why this signature does not count (for the error line)."""
        key = self.keyid or "?"
        if self.verdict == "GOODSIG" and self.digest in WEAK_DIGESTS:
            return f"key {key} signed with the weak digest {WEAK_DIGESTS[self.digest]}"
        return {
            "GOODSIG": f"key {key}: no VALIDSIG",
            "EXPSIG": f"the signature by key {key} has expired",
            "EXPKEYSIG": f"key {key} has expired",
            "REVKEYSIG": f"key {key} is revoked",
            "BADSIG": f"bad signature from key {key}",
            "ERRSIG": f"no public key {key}" if self.errsig_rc == "9" else f"cannot check the signature by key {key}",
        }.get(self.verdict, "a signature without a verdict")


@dataclass(frozen=True)
class Signatures:
    all: tuple[Signature, ...]

    @property
    def good(self) -> tuple[str, ...]:
        """Fingerprints of the good signatures."""
        return tuple(s.fingerprint for s in self.all if s.good)

    @property
    def bad(self) -> tuple[str, ...]:
        """Key ids with a BADSIG."""
        return tuple(s.keyid for s in self.all if s.verdict == "BADSIG")

    @property
    def acceptable(self) -> bool:
        """apt's rule: at least one good signature from the keyring and no bad one."""
        return bool(self.good) and not self.bad

    def reason(self) -> str:
        """Why the file is refused (only meaningful when not acceptable)."""
        if self.bad:
            return f"bad signature from key {', '.join(self.bad)}"
        if not self.all:
            return "not signed"
        return "no good signature: " + "; ".join(s.problem for s in self.all if not s.good)


def parse_status(status: str) -> Signatures:
    """Read gpgv's --status-fd output signature by signature (each starts with NEWSIG)."""
    sigs: list[Signature] = []
    current: Signature | None = None
    for line in status.splitlines():
        parts = line.split()
        if len(parts) < 2 or parts[0] != "[GNUPG:]":
            continue
        kind = parts[1]
        if kind == "NEWSIG" or (kind in VERDICTS and (current is None or current.verdict)):
            current = Signature()
            sigs.append(current)
        if current is None:
            continue
        if kind in VERDICTS and len(parts) >= 3:
            current.verdict, current.keyid = kind, parts[2]
            if kind == "ERRSIG" and len(parts) >= 8:
                current.errsig_rc = parts[7]
        elif kind == "VALIDSIG" and len(parts) >= 10:
            current.fingerprint, current.digest = parts[2], parts[9]
    return Signatures(tuple(s for s in sigs if s.verdict or s.fingerprint))


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
            raise VerifyError(f"{what}: {sigs.reason()} (keyring {', '.join(map(str, keyrings))})")
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
    """The verified Release of one suite of a mirror. `release` holds its fields as text; `files`,
    its SHA256 list, is parsed (python-debian's Release) on first use and remembered beside the
    cached InRelease under the sha256 of the verified content (gpgv still checks the file on every
    use; parsing the list again costs more than the check: 16 ms a suite)."""

    mirror: str
    suite: str
    release: Deb822
    content: bytes = field(default=b"", repr=False, compare=False)
    memo: Path | None = field(default=None, compare=False)

    def url(self, relpath: str) -> str:
        return f"{self.mirror}/dists/{self.suite}/{relpath}"

    @functools.cached_property
    def files(self) -> dict[str, tuple[str, int]]:
        """name -> (sha256, size), from the SHA256 field."""
        sha = hashlib.sha256(self.content).hexdigest()
        if self.memo is not None:
            try:
                data = json.loads(self.memo.read_text())
                if data.get("sha256") == sha:
                    return {n: (str(v[0]), int(v[1])) for n, v in data["files"].items()}
            except (OSError, ValueError, TypeError, KeyError, IndexError, AttributeError):
                pass  # absent or unreadable: parsed again below, and written anew
        parsed = Release(self.content, fields=["SHA256"])
        files = {str(i["name"]): (str(i["sha256"]), int(i["size"])) for i in parsed.get("SHA256", [])}
        if self.memo is not None:
            with atomic_path(self.memo) as tmp:
                tmp.write_text(json.dumps({"sha256": sha, "files": files}) + "\n")
        return files

    def entry(self, relpath: str) -> tuple[str, int] | None:
        return self.files.get(relpath)

    def index(self, cache: Cache, stem: str) -> tuple[Path, str]:
        """Fetch the best-compressed form of index `stem` (e.g. main/source/Sources)."""
        for ext in (".xz", ".gz", ""):
            found = self.entry(stem + ext)
            if found:
                sha, size = found
                what = f"{self.suite} {stem}{ext}"
                return cache.fetch(self.url(stem + ext), sha, size, what), ext
        raise FetchError(f"{self.mirror} {self.suite}: Release lists no {stem} index")


STATE = "last-verified.json"  # beside the cached InRelease: the Date of the newest one verified
FILES = "files.json"  # beside it too: the SHA256 list of the content verified last (SignedRelease.files)
_STATE_WHAT = "the Date of the last verified InRelease"
_FIX = "delete it to accept the mirror's current InRelease as the newest"


def last_verified_date(state: Path) -> tuple[str, dt.datetime] | None:
    """The Date of the newest InRelease verified for this mirror and suite (None: none yet)."""
    if not state.exists():
        return None
    data = load_json(state, _STATE_WHAT, _FIX)
    date = data.get("date") if isinstance(data, dict) else None
    if not isinstance(date, str):
        raise corrupt(state, _STATE_WHAT, 'no "date" string', _FIX)
    try:
        return date, parse_date(date, str(state))
    except VerifyError:
        raise corrupt(state, _STATE_WHAT, f"cannot parse date '{date}'", _FIX) from None


def remember_date(state: Path, mirror: str, suite: str, date: str, fetched: tuple[str, str] | None = None) -> None:
    """Record the newest Date verified; `fetched`: (sha256, time) of the InRelease downloaded and
    verified at that time, which a run within the freshness window may reuse."""
    data = {"mirror": mirror, "suite": suite, "date": date}
    if fetched is not None:
        data["sha256"], data["fetched"] = fetched
    with atomic_path(state) as tmp:
        tmp.write_text(json.dumps(data) + "\n")


def fresh(dest: Path, max_age: int) -> bool:
    """Whether the cached InRelease at dest was downloaded and verified less than max_age seconds
    ago (by the state beside it, which names its sha256: a file changed since is not fresh)."""
    state = dest.with_name(STATE)
    if max_age <= 0 or not dest.exists() or not state.exists():
        return False
    data = load_json(state, _STATE_WHAT, _FIX)
    if not isinstance(data, dict) or not isinstance(data.get("fetched"), str):
        return False
    try:
        age = (now() - dt.datetime.fromisoformat(data["fetched"])).total_seconds()
    except (TypeError, ValueError):
        return False
    return 0 <= age < max_age and data.get("sha256") == sha256_file(dest)


def fetch_release(
    cache: Cache, mirror: str, suite: str, keyrings: list[Path], snapshot: bool, max_age: int = 0
) -> SignedRelease:
    """Download dists/<suite>/InRelease, verify it, check its names and dates: Valid-Until unless
    `snapshot`, and, whatever the policy, a Date no older than the last one verified here.
    An InRelease downloaded less than `max_age` seconds ago is not downloaded again (as apt
    reuses its lists) but verified again from the cache, by the same rules."""
    what = f"{suite} InRelease from {mirror}"
    dest = cache.root / "releases" / mirror.replace("/", "_").replace(":", "") / suite / "InRelease"
    reused = fresh(dest, max_age)
    if not reused:
        download(f"{mirror}/dists/{suite}/InRelease", dest, f"{suite} InRelease")
    content = verify_clearsigned(dest, keyrings, what)
    release = Deb822(content)  # the fields as text: the file list is parsed when used (files)
    names = {release.get("Suite"), release.get("Codename")}
    if suite not in names:
        raise VerifyError(f"{what}: it names suite {'/'.join(sorted(map(str, names)))}")
    if "Date" not in release:
        raise VerifyError(f"{what}: has no Date")
    date = parse_date(release["Date"], what)
    if not snapshot and "Valid-Until" in release:
        until = parse_date(release["Valid-Until"], what)
        if until < now():
            raise VerifyError(
                f"{what}: expired on {release['Valid-Until']} (Valid-Until is enforced; for a frozen"
                " snapshot mirror set the archive's snapshot = true or KRONOS_SNAPSHOT_<ARCHIVE>=true)"
            )
    state = dest.with_name(STATE)
    last = last_verified_date(state)
    if last is not None and date < last[1]:
        raise VerifyError(
            f"{what}: Date {release['Date']} is older than {last[0]}, the Date of the InRelease verified"
            " before (a replayed or rolled-back index; apt refuses to go back)"
        )
    if not reused:  # its Date is no older than the last (checked above): the newest verified
        remember_date(state, mirror, suite, release["Date"], (sha256_file(dest), now().isoformat()))
    return SignedRelease(mirror, suite, release, content, dest.with_name(FILES))
