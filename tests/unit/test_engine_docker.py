"""The Docker backend's exact SDK calls, against a fake client (the engine's only fake)."""

from __future__ import annotations

import io
import os
import socket
import tarfile
from pathlib import Path
from typing import Any

from kronos import owner
from kronos.engine.base import ContainerSpec
from kronos.engine.docker import DockerEngine


class FakeContainer:
    def __init__(self, calls: list[Any]) -> None:
        self.calls = calls
        self.id = "c1"

    def put_archive(self, path: str, data: bytes) -> bool:
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            members = [(m.name, m.uid) for m in tar.getmembers()]
        self.calls.append(("put_archive", path, members))
        return True

    def start(self) -> None:
        self.calls.append(("start",))

    def logs(self, **kw: Any) -> list[bytes] | bytes:
        self.calls.append(("logs", kw))
        if kw.get("stream"):  # the follow ended before the last line reached the log driver
            return [b"line 1\n"]
        return b"line 1\nline 2\n"

    def wait(self) -> dict[str, int]:
        self.calls.append(("wait",))
        return {"StatusCode": 3}

    def commit(self, repository: str, tag: str) -> Any:
        self.calls.append(("commit", repository, tag))
        return type("I", (), {"id": "sha256:abc"})()

    def remove(self, force: bool) -> None:
        self.calls.append(("remove", force))


class FakeClient:
    def __init__(self) -> None:
        self.calls: list[Any] = []
        client = self

        class Containers:
            def create(self, image: str, **kw: Any) -> FakeContainer:
                client.calls.append(("create", image, kw))
                return FakeContainer(client.calls)

            def list(self, **kw: Any) -> list[Any]:
                client.calls.append(("list", kw))
                return [type("C", (), {"id": "0123456789abcdef", "labels": {owner.PID: "1"}})()]

        self.containers = Containers()


def test_container_lifecycle_calls(tmp_path: Path) -> None:
    client = FakeClient()
    engine = DockerEngine(client)
    spec = ContainerSpec(image="kronos/deps-sid:0123", command=("/bin/sh", "/build/build.sh"),
                         network="none", user="builder", workdir="/build", env=(("A", "1"),),
                         labels=(("org.kronos.recipe", "x"),))
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "x.dsc").write_text("x")
    log = tmp_path / "log"
    with engine.container(spec) as c:
        c.put(tmp_path / "src", "/build", owner=1000)
        assert c.run(log) == 3
        c.commit("kronos/failed-sid-x", "1.0")
    assert client.calls == [
        ("create", "kronos/deps-sid:0123", {"command": ["/bin/sh", "/build/build.sh"], "network_mode": "none",
                                            "user": "builder", "working_dir": "/build",
                                            "environment": {"A": "1"},
                                            "labels": {"org.kronos.recipe": "x", **dict(owner.labels())},
                                            "detach": True}),
        ("put_archive", "/build", [("src", 1000), ("src/x.dsc", 1000)]),
        ("start",),
        ("logs", {"stream": True, "follow": True, "stdout": True, "stderr": True}),
        ("wait",),
        ("logs", {"stdout": True, "stderr": True}),  # what the stream missed, once the container ended
        ("commit", "kronos/failed-sid-x", "1.0"),
        ("remove", True),
    ]
    assert log.read_bytes() == b"line 1\nline 2\n"
    # the run's own labels: who made it (pid, its start time, the host) and the run
    labels = dict(owner.labels())
    assert labels[owner.PID] == str(os.getpid()) and labels[owner.HOST] == socket.gethostname()
    assert labels[owner.STARTED] and len(labels[owner.RUN]) == 12


def test_container_removed_on_error() -> None:
    client = FakeClient()
    engine = DockerEngine(client)
    spec = ContainerSpec(image="i", command=("true",), network="host")
    try:
        with engine.container(spec):
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert client.calls[-1] == ("remove", True)
    assert client.calls[0][2]["network_mode"] == "host" and client.calls[0][2]["user"] == "root"


def test_deps_container_keeps_only_the_given_capabilities() -> None:
    client = FakeClient()
    engine = DockerEngine(client)
    spec = ContainerSpec(image="kronos/base-sid:0123", command=("/bin/sh", "/kronos/install-build-deps.sh"),
                         network="host", capabilities=("CHOWN", "SETUID"))
    with engine.container(spec):
        pass
    assert client.calls[0] == (
        "create", "kronos/base-sid:0123", {"command": ["/bin/sh", "/kronos/install-build-deps.sh"],
                                           "network_mode": "host", "user": "root", "working_dir": "/",
                                           "environment": {}, "labels": dict(owner.labels()), "detach": True,
                                           "cap_drop": ["ALL"], "cap_add": ["CHOWN", "SETUID"]})


def test_build_container_keeps_no_capability_and_gains_none() -> None:
    client = FakeClient()
    engine = DockerEngine(client)
    spec = ContainerSpec(image="kronos/deps-sid:0123", command=("/bin/sh", "/build/build.sh"),
                         network="none", user="builder", workdir="/build", capabilities=(),
                         no_new_privileges=True)
    with engine.container(spec):
        pass
    assert client.calls[0] == (
        "create", "kronos/deps-sid:0123", {"command": ["/bin/sh", "/build/build.sh"], "network_mode": "none",
                                           "user": "builder", "working_dir": "/build", "environment": {},
                                           "labels": dict(owner.labels()), "detach": True, "cap_drop": ["ALL"],
                                           "cap_add": [],
                                           "security_opt": ["no-new-privileges"]})



def test_listing_kronos_containers_ignores_one_removed_meanwhile() -> None:
    """Another kronos may remove a container between the listing and its inspection (the SDK's list
    inspects each): ignore_removed, or the sweep fails with 'No such container'."""
    client = FakeClient()
    found = DockerEngine(client).containers()
    assert client.calls == [("list", {"all": True, "filters": {"label": owner.PID}, "ignore_removed": True})]
    assert [(f.id, f.labels) for f in found] == [("0123456789ab", {owner.PID: "1"})]


def test_a_build_container_carries_its_cpu_shares() -> None:
    client = FakeClient()
    spec = ContainerSpec(image="i", command=("true",), network="none", cpu_shares=3072)
    with DockerEngine(client).container(spec):
        pass
    assert client.calls[0][2]["cpu_shares"] == 3072
    with DockerEngine(client).container(ContainerSpec(image="i", command=("true",), network="none")):
        pass
    assert "cpu_shares" not in [c for c in client.calls if c[0] == "create"][1][2]  # 0: the engine's default


class FakeImage:
    labels = {"org.kronos.rootfs-sha256": "ab" * 32}
    id = "sha256:feed"

    def __init__(self, calls: list[Any]) -> None:
        self.calls = calls

    def save(self, named: bool) -> list[bytes]:
        self.calls.append(("save", named))
        return [b"part1", b"part2"]


class ImageClient:
    """The image calls: import with labels, labels, save and load."""

    def __init__(self) -> None:
        self.calls: list[Any] = []
        client = self

        class Api:
            def import_image(self, **kw: Any) -> None:
                client.calls.append(("import_image", kw))

        class Images:
            def get(self, ref: str) -> FakeImage:
                client.calls.append(("get", ref))
                return FakeImage(client.calls)

            def load(self, data: Any) -> None:
                client.calls.append(("load", data.read()))

        self.api, self.images = Api(), Images()


def test_images_are_imported_labelled_saved_and_loaded(tmp_path: Path) -> None:
    client = ImageClient()
    engine = DockerEngine(client)
    rootfs = tmp_path / "rootfs.tar"
    rootfs.write_bytes(b"tar")
    assert engine.import_image(rootfs, "kronos/base-sid", "0123", {"org.kronos.rootfs-sha256": "ab" * 32}) \
        == "sha256:feed"
    assert engine.image_labels("kronos/base-sid:0123") == {"org.kronos.rootfs-sha256": "ab" * 32}
    engine.save_image("kronos/base-sid:0123", tmp_path / "saved.tar")
    engine.load_image(tmp_path / "saved.tar")
    assert client.calls == [
        ("import_image", {"src": str(rootfs), "repository": "kronos/base-sid", "tag": "0123",
                          "changes": [f"LABEL org.kronos.rootfs-sha256={'ab' * 32}"]}),
        ("get", "kronos/base-sid:0123"),  # the id of what was imported
        ("get", "kronos/base-sid:0123"),
        ("get", "kronos/base-sid:0123"),
        ("save", True),
        ("load", b"part1part2"),
    ]
    assert (tmp_path / "saved.tar").read_bytes() == b"part1part2"
