"""The reproducibility gate: the build made a second time, in a fresh container over the same build-deps
layer, with the environment varied (containers/repro.sh), and its .debs compared byte for byte with the
first build's. Verdicts as tests.reproducible-builds.org gives them: reproducible (pass), unreproducible
(diffoscope's HTML and text kept for each .deb that differs), failed to build the second time."""

from __future__ import annotations

import functools
import shutil
import threading
from pathlib import Path
from typing import Any

from .. import images, layers, owner
from ..archive.access import Archives
from ..build import Builder, BuildJob, scratch, stage_files
from ..cache import sha256_file
from ..config import Settings
from ..engine import ContainerSpec, Engine
from ..errors import KronosError
from ..keys import content_key
from ..log import info
from ..recipe import Recipe, load_recipes
from ..run import run
from ..source_package import dsc_files
from .gate import Finding, Subject
from .policy import GatePolicy
from .verdict import Outcome

LAYER_REPOSITORY = "kronos/repro"
REBUILDER_UID = 1001  # the repro layer's rebuilder: not the builder (1000)
BUILD_DIR = "/srv/kronos-second-build/path-that-differs"
# what the second build varies, and what it cannot: our build containers have no privileges for FUSE
# (disorderfs) or personality(2) (ASLR off), nor to change the kernel a build sees
VARIED = ("build path", "wall clock (+398 days, datefudge)", "timezone", "locale", "umask", "hostname",
          "uid and user name", "DEB_BUILD_OPTIONS parallel")
NOT_VARIED = ("file order (disorderfs needs FUSE)", "ASLR (needs personality(2))", "kernel version")


def _labels(subject: Subject, phase: str) -> tuple[tuple[str, str], ...]:
    return ((f"{owner.PREFIX}.target", subject.target.name), (f"{owner.PREFIX}.recipe", subject.recipe),
            (f"{owner.PREFIX}.version", subject.version), (f"{owner.PREFIX}.phase", phase))


def other_parallel(options: str) -> str:
    """DEB_BUILD_OPTIONS with its parallel=N changed: 1 when the first build ran more, else 2."""
    words = options.split()
    first = next((w for w in words if w.startswith("parallel=")), "parallel=1")
    second = "parallel=1" if first != "parallel=1" else "parallel=2"
    return " ".join([w for w in words if not w.startswith("parallel=")] + [second])


class ReproGate:
    name = "repro"

    def __init__(self, settings: Settings, engine: Engine, archives: Archives) -> None:
        self.settings = settings
        self.engine = engine
        self.archives = archives
        self.builder = Builder(engine, settings.cache_dir / "locks")
        self._recipes: dict[str, Recipe] | None = None
        self._lock = threading.Lock()

    def inputs(self, subject: Subject) -> dict[str, Any]:
        scripts = self.settings.containers_dir
        return {"scripts": {n: sha256_file(scripts / n) for n in ("repro.sh", "tool-layer.sh")},
                "varied": list(VARIED), "diffoscope": diffoscope_version()}

    def _recipe(self, name: str) -> Recipe:
        with self._lock:
            if self._recipes is None:
                self._recipes = load_recipes(self.settings)
        recipe = self._recipes.get(name)
        if recipe is None:
            raise KronosError(f"no recipe {name} in {self.settings.recipes_dir}: cannot build it again")
        return recipe

    def job(self, subject: Subject, log: Path) -> BuildJob:
        """The first build's job again, from its build.json: its base image, its .dsc, the siblings' .debs
        it was built against (each still the build its record names, or the rebuild would differ)."""
        record = subject.record
        inputs = record.get("inputs", {})
        ref, content = str(record.get("image", "")), str(inputs.get("image", ""))
        if not ref or not images.holds(self.engine, ref, content):
            raise KronosError(f"{subject.label}: its base image {ref or '?'} is gone or was made again;"
                              " kronos build, then judge the new build")
        dscs = subject.named(".dsc")
        if len(dscs) != 1:
            raise KronosError(f"{subject.directory}: {len(dscs)} .dsc files, not one")
        siblings = []
        local_debs: list[Path] = []
        for field, value in sorted(inputs.items()):
            if not field.startswith("sibling/"):
                continue
            name = field.removeprefix("sibling/")
            there = Subject.read(subject.target, subject.directory.parent / name)
            if there.key != value.get("key"):
                raise KronosError(f"{subject.label}: sibling {name} was built again since (now {there.version});"
                                  " kronos build, then judge the new build")
            siblings.append([name, there.key, there.version])
            local_debs += sorted(subject.directory.parent.joinpath(name).glob("*.deb"))
        local_key = content_key({"siblings": siblings, "debs": [d.name for d in local_debs]})
        options = self._recipe(subject.recipe).options_for(subject.target.name)
        return BuildJob(subject.recipe, subject.target, options, ref, content, dscs[0], subject.version,
                        tuple(local_debs), log, self.settings.containers_dir,
                        images.extra_sources(self.settings, self.archives, subject.target), local_key)

    def layer(self, subject: Subject, deps: str, log: Path) -> str:
        """deps plus datefudge, the rebuilder user and its directory, made once (containers/tool-layer.sh)."""
        return layers.layer(self.engine, deps, f"{LAYER_REPOSITORY}-{subject.target.name}",
                            self.settings.containers_dir / "tool-layer.sh", log, ("datefudge",),
                            env={"KRONOS_LAYER_USER": "rebuilder", "KRONOS_LAYER_UID": str(REBUILDER_UID),
                                 "KRONOS_LAYER_DIR": BUILD_DIR},
                            labels=_labels(subject, "qa-repro-layer"), locks=self.settings.cache_dir / "locks")

    def judge(self, subject: Subject, policy: GatePolicy, work: Path, log: Path) -> Finding:
        job = self.job(subject, work / "build-deps.log")
        # the second build's tree and packages stay out of the verdict: its log and diffoscope's output stay
        with scratch(self.settings.cache_dir, "repro-") as tmp:
            deps = self.builder.deps_image(job, tmp / "deps")
            image = self.layer(subject, deps, work / "layer.log")
            env = self.builder.env(job)
            env["DEB_BUILD_OPTIONS"] = other_parallel(env["DEB_BUILD_OPTIONS"])
            env["KRONOS_REPRO_SECONDS"] = str(policy.max_seconds)
            src = stage_files(dsc_files(job.dsc), tmp / "second" / "src")
            spec = ContainerSpec(image=image, command=("/bin/sh", f"{BUILD_DIR}/repro.sh"), network="none",
                                 user="rebuilder", workdir=BUILD_DIR, env=tuple(sorted(env.items())),
                                 capabilities=(), no_new_privileges=True, labels=_labels(subject, "qa-repro"))
            with self.engine.container(spec) as c:
                for name in ("build.sh", "repro.sh"):
                    c.put(self.settings.containers_dir / name, BUILD_DIR, owner=REBUILDER_UID)
                c.put(src, BUILD_DIR, owner=REBUILDER_UID)
                code = c.run(log)
                if code == 0:
                    c.get(f"{BUILD_DIR}/out", tmp / "second")
            if code in (124, 137):
                return Finding(Outcome.ERROR, f"the second build ran past repro.max_seconds"
                                              f" ({policy.max_seconds} s)", _details())
            if code != 0:
                return Finding(Outcome.FAIL if "failed-to-build" in policy.fail_on else Outcome.PASS,
                               f"failed to build the second time (exit {code})", _details("failed to build"))
            return compare(subject, tmp / "second" / "out", work, policy)


def _details(verdict: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {"varied": list(VARIED), "not_varied": list(NOT_VARIED)}
    if verdict:
        out["verdict"] = verdict
    return out


def compare(subject: Subject, second: Path, work: Path, policy: GatePolicy) -> Finding:
    """The two builds' .debs byte for byte; diffoscope on each pair that differs (HTML and text kept)."""
    first = {d.name: d for d in subject.debs}
    again = {d.name: d for d in sorted(second.glob("*.deb"))} if second.is_dir() else {}
    details = _details()
    differ = sorted(n for n in first if n in again and sha256_file(first[n]) != sha256_file(again[n]))
    missing = sorted(set(first) ^ set(again))
    files: list[str] = []
    for name in differ:
        files += diffoscope(first[name], again[name], work / "diffoscope", name)
    details.update({"verdict": "unreproducible" if differ or missing else "reproducible",
                    "identical": sorted(n for n in first if n in again and n not in differ),
                    "differ": differ, "only_in_one": missing})
    if not differ and not missing:
        return Finding(Outcome.PASS, f"reproducible: {len(first)} .deb(s) identical", details)
    what = ", ".join(differ + [f"{n} (in one build only)" for n in missing])
    outcome = Outcome.FAIL if "unreproducible" in policy.fail_on else Outcome.PASS
    return Finding(outcome, f"unreproducible: {what}", details, tuple(files))


@functools.cache
def diffoscope_version() -> str:
    """The host's diffoscope, asked once per process (0.1-0.2 s a call: it was asked per subject)."""
    exe = shutil.which("diffoscope")
    if exe is None:
        raise KronosError("diffoscope is not installed on this host (make host installs diffoscope-minimal)")
    proc = run([exe, "--version"], check=False)
    return proc.stdout.decode(errors="replace").strip() or "unknown"


def diffoscope(a: Path, b: Path, into: Path, name: str) -> list[str]:
    """diffoscope's HTML and text of a against b, into `into`; the files' paths relative to its parent."""
    into.mkdir(parents=True, exist_ok=True)
    html, text = into / f"{name}.html", into / f"{name}.txt"
    proc = run(["diffoscope", "--html", str(html), "--text", str(text), "--max-report-size", "20000000",
                str(a), str(b)], check=False)
    if proc.returncode not in (0, 1):
        info(f"diffoscope on {name} exited {proc.returncode}: {proc.stderr.decode(errors='replace')[-500:]}")
    return [str(p.relative_to(into.parent)) for p in (html, text) if p.exists()]

