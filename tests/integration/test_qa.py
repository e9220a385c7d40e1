"""`kronos qa` on fixture packages built for real (dpkg-dev only, seconds each), with the verdict each
must get: lintian (a target container's own lintian) and piuparts (Debian's, on the host, from a
minbase tarball made by mmdebstrap)."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from .fixture_stack import COPYRIGHT, KRONOS, TARGET, fixture_recipe, new_project, project_env
from .fixture_stack import kronos as run_kronos

pytestmark = pytest.mark.integration

# leaves its state behind on purge: piuparts must name the file
LEAKY_POSTINST = "#!/bin/sh\nset -e\nmkdir -p /var/lib/kqa-leaky\necho state > /var/lib/kqa-leaky/state\n"


def qa_package(root: Path, recipe: str, copyright: bool = True, postinst: str = "") -> None:
    """Lintian-clean but for bogus-mail-host (the default maintainer), which the default policy
    overrides: copyright (unless not `copyright`) and changelog where policy wants them."""
    package = f"k{recipe}"
    fixture_recipe(
        root, recipe, package, tree={"README": f"{package}\n"}, changelog="A QA fixture.",
        build_depends=["dpkg-dev (>= 1.20)"],
        debian={"copyright": COPYRIGHT, **({"postinst": postinst} if postinst else {})},
        steps=["mkdir -p debian/tmp/DEBIAN $(D)", *["cp debian/copyright $(D)/copyright"] * copyright,
               "gzip -9nc debian/changelog > $(D)/changelog.Debian.gz",
               *["install -m 0755 debian/postinst debian/tmp/DEBIAN/postinst"] * bool(postinst)],
        description=f"kronos QA fixture {package}\n A package of the QA fixtures of tests/integration/test_qa.py,"
                    " built to get\n one verdict from each gate.")


POLICY = """\
[qa.recipes.qa-override.lintian.overrides]
no-copyright-file = "the fixture ships its licence elsewhere (a test of our overrides)"
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = new_project(tmp_path_factory.mktemp("qa"))
    qa_package(root, "qa-clean")
    qa_package(root, "qa-lint", copyright=False)
    qa_package(root, "qa-override", copyright=False)
    qa_package(root, "qa-leaky", postinst=LEAKY_POSTINST)
    (root / "kronos.toml").write_text(POLICY)
    built = kronos(root, "build", "--target", TARGET, "--jobs", "2")
    assert built.returncode == 0, built.stdout[-2000:] + built.stderr[-3000:]
    return root


def kronos(root: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return run_kronos(root, *args, timeout=1800, **env)


def verdicts(root: Path, recipe: str, gate: str) -> list[dict[str, object]]:
    """The stored verdicts of gate for recipe, newest first."""
    found = [json.loads(p.read_text()) for p in (root / "out" / "qa" / TARGET / recipe / gate).glob("*/verdict.json")]
    return sorted(found, key=lambda v: str(v["started"]), reverse=True)


def test_lintian_verdicts_tags_and_our_overrides(project: Path) -> None:
    r = kronos(project, "qa", "--target", TARGET, "--gate", "lintian", "--only", "qa-clean", "--only", "qa-lint",
               "--only", "qa-override", "--jobs", "2")
    out = r.stdout + r.stderr
    assert r.returncode == 1, out[-3000:]  # a blocking gate failed
    assert "QA: 1 failed, 0 could not be judged (error)" in r.stderr, out[-3000:]
    lint = verdicts(project, "qa-lint", "lintian")[0]
    assert lint["outcome"] == "fail" and "no-copyright-file" in str(lint["summary"]), lint
    assert "bookworm/qa-lint lintian: fail: error no-copyright-file" in r.stdout, out[-3000:]
    over = verdicts(project, "qa-override", "lintian")[0]
    assert over["outcome"] == "pass", over
    assert "overridden by policy: bogus-mail-host, bogus-mail-host-in-debian-changelog, no-copyright-file" in str(
        over["summary"]), over
    assert ("lintian override of ours: no-copyright-file on 1 build(s): the fixture ships its licence elsewhere"
            " (a test of our overrides)") in r.stdout, out[-3000:]
    clean = verdicts(project, "qa-clean", "lintian")[0]
    assert clean["outcome"] == "pass", clean
    # the default policy's override of the default maintainer's address, shown with its reason
    assert "lintian override of ours: bogus-mail-host on 3 build(s): the default maintainer kronos@localhost" \
        in r.stdout, out[-3000:]
    assert "overridden by policy: bogus-mail-host" in str(clean["summary"]), clean
    details = clean["details"]
    assert isinstance(details, dict) and details["counts"].get("overridden", 0) >= 1, details
    tags = (project / "out" / "qa" / TARGET / "qa-clean" / "lintian" / str(clean["key"])[:24] / "tags.txt")
    assert "bogus-mail-host" in tags.read_text()


def test_a_verdict_is_reused_until_the_policy_changes(project: Path) -> None:
    first = kronos(project, "qa", "--target", TARGET, "--gate", "lintian", "--only", "qa-clean")
    assert first.returncode == 0, first.stdout[-2000:] + first.stderr[-2000:]
    before = verdicts(project, "qa-clean", "lintian")
    again = kronos(project, "qa", "--target", TARGET, "--gate", "lintian", "--only", "qa-clean")
    assert again.returncode == 0 and "(stored)" in again.stdout, again.stdout[-2000:]
    assert verdicts(project, "qa-clean", "lintian") == before  # lintian did not run again
    keys = {v["key"] for v in before}
    (project / "kronos.toml").write_text(POLICY + '\n[qa.lintian]\nfail_on = ["error", "warning"]\n')
    try:
        changed = kronos(project, "qa", "--target", TARGET, "--gate", "lintian", "--only", "qa-clean")
    finally:
        (project / "kronos.toml").write_text(POLICY)
    assert "(stored)" not in changed.stdout, changed.stdout[-2000:]
    assert {v["key"] for v in verdicts(project, "qa-clean", "lintian")} > keys  # a new verdict, the old kept


def test_piuparts_passes_a_clean_package_and_names_what_a_purge_leaves(project: Path) -> None:
    r = kronos(project, "qa", "--target", TARGET, "--gate", "piuparts", "--only", "qa-clean", "--only", "qa-leaky")
    out = r.stdout + r.stderr
    assert r.returncode == 1, out[-4000:]
    clean = verdicts(project, "qa-clean", "piuparts")[0]
    assert clean["outcome"] == "pass", clean
    leaky = verdicts(project, "qa-leaky", "piuparts")[0]
    assert leaky["outcome"] == "fail", leaky
    assert "install-purge" in str(leaky["summary"]) and "/var/lib/kqa-leaky/state" in str(leaky["summary"]), leaky
    # nothing of piuparts is left mounted or on disk
    assert "kq-piuparts-" not in Path("/proc/self/mountinfo").read_text()
    assert not list(Path("/tmp").glob("kq-piuparts-*")) and not list(Path("/tmp").glob("kq-repo-*"))


def test_piuparts_with_its_mirror_unreachable_is_an_error_not_a_failure(project: Path) -> None:
    with socket.socket() as s:  # a loopback port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    r = kronos(project, "qa", "--target", TARGET, "--gate", "piuparts", "--only", "qa-clean",
               KRONOS_MIRROR_DEBIAN=f"http://127.0.0.1:{port}/debian")
    out = r.stdout + r.stderr
    assert r.returncode == 1, out[-3000:]
    assert "QA: 0 failed, 1 could not be judged (error)" in r.stderr, out[-3000:]
    latest = verdicts(project, "qa-clean", "piuparts")[0]
    assert latest["outcome"] == "error", latest
    # an error is never reused: the next run with the mirror back judges again
    back = kronos(project, "qa", "--target", TARGET, "--gate", "piuparts", "--only", "qa-clean")
    assert back.returncode == 0 and "pass" in back.stdout, back.stdout[-2000:] + back.stderr[-2000:]


def test_interrupting_qa_during_piuparts_leaves_no_chroot_mount_or_verdict(project: Path) -> None:
    # a policy of its own gives a key of its own: piuparts runs, whatever an earlier test stored
    (project / "kronos.toml").write_text(POLICY + '\n[qa.piuparts]\nfail_on = ["install-purge"]\n')
    before = verdicts(project, "qa-clean", "piuparts")
    try:
        proc = subprocess.Popen([str(KRONOS), "qa", "--target", TARGET, "--gate", "piuparts", "--only", "qa-clean"],
                                cwd=project, env=project_env(project), stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True)
        mine = f"/tmp/kq-piuparts-{proc.pid}-"
        deadline = time.monotonic() + 600
        while mine not in Path("/proc/self/mountinfo").read_text():  # piuparts' chroot has its /proc
            assert proc.poll() is None and time.monotonic() < deadline, "piuparts never mounted its chroot"
            time.sleep(0.2)
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
        took = time.monotonic() - sent
    finally:
        (project / "kronos.toml").write_text(POLICY)
    assert proc.returncode == 130 and took < 15, (proc.returncode, took, out[-3000:])
    assert mine not in Path("/proc/self/mountinfo").read_text()
    for kind in ("kq-piuparts", "kq-repo"):
        assert not list(Path("/tmp").glob(f"{kind}-{proc.pid}-*")), kind
    assert not subprocess.run(["pgrep", "-f", f"piuparts.*{mine}"], capture_output=True).stdout
    assert verdicts(project, "qa-clean", "piuparts") == before  # a stopped gate gives no verdict
    assert not list((project / "out" / "qa" / TARGET).glob(".work-*"))


def test_clean_keeps_the_verdicts_unless_asked(project: Path) -> None:
    """Last in the module: it removes the fixture's outputs."""
    stored = sorted(p.relative_to(project) for p in (project / "out" / "qa").rglob("verdict.json"))
    assert stored
    r = kronos(project, "clean")
    assert r.returncode == 0, r.stderr[-2000:]
    assert not (project / "out" / TARGET).exists()
    assert sorted(p.relative_to(project) for p in (project / "out" / "qa").rglob("verdict.json")) == stored
    r = kronos(project, "clean", "--verdicts")
    assert r.returncode == 0 and not (project / "out" / "qa").exists(), r.stderr[-2000:]
