"""The QA frame without tools: policy layers, lintian's output read with our overrides, piuparts'
output classified, and the verdict store (reuse, errors never reused, history)."""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

import pytest

from kronos.config import Target, load_settings
from kronos.errors import ConfigError
from kronos.qa.gate import Subject
from kronos.qa.lintian import parse
from kronos.qa.piuparts import PiupartsGate, mounts_under, sweep
from kronos.qa.policy import GatePolicy
from kronos.qa.verdict import HISTORY, Outcome, Verdict, VerdictStore


def test_default_policy_blocks_on_both_gates_and_overrides_the_default_address(tmp_path: Path) -> None:
    s = load_settings(tmp_path, env={})
    lintian = s.qa.gate("lintian", "bookworm", "xen")
    assert lintian.blocking and lintian.fail_on == ("error",)
    assert lintian.reason("bogus-mail-host") and "DEBEMAIL" in str(lintian.reason("bogus-mail-host"))
    piuparts = s.qa.gate("piuparts", "noble", "xen")
    assert piuparts.blocking and piuparts.fail_on == ("install-purge", "upgrade")
    repro = s.qa.gate("repro", "bookworm", "xen")  # informs: not blocking
    assert not repro.blocking and repro.fail_on == ("unreproducible", "failed-to-build")
    assert repro.max_seconds == 14400 and repro.key()["max_seconds"] == 14400


def test_policy_layers_target_then_recipe_and_overrides_accumulate(tmp_path: Path) -> None:
    (tmp_path / "kronos.toml").write_text("""
[qa.targets.noble]
blocking = ["lintian"]
[qa.targets.noble.lintian]
fail_on = ["error", "warning"]
[qa.recipes.xen.lintian.overrides]
some-tag = "xen's reason"
bogus-mail-host = false
bogus-mail-host-in-debian-changelog = false
""")
    s = load_settings(tmp_path, env={})
    noble_xen = s.qa.gate("lintian", "noble", "xen")
    assert noble_xen.fail_on == ("error", "warning") and noble_xen.overrides == (("some-tag", "xen's reason"),)
    assert not s.qa.gate("piuparts", "noble", "xen").blocking
    other = s.qa.gate("lintian", "bookworm", "ocaml-dune")
    assert other.fail_on == ("error",) and [t for t, _ in other.overrides] == ["bogus-mail-host",
                                                                    "bogus-mail-host-in-debian-changelog"]
    assert noble_xen.key() != other.key()


@pytest.mark.parametrize(("toml", "line"), [
    ('[qa]\nblocking = ["lintain"]\n', "qa.blocking: unknown gate 'lintain'"),
    ('[qa.lintian]\nfail_on = ["severe"]\n', "qa.lintian.fail_on: 'severe' is not one of error"),
    ('[qa.lintian.overrides]\nsome-tag = ""\n', "qa.lintian.overrides.some-tag: an override needs its reason"),
    ('[qa.piuparts]\nfail_on = ["install"]\n', "qa.piuparts.fail_on: 'install' is not one of install-purge"),
    ('[qa.targets.hurd]\nblocking = []\n', "qa.targets: unknown target 'hurd'"),
    ('[qa.lintian]\nfail_ob = ["error"]\n', "qa.lintian: unknown key 'fail_ob'"),
    ('[qa.repro]\nmax_seconds = 0\n', "qa.repro.max_seconds: seconds, a positive integer (got 0)"),
    ('[qa.repro]\nmax_seconds = "1h"\n', "qa.repro.max_seconds: seconds, a positive integer (got '1h')"),
    ('[qa.repro]\nfail_on = ["slow"]\n', "qa.repro.fail_on: 'slow' is not one of unreproducible, failed-to-build"),
    ('[qa.lintian]\nmax_seconds = 5\n', "qa.lintian: unknown key 'max_seconds'"),
])
def test_a_bad_policy_is_one_line_naming_the_key(tmp_path: Path, toml: str, line: str) -> None:
    (tmp_path / "kronos.toml").write_text(toml)
    with pytest.raises(ConfigError) as e:
        load_settings(tmp_path, env={})
    assert line in str(e.value)


LINTIAN = """\
+ lintian -I -E --pedantic --show-overrides --tag-display-limit 0 --fail-on none x.changes x.dsc
E: kx: bogus-mail-host Maintainer kronos@localhost
E: kx source: no-copyright-file
W: kx: empty-binary-package
I: kx: extended-description-is-probably-too-short
P: kx source: no-homepage-field
O: kx: spelling-error-in-binary teh the [usr/bin/kx]
N: some note
"""


def test_lintian_output_is_read_by_severity_with_our_overrides() -> None:
    policy = GatePolicy("lintian", True, ("error",), (("bogus-mail-host", "local builds"),))
    tags = parse(LINTIAN, policy)
    assert [(t.severity, t.tag, bool(t.overridden_by)) for t in tags] == [
        ("error", "bogus-mail-host", True), ("error", "no-copyright-file", False),
        ("warning", "empty-binary-package", False), ("info", "extended-description-is-probably-too-short", False),
        ("pedantic", "no-homepage-field", False), ("overridden", "spelling-error-in-binary", True)]
    assert tags[0].overridden_by == "ours: local builds" and tags[1].package == "kx source"
    assert tags[0].line() == "error: kx: bogus-mail-host Maintainer kronos@localhost [overridden: ours: local builds]"


PURGE_FAIL = """\
0m13.6s DEBUG: Recording chroot state
0m14.0s ERROR: FAIL: Package purging left files on system:
  /var/lib/kqa-leaky/\t not owned
  /var/lib/kqa-leaky/state\t not owned

0m14.0s ERROR: FAIL: Installation and purging test.
0m15.2s ERROR: piuparts run ends.
"""
UPGRADE_FAIL = "0m20s ERROR: FAIL: Installation, upgrade and purging tests.\n"
MIRROR_DOWN = """\
0m1.0s DUMP:
  Err:1 http://127.0.0.1:9/debian bookworm InRelease
    Could not connect to 127.0.0.1:9 (127.0.0.1). - connect (111: Connection refused)
0m1.1s ERROR: Command failed (status=100): ['chroot', '/tmp/x', 'apt-get', 'update']
"""

# bookworm's ocaml-alcotest, seen on the real stack: install-purge passed; the upgrade test could not
# install the archive's version, which needs the archive's libre-ocaml-dev ABI that ours replaces
ARCHIVE_BLOCKED = """\
0m36.4s INFO: PASS: Installation and purging test.
0m37.3s DEBUG: Starting command: ['chroot', '/tmp/x', 'apt-get', '-y', 'install', 'libalcotest-ocaml-dev']
0m37.7s DUMP:
  The following packages have unmet dependencies:
   libalcotest-ocaml-dev : Depends: libre-ocaml-dev-x1xl9
  E: Unable to correct problems, you have held broken packages.
0m37.7s ERROR: Command failed (status=100): ['chroot', '/tmp/x', 'apt-get', '-y', 'install', 'libalcotest-ocaml-dev']
0m39.5s ERROR: piuparts run ends.
"""
# the same unmet dependency in the install-purge test itself is the package's (or an error), never a pass
INSTALL_BLOCKED = ARCHIVE_BLOCKED.replace("0m36.4s INFO: PASS: Installation and purging test.\n", "")


@pytest.mark.parametrize(("code", "text", "fail_on", "outcome", "words"), [
    (0, "0m9s INFO: PASS: Installation and purging test.\n", ("install-purge",), "pass", "Installation and purging"),
    (1, PURGE_FAIL, ("install-purge",), "fail", "install-purge (archive): Package purging left files on system:"
                                                 " /var/lib/kqa-leaky/ not owned /var/lib/kqa-leaky/state not owned"),
    (1, UPGRADE_FAIL, ("install-purge", "upgrade"), "fail", "upgrade (archive)"),
    (1, UPGRADE_FAIL, ("install-purge",), "pass", "not failed on, by policy"),
    (1, MIRROR_DOWN, ("install-purge",), "error", "Could not connect to 127.0.0.1:9"),
    (1, "Traceback ...\nOSError: boom\n", ("install-purge",), "error", "OSError: boom"),
    (1, ARCHIVE_BLOCKED, ("install-purge", "upgrade"), "pass",
     "no upgrade test from the archive: its version cannot be installed beside our other packages"
     " (libalcotest-ocaml-dev : Depends: libre-ocaml-dev-x1xl9)"),
    (1, INSTALL_BLOCKED, ("install-purge", "upgrade"), "error", "piuparts could not test"),
])
def test_piuparts_output_is_classified(code: int, text: str, fail_on: tuple[str, ...], outcome: str,
                                       words: str) -> None:
    gate = PiupartsGate.__new__(PiupartsGate)
    found = gate._classify("archive", code, text, GatePolicy("piuparts", True, fail_on))
    assert found["outcome"] == outcome and words in found["summary"], found


def verdict(key: str, outcome: Outcome = Outcome.PASS, started: str = "2026-12-07T00:00:00+00:00") -> Verdict:
    return Verdict("lintian", "bookworm", "xen", "1.0-1", "b" * 64, key, outcome, "summary", True, started, 1.0,
                   "lintian.log", {"lintian": "2.116"}, {"counts": {"error": 1}}, ("tags.txt",))


def test_the_store_reuses_a_verdict_by_key_but_never_an_error(tmp_path: Path) -> None:
    store = VerdictStore(tmp_path / "qa")
    with store.workdir("bookworm") as work:
        (work / "lintian.log").write_text("log")
        where = store.record(verdict("k" * 64), work)
    assert (where / "lintian.log").read_text() == "log"
    found = store.find("bookworm", "xen", "lintian", "k" * 64)
    assert found is not None and found.reused and dataclasses.replace(found, reused=False) == verdict("k" * 64)
    assert store.find("bookworm", "xen", "lintian", "j" * 64) is None
    with store.workdir("bookworm") as work:
        store.record(verdict("e" * 64, Outcome.ERROR), work)
    assert store.find("bookworm", "xen", "lintian", "e" * 64) is None  # tried again next time
    assert not list((tmp_path / "qa" / "bookworm").glob(".work-*"))


def test_the_store_keeps_a_history_per_gate(tmp_path: Path) -> None:
    store = VerdictStore(tmp_path / "qa")
    for n in range(HISTORY + 3):
        with store.workdir("bookworm") as work:
            store.record(verdict(f"{n:02d}" + "k" * 62, started=f"2026-12-07T00:00:{n:02d}+00:00"), work)
    history = store.latest("bookworm", "xen", "lintian")
    assert len(history) == HISTORY and history[0].key == f"{HISTORY + 2:02d}" + "k" * 62


def test_mounts_under_a_directory_are_found_deepest_first(tmp_path: Path) -> None:
    assert mounts_under(tmp_path) == []
    assert mounts_under(Path("/"))[-1] == "/"


def test_a_later_run_removes_what_a_killed_kronos_left_of_piuparts(capsys: pytest.CaptureFixture[str]) -> None:
    gone = Path(tempfile.mkdtemp(prefix="kq-piuparts-999999999-", dir="/tmp"))
    (gone / "chroot" / "etc").mkdir(parents=True)
    mine = Path(tempfile.mkdtemp(prefix=f"kq-repo-{os.getpid()}-", dir="/tmp"))
    try:
        assert sweep() == [gone]
        assert not gone.exists() and mine.exists()
        assert f"removed {gone}, left by a kronos that is gone (pid 999999999)" in capsys.readouterr().err
    finally:
        shutil.rmtree(gone, ignore_errors=True)
        shutil.rmtree(mine, ignore_errors=True)


def _deb(tmp: Path, name: str, version: str = "1.0-1") -> Path:
    root = tmp / name
    (root / "DEBIAN").mkdir(parents=True)
    (root / "DEBIAN" / "control").write_text(f"Package: {name}\nVersion: {version}\nArchitecture: all\n"
                                             "Maintainer: K <k@example.org>\nDescription: x\n x\n")
    deb = tmp / f"{name}_{version}_all.deb"
    subprocess.run(["dpkg-deb", "--root-owner-group", "-b", str(root), str(deb)], check=True, capture_output=True)
    return deb


class CannedPiupartsGate(PiupartsGate):
    """The gate's own logic over canned piuparts outputs: which runs it makes, how it sums them up."""

    def __init__(self, outputs: list[tuple[int, str]]) -> None:
        super().__init__(None, None, {}, {})  # type: ignore[arg-type]  # no archive: nothing runs for real
        self.outputs = outputs
        self.calls: list[list[str]] = []

    def base(self, target: Target) -> tuple[Path, str]:
        return Path("/nonexistent/base.tar.gz"), "k"

    def argv(self, subject: Subject, tarball: Path, tmp: Path, repos: Sequence[Path],
             policy: GatePolicy) -> list[str]:
        return ["piuparts", f"--repos={len(repos)}"]

    def _piuparts(self, argv: list[str], log: Path, title: str) -> tuple[int, str]:
        self.calls.append(argv)
        return self.outputs.pop(0)


@pytest.mark.parametrize(("outputs", "outcome", "runs"), [
    ([(1, PURGE_FAIL), (1, PURGE_FAIL)], "fails in the archive as well", ["archive", "baseline"]),
    ([(1, PURGE_FAIL), (0, "PASS: Installation and purging test.\n")], "fail", ["archive", "baseline"]),
    ([(1, PURGE_FAIL), (100, "E: Unable to locate package kqa-x\n")], "fail", ["archive"]),
    ([(1, MIRROR_DOWN)], "error", ["archive"]),
    ([(1, UPGRADE_FAIL)], "fail", ["archive"]),
])
def test_piuparts_runs_a_baseline_of_the_archive_only_for_an_install_purge_failure(
        tmp_path: Path, outputs: list[tuple[int, str]], outcome: str, runs: list[str]) -> None:
    deb = _deb(tmp_path, "kqa-x")
    subject = Subject(load_settings(tmp_path, env={}).target("bookworm"), "qa-x", tmp_path, "1.0-1", "b" * 64,
                      "kqa-x", (deb.name,))
    gate = CannedPiupartsGate(outputs)
    found = gate.judge(subject, GatePolicy("piuparts", True, ("install-purge", "upgrade")), tmp_path, tmp_path / "log")
    assert found.outcome.value == outcome, found
    assert [r["run"] for r in found.details["runs"]] + (["baseline"] if "baseline" in found.details else []) == runs
    if "baseline" in found.details:
        assert gate.calls[-1][-3:] == ["--apt", "--no-upgrade-test", "kqa-x"]


def test_piuparts_upgrades_from_our_served_version_when_there_is_one(tmp_path: Path) -> None:
    (tmp_path / "served").mkdir()
    deb, old = _deb(tmp_path, "kqa-x"), _deb(tmp_path / "served", "kqa-x", "0.9-1")
    subject = Subject(load_settings(tmp_path, env={}).target("bookworm"), "qa-x", tmp_path, "1.0-1", "b" * 64,
                      "kqa-x", (deb.name,))
    gate = CannedPiupartsGate([(0, "PASS: Installation and purging test.\n"), (1, UPGRADE_FAIL)])
    gate.served = {("bookworm", "kqa-x"): [old]}
    found = gate.judge(subject, GatePolicy("piuparts", True, ("install-purge", "upgrade")), tmp_path, tmp_path / "log")
    assert found.outcome.value == "fail" and found.summary.startswith("upgrade (served)"), found
    assert gate.calls[1][1:] == ["--repos=1", "--no-install-purge-test", str(deb)]  # the served .debs' repository
    # the same version served as built: nothing to upgrade from
    gate = CannedPiupartsGate([(0, "PASS: Installation and purging test.\n")])
    gate.served = {("bookworm", "kqa-x"): [deb]}
    found = gate.judge(subject, GatePolicy("piuparts", True, ("install-purge",)), tmp_path, tmp_path / "log")
    assert found.outcome.value == "pass" and len(gate.calls) == 1
    # a higher version served (a change undone brings an earlier build back): no upgrade path to test
    (tmp_path / "newer").mkdir()
    gate = CannedPiupartsGate([(0, "PASS: Installation and purging test.\n")])
    gate.served = {("bookworm", "kqa-x"): [_deb(tmp_path / "newer", "kqa-x", "1.1-1")]}
    found = gate.judge(subject, GatePolicy("piuparts", True, ("install-purge",)), tmp_path, tmp_path / "log")
    assert found.outcome.value == "pass" and len(gate.calls) == 1


def control_deb(tmp: Path, name: str, depends: str = "", provides: str = "") -> Path:
    tree = tmp / f"tree-{name}"
    (tree / "DEBIAN").mkdir(parents=True)
    fields = f"Package: {name}\nVersion: 1.0\nArchitecture: all\nMaintainer: T <t@localhost>\n"
    fields += f"Depends: {depends}\n" * bool(depends) + f"Provides: {provides}\n" * bool(provides)
    (tree / "DEBIAN" / "control").write_text(fields + f"Description: {name}\n")
    out = tmp / f"{name}_1.0_all.deb"
    subprocess.run(["dpkg-deb", "--root-owner-group", "-Zgzip", "--build", str(tree), str(out)], check=True,
                   stdout=subprocess.DEVNULL)
    return out


def test_piuparts_verdicts_depend_on_what_the_package_may_install_of_ours_only(tmp_path: Path) -> None:
    """A verdict is keyed by the closure of Depends over our other packages (names and Provides), so a
    change to an unrelated package of ours does not make every package's piuparts run again."""
    from kronos.qa.piuparts import installed_with

    app = control_deb(tmp_path, "app", depends="liba (>= 1) | other, python3")
    liba = control_deb(tmp_path, "liba", depends="libb-abc123")
    libb = control_deb(tmp_path, "libb", provides="libb-abc123")
    libc = control_deb(tmp_path, "libc-unused")
    pre = control_deb(tmp_path, "loop", depends="app")  # a cycle back to the package itself
    assert installed_with([app], [liba, libb, libc, pre]) == sorted([liba, libb])
    assert installed_with([pre], [app, liba, libb, libc]) == sorted([app, liba, libb])
    assert installed_with([libc], [app, liba, libb]) == []
