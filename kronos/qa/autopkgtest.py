"""The autopkgtest gate: the source's debian/tests (its .dsc names a Testsuite) run by Debian's
autopkgtest, from the target's own archive, with its null runner inside a fresh container of the target
(containers/autopkgtest.sh), against our binaries. A test that fails is run again against the archive's
own build of the source (the baseline): failing there too, it "fails in the archive as well".

Why null inside our container rather than autopkgtest's docker runner on the host: the container is made
through our engine (labels, the sweep of leftovers, interrupts) from our own image, no docker CLI or
registry is needed, and the testbed is as fresh (one container per run)."""

from __future__ import annotations

import shutil
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from debian.deb822 import Dsc
from debian.debian_support import Version

from .. import layers, owner
from ..archive import indices
from ..archive.access import Archives
from ..cache import sha256_file
from ..config import Settings
from ..engine import ContainerSpec, Engine
from ..executor.locks import Once
from ..images import Image
from .gate import Finding, Subject
from .policy import GatePolicy
from .verdict import Outcome

LAYER_REPOSITORY = "kronos/autopkgtest"
SUMMARY = "summary"
# autopkgtest's exit codes (its manual page, EXIT STATUS): bits 2 skipped, 4 failed, 8 no tests,
# 12 erroneous package (14: and skipped), 16 testbed failure, 20 other failure; 124/137 our timeout
EXITS = {0: "all tests passed", 2: "at least one test skipped", 4: "at least one test failed",
         6: "tests failed and tests skipped", 8: "no tests ran", 12: "erroneous package",
         14: "erroneous package, tests skipped", 16: "testbed failure", 20: "unexpected failure"}


@dataclass(frozen=True)
class Result:
    test: str
    result: str  # PASS, FAIL, SKIP, FLAKY, NEUTRAL (autopkgtest's words)
    detail: str = ""


def parse_summary(text: str) -> list[Result]:
    """autopkgtest's --summary-file: one line a test, `name RESULT[ detail]`."""
    out = []
    for line in text.splitlines():
        words = line.split(None, 2)
        if len(words) >= 2:
            out.append(Result(words[0], words[1].upper(), words[2].strip() if len(words) > 2 else ""))
    return out


def has_tests(subject: Subject) -> bool:
    dscs = subject.named(".dsc")
    if not dscs:
        return False
    with dscs[0].open() as f:
        return "autopkgtest" in str(Dsc(f).get("Testsuite", "")).split(", ")


def judge_results(code: int, ours: list[Result], archive: Mapping[str, str] | None, baseline: str,
                  policy: GatePolicy) -> Finding:
    """The verdict of one source's tests from autopkgtest's exit and summary, and, for what failed, the
    baseline's result of each test (None: no baseline was run)."""
    tests = [{"test": r.test, "result": r.result, "detail": r.detail,
              "archive": (archive or {}).get(r.test)} for r in ours]
    details: dict[str, Any] = {"exit": code, "exit_means": EXITS.get(code, "timeout" if code in (124, 137) else
                                                                      "unknown"), "tests": tests,
                               "baseline": baseline}
    counts = ", ".join(f"{sum(1 for r in ours if r.result == w)} {w}" for w in ("PASS", "FAIL", "SKIP", "FLAKY",
                                                                                  "NEUTRAL")
                       if any(r.result == w for r in ours))
    if code in (124, 137):
        return Finding(Outcome.ERROR, f"autopkgtest ran past autopkgtest.max_seconds ({policy.max_seconds} s)",
                       details)
    if code in (16, 20) or code not in EXITS:
        return Finding(Outcome.ERROR, f"autopkgtest: {EXITS.get(code, f'exit {code}')}", details)
    if code in (12, 14):
        outcome = Outcome.FAIL if "erroneous" in policy.fail_on else Outcome.PASS
        return Finding(outcome, f"erroneous package: its tests could not run (exit {code}); {counts or 'no results'}",
                       details)
    failed = [r for r in ours if r.result == "FAIL"]
    if not failed:
        return Finding(Outcome.PASS, counts or EXITS[code], details)
    ours_only = [r for r in failed if (archive or {}).get(r.test) != "FAIL"]
    names = ", ".join(r.test for r in failed)
    if not ours_only:
        return Finding(Outcome.ARCHIVE_FAILS, f"{names} failed, and fail with {baseline} as well; {counts}", details)
    outcome = Outcome.FAIL if "fail" in policy.fail_on else Outcome.PASS
    also = [r.test for r in failed if r not in ours_only]
    tail = f" ({', '.join(also)} fail with {baseline} as well)" if also else ""
    return Finding(outcome, f"{', '.join(r.test for r in ours_only)} failed{tail}; {counts}; baseline: {baseline}",
                   details)


def _labels(subject: Subject, phase: str) -> tuple[tuple[str, str], ...]:
    return ((f"{owner.PREFIX}.target", subject.target.name), (f"{owner.PREFIX}.recipe", subject.recipe),
            (f"{owner.PREFIX}.version", subject.version), (f"{owner.PREFIX}.phase", phase))


class AutopkgtestGate:
    name = "autopkgtest"

    def __init__(self, settings: Settings, engine: Engine, archives: Archives, base: dict[str, Once[Image]],
                 ours: dict[str, list[Path]]) -> None:
        self.settings = settings
        self.engine = engine
        self.archives = archives
        self.base = base  # target name -> its base image, made once
        self.ours = ours  # target name -> our .debs for it (what our binaries' dependencies may need)
        self._layers: dict[str, Once[str]] = {}
        self._lock = threading.Lock()
        self._archive_versions: dict[tuple[str, str], str] = {}

    def _layer(self, subject: Subject) -> str:
        target = subject.target.name
        with self._lock:
            once = self._layers.setdefault(target, Once(lambda: self._make_layer(subject)))
        return once()

    def _make_layer(self, subject: Subject) -> str:
        """The target's base image plus its archive's autopkgtest (containers/tool-layer.sh)."""
        image = self.base[subject.target.name]()
        log = self.settings.cache_dir / "qa" / f"autopkgtest-layer-{subject.target.name}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        return layers.layer(self.engine, image.ref, f"{LAYER_REPOSITORY}-{subject.target.name}",
                            self.settings.containers_dir / "tool-layer.sh", log, ("autopkgtest",),
                            labels=_labels(subject, "qa-autopkgtest-layer"), locks=self.settings.cache_dir / "locks")

    def inputs(self, subject: Subject) -> dict[str, Any]:
        if not has_tests(subject):
            return {"tests": None}
        runner = self.settings.containers_dir / "autopkgtest.sh"
        return {"layer": self._layer(subject), "script": sha256_file(runner),
                "ours": sorted(d.name for d in self.ours.get(subject.target.name, [])),
                "archive": self.archive_version(subject)}

    def archive_version(self, subject: Subject) -> str:
        """The archive's build of the source on the target (`version (suite)`), or "" when it has none;
        read once per target and source (inputs() and judge() both ask)."""
        key = (subject.target.name, subject.source)
        with self._lock:
            known = self._archive_versions.get(key)
        if known is None:
            known = self._archive_version(subject)
            with self._lock:
                self._archive_versions[key] = known
        return known

    def _archive_version(self, subject: Subject) -> str:
        best: tuple[Version, str] | None = None
        archive = self.settings.archive_of(subject.target)
        for mirror, suite in self.archives.default_suites(subject.target):
            release = self.archives.release(archive, suite, mirror)
            for component in subject.target.components:
                stem = f"{component}/source/Sources"
                if not any(release.entry(stem + x) for x in (".xz", ".gz", "")):
                    continue
                path, ext = release.index(self.archives.cache, stem)
                for stanza in indices.sources_of(indices.plain(path, ext), {subject.source}).get(subject.source, []):
                    v = Version(str(stanza["Version"]))
                    if best is None or v > best[0]:
                        best = (v, suite)
        return f"{best[0]} ({best[1]})" if best else ""

    def run(self, subject: Subject, debs: list[Path], policy: GatePolicy, log: Path, out: Path) -> tuple[int, str]:
        """One autopkgtest run of the subject's .dsc against debs (none: the archive's binaries)."""
        with tempfile.TemporaryDirectory(prefix="kq") as tmp:
            staged = Path(tmp) / "in"
            staged.mkdir()
            for f in subject.named(".dsc", ".tar.gz", ".tar.xz", ".tar.bz2", ".diff.gz", ".asc"):
                shutil.copyfile(f, staged / f.name)
            for d in debs:
                shutil.copyfile(d, staged / d.name)
            spec = ContainerSpec(image=self._layer(subject), command=("/bin/sh", "/kronos/autopkgtest.sh"),
                                 network="host", capabilities=layers.CAPABILITIES,
                                 env=(("KRONOS_AUTOPKGTEST_SECONDS", str(policy.max_seconds)),),
                                 labels=_labels(subject, "qa-autopkgtest"))
            with self.engine.container(spec) as c:
                c.put(self.settings.containers_dir / "autopkgtest.sh", "/kronos")
                c.put(staged, "/kronos")
                code = c.run(log)
                c.get("/kronos/out", out.parent / f".{out.name}")
        shutil.move(out.parent / f".{out.name}" / "out", out)
        shutil.rmtree(out.parent / f".{out.name}", ignore_errors=True)
        for deb in out.rglob("*.deb"):
            deb.unlink()
        summary = out / SUMMARY
        return code, summary.read_text(errors="replace") if summary.exists() else ""

    def judge(self, subject: Subject, policy: GatePolicy, work: Path, log: Path) -> Finding:
        if not has_tests(subject):
            return Finding(Outcome.PASS, "no debian/tests in the source (no Testsuite: autopkgtest)",
                           {"tests": []})
        ours = work / "ours"
        siblings = [d for d in self.ours.get(subject.target.name, []) if d.parent != subject.directory]
        code, text = self.run(subject, [*subject.debs, *siblings], policy, log, ours)
        results = parse_summary(text)
        archive_version = self.archive_version(subject)
        baseline = (f"the archive's {subject.source} {archive_version}" if archive_version else
                    f"none: the archive has no {subject.source} for {subject.target.name}")
        against: dict[str, str] | None = None
        if archive_version and any(r.result == "FAIL" for r in results):
            base = work / "archive"
            _, base_text = self.run(subject, [], policy, work / "archive.log", base)
            against = {r.test: r.result for r in parse_summary(base_text)}
        found = judge_results(code, results, against, baseline, policy)
        kept = tuple(str(p.relative_to(work)) for p in sorted(work.rglob("*")) if p.is_file() and p != log)
        return Finding(found.outcome, found.summary, found.details, kept)
