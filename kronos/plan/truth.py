"""Ground truth for `kronos plan`, independent of its model: dose-builddebcheck on the real Sources
stanzas of a newer suite against the target's real Packages, and the hand-written run-time relations
of the real debian/control (fetched through the signed chain) checked against the target with
dose-distcheck.

A seeded sample of a `--from` suite's sources, newer than the target's:
- `unchanged`: dose says the source builds on the target as it is, and the target satisfies every
  hand-written Depends and Pre-Depends of its binaries (relations on the source's own binaries aside:
  they are rebuilt with it). A backporter needs that source alone, so a closure for one of its
  binaries must be exactly that source.
- `needing`: dose says the source does not build on the target for a missing build dependency that
  the --from suite has. The closure must bring a source that builds it.
"""

from __future__ import annotations

import random
import re
import tarfile
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from debian.deb822 import Deb822, Packages
from debian.debian_support import Version

from ..cache import Cache
from ..errors import KronosError, NotServed
from ..graph import relations
from ..run import run
from .closure import Closure
from .indices import PlanIndices, SourceEntry, Suite, by_name

CHUNK = 200  # sources per dose pass while sampling
_SUBST = re.compile(r"\$\{[^}]*\}")
_DEBIAN_TAR = re.compile(r"\.debian\.tar\.(xz|gz|bz2)$")
NATIVE_LIMIT = 8 << 20  # a native source's tarball is read for its debian/control up to this size


@dataclass(frozen=True)
class Sampled:
    source: str
    version: str
    binary: str  # the binary whose closure is asked for
    binary_version: str
    handwritten: tuple[str, ...] = ()  # its binaries' hand-written relations (the target satisfies them)
    needs: tuple[str, ...] = ()  # `needing`: the build dependencies the target lacks (dose's words)

    @property
    def wanted(self) -> str:
        return f"{self.binary} (>= {self.binary_version})"


@dataclass
class Sample:
    unchanged: list[Sampled] = field(default_factory=list)
    needing: list[Sampled] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)  # why candidates were passed over -> how many

    def skip(self, why: str) -> None:
        self.skipped[why] = self.skipped.get(why, 0) + 1


def _report(text: str) -> Iterator[tuple[str, str, list[str]]]:
    """(package, status, unsat dependencies) for each entry of a dose report (YAML, read line by line:
    the top-level entries are `  package:` at two spaces)."""
    name, status, unsat = "", "", list[str]()
    for line in text.splitlines():
        if line.startswith("  package: "):
            if name:
                yield name, status, unsat
            name, status, unsat = line.split(": ", 1)[1].strip(), "", []
        elif line.startswith("  status: "):
            status = line.split(": ", 1)[1].strip()
        elif line.strip().startswith("unsat-dependency: "):
            unsat.append(line.split(": ", 1)[1].strip())
    if name:
        yield name, status, unsat


def _dose(argv: list[str]) -> str:
    proc = run(argv, check=False)
    if proc.returncode not in (0, 1):
        raise KronosError(f"{argv[0]} failed (exit {proc.returncode})")
    out: str = proc.stdout.decode(errors="replace")
    return out


def target_packages(idx: PlanIndices) -> list[Path]:
    """The target's Packages as `kronos plan` sees them: suite, pockets, extra suites."""
    return [i.path for s in (*idx.own, *idx.extra) for i in s.packages]


def builds(idx: PlanIndices, stanzas: Sequence[bytes], work: Path,
           profiles: Sequence[str]) -> dict[str, list[str]]:
    """dose-builddebcheck on these real Sources stanzas against the target: source -> the unsat build
    dependencies ([] when it builds)."""
    src = work / "sample.Sources"
    src.write_bytes(b"\n\n".join(stanzas) + b"\n")
    argv = ["dose-builddebcheck", f"--deb-native-arch={idx.arch}", "--explain", "--successes", "--failures"]
    if profiles:
        argv.append(f"--deb-profiles={','.join(profiles)}")
    text = _dose([*argv, *map(str, target_packages(idx)), str(src)])
    return {name: ([] if status == "ok" else unsat or ["(a conflict)"]) for name, status, unsat in _report(text)}


def _arch_ok(arch_field: str, arch: str) -> bool:
    return any(a == "all" or relations.arch_matches(a, arch) for a in arch_field.split())


def handwritten(control: str, arch: str) -> tuple[list[str], str]:
    """The hand-written Pre-Depends and Depends of control's binaries for arch, relations on the
    source's own binaries and substitution variables left out; or ("", why) when one cannot be read."""
    paragraphs = list(Deb822.iter_paragraphs(control.splitlines(keepends=True), use_apt_pkg=False))
    binaries = [p for p in paragraphs[1:] if "Package" in p]
    own = {str(p["Package"]) for p in binaries}
    out: list[str] = []
    for p in binaries:
        if not _arch_ok(str(p.get("Architecture", "")), arch):
            continue
        for f in ("Pre-Depends", "Depends"):
            for item in " ".join(str(p.get(f, "")).split()).split(","):
                item = item.strip()
                if not item or _SUBST.fullmatch(item):
                    continue  # generated: ${shlibs:Depends}, ${misc:Depends}, ...
                groups = relations.reduce(relations.parse(_SUBST.sub("0", item)), arch, ())
                names = {rel["name"] for g in groups for rel in g}
                if not names or names <= own:
                    continue
                if "${" in item:
                    return [], "a hand-written relation with a substitution variable in it"
                if "${" in str(p["Package"]):
                    return [], "a binary named by a substitution"
                out.append(", ".join(" | ".join(relations.render(r) for r in g) for g in groups))
    return sorted(set(out)), ""


def control_of(cache: Cache, entry: SourceEntry) -> tuple[str, str]:
    """The real debian/control of entry (its debian tarball, verified against the signed Sources
    stanza), or ("", why not)."""
    files = [(str(i["name"]), str(i["sha256"]), int(i["size"])) for i in entry.stanza.get("Checksums-Sha256", [])]
    tars = [f for f in files if _DEBIAN_TAR.search(f[0])]
    if not tars:
        tars = [f for f in files if ".tar." in f[0] and ".orig" not in f[0] and f[2] <= NATIVE_LIMIT]
    if len(tars) != 1:
        return "", "no debian tarball (format 1.0, or a large native source)"
    name, sha, size = tars[0]
    try:
        path = cache.fetch(f"{entry.mirror}/{entry.stanza['Directory']}/{name}", sha, size,
                           f"{entry.name} {entry.version}: {name}")
    except NotServed:
        return "", "its debian tarball is not served"
    with tarfile.open(path) as tar:
        member = next((m for m in tar.getmembers() if m.isfile() and re.fullmatch(r"(\./)?([^/]+/)?debian/control",
                                                                                   m.name)), None)
        data = tar.extractfile(member) if member else None
        if data is None:
            return "", "no debian/control in its debian tarball"
        return data.read().decode(errors="replace"), ""


def satisfied(idx: PlanIndices, needs: dict[str, list[str]], work: Path) -> set[str]:
    """Of each source's hand-written relations, which sources' the target satisfies (dose-distcheck on
    one pseudo package per source against the target's real Packages)."""
    pseudo = work / "handwritten.Packages"
    stanzas = []
    for source, rels in needs.items():
        lines = [f"Package: kronos-handwritten-{source}", "Version: 0", f"Architecture: {idx.arch}"]
        if rels:
            lines.append(f"Depends: {', '.join(rels)}")
        stanzas.append(Packages("\n".join(lines) + "\n").dump())
    pseudo.write_text("\n".join(stanzas))
    argv = ["dose-distcheck", f"--deb-native-arch={idx.arch}", "--successes", "--failures", f"--fg=deb://{pseudo}",
            *(f"--bg=deb://{p}" for p in target_packages(idx))]
    text = _dose(argv)
    return {name.removeprefix("kronos-handwritten-") for name, status, _ in _report(text)
            if status == "ok" and name.startswith("kronos-handwritten-")}


def _provided(suite: Suite) -> set[str]:
    """The names the suite's packages provide (only the stanzas that have a Provides field are parsed)."""
    out: set[str] = set()
    for index in suite.packages:
        for chunks in by_name(index.path).values():
            for chunk in chunks:
                if b"\nProvides:" in chunk:
                    out |= {rel["name"] for g in relations.parse(str(Packages(chunk).get("Provides", ""))) for rel in g}
    return out


def _binary(suite: Suite, entry: SourceEntry, provided: Collection[str]) -> tuple[str, str] | None:
    """One binary the --from suite built from entry (the first by name that no package provides: a
    versioned Provides would make another source an answer) and its version."""
    names = sorted(b.strip() for b in str(entry.stanza.get("Binary", "")).split(",") if b.strip())
    for name in names:
        if name in provided:
            continue
        for index in suite.packages:
            for chunk in by_name(index.path).get(name, ()):
                pkg = Packages(chunk)
                if str(pkg.get("Source", name)).split()[0] == entry.name:
                    return name, str(pkg["Version"])
    return None


def candidates(idx: PlanIndices, seed: int) -> Iterator[SourceEntry]:
    """The first --from suite's sources in a seeded order, those newer than the target's."""
    frm = idx.froms[0]
    names = sorted({n for index in frm.sources for n in by_name(index.path)})
    random.Random(seed).shuffle(names)
    for name in names:
        entry = frm.source(name)
        theirs = idx.target_source(name)
        if entry is not None and (theirs is None or Version(theirs.version) < Version(entry.version)):
            yield entry


def _chunks(items: Iterable[SourceEntry], n: int) -> Iterator[list[SourceEntry]]:
    chunk: list[SourceEntry] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == n:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def sample(idx: PlanIndices, seed: int, unchanged: int, needing: int, work: Path,
           profiles: Sequence[str]) -> Sample:
    """Walk the candidates in the seeded order until `unchanged` and `needing` sources are found."""
    work.mkdir(parents=True, exist_ok=True)
    cache = Cache(idx.cache_root)
    frm = idx.froms[0]
    frm_names = {n for i in frm.packages for n in by_name(i.path)}
    provided = _provided(frm)
    out = Sample()
    for chunk in _chunks(candidates(idx, seed), CHUNK):
        verdicts = builds(idx, [e.stanza.dump().encode() for e in chunk], work, profiles)
        found: dict[str, tuple[SourceEntry, tuple[str, str], list[str]]] = {}
        for entry in chunk:
            binary = _binary(frm, entry, provided)
            unsat = verdicts.get(entry.name)
            if binary is None:
                out.skip(f"no binary for {idx.arch} in {frm.name}")
            elif unsat is None:
                out.skip("not in dose's report")
            elif unsat:
                dep_names = [relations.parse(u)[0][0]["name"] for u in unsat if not u.startswith("(")]
                if len(out.needing) < needing and dep_names and all(n in frm_names for n in dep_names):
                    out.needing.append(Sampled(entry.name, entry.version, *binary, needs=tuple(unsat)))
                else:
                    out.skip("does not build on the target as it is")
            elif len(out.unchanged) + len(found) < unchanged:
                control, why = control_of(cache, entry)
                rels, why = handwritten(control, idx.arch) if control else ([], why)
                if why:
                    out.skip(why)
                else:
                    found[entry.name] = (entry, binary, rels)
        ok = satisfied(idx, {name: rels for name, (_e, _b, rels) in found.items()}, work) if found else set()
        for name, (entry, binary, rels) in found.items():
            if name in ok:
                out.unchanged.append(Sampled(entry.name, entry.version, *binary, handwritten=tuple(rels)))
            else:
                out.skip("the target does not satisfy a hand-written relation")
        if len(out.unchanged) >= unchanged and len(out.needing) >= needing:
            break
    return out


def disagreement(c: Closure, s: Sampled) -> str:
    """Why closure c (for s.wanted) is not what dose and a backporter agree on; "" when it is."""
    got = sorted({m.source for m in c.members.values()})
    if not all(w.ok for w in c.wants):
        return f"{s.wanted} does not solve: {'; '.join(p for w in c.wants for p in w.problems)}"
    if not s.needs:
        return "" if got == [s.source] else f"{s.source} needs no other source, the closure has {', '.join(got)}"
    built = {b.strip() for m in c.members.values() for b in str(m.entry.stanza.get("Binary", "")).split(",")}
    missing = [n for n in s.needs if relations.parse(n)[0][0]["name"] not in built]
    if s.source not in got or missing:
        return (f"{s.source} needs {', '.join(s.needs)}; the closure ({', '.join(got)}) does not build "
                f"{', '.join(missing) or s.source}")
    return ""
