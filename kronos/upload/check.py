"""Pre-upload checks: signatures and checksums against the uploader's public key, and lintian in a
clean container of the target."""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..engine import ContainerSpec, Engine
from ..images import BUILDER_UID, Image
from ..run import run
from ..source_package import dsc_files
from .artefacts import read_changes, source_only
from .plan import UploadError


def _last_line(output: bytes) -> str:
    lines = [ln.strip() for ln in output.decode(errors="replace").splitlines() if ln.strip()]
    return lines[-1] if lines else "no output"


def gpgv(path: Path, keyring: Path) -> None:
    """path carries a good signature by a key in keyring."""
    with tempfile.TemporaryDirectory(prefix="kv") as home:
        proc = run(["gpgv", "--keyring", keyring.resolve(), path], env={"GNUPGHOME": home}, check=False)
    if proc.returncode != 0:
        raise UploadError(f"signature check failed for {path}: {_last_line(proc.stdout)}")


def verify(changes_path: Path, keyring: Path, distribution: str) -> None:
    """The .changes is source-only for distribution; it, the .dsc and the .buildinfo are signed by a key
    in keyring; every listed file has the listed size and checksums (dscverify)."""
    changes = read_changes(changes_path)
    source_only(changes, changes_path, distribution)
    gpgv(changes_path, keyring)
    for entry in changes["Files"]:
        if entry["name"].endswith((".dsc", ".buildinfo")):
            gpgv(changes_path.with_name(entry["name"]), keyring)
    with tempfile.TemporaryDirectory(prefix="kv") as home:
        proc = run(["dscverify", "--no-conf", "--no-default-keyrings", "--keyring", keyring.resolve(),
                    changes_path], env={"GNUPGHOME": home, "HOME": home}, check=False)
    if proc.returncode != 0:
        raise UploadError(f"dscverify rejects {changes_path}: {_last_line(proc.stdout)}")


@dataclass(frozen=True)
class LintResult:
    ok: bool
    log: Path
    summary: str  # the first error, or why lintian did not run


LINTIAN_REPOSITORY = "kronos/lintian"
INSTALL_LINTIAN = (
    "set -eu\nexport DEBIAN_FRONTEND=noninteractive\n"
    "apt-get update -q && apt-get install -y -q --no-install-recommends lintian\n"
    "apt-get clean && rm -rf /var/lib/apt/lists/*\n"
)


def lintian_script(changes: str) -> str:
    return (
        "set -u\n"
        "cd /kronos/upload\n"
        f"echo '+ lintian --fail-on error {changes}'\n"
        f"exec runuser -u builder -- env HOME=/home/builder lintian --fail-on error {changes}\n"
    )


def lintian_image(engine: Engine, image: Image, log: Path) -> str | None:
    """The target's base image plus lintian, committed once per base image (the lintian layer)."""
    ref = f"{LINTIAN_REPOSITORY}-{image.target}:{image.key[:16]}"
    if engine.image_id(ref):
        return ref
    with tempfile.TemporaryDirectory(prefix="kl") as tmp:
        script = Path(tmp) / "install-lintian.sh"
        script.write_text(INSTALL_LINTIAN)
        spec = ContainerSpec(image=image.ref, command=("/bin/sh", "/kronos/install-lintian.sh"), network="host")
        with engine.container(spec) as c:
            c.put(script, "/kronos")
            if c.run(log) != 0:
                return None
            c.commit(f"{LINTIAN_REPOSITORY}-{image.target}", image.key[:16])
    return ref


def lintian_files(changes: Path) -> list[Path]:
    """What lintian is handed: the .changes, the files it lists and, for an upload that leaves the orig
    out (-sd: the archive has it), the .dsc's other files too, since lintian's source checks unpack it."""
    listed = [changes.with_name(e["name"]) for e in read_changes(changes)["Files"]]
    beside = [f for d in listed if d.suffix == ".dsc" for f in dsc_files(d) if f not in listed]
    return [changes, *listed, *beside]


def lintian(engine: Engine, image: Image, changes: Path, log: Path) -> LintResult:
    """lintian --fail-on error over the upload (.changes, .dsc, .buildinfo), as the unprivileged
    builder in a fresh container of the target's lintian layer, without network; output goes to log."""
    files = lintian_files(changes)
    log.write_text("")
    ref = lintian_image(engine, image, log)
    if ref is None:
        return LintResult(False, log, f"cannot install lintian in a {image.target} container")
    with tempfile.TemporaryDirectory(prefix="kl") as tmp:
        up = Path(tmp) / "upload"
        up.mkdir()
        for f in files:
            shutil.copyfile(f, up / f.name)
        script = Path(tmp) / "lintian.sh"
        script.write_text(lintian_script(changes.name))
        spec = ContainerSpec(image=ref, command=("/bin/sh", "/kronos/lintian.sh"), network="none")
        with engine.container(spec) as c:
            c.put(up, "/kronos", owner=BUILDER_UID)
            c.put(script, "/kronos")
            code = c.run(log)
    text = log.read_text(errors="replace")
    if code == 0:
        return LintResult(True, log, "")
    errors = [ln.strip() for ln in text.splitlines() if ln.startswith("E: ")]
    why = f"{len(errors)} error(s), first: {errors[0]}" if errors else f"lintian exit code {code}"
    return LintResult(False, log, why)
