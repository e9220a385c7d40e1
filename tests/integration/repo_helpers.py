"""Helpers for the publishing tests: tiny .debs, fake build outputs, the real `kronos publish`,
tree snapshots, an HTTP server with switchable views, and real apt in a clean container.

    make_deb(dir, name, version)  -> a binary package built by dpkg-deb (payload varies content)
    Outputs(dir).add(...)         -> out/<target>/<recipe>/build.json like kronos writes
    Env(...)                      -> the environment of one `kronos publish` (repo, keys, clock)
    snapshot(root)                -> {path: sha256 | "-> link target"} of a whole tree
    Server                        -> http://127.0.0.1:<port>/<view>/...: each view a directory;
                                     /live/... follows a pointer moved by GET /_live/<view>;
                                     a view may take its Release files from another directory
    AptScript / run_apt           -> one container run of the bookworm base image checking
                                     many repository states with apt-get update and apt-cache
"""

from __future__ import annotations

import contextlib
import hashlib
import http.server
import json
import os
import posixpath
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from kronos.engine import ContainerSpec, Engine

from .checkout import ROOT as CHECKOUT_ROOT

ROOT = CHECKOUT_ROOT  # a private (mode 0700) copy of the checkout
KRONOS = Path(sys.executable).with_name("kronos")
RELEASE_FILES = ("InRelease", "Release", "Release.gpg")


# --- packages and build outputs ------------------------------------------------------------


def make_deb(dest: Path, name: str, version: str, arch: str = "all", payload: str = "",
             postinst: str | None = None) -> Path:
    """A tiny binary package name_version_arch.deb in dest; payload changes its content; postinst: a
    maintainer script dpkg runs on install."""
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="deb-") as tmp:
        tree = Path(tmp) / "tree"
        (tree / "DEBIAN").mkdir(parents=True)
        (tree / "DEBIAN" / "control").write_text(
            f"Package: {name}\nVersion: {version}\nArchitecture: {arch}\n"
            "Maintainer: Kronos Tests <tests@example.invalid>\nSection: misc\nPriority: optional\n"
            f"Description: tiny package {name} of the kronos publish tests\n"
            " It installs one small file.\n")
        if postinst is not None:
            (tree / "DEBIAN" / "postinst").write_text(postinst)
            (tree / "DEBIAN" / "postinst").chmod(0o755)
        share = tree / "usr" / "share" / "doc" / name
        share.mkdir(parents=True)
        (share / "payload").write_text(f"{name} {version}\n{payload}\n")
        out = dest / f"{name}_{version}_{arch}.deb"
        env = dict(os.environ, SOURCE_DATE_EPOCH="1767225600")
        subprocess.run(["dpkg-deb", "--root-owner-group", "-Zgzip", "--build", str(tree), str(out)],
                       env=env, check=True, capture_output=True)
    return out


class Outputs:
    """A fake KRONOS_OUTPUT_DIR: <dir>/<target>/<recipe>/{build.json, *.deb}."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def add(self, target: str, recipe: str, source: str, packages: list[tuple[str, str]],
            payload: str = "") -> list[Path]:
        """Packages (name, version) as one recipe's build for target (replacing an earlier one)."""
        d = self.root / target / recipe
        if d.exists():
            shutil.rmtree(d)
        debs = [make_deb(d, name, version, payload=payload) for name, version in packages]
        (d / "build.json").write_text(json.dumps({"source": source, "files": [p.name for p in debs]}))
        return debs


# --- running kronos ------------------------------------------------------------------------


def clean_env() -> dict[str, str]:
    """os.environ without any KRONOS_* variable a developer's shell might carry."""
    return {k: v for k, v in os.environ.items() if not k.startswith("KRONOS_")}


@dataclass
class Env:
    """The environment of one `kronos` run against a repository tree."""

    repo: Path
    gnupghome: Path
    out: Path
    keys: str = ""
    passphrase: str = ""
    now: int | None = None
    fault_at: int | None = None
    config: Path | None = None
    passphrase_file: Path | None = None

    def vars(self) -> dict[str, str]:
        env = clean_env()
        env.update(KRONOS_ROOT=str(ROOT), KRONOS_REPO_PATH=str(self.repo), KRONOS_GNUPGHOME=str(self.gnupghome),
                   KRONOS_OUTPUT_DIR=str(self.out), KRONOS_SIGNING_KEYS=self.keys,
                   KRONOS_SIGNING_PASSPHRASE=self.passphrase)
        if self.now is not None:
            env["KRONOS_NOW"] = str(self.now)
        if self.fault_at is not None:
            env["KRONOS_FAULT_AT"] = str(self.fault_at)
        if self.config is not None:
            env["KRONOS_REPO_CONFIG"] = str(self.config)
        if self.passphrase_file is not None:
            env["KRONOS_SIGNING_PASSPHRASE_FILE"] = str(self.passphrase_file)
        return env


def publish_argv(targets: list[str]) -> list[str]:
    return [str(KRONOS), "publish", *(a for t in targets for a in ("--target", t))]


def kronos(args: list[str], env: Env, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run the installed `kronos` program like a user does (stdout and stderr kept apart)."""
    return subprocess.run([str(KRONOS), *args], cwd=ROOT, env=env.vars(), text=True, capture_output=True,
                          check=False, timeout=timeout, stdin=subprocess.DEVNULL)


def publish(targets: list[str], env: Env) -> subprocess.CompletedProcess[str]:
    return kronos(publish_argv(targets)[1:], env)


def popen_publish(targets: list[str], env: Env) -> subprocess.Popen[str]:
    return subprocess.Popen(publish_argv(targets), cwd=ROOT, env=env.vars(), text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, start_new_session=True)


def kill_group(proc: subprocess.Popen[str]) -> None:
    """SIGKILL the process we started and its children (gpg), by its own process group id."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


def gpg(home: Path, *args: str, input: str | None = None) -> str:
    proc = subprocess.run(["gpg", "--batch", "--no-tty", *args], env=dict(clean_env(), GNUPGHOME=str(home)),
                          text=True, capture_output=True, check=False, input=input)
    if proc.returncode != 0:
        raise RuntimeError(f"gpg {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}")
    return proc.stdout


def gpg_home() -> Path:
    """A GnuPG home with a short path (gpg-agent's socket path limit)."""
    home = Path(tempfile.mkdtemp(prefix="kg", dir="/tmp"))
    home.chmod(0o700)
    return home


def copy_gpg_home(home: Path) -> Path:
    """A copy of home (its keys, not its agent's sockets) for a publish running beside another."""
    copy = gpg_home()
    shutil.copytree(home, copy, dirs_exist_ok=True, ignore=shutil.ignore_patterns("S.*", "*.lock"))
    return copy


def close_gpg_home(home: Path) -> None:
    subprocess.run(["gpgconf", "--kill", "all"], env=dict(clean_env(), GNUPGHOME=str(home)),
                   capture_output=True, check=False)
    shutil.rmtree(home, ignore_errors=True)


def new_key(home: Path, uid: str, passphrase: str = "", expire: str = "1y") -> str:
    """Make an ed25519 signing key in home with gpg directly; return its fingerprint."""
    gpg(home, "--pinentry-mode", "loopback", "--passphrase", passphrase, "--quick-gen-key", uid, "ed25519",
        "sign", expire)
    for line in gpg(home, "--with-colons", "--list-keys", uid).splitlines():
        if line.startswith("fpr:"):
            return line.split(":")[9]
    raise RuntimeError(f"no fingerprint for {uid}")


def export_key(home: Path, fingerprint: str, dest: Path) -> Path:
    """The binary public keyring holding only `fingerprint` (what Signed-By points at)."""
    data = subprocess.run(["gpg", "--batch", "--export", fingerprint], env=dict(clean_env(), GNUPGHOME=str(home)),
                          capture_output=True, check=True).stdout
    if not data:
        raise RuntimeError(f"gpg exported nothing for {fingerprint}")
    dest.write_bytes(data)
    return dest


# --- the tree ------------------------------------------------------------------------------


def snapshot(root: Path) -> dict[str, str]:
    """Every path below root: a file's sha256, a symlink's target, a directory's mark."""
    out: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        base = Path(dirpath)
        for name in dirnames + filenames:
            p = base / name
            rel = p.relative_to(root).as_posix()
            if p.is_symlink():
                out[rel] = f"-> {os.readlink(p)}"
            elif p.is_dir():
                out[rel] = "dir"
            else:
                out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def copy_tree(src: Path, dest: Path) -> Path:
    shutil.copytree(src, dest, symlinks=True)
    return dest


def release_fields(root: Path, suite: str) -> dict[str, str]:
    text = (root / "dists" / suite / "Release").read_text()
    return {m.group(1): m.group(2) for m in re.finditer(r"^([A-Za-z-]+): ?(.*)$", text, re.M)}


# --- serving -------------------------------------------------------------------------------


def slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name)


@dataclass
class View:
    root: Path
    release_from: Path | None = None  # InRelease/Release/Release.gpg from here (a client's older copy)


class Server:
    """http://127.0.0.1:<port>/<view>/<path> -> views[view].root/<path>; /live/ follows `live`."""

    def __init__(self) -> None:
        self.views: dict[str, View] = {}
        self.live = ""
        self.lock = threading.Lock()
        self.url = ""

    def add(self, name: str, root: Path, release_from: Path | None = None) -> str:
        """Serve root as view `name` (made URL-safe); return its URL."""
        name = slug(name)
        with self.lock:
            self.views[name] = View(root, release_from)
        return f"{self.url}/{name}"

    def resolve(self, path: str) -> Path | None:
        parts = posixpath.normpath(urllib.parse.unquote(path.split("?", 1)[0])).lstrip("/").split("/", 1)
        name, rest = parts[0], (parts[1] if len(parts) > 1 else "")
        if ".." in rest.split("/"):
            return None
        with self.lock:
            if name == "live":
                name = self.live
            view = self.views.get(name)
        if view is None:
            return None
        if view.release_from is not None and rest.rsplit("/", 1)[-1] in RELEASE_FILES:
            return view.release_from / rest
        return view.root / rest

    @contextlib.contextmanager
    def running(self) -> Iterator[Server]:
        server = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (the http.server name)
                if self.path.startswith("/_live/"):
                    with server.lock:
                        server.live = self.path[len("/_live/"):]
                    self.send_response(200)
                    self.send_header("Content-Length", "3")
                    self.end_headers()
                    self.wfile.write(b"ok\n")
                    return
                super().do_GET()

            def translate_path(self, path: str) -> str:
                p = server.resolve(path)
                return str(p) if p is not None else "/nonexistent/kronos-test"

            def log_message(self, format: str, *args: object) -> None:
                pass

        httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        httpd.daemon_threads = True
        thread = threading.Thread(target=httpd.serve_forever, name="test-repo", daemon=True)
        thread.start()
        self.url = f"http://127.0.0.1:{httpd.server_address[1]}"
        try:
            yield self
        finally:
            httpd.shutdown()
            httpd.server_close()
            thread.join(timeout=5)


# --- apt in a container --------------------------------------------------------------------

APT_OPTS = "-o Dir::Etc::SourceList=/dev/null -o Dir::Etc::SourceParts=/tmp/only"


@dataclass
class Step:
    """One apt command's exit code and output."""

    what: str  # "update" or "download"
    returncode: int
    lines: list[str]

    @property
    def problems(self) -> list[str]:
        return [ln for ln in self.lines if ln.startswith(("W:", "E:"))]

    @property
    def clean(self) -> bool:
        return self.returncode == 0 and not self.problems

    def __str__(self) -> str:
        return f"{self.what}: exit {self.returncode}:\n" + "\n".join(f"    {ln}" for ln in self.lines)


@dataclass
class Check:
    """What apt said to one client: its commands and the packages it then saw."""

    name: str
    steps: list[Step] = field(default_factory=list)
    madison: set[tuple[str, str, str]] = field(default_factory=set)  # (package, version, suite)
    show: list[str] = field(default_factory=list)

    @property
    def updates(self) -> list[Step]:
        return [s for s in self.steps if s.what == "update"]

    @property
    def clean(self) -> bool:
        return bool(self.steps) and all(s.clean for s in self.steps)

    @property
    def lines(self) -> list[str]:
        return [ln for s in self.steps for ln in s.lines]

    def report(self) -> str:
        return f"[{self.name}]\n" + "\n".join(f"  {s}" for s in self.steps) + (
            f"\n  madison: {sorted(self.madison)}")


class AptScript:
    """A shell script for one container run; each client() is a fresh apt client (no lists) with its
    own keyring and one deb822 source, apt restricted to it."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.lines = ["set -u", "chmod -R a+rX /tmp/k", "export DEBIAN_FRONTEND=noninteractive",
                      "mkdir -p /tmp/dl && chown _apt /tmp/dl"]
        self.names: list[str] = []

    def _file(self, name: str, data: bytes) -> str:
        self.files[name] = data
        return f"/tmp/k/{name}"

    def client(self, name: str, url: str, suites: list[str], keyring: bytes) -> None:
        n = len(self.names)
        if name in self.names:
            raise ValueError(f"client {name} twice")
        self.names.append(name)
        key = self._file(f"key{n}.pgp", keyring)
        sources = (f"Types: deb\nURIs: {url}\nSuites: {' '.join(suites)}\nComponents: main\n"
                   f"Signed-By: {key}\n")
        src = self._file(f"src{n}.sources", sources.encode())
        self.lines += [f"echo '@@@ CLIENT {n}'",
                       "rm -rf /var/lib/apt/lists /var/cache/apt/*.bin /tmp/only /tmp/dl/*",
                       "mkdir -p /var/lib/apt/lists/partial /tmp/only",
                       f"cp {src} /tmp/only/test.sources"]

    def update(self, *options: str) -> None:
        opts = " ".join(f"-o {shlex.quote(o)}" for o in options)
        self.lines += ["echo '@@@ STEP update'", f"apt-get {APT_OPTS} {opts} update --error-on=any 2>&1",
                       "echo \"@@@ RC $?\""]

    def download(self, spec: str) -> None:
        """apt-get download spec (package or package=version): fetched and checked against the index."""
        self.lines += ["echo '@@@ STEP download'",
                       f"(cd /tmp/dl && apt-get {APT_OPTS} download {shlex.quote(spec)} 2>&1)",
                       "echo \"@@@ RC $?\""]

    def madison(self, packages: list[str]) -> None:
        self.lines += ["echo '@@@ MADISON'", f"apt-cache {APT_OPTS} madison {' '.join(packages)} 2>&1",
                       "echo '@@@ END'"]

    def show(self, package: str) -> None:
        self.lines += ["echo '@@@ SHOW'", f"apt-cache {APT_OPTS} show {shlex.quote(package)} 2>&1",
                       "echo '@@@ END'"]

    def save_lists(self, name: str) -> None:
        """Keep this client's downloaded lists, to start later clients from them."""
        self.lines.append(f"rm -rf /tmp/lists-{name} && cp -a /var/lib/apt/lists /tmp/lists-{name}")

    def restore_lists(self, name: str) -> None:
        """This client starts from the lists saved as name (a client that saw that state)."""
        self.lines.append(f"rm -rf /var/lib/apt/lists && cp -a /tmp/lists-{name} /var/lib/apt/lists")

    def switch_live(self, base_url: str, view: str) -> None:
        """Point the server's /live/ at view: the same URI then serves another state."""
        self.lines.append(f"/usr/lib/apt/apt-helper download-file {base_url}/_live/{slug(view)} /tmp/live.txt"
                          " >/dev/null")


def parse(output: str, names: list[str]) -> dict[str, Check]:
    checks: dict[str, Check] = {}
    cur: Check | None = None
    mode = ""
    buf: list[str] = []
    for line in output.splitlines():
        if line.startswith("@@@ CLIENT "):
            name = names[int(line.split()[2])]
            cur = checks[name] = Check(name)
            mode = ""
        elif line.startswith("@@@ STEP ") or line in ("@@@ MADISON", "@@@ SHOW"):
            mode, buf = line[4:], []
        elif line.startswith("@@@ RC ") and cur is not None:
            cur.steps.append(Step(mode.split()[1], int(line.split()[2]), buf))
            mode = ""
        elif line == "@@@ END" and cur is not None:
            if mode == "MADISON":
                for ln in buf:
                    cols = [c.strip() for c in ln.split("|")]
                    if len(cols) == 3 and cols[2].endswith("Packages"):
                        cur.madison.add((cols[0], cols[1], cols[2].split()[1].split("/")[0]))
            else:
                cur.show = buf
            mode = ""
        elif mode:
            buf.append(line)
    return checks


def run_apt(engine: Engine, image: str, script: AptScript, workdir: Path) -> dict[str, Check]:
    """Run the script in a fresh container of image (host network: the server is on 127.0.0.1)."""
    k = Path(tempfile.mkdtemp(prefix="apt-", dir=workdir)) / "k"
    k.mkdir()
    for name, data in script.files.items():
        (k / name).write_bytes(data)
    (k / "run.sh").write_text("\n".join(script.lines) + "\n")
    log = k.parent / "container.log"
    spec = ContainerSpec(image=image, command=("sh", "/tmp/k/run.sh"), network="host")
    with engine.container(spec) as c:
        c.put(k, "/tmp")
        rc = c.run(log)
    output = log.read_text(errors="replace")
    if rc != 0:
        raise RuntimeError(f"the apt container failed ({rc}):\n{output[-4000:]}")
    checks = parse(output, script.names)
    missing = [n for n in script.names if n not in checks]
    if missing:
        raise RuntimeError(f"no result for {missing} in:\n{output[-4000:]}")
    return checks
