"""The publish benchmark's data: N generated .debs (cached), one more to add, and kronos's output dir."""

from __future__ import annotations

import json
import math
import os
import random
import shutil
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

from bench.common import log

GENERATOR = 2  # bump when the .deb generator changes (invalidates the cache)
SUITE = "sid"  # a kronos target (kronos/defaults.toml); also the suite/codename for the others
EXTRA = "zz-bench-added"  # the package added by the add-one step

WORDS = ("xen", "xapi", "toolstack", "guest", "agent", "network", "storage", "block", "console", "vm",
         "metrics", "event", "cluster", "pool", "host", "daemon", "client", "server", "stream", "crypt",
         "parse", "json", "yaml", "http", "rpc", "proto", "buffer", "queue", "cache", "log", "trace",
         "sched", "power", "disk", "image", "snap", "vhd", "qcow", "tap", "bridge", "ovs", "fw", "dns")
TEXT = ("the", "a", "of", "for", "with", "and", "to", "package", "provides", "support", "library",
        "tools", "runtime", "files", "data", "virtual", "machine", "interface", "backend", "frontend",
        "helper", "utilities", "module", "bindings", "plugin", "service", "configuration", "default")


@dataclass(frozen=True)
class Deb:
    """One generated binary package; `salt` seeds its payload and description."""

    package: str
    source: str
    version: str
    arch: str
    size: int
    depends: str
    lines: int
    salt: int

    @property
    def file(self) -> str:
        return f"{self.package}_{self.version.split(':', 1)[-1]}_{self.arch}.deb"


@dataclass(frozen=True)
class DebSet:
    """The .debs every tool publishes, the one the add-one step adds, and kronos's output dir over them."""

    debs_dir: Path
    files: list[Path]
    extra: Path
    out: Path  # KRONOS_OUTPUT_DIR: <suite>/<source>/{build.json, *.deb}
    sources: int

    @property
    def count(self) -> int:
        return len(self.files)


def plan(count: int, seed: int) -> list[Deb]:
    """Metadata for `count` binary packages grouped into sources (1-4 binaries each); unique names."""
    rng = random.Random(seed)
    names: set[str] = set()
    debs: list[Deb] = []
    n = 0
    while len(debs) < count:
        n += 1
        base = "-".join(rng.sample(WORDS, rng.choice((1, 2, 2, 3))))
        src = f"{base}{rng.randint(0, 99)}" if rng.random() < 0.5 else base
        if rng.random() < 0.15:
            src = "lib" + src
        if src in names:
            src = f"{src}-{n}"
        upstream = rng.choice((
            f"{rng.randint(0, 25)}.{rng.randint(0, 40)}",
            f"{rng.randint(0, 9)}.{rng.randint(0, 20)}.{rng.randint(0, 99)}",
            f"{rng.randint(1, 5)}.{rng.randint(0, 9)}~rc{rng.randint(1, 4)}",
            f"{rng.randint(0, 3)}.{rng.randint(0, 30)}+dfsg",
            f"0~git{rng.randint(2019, 2025)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}.{rng.getrandbits(28):07x}",
        ))
        epoch = f"{rng.randint(1, 3)}:" if rng.random() < 0.1 else ""
        revision = rng.choice(("-1", "-2", "-1+b1", "-3kronos1", "-1~bpo12+1", ""))
        version = f"{epoch}{upstream}{revision}"
        extras = ("lib", "-dev", "-doc", "-common", "python3-", "-utils")
        kinds = [""] + rng.sample(extras, rng.choice((0, 0, 1, 1, 2, 3)))
        for kind in kinds:
            if len(debs) >= count:
                break
            if kind == "lib":
                name = f"lib{src.removeprefix('lib')}{rng.randint(0, 9)}"
            elif kind.endswith("-"):
                name = kind + src
            else:
                name = src + kind
            if name in names:
                continue
            names.add(name)
            arch = "all" if kind in ("-doc", "-common", "python3-") or rng.random() < 0.1 else "amd64"
            picked = rng.sample(debs, min(len(debs), rng.randint(0, 3)))
            deps = ["libc6 (>= 2.36)"] + [f"{d.package} (>= {d.version})" for d in picked]
            size = int(math.exp(rng.uniform(math.log(4), math.log(200 * 1024))))
            debs.append(Deb(package=name, source=src, version=version, arch=arch, size=size,
                            depends=", ".join(deps), lines=rng.randint(1, 8), salt=rng.getrandbits(64)))
    return debs


def make_deb(d: Deb, dest: Path, stage: Path) -> None:
    rng = random.Random(d.salt)
    tree = stage / d.package
    shutil.rmtree(tree, ignore_errors=True)
    share = tree / "usr" / "share" / d.package
    share.mkdir(parents=True)
    (tree / "DEBIAN").mkdir()
    left = d.size
    for i in range(rng.randint(1, 3)):
        part = left if i == 2 else rng.randint(0, left)
        (share / f"data{i}.bin").write_bytes(rng.randbytes(part))
        left -= part
        if left <= 0:
            break

    def words(k: int) -> str:
        return " ".join(rng.choice(TEXT) for _ in range(k))

    body = "".join(f" {words(rng.randint(6, 12))}\n" for _ in range(d.lines))
    control = [f"Package: {d.package}"]
    if d.source != d.package:
        control.append(f"Source: {d.source}")
    control += [f"Version: {d.version}", f"Architecture: {d.arch}",
                "Maintainer: Kronos Bench <bench@localhost>", f"Installed-Size: {max(1, d.size // 1024)}",
                f"Depends: {d.depends}",
                f"Section: {rng.choice(('admin', 'libs', 'net', 'utils', 'misc', 'doc', 'python'))}",
                f"Priority: {rng.choice(('optional', 'optional', 'optional', 'extra', 'standard'))}",
                f"Homepage: https://{d.source}.invalid/", f"Description: {words(5)}", body.rstrip("\n")]
    (tree / "DEBIAN" / "control").write_text("\n".join(control) + "\n")
    tmp = dest.with_name(dest.name + ".tmp")
    subprocess.run(["dpkg-deb", "--root-owner-group", "--build", str(tree), str(tmp)], check=True,
                   stdout=subprocess.DEVNULL)
    os.replace(tmp, dest)
    shutil.rmtree(tree)


def ensure_debs(work: Path, count: int, seed: int) -> tuple[list[Deb], Path]:
    """The cached set (work/debs) and the extra .deb (work/extra); (re)made when missing or stale."""
    debs_dir, extra_dir, stage = work / "debs", work / "extra", work / "stage"
    manifest = debs_dir / "manifest.json"
    debs = plan(count, seed)
    extra = Deb(package=EXTRA, source=EXTRA, version="1.0-1", arch="amd64", size=50_000,
                depends="libc6 (>= 2.36)", lines=3, salt=seed)
    key = {"generator": GENERATOR, "seed": seed, "count": count}
    if manifest.exists() and json.loads(manifest.read_text()).get("key") == key \
            and all((debs_dir / d.file).exists() for d in debs) and (extra_dir / extra.file).exists():
        log(f"reusing {count} cached .debs in {debs_dir}")
        return debs, extra_dir / extra.file
    log(f"making {count} .debs with dpkg-deb in {debs_dir} (cached for reruns) ...")
    shutil.rmtree(debs_dir, ignore_errors=True)
    shutil.rmtree(extra_dir, ignore_errors=True)
    debs_dir.mkdir(parents=True)
    extra_dir.mkdir(parents=True)
    stage.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    jobs = [(d, debs_dir / d.file) for d in debs] + [(extra, extra_dir / extra.file)]
    with ThreadPoolExecutor(max_workers=(os.cpu_count() or 2) + 1) as pool:
        for _ in pool.map(lambda job: make_deb(job[0], job[1], stage), jobs):
            pass
    shutil.rmtree(stage, ignore_errors=True)
    listed = [{**asdict(d), "file": d.file} for d in debs]
    manifest.write_text(json.dumps({"key": key, "debs": listed}, indent=1))
    log(f"  made in {time.perf_counter() - t:.1f} s")
    return debs, extra_dir / extra.file


def kronos_outputs(work: Path, debs: list[Deb]) -> Path:
    """KRONOS_OUTPUT_DIR with <suite>/<source>/{build.json, *.deb (hard links)}: what `kronos build` leaves."""
    out = work / "kronos-out"
    shutil.rmtree(out, ignore_errors=True)
    by_source: dict[str, list[str]] = {}
    for d in debs:
        by_source.setdefault(d.source, []).append(d.file)
    for src, files in by_source.items():
        rdir = out / SUITE / src
        rdir.mkdir(parents=True)
        for f in files:
            os.link(work / "debs" / f, rdir / f)
        (rdir / "build.json").write_text(json.dumps({"source": src, "files": files}))
    return out


def add_extra_recipe(out: Path, extra: Path) -> Path:
    """One more recipe dir in kronos's output dir, holding the extra .deb; remove it when done."""
    rdir = out / SUITE / EXTRA
    rdir.mkdir(parents=True)
    os.link(extra, rdir / extra.name)
    (rdir / "build.json").write_text(json.dumps({"source": EXTRA, "files": [extra.name]}))
    return rdir


def prepare(work: Path, count: int, seed: int) -> DebSet:
    """Make (or reuse) the .debs, read them once (the same warm page cache for every tool), lay out
    kronos's output dir."""
    debs, extra = ensure_debs(work, count, seed)
    files = [work / "debs" / d.file for d in debs]
    for f in files:
        f.read_bytes()
    return DebSet(debs_dir=work / "debs", files=files, extra=extra, out=kronos_outputs(work, debs),
                  sources=len({d.source for d in debs}))
