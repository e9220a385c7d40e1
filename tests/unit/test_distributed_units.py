"""The parts of building on Dask that need no engine or scheduler: a job as data (what travels), the
artefact store (how files travel), the CPU shares, and the refusals of an address without mutual TLS
(kronos worker, kronos build --executor dask, kronos scheduler), each one line and exit 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from kronos.cluster import Tls, is_loopback, require_tls
from kronos.config import load_settings
from kronos.errors import ConfigError, StorageError, VerifyError
from kronos.executor import Job
from kronos.job import BaseImage, BuildResult, BuildSpec, Worker
from kronos.pipeline import cpu_shares, with_shares
from kronos.recipe import BuildOptions, Keep
from kronos.store import FileRef, Store

ROOT = Path(__file__).resolve().parents[2]
KRONOS = Path(sys.executable).with_name("kronos")
SHA = "a" * 64


def spec() -> BuildSpec:
    target = load_settings(ROOT, env={}).target("bookworm")
    options = BuildOptions(("nocheck",), ("terse",), (("A", "1"),), (Keep("config", "xen/.config", ("CONFIG_X",)),))
    return BuildSpec("xen", target, "4.17.5+kronos1", "k" * 64, options,
                     (FileRef("xen_4.17.5.dsc", SHA, 10), FileRef("xen_4.17.5.orig.tar.gz", "b" * 64, 20)),
                     (FileRef("kfx-a_1.0_all.deb", "c" * 64, 30),), "l" * 64,
                     BaseImage("bookworm", "kronos/base-bookworm:0123456789abcdef", "d" * 64,
                               FileRef("base.docker.tar", "e" * 64, 40)),
                     (FileRef("build.sh", "f" * 64, 5),), "deb http://mirror.invalid/debian bookworm-backports main",
                     2048)


def test_a_job_travels_as_json_and_comes_back_the_same() -> None:
    s = spec()
    data = json.loads(json.dumps(s.to_data()))  # nothing but JSON: no path, no object of the coordinator
    assert BuildSpec.from_data(data) == s
    assert not any(isinstance(v, str) and v.startswith("/") for v in _leaves(data))
    assert s.job_key() == BuildSpec.from_data(data).job_key()
    assert s.job_key().startswith("kronos-build-bookworm-xen-")
    # the job's key follows everything in it: another version or another sibling is another job
    other = BuildSpec.from_data({**data, "version": "4.17.5+kronos2"})
    assert other.job_key() != s.job_key()


def _leaves(data: object) -> list[object]:
    if isinstance(data, dict):
        return [x for v in data.values() for x in _leaves(v)]
    if isinstance(data, list):
        return [x for v in data for x in _leaves(v)]
    return [data]


@pytest.mark.parametrize("change", [
    {"format": 99}, {"dsc": [{"name": "../x.dsc", "sha256": SHA, "size": 1}]},
    {"siblings": [{"name": "a.deb", "sha256": "nothex", "size": 1}]}, {"target": {"name": "bookworm"}},
])
def test_a_malformed_job_is_refused(change: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        BuildSpec.from_data({**spec().to_data(), **change})


def test_a_result_travels_as_json() -> None:
    r = BuildResult("key", Worker("w1", "tcp://127.0.0.1:1", "CN=w1", "unix:///run/w1.sock"),
                    FileRef("x.build", SHA, 3), (FileRef("x.deb", "b" * 64, 4),), seconds=1.5, held=("base image",))
    assert BuildResult.from_data(json.loads(json.dumps(r.to_data()))) == r
    with pytest.raises(ValueError):
        BuildResult.from_data({"job": "key"})


def test_the_store_keeps_a_file_once_and_checks_what_it_gives(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    f = tmp_path / "a.deb"
    f.write_bytes(b"package")
    ref = store.put(f)
    assert ref.name == "a.deb" and ref.size == 7 and store.has(ref)
    blob = store.blob(ref.sha256)
    assert blob.read_bytes() == b"package"
    again = tmp_path / "again" / "a.deb"
    again.parent.mkdir()
    again.write_bytes(b"package")
    assert store.put(again) == ref and store.blob(ref.sha256).stat().st_ino == blob.stat().st_ino  # not again
    got = store.get(ref, tmp_path / "out")
    assert got.read_bytes() == b"package" and got.name == "a.deb"
    # a blob that changed under the store: refused, nothing left behind
    blob.unlink()
    blob.write_bytes(b"tampered")
    with pytest.raises(VerifyError, match=r"a\.deb from the artefact store .*: sha256 .*, expected"):
        store.get(ref, tmp_path / "bad")
    assert not (tmp_path / "bad" / "a.deb").exists()
    with pytest.raises(StorageError, match="has no b.deb"):
        store.get(FileRef("b.deb", "b" * 64, 1), tmp_path / "out")


def test_shares_follow_the_chain_a_build_heads() -> None:
    plan = [Job("t/xen", lambda **_: None, ("t/dh-ocaml",), weight=330.0), Job("t/dh-ocaml", lambda **_: None,
            weight=14.0), Job("t/re", lambda **_: None, weight=23.0)]
    shares = {j.name: j.func.keywords["cpu_shares"] for j in with_shares(plan)}  # type: ignore[attr-defined]
    # dh-ocaml heads xen's chain (344 s), re only itself: the chain's builds weigh more under contention
    assert shares["t/dh-ocaml"] > shares["t/xen"] > shares["t/re"]
    assert cpu_shares(1.0, 1.0) == 1024 and cpu_shares(1e9, 1.0) == 262144 and cpu_shares(0.0, 5.0) == 2


@pytest.mark.parametrize(("address", "loopback"), [
    ("tcp://127.0.0.1:8786", True), ("tls://[::1]:8786", True), ("localhost:8786", True),
    ("tcp://192.0.2.7:8786", False), ("tls://10.0.0.1:8786", False), ("tcp://nonexistent.invalid:1", False),
])
def test_loopback_addresses(address: str, loopback: bool) -> None:
    assert is_loopback(address) is loopback


def test_an_address_other_than_loopback_needs_mutual_tls(tmp_path: Path) -> None:
    require_tls("tcp://127.0.0.1:8786", None, "kronos worker")
    with pytest.raises(ConfigError, match=r"^kronos worker: refusing scheduler tcp://192\.0\.2\.7:8786 without"
                                          r" mutual TLS"):
        require_tls("tcp://192.0.2.7:8786", None, "kronos worker")
    with pytest.raises(ConfigError, match="without mutual TLS"):
        require_tls("tls://192.0.2.7:8786", None, "kronos worker")
    files = Tls(tmp_path / "ca.pem", tmp_path / "w.pem", tmp_path / "w.key")
    with pytest.raises(ConfigError, match=r"TLS CA .*ca\.pem does not exist"):
        require_tls("tls://192.0.2.7:8786", files, "kronos worker")
    for p in (files.ca, files.cert, files.key):
        p.write_text("x")
    require_tls("tls://192.0.2.7:8786", files, "kronos worker")
    with pytest.raises(ConfigError, match="no Dask scheduler"):
        require_tls("", None, "kronos build")


@pytest.mark.parametrize("argv", [
    ["worker", "--scheduler", "tcp://192.0.2.7:8786"],
    ["build", "--executor", "dask", "--scheduler", "tcp://192.0.2.7:8786"],
    ["scheduler", "--host", "0.0.0.0"],
])
def test_the_programs_refuse_a_plain_address_off_loopback(argv: list[str], tmp_path: Path) -> None:
    proc = subprocess.run([str(KRONOS), *argv], cwd=tmp_path, capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin", "KRONOS_ROOT": str(ROOT), "HOME": str(tmp_path)},
                          check=False)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "without mutual TLS" in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr


def test_an_unknown_executor_is_one_line(tmp_path: Path) -> None:
    proc = subprocess.run([str(KRONOS), "build", "--executor", "ray"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=60, env={"PATH": "/usr/bin:/bin", "KRONOS_ROOT": str(ROOT), "HOME": str(tmp_path)},
                          check=False)
    assert proc.returncode == 2 and proc.stderr.strip() == \
        "kronos: error: --executor: unknown executor 'ray' (known: local, dask)", proc.stderr


def test_a_worker_reads_a_blob_from_the_store_once(tmp_path: Path) -> None:
    shared = Store(tmp_path / "shared")
    f = tmp_path / "kfx-a.deb"
    f.write_bytes(b"deb")
    ref = shared.put(f)
    worker = Store(tmp_path / "shared", local=tmp_path / "held")
    first, held = worker.fetch(ref, tmp_path / "one")
    assert (first.read_bytes(), held) == (b"deb", False)
    shared.blob(ref.sha256).unlink()  # gone from the shared store: the worker still has it
    second, held = worker.fetch(ref, tmp_path / "two")
    assert (second.read_bytes(), held) == (b"deb", True)
    # what is not kept (a base image's archive) is read each time, and not copied to the worker's disk
    big = tmp_path / "image.tar"
    big.write_bytes(b"image")
    image = shared.put(big)
    worker.get(image, tmp_path / "three", keep=False)
    assert not (tmp_path / "held" / image.sha256[:2] / image.sha256).exists()
