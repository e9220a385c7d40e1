"""What the remote checks decide, as plain functions of command outputs (unit-tested on recorded and
fabricated outputs): each returns the problems it found, none when the check passes."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

UP = "KRONOS-GUEST-UP"
ALIVE = "KRONOS-GUEST-ALIVE"
_ALIVE = re.compile(rf"{ALIVE} (\d+)\b")


@dataclass(frozen=True)
class Domain:
    """One row of `xl list`."""

    name: str
    domid: int
    state: str  # "r-----", "-b----", "--p---", "----c-" (crashed), ...

    @property
    def crashed(self) -> bool:
        return len(self.state) > 4 and self.state[4] == "c"


def xl_list(text: str) -> dict[str, Domain]:
    """`xl list` (Name ID Mem VCPUs State Time(s)) by name."""
    out = {}
    for line in text.splitlines()[1:]:
        cols = line.split()
        if len(cols) >= 5 and cols[1].isdigit():
            out[cols[0]] = Domain(cols[0], int(cols[1]), cols[4])
    return out


def counters(console: str) -> list[int]:
    """The guest's liveness counters ("KRONOS-GUEST-ALIVE <n>") in its console text, in order."""
    return [int(m.group(1)) for m in _ALIVE.finditer(console)]


def migration(guest: str, domid_before: int, console_before: str, console_after: str, listing_after: str) -> list[str]:
    """Whether the guest moved and kept running: after `xl migrate` it is listed under a new domid, not
    crashed (on_crash = "preserve" keeps a crashed guest listed), and the liveness lines it printed since
    console_before continue its counter rather than restart it (a guest that booted again counts from 1
    and prints its boot marker again). The consoles are the text of all the guest's console logs, before
    the migration and once new lines have appeared; their order does not matter."""
    problems = []
    domain = xl_list(listing_after).get(guest)
    if domain is None:
        problems.append(f"{guest} is not listed after the migration")
    else:
        if domain.domid == domid_before:
            problems.append(f"{guest} still has domid {domid_before}: it did not move to a new domain")
        if domain.crashed:
            problems.append(f"{guest} (domid {domain.domid}) crashed after the migration (state {domain.state})")
    before = counters(console_before)
    if not before:
        problems.append(f"{guest} printed no liveness line before the migration")
        return problems
    new = sorted((Counter(counters(console_after)) - Counter(before)).elements())
    last = max(before)
    if not new:
        problems.append(f"{guest} printed no liveness line after the migration (the last was {last})")
    elif new[0] < last:
        problems.append(f"{guest}'s liveness counter restarted: {ALIVE} {new[0]} after {last} (it booted again)")
    if console_after.count(UP) > console_before.count(UP):
        problems.append(f"{guest} printed {UP} again after the migration: it booted again")
    return problems


def running_hypervisor(xl_info: dict[str, str], ours: str, deb: str) -> list[str]:
    """Whether the hypervisor that runs is the one our .deb ships: the build_id that `xl info` reports
    (the running Xen's own build-id) against the build-id note of the file in our .deb (ours, hex)."""
    if not ours:
        return [f"the hypervisor in {deb} has no build-id note: nothing to compare the running Xen with"]
    running = xl_info.get("build_id", "").strip().lower()
    if not running:
        return ["xl info reports no build_id: the running Xen does not say which build it is"]
    if running != ours.lower():
        return [f"the running Xen's build_id {running} is not {ours}, the build-id of the hypervisor in {deb}"]
    return []
