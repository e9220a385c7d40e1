"""Publishing: build outputs -> pool + a new signed generation of dists/, swapped in atomically."""

from __future__ import annotations

import email.utils
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from debian.deb822 import Deb822, Release
from debian.debian_support import Version

from ..clock import now
from ..log import info
from ..source_package import dsc_files
from . import indices, lock, tree
from .fault import checkpoint
from .settings import RepoSettings
from .signing import Signer, gpg_home
from .tree import PublishError


@dataclass(frozen=True)
class Upload:
    """What one recipe's build gives a suite: binary packages and one source package."""

    source: str
    debs: tuple[Path, ...]
    dsc: Path | None
    kept_version: bool = False  # built with --keep-version: the source's own version, no local revision


@dataclass
class Summary:
    added: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    suites_changed: list[str] = field(default_factory=list)
    generation: str = ""
    forced: bool = False  # write a generation even when no package changed (a rollback's record)


STAGING = "-staging"


def staging(suite: str) -> str:
    """The staging suite of a served suite: what a nightly publishes before its gates let it through."""
    return suite + STAGING


def served(suites: list[str]) -> list[str]:
    """The suites users install from (kronos.sources lists them): all but the staging suites."""
    return [s for s in suites if not s.endswith(STAGING)]


class Publisher:
    def __init__(self, repo: RepoSettings, make_signer: Callable[[], Signer], architecture: str) -> None:
        self.repo = repo
        self.root = repo.path
        self.make_signer = make_signer
        self.arch = architecture
        self._read: dict[Path, tuple[indices.Digest, str]] = {}

    def _read_new_debs(self, state: dict[str, Any], uploads: dict[str, list[Upload]]) -> None:
        """Read every .deb the state does not know yet, in parallel (the bulk of a large first publish)."""
        jobs = []
        for suite, ups in uploads.items():
            known = state["suites"].get(suite, {}).get("packages", {})
            for up in ups:
                directory = indices.pool_dir(self.repo.component, up.source)
                jobs += [(deb, f"{directory}/{deb.name}") for deb in up.debs
                         if f"{directory}/{deb.name}" not in known]
        self._read = indices.read_debs(jobs)

    # -- planning (no writes) -------------------------------------------------------------------

    def _stage(self, state: dict[str, Any], suite: str, up: Upload, summary: Summary,
               writes: dict[str, tuple[Path, str]]) -> None:
        comp = self.repo.component
        s = state["suites"].setdefault(suite, {"packages": {}, "removed": [], "date": None, "indices": {}})
        history: dict[str, str] = state["pool"]
        directory = indices.pool_dir(comp, up.source)

        def claim(path: Path) -> indices.Digest:
            """Check path may take its pool name (a pool file shares no inode with it); its digest."""
            rel = f"{directory}/{path.name}"
            d = self._read[path][0] if path in self._read else indices.digest_file(path)
            if history.get(rel, d.sha256) != d.sha256:
                if up.kept_version:
                    raise PublishError(
                        f"{up.source}: the repository already serves {rel} with other content; this build"
                        f" kept the source's own version (--keep-version): rebuild without --keep-version"
                        f" to publish it under a local revision (nothing was published; from {path})"
                    )
                raise PublishError(
                    f"pool file {rel} already exists with other content: a version must never name two"
                    f" builds (from {path})"
                )
            if rel not in history or not (self.root / rel).exists():
                writes[rel] = (path, d.sha256)
            history[rel] = d.sha256
            return d

        for deb in up.debs:
            rel = f"{directory}/{deb.name}"
            known = s["packages"].get(rel)
            d = claim(deb)
            if known is not None:
                continue
            if deb in self._read:
                d, text = self._read[deb]
                stanza = Deb822(text)
            else:
                stanza = indices.deb_stanza(deb, rel, d)
            ident = f"{stanza['Package']} {stanza['Version']} {stanza['Architecture']}"
            if f"{stanza['Package']} {stanza['Version']}" in s["removed"]:
                continue
            s["packages"][rel] = {"kind": "deb", "name": stanza["Package"], "version": stanza["Version"],
                                  "arch": stanza["Architecture"], "stanza": self._read[deb][1] if deb in self._read
                                  else stanza.dump(), "files": [rel]}
            summary.added.append(f"{suite}: {ident}")
        if up.dsc is not None:
            rel = f"{directory}/{up.dsc.name}"
            parts = dsc_files(up.dsc)
            claimed = {p.name: claim(p) for p in parts}
            if rel in s["packages"]:
                return
            stanza = indices.dsc_stanza(up.dsc, directory, claimed)
            if f"{stanza['Package']} {stanza['Version']}" in s["removed"]:
                return
            s["packages"][rel] = {"kind": "dsc", "name": stanza["Package"], "version": stanza["Version"],
                                  "arch": "source", "stanza": stanza.dump(),
                                  "files": [f"{directory}/{p.name}" for p in parts]}
            summary.added.append(f"{suite}: {stanza['Package']} {stanza['Version']} source")

    def _retain(self, state: dict[str, Any], summary: Summary) -> None:
        """Keep the newest keep_versions versions of each package (per architecture) in each suite."""
        for suite, s in state["suites"].items():
            groups: dict[tuple[str, str, str], list[str]] = {}
            for rel, e in s["packages"].items():
                groups.setdefault((e["kind"], e["name"], e["arch"]), []).append(rel)
            for rels in groups.values():
                rels.sort(key=lambda r: Version(s["packages"][r]["version"]), reverse=True)
                for rel in rels[self.repo.keep_versions:]:
                    e = s["packages"].pop(rel)
                    summary.dropped.append(f"{suite}: {e['name']} {e['version']} {e['arch']}")

    def _orphans(self, state: dict[str, Any], t: float) -> None:
        referenced = {f for s in state["suites"].values() for e in s["packages"].values() for f in e["files"]}
        orphans: dict[str, float] = state.setdefault("orphans", {})
        for rel in list(orphans):
            if rel in referenced:
                del orphans[rel]
        present = set(state.get("present", [])) | referenced
        deleted = []
        for rel in sorted(present - referenced):
            since = orphans.setdefault(rel, t)
            if t - since >= self.repo.grace_seconds:
                deleted.append(rel)
                del orphans[rel]
        state["present"] = sorted(present - set(deleted))
        state["deleted"] = deleted

    # -- writing a generation -----------------------------------------------------------------

    def _suite_files(self, s: dict[str, Any], previous: Path | None) -> dict[str, bytes]:
        """The suite's index files; compressed forms of an unchanged index come from the previous
        generation instead of being compressed again."""
        comp = self.repo.component
        debs = [e for e in s["packages"].values() if e["kind"] == "deb" and e["arch"] in (self.arch, "all")]
        dscs = [e for e in s["packages"].values() if e["kind"] == "dsc"]

        def ordered(entries: list[dict[str, Any]]) -> list[str]:
            return [e["stanza"] for e in sorted(entries, key=lambda e: (e["name"], Version(e["version"]), e["arch"]))]

        files: dict[str, bytes] = {}
        known: dict[str, str] = s.get("indices", {})
        for stem, entries in ((f"{comp}/binary-{self.arch}/Packages", debs), (f"{comp}/source/Sources", dscs)):
            plain = indices.render(ordered(entries))
            old = [previous / (stem + ext) for ext in indices.COMPRESSIONS] if previous else []
            if (old and known.get(stem) == indices.digest_bytes(plain).sha256
                    and all(p.exists() for p in old)):
                files[stem] = plain
                files.update({stem + ext: p.read_bytes() for ext, p in zip(indices.COMPRESSIONS, old, strict=True)})
                continue
            for ext, data in indices.compressed(plain).items():
                files[stem + ext] = data
        return files

    def _release(self, suite: str, s: dict[str, Any], files: dict[str, indices.Digest], t: float) -> bytes:
        r = Release()
        r["Origin"] = self.repo.origin
        r["Label"] = self.repo.label
        r["Suite"] = suite
        r["Codename"] = suite
        date = tree.release_date(s.get("date"))
        r["Date"] = tree.rfc1123(date)
        if self.repo.valid_days:
            r["Valid-Until"] = tree.rfc1123(date + self.repo.valid_days * 86400)
        r["Architectures"] = self.arch
        r["Components"] = self.repo.component
        if self.repo.description:
            r["Description"] = self.repo.description
        r["Acquire-By-Hash"] = "yes"
        r["SHA256"] = [{"sha256": d.sha256, "size": str(d.size), "name": n} for n, d in sorted(files.items())]  # type: ignore[assignment]
        r["SHA512"] = [{"sha512": d.sha512, "size": str(d.size), "name": n} for n, d in sorted(files.items())]  # type: ignore[assignment]
        s["date"] = r["Date"]
        return r.dump().encode()

    def _write_suite(self, gen: Path, prev: Path | None, suite: str, s: dict[str, Any],
                     byhash: dict[str, float | None], t: float, signer: Callable[[], Signer],
                     summary: Summary) -> None:
        base = gen / "dists" / suite
        files = self._suite_files(s, prev / "dists" / suite if prev else None)
        digests = {name: indices.digest_bytes(data) for name, data in files.items()}
        for name, data in files.items():
            tree.write_file(base / name, data)
            d = digests[name]
            for algo, hexd in (("SHA256", d.sha256), ("SHA512", d.sha512)):
                rel = f"{Path(name).parent}/by-hash/{algo}/{hexd}"
                target = base / rel
                if not target.exists():
                    target.parent.mkdir(parents=True, exist_ok=True)
                    os.link(base / name, target)
                byhash[f"{suite}/{rel}"] = None
        new_sums = {n: d.sha256 for n, d in digests.items()}
        unchanged = (prev is not None and s.get("indices") == new_sums and not self.repo.valid_days
                     and s.get("signed_by") == list(signer().fingerprints))
        signed = ("Release", "InRelease", "Release.gpg")
        if unchanged and prev is not None and all((prev / "dists" / suite / f).exists() for f in signed):
            for f in signed:
                os.link(prev / "dists" / suite / f, base / f)
            return
        release = self._release(suite, s, digests, t)
        sg = signer()
        tree.write_file(base / "Release", release)
        checkpoint(f"{suite} Release")
        tree.write_file(base / "Release.gpg", sg.detach(release))
        tree.write_file(base / "InRelease", sg.clearsign(release))
        date = email.utils.parsedate_to_datetime(s["date"]).timestamp()
        for name in ("Release", "Release.gpg", "InRelease"):
            os.utime(base / name, (date, date))  # If-Modified-Since answers follow the Date
        checkpoint(f"{suite} InRelease")
        s["indices"] = new_sums
        s["signed_by"] = list(sg.fingerprints)
        summary.suites_changed.append(suite)

    def _carry_byhash(self, gen: Path, prev: Path | None, old: dict[str, float | None],
                      new: dict[str, float | None], t: float) -> None:
        """Superseded by-hash files stay for the grace period (clients may hold the old InRelease)."""
        if prev is None:
            return
        for rel, since in old.items():
            if rel in new:
                continue
            first = t if since is None else since
            src = prev / "dists" / rel
            if t - first < self.repo.grace_seconds and src.exists():
                dest = gen / "dists" / rel
                dest.parent.mkdir(parents=True, exist_ok=True)
                os.link(src, dest)
                new[rel] = first

    def client_names(self) -> list[str]:
        """The files a client reads besides dists/ and pool/ (top level, symlinks into dists/)."""
        return [self.repo.keyring_name, self.repo.keyring_name.replace(".pgp", ".asc"), f"{self.repo.name}.sources"]

    def _client_files(self, signer: Signer, suites: list[str], gen: Path, prev: Path | None, same: bool) -> None:
        """The keyring (binary, armored) and an example .sources, written into the generation (the
        swap publishes them with the indices); linked from the previous generation when unchanged."""
        dists = gen / "dists"
        names = self.client_names()
        if same and prev is not None and all((prev / "dists" / n).is_file() for n in names):
            for n in names:
                os.link(prev / "dists" / n, dists / n)
            return
        example = Deb822()
        example["Types"] = "deb"
        example["URIs"] = self.repo.url
        example["Suites"] = " ".join(suites)
        example["Components"] = self.repo.component
        example["Signed-By"] = f"/usr/share/keyrings/{self.repo.keyring_name}"
        for name, data in zip(names, (signer.export(armor=False), signer.export(armor=True),
                                      example.dump().encode()), strict=True):
            tree.write_file(dists / name, data)

    # -- the whole publish ----------------------------------------------------------------------

    def seen_outputs(self, record: str = "outputs") -> dict[str, list[int]]:
        """The build records (path -> [mtime_ns, size]) the published state was made from (the served
        suites': "outputs"; the staging suites': "staged-outputs")."""
        seen: dict[str, list[int]] = tree.load_state(self.root).get(record, {})
        return seen

    def publish(self, uploads: dict[str, list[Upload]], remove: dict[str, list[str]] | None = None,
                outputs: dict[str, list[int]] | None = None, record: str = "outputs") -> Summary:
        """Add uploads (suite -> uploads) and drop `remove` (suite -> package names); one new generation.
        `outputs` are the build records the uploads were read from (kept under `record` for the next
        publish to the same kind of suites: seen_outputs)."""
        return self._locked(lambda signer, summary: self._publish(uploads, remove or {}, outputs or {}, record,
                                                                  signer, summary))

    def _publish(self, uploads: dict[str, list[Upload]], remove: dict[str, list[str]], outputs: dict[str, list[int]],
                 record: str, signer: Callable[[], Signer], summary: Summary) -> str | None:
        """The publish, under the lock: the new generation's name, or None when nothing changed."""
        state = tree.load_state(self.root)
        writes: dict[str, tuple[Path, str]] = {}
        self._read_new_debs(state, uploads)
        for suite, ups in sorted(uploads.items()):
            for up in ups:
                self._stage(state, suite, up, summary, writes)
        for suite, names in remove.items():
            s = state["suites"].get(suite)
            if s is None:
                raise PublishError(f"suite '{suite}' is not published")
            for name in names:
                gone = [rel for rel, e in s["packages"].items() if e["name"] == name]
                if not gone:
                    raise PublishError(f"package '{name}' is not in suite '{suite}'")
                for rel in gone:
                    e = s["packages"].pop(rel)
                    s["removed"].append(f"{e['name']} {e['version']}")
                    summary.dropped.append(f"{suite}: {e['name']} {e['version']} {e['arch']}")
        state[record] = {**state.get(record, {}), **outputs}
        return self._commit(state, writes, signer, summary)

    def _commit(self, state: dict[str, Any], writes: dict[str, tuple[Path, str]], signer: Callable[[], Signer],
                summary: Summary) -> str | None:
        """Write the changed state as a new signed generation and swap it in (or nothing, when nothing
        changed): the generation's name, or None."""
        prev = tree.current_generation(self.root)
        t = now().timestamp()
        self._retain(state, summary)
        suites = sorted(state["suites"])
        client = {"keys": list(signer().fingerprints), "suites": served(suites), "url": self.repo.url,
                  "component": self.repo.component}
        linked = all(os.path.islink(self.root / n) and os.readlink(self.root / n) == f"dists/{n}"
                     for n in self.client_names())
        if (prev is not None and not (summary.added or summary.dropped or writes or summary.forced) and linked
                and state.get("client") == client and not self.repo.valid_days):
            info("the repository is up to date")
            summary.generation = prev.name
            return None
        self._orphans(state, t)
        created: list[str] = []
        gen: Path | None = None
        try:
            # the generation is signed before the pool is touched: a key that cannot sign
            # (wrong passphrase) fails while nothing visible has changed
            gen = tree.new_generation(self.root, state)
            old_byhash: dict[str, float | None] = state.get("byhash", {})
            new_byhash: dict[str, float | None] = {}
            for suite, s in sorted(state["suites"].items()):
                self._write_suite(gen, prev, suite, s, new_byhash, t, signer, summary)
            self._carry_byhash(gen, prev, old_byhash, new_byhash, t)
            self._client_files(signer(), served(suites), gen, prev, state.get("client") == client)
            state["client"] = client
            state["byhash"] = new_byhash
            state["generation"] = gen.name
            for rel, (src, sha) in sorted(writes.items()):
                if tree.add_pool_file(self.root, rel, src, sha):
                    created.append(rel)
            tree.unshare_pool(self.root, state["present"])
            tree.link_client_files(self.root, self.client_names(), prev)
            checkpoint("client files")
            tree.supersede(state, prev, t, self.repo.grace_seconds)
            tree.swap(self.root, gen, state)
        except BaseException:
            # unless the rename happened, nothing was published: leave the tree as it was
            if gen is not None and tree.live_generation(self.root) != gen.name:
                shutil.rmtree(gen, ignore_errors=True)
                tree.remove_pool_files(self.root, created)
            raise
        tree.collect_garbage(self.root, gen, state)
        summary.generation = gen.name
        return gen.name

    # -- staging and promotion ----------------------------------------------------------------

    def _locked(self, work: Callable[[Callable[[], Signer], Summary], str | None]) -> Summary:
        summary = Summary()
        cached: list[Signer] = []

        def signer() -> Signer:
            if not cached:
                cached.append(self.make_signer())
            return cached[0]

        with lock.locked(self.root, self.repo.lock_timeout):
            first = signer()
            with gpg_home(first.home):
                gen = work(signer, summary)
        if gen is not None:
            info(f"published generation {gen}: {len(summary.added)} added, {len(summary.dropped)} dropped")
        return summary

    def promote(self, chosen: dict[str, list[str]], run: str) -> Summary:
        """Serve, in each served suite, the staging suite's entries of the chosen pool files (suite ->
        pool paths: a package's .debs and .dsc); what is not chosen keeps what the suite serves now.
        One new generation; the generation served before is recorded for `rollback`."""

        def work(signer: Callable[[], Signer], summary: Summary) -> str | None:
            state = tree.load_state(self.root)
            before = tree.live_generation(self.root)
            for suite, rels in sorted(chosen.items()):
                stage = state["suites"].get(staging(suite))
                if stage is None:
                    raise PublishError(f"no staging suite {staging(suite)} to promote {suite} from")
                s = state["suites"].setdefault(suite, {"packages": {}, "removed": [], "date": None, "indices": {}})
                for rel in rels:
                    entry = stage["packages"].get(rel)
                    if entry is None:
                        raise PublishError(f"{rel} is not in the staging suite {staging(suite)}")
                    if rel in s["packages"] or f"{entry['name']} {entry['version']}" in s["removed"]:
                        continue
                    s["packages"][rel] = dict(entry)
                    summary.added.append(f"{suite}: {entry['name']} {entry['version']} {entry['arch']}")
            if before is not None and (summary.added or summary.dropped):
                state.setdefault("promotions", []).append(
                    {"run": run, "before": before, "at": now().timestamp(), "suites": sorted(chosen)})
            return self._commit(state, {}, signer, summary)

        return self._locked(work)

    def rollback(self, suites: list[str] | None = None) -> tuple[Summary, dict[str, Any]]:
        """Serve again what the served suites (all, or those named) held before the last promotion, from
        the generation that promotion replaced (kept for grace_hours); that promotion is then forgotten,
        so a second rollback goes back one more night. Returns the summary and the promotion undone."""
        undone: dict[str, Any] = {}

        def work(signer: Callable[[], Signer], summary: Summary) -> str | None:
            state = tree.load_state(self.root)
            promotions: list[dict[str, Any]] = state.get("promotions", [])
            if not promotions:
                raise PublishError(f"nothing to roll back: no promotion is recorded in {self.root}")
            last = promotions[-1]
            old_path = self.root / ".generations" / last["before"] / "state.json"
            if not old_path.is_file():
                raise PublishError(
                    f"the generation served before promotion {last['run']} ({old_path.parent}) is gone: generations"
                    f" are kept for repository.grace_hours after they stop being served")
            old = json.loads(old_path.read_bytes())
            names = suites or [str(n) for n in last["suites"]]
            for suite in names:
                before = old["suites"].get(suite, {"packages": {}})["packages"]
                now_served = state["suites"].get(suite, {"packages": {}})["packages"]
                missing = [f for e in before.values() for f in e["files"] if not (self.root / f).exists()]
                if missing:
                    raise PublishError(f"cannot roll {suite} back: pool file {missing[0]} is gone")
                for rel in sorted(set(now_served) - set(before)):
                    e = now_served[rel]
                    summary.dropped.append(f"{suite}: {e['name']} {e['version']} {e['arch']}")
                for rel in sorted(set(before) - set(now_served)):
                    e = before[rel]
                    summary.added.append(f"{suite}: {e['name']} {e['version']} {e['arch']}")
                s = state["suites"].setdefault(suite, {"packages": {}, "removed": [], "date": None, "indices": {}})
                s["packages"] = dict(before)
            state["promotions"] = promotions[:-1]
            state.setdefault("rollbacks", []).append({**last, "undone_at": now().timestamp(), "suites": names})
            undone.update(last)
            summary.forced = True  # the promotion record changed even when the packages did not
            return self._commit(state, {}, signer, summary)

        return self._locked(work), undone

    def listing(self) -> dict[str, list[tuple[str, str, str]]]:
        state = tree.load_state(self.root)
        return {suite: sorted((e["name"], e["version"], e["arch"]) for e in s["packages"].values())
                for suite, s in sorted(state["suites"].items())}
