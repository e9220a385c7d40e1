"""The checks of the booted dom0 (run by kronos.smoke.checks.run, never collected from tests/).

Fixtures come from kronos.smoke.checks.plugin(): `dom0` (a testinfra host over paramiko, offering the run's
key only), `smoke` (the checks' Context: our packages' versions, our hypervisor's file and build-id, whether
it has shadow paging), `facts` (what the run records in facts.json). testinfra has no timeouts: every remote
command runs under `timeout`, and the whole run has a limit (kronos.smoke.checks.run). What the checks
decide from the outputs is in verdicts.py.
The guest checks run in file order on one guest: create, pause, save/restore, migrate, destroy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kronos.smoke.checks import Context, verdicts
from kronos.smoke.checks.verdicts import ALIVE, UP

GUEST = "kronos-guest"
CONSOLE = f"/var/log/xen/console/guest-{GUEST}*.log"  # xenconsoled --log=guest (the dom0's /etc/default/xen)
GUEST_INIT = f"""#!/bin/busybox sh
/bin/busybox mount -t proc proc /proc
echo {UP}
n=0
while true; do n=$((n + 1)); echo "{ALIVE} $n"; /bin/busybox sleep 2; done
"""
MAKE_GUEST = f"""
rm -rf /root/guest && mkdir -p /root/guest/bin /root/guest/proc /root/guest/dev
cp /bin/busybox /root/guest/bin/busybox
mknod /root/guest/dev/console c 5 1
cat >/root/guest/init <<'EOF'
{GUEST_INIT}EOF
chmod 0755 /root/guest/init
(cd /root/guest && find . | cpio -o -H newc --quiet | gzip -1 >/root/guest.img)
kernel=$(ls /boot/vmlinuz-* | head -n 1)
printf 'name = "{GUEST}"\\ntype = "pv"\\nkernel = "%s"\\nramdisk = "/root/guest.img"\\n' "$kernel" >/root/guest.cfg
printf 'extra = "console=hvc0 quiet"\\nmemory = 128\\nvcpus = 1\\non_crash = "preserve"\\n' >>/root/guest.cfg
"""
# lists the domains through Xenctrl and names them through Xenstore (also tests/ocaml/xen_domains.ml)
XEN_DOMAINS = Path(__file__).with_name("xen_domains.ml")
# xl migrate runs `<ssh command> <host> xl migrate-receive`: this one drops the host and runs it here
LOCAL_TRANSPORT = "#!/bin/sh\nshift\nexec \"$@\"\n"


def sh(dom0: Any, script: str, seconds: int = 60) -> str:
    """Run a shell script in dom0 under `timeout`; its stdout, or a failed check naming it."""
    r = dom0.run("timeout --kill-after=5 %s sh -ec %s", str(seconds), script)
    assert r.rc == 0, f"{script.strip()[:200]!r} exited {r.rc}{' (timed out)' if r.rc == 124 else ''}:" \
                      f" {(r.stderr or r.stdout).strip()[-500:]}"
    return str(r.stdout)


def xl_info(dom0: Any) -> dict[str, str]:
    fields = {}
    for line in sh(dom0, "xl info").splitlines():
        name, sep, value = line.partition(":")
        if sep:
            fields[name.strip()] = value.strip()
    return fields


def domains(dom0: Any) -> dict[str, str]:
    """Name -> state column of `xl list` (e.g. "-b----", "--p---")."""
    out = {}
    for line in sh(dom0, "xl list").splitlines()[1:]:
        cols = line.split()
        if len(cols) >= 5:
            out[cols[0]] = cols[4]
    return out


def alive(dom0: Any) -> int:
    """How many liveness lines the guest has printed on its console so far (every log of it)."""
    return int(sh(dom0, f"cat {CONSOLE} 2>/dev/null | grep -c '{ALIVE}' || true").strip() or 0)


def wait_alive_after(dom0: Any, before: int, seconds: int = 60) -> None:
    """Wait until the guest prints a liveness line it had not printed before: it runs."""
    sh(dom0, f"until [ \"$(cat {CONSOLE} 2>/dev/null | grep -c '{ALIVE}')\" -gt {before} ]; do sleep 1; done",
       seconds)


# --- dom0 and the hypervisor ----------------------------------------------------------------------


def test_xl_info_and_virt_caps(dom0: Any, smoke: Context, facts: dict[str, Any]) -> None:
    info = xl_info(dom0)
    (smoke.run_dir / "xl-info.txt").write_text("".join(f"{k}: {v}\n" for k, v in info.items()))
    caps = info.get("virt_caps", "").split()
    facts["virt_caps"] = caps
    facts["xen_version"] = f"{info.get('xen_major')}.{info.get('xen_minor')}{info.get('xen_extra', '')}"
    assert "pv" in caps, info.get("virt_caps")
    if smoke.shadow.on:
        # the hypervisor being booted has shadow paging on (smoke.shadow.source): its absence is a failure
        assert "shadow" in caps, f"shadow paging is on in {smoke.shadow.source} but virt_caps is {caps}"


def test_xenstored_is_oxenstored(dom0: Any) -> None:
    exe = sh(dom0, "readlink /proc/$(pidof oxenstored)/exe").strip()
    assert exe.endswith("/oxenstored"), exe


def test_our_packages_at_our_versions(dom0: Any, smoke: Context, facts: dict[str, Any]) -> None:
    names = sorted(smoke.ours)
    out = sh(dom0, "dpkg-query -W -f '${Package} ${Version}\\n' " + " ".join(names))
    installed = dict(line.split(" ", 1) for line in out.splitlines() if line.strip())
    facts["packages"] = installed
    assert installed == smoke.ours


def test_running_hypervisor_is_ours(dom0: Any, smoke: Context, facts: dict[str, Any]) -> None:
    """What the running Xen says of itself (xl info's build_id) against the build-id note of the
    hypervisor in our .deb; and dom0's copy of that file is the .deb's."""
    info = xl_info(dom0)
    facts["build_id"] = {"running": info.get("build_id", ""), "ours": smoke.build_id}
    problems = verdicts.running_hypervisor(info, smoke.build_id, f"our .deb's {smoke.gz_path}")
    assert not problems, "; ".join(problems)
    in_dom0 = sh(dom0, f"sha256sum {smoke.gz_path}").split()[0]
    assert in_dom0 == smoke.gz_sha256, f"dom0's {smoke.gz_path} is not the file our .deb ships"


def test_xenapi_imports(dom0: Any) -> None:
    sh(dom0, "python3 -c 'import XenAPI'")


# --- a PV guest -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def guest(dom0: Any) -> str:
    sh(dom0, MAKE_GUEST)
    sh(dom0, "xl create /root/guest.cfg", 120)
    return GUEST


def test_guest_boots_and_prints_its_marker(dom0: Any, guest: str) -> None:
    sh(dom0, f"until grep -qs '{UP}' {CONSOLE}; do sleep 1; done", 90)
    assert guest in domains(dom0)


def test_ocaml_bindings_list_the_domains(dom0: Any, guest: str, facts: dict[str, Any]) -> None:
    """Compiled in dom0 against our libxen-ocaml-dev, run there: our bindings talking to our hypervisor."""
    out = sh(dom0, f"""
mkdir -p /root/ocaml && cd /root/ocaml
cat >xen_domains.ml <<'EOF'
{XEN_DOMAINS.read_text()}EOF
ocamlfind ocamlopt -package xenctrl,xenstore -linkpkg xen_domains.ml -o xen_domains
./xen_domains
""", 180)
    listed = {line.split()[1]: int(line.split()[0]) for line in out.splitlines() if len(line.split()) == 2}
    facts["ocaml_domains"] = listed
    assert listed.get("Domain-0") == 0, out
    assert guest in listed, out


def test_pause_and_unpause(dom0: Any, guest: str) -> None:
    sh(dom0, f"xl pause {guest}")
    assert "p" in domains(dom0)[guest][2], domains(dom0)
    sh(dom0, f"xl unpause {guest}")
    assert "p" not in domains(dom0)[guest], domains(dom0)
    wait_alive_after(dom0, alive(dom0))


def test_save_and_restore(dom0: Any, guest: str) -> None:
    sh(dom0, f"xl save {guest} /root/guest.save", 120)
    assert guest not in domains(dom0)
    before = alive(dom0)
    sh(dom0, "xl restore /root/guest.save && rm -f /root/guest.save", 120)
    wait_alive_after(dom0, before)


def console(dom0: Any) -> str:
    """The text of every console log of the guest."""
    return sh(dom0, f"cat {CONSOLE} 2>/dev/null || true")


def test_live_migration_to_localhost(dom0: Any, smoke: Context, facts: dict[str, Any], guest: str) -> None:
    """Proven by the guest: after `xl migrate` it runs under a new domid, not crashed, and its liveness
    counter goes on from where it was (verdicts.migration)."""
    if not smoke.shadow.on:
        reason = f"shadow paging is off in {smoke.shadow.source}: PV live migration needs log-dirty"
        facts.setdefault("skipped", {})["live-migration"] = reason
        pytest.skip(reason)
    sh(dom0, f"printf '%s' '{LOCAL_TRANSPORT}' >/root/xl-local && chmod 0755 /root/xl-local")
    domid_before = int(sh(dom0, f"xl domid {guest}").strip())
    before = console(dom0)
    out = dom0.run("timeout --kill-after=5 180 xl migrate -s /root/xl-local %s localhost 2>&1", guest)
    facts["migration"] = out.stdout.strip().splitlines()[-1:] if out.stdout else []
    assert out.rc == 0 and "Migration successful" in out.stdout, out.stdout[-1000:]
    # up to 60 s for two liveness lines more than before; the verdict says what happened if none came
    wanted = len(verdicts.counters(before)) + 2
    sh(dom0, f"for i in $(seq 60); do [ \"$(cat {CONSOLE} 2>/dev/null | grep -c '{ALIVE}')\" -ge {wanted} ] && break;"
             " sleep 1; done; true", 75)
    after, listing = console(dom0), sh(dom0, "xl list")
    (smoke.run_dir / "migration.txt").write_text(f"domid before: {domid_before}\n{listing}")
    moved = verdicts.xl_list(listing).get(guest)
    facts["migration_domids"] = [domid_before, moved.domid if moved else None]
    problems = verdicts.migration(guest, domid_before, before, after, listing)
    assert not problems, "; ".join(problems)


def test_destroy_leaves_only_domain0(dom0: Any, guest: str) -> None:
    sh(dom0, f"xl destroy {guest}")
    assert list(domains(dom0)) == ["Domain-0"]

