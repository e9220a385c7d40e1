"""kronos.toml -> Settings. Precedence: built-in defaults < kronos.toml < environment < CLI."""

from __future__ import annotations

import os
import re
import string
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .aptconfig import checks_valid_until
from .cluster import DaskSettings, load_dask
from .cluster import env_layer as dask_env
from .errors import ConfigError
from .nightly.settings import NightlySettings, load_nightly
from .packaging.versions import rule_problem
from .qa.policy import Policy, load_policy
from .tomlcheck import Table, load

DEFAULTS = Path(__file__).with_name("defaults.toml")
FAMILIES = ("debian", "ubuntu")
_SUITE = re.compile(r"^[a-z][a-z0-9.+-]*$")
_REVISION = re.compile(r"[A-Za-z0-9.+~]*")


@dataclass(frozen=True)
class KeyringPackage:
    """An archive keyring shipped in a .deb of another (signed) archive."""

    archive: str
    suite: str
    package: str
    path: str


@dataclass(frozen=True)
class Archive:
    name: str
    family: str
    mirror: str  # "auto" or a URL
    keyring: Path | None
    keyring_package: KeyringPackage | None
    snapshot_setting: bool | None  # kronos.toml / KRONOS_SNAPSHOT_<A>; None: "auto", apt's policy decides
    apt_config: str | None = None  # the APT_CONFIG that "auto" asks apt-config with

    @property
    def snapshot(self) -> bool:
        """A frozen snapshot mirror: Valid-Until is not enforced (by the archive reader and in images).

        The one place the policy is resolved: as configured, else as the machine's apt says."""
        if self.snapshot_setting is not None:
            return self.snapshot_setting
        return not checks_valid_until(self.apt_config)


@dataclass(frozen=True)
class Target:
    name: str
    archive: str
    suite: str
    pockets: tuple[str, ...]
    extra_suites: tuple[str, ...]
    components: tuple[str, ...]
    include: tuple[str, ...]
    version_suffix: str
    rebuild_suffix: str  # rebuilds of the target's own sources (kronos.packaging.versions)
    update_tag: str  # what the archive numbers its updates after: "+deb12u", "ubuntu"; "" for none
    plain_revision: bool
    distribution: str  # the changelog's distribution field


@dataclass(frozen=True)
class Maintainer:
    name: str
    email: str

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>"


EXECUTORS = ("local", "dask")


@dataclass(frozen=True)
class Settings:
    root: Path
    output_dir: Path
    cache_dir: Path
    architecture: str
    default_targets: tuple[str, ...]
    maintainer: Maintainer
    archives: Mapping[str, Archive]
    targets: Mapping[str, Target]
    index_max_age: int = 3600  # seconds a verified InRelease is reused without a download; 0: never
    build_lock_timeout: int = 14400  # seconds a build waits for another kronos building the same recipe
    qa: Policy = Policy({}, {}, {})  # the QA gates' policy ([qa])
    nightly: NightlySettings = NightlySettings()  # [nightly]
    store_dir: Path = Path(".cache/kronos/store")  # the artefact store (kronos/store.py): kronos.store
    executor: str = "local"  # where builds run: "local" or "dask" (kronos.executor, KRONOS_EXECUTOR)
    dask: DaskSettings = DaskSettings()  # [dask]

    def target(self, name: str) -> Target:
        try:
            return self.targets[name]
        except KeyError:
            known = ", ".join(sorted(self.targets))
            raise ConfigError(f"unknown target '{name}' (configured: {known})") from None

    def archive_of(self, target: Target) -> Archive:
        return self.archives[target.archive]

    @property
    def recipes_dir(self) -> Path:
        return self.root / "recipes"

    @property
    def patches_dir(self) -> Path:
        return self.root / "patches"

    @property
    def containers_dir(self) -> Path:
        return self.root / "containers"


def merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """Deep-merge `over` into a copy of `base` (tables merge, other values replace)."""
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def env_overrides(env: Mapping[str, str]) -> dict[str, Any]:
    """The environment's layer: KRONOS_* variables, then DEBFULLNAME/DEBEMAIL."""
    data: dict[str, Any] = {"kronos": {}, "maintainer": {}, "archives": {}}
    data["dask"] = dask_env(env)
    for key, field in (("KRONOS_OUTPUT_DIR", "output_dir"), ("KRONOS_CACHE_DIR", "cache_dir"),
                       ("KRONOS_STORE", "store"), ("KRONOS_EXECUTOR", "executor")):
        if env.get(key):
            data["kronos"][field] = env[key]
    for key, field in (("KRONOS_INDEX_MAX_AGE", "index_max_age"), ("KRONOS_BUILD_LOCK_TIMEOUT", "build_lock_timeout")):
        if env.get(key):
            try:
                data["kronos"][field] = int(env[key])
            except ValueError:
                raise ConfigError(f"environment {key}: '{env[key]}' is not a whole number of seconds") from None
    if env.get("KRONOS_TARGETS"):
        data["kronos"]["default_targets"] = [t for t in env["KRONOS_TARGETS"].split(",") if t]
    if env.get("DEBFULLNAME"):
        data["maintainer"]["name"] = env["DEBFULLNAME"]
    if env.get("DEBEMAIL"):
        # devscripts' rule: DEBEMAIL may be "Full Name <address>"; DEBFULLNAME still wins for the name
        m = re.fullmatch(r"\s*(.*?)\s*<([^<>]+)>\s*", env["DEBEMAIL"])
        if m:
            data["maintainer"]["email"] = m.group(2)
            if m.group(1) and not env.get("DEBFULLNAME"):
                data["maintainer"]["name"] = m.group(1)
        else:
            data["maintainer"]["email"] = env["DEBEMAIL"]
    for key, field in (("KRONOS_MAINTAINER_NAME", "name"), ("KRONOS_MAINTAINER_EMAIL", "email")):
        if env.get(key):
            data["maintainer"][field] = env[key]
    for key, value in env.items():
        m = re.fullmatch(r"KRONOS_(MIRROR|SNAPSHOT)_([A-Z0-9_]+)", key)
        if m:
            archive = data["archives"].setdefault(m.group(2).lower(), {})
            if m.group(1) == "MIRROR":
                archive["mirror"] = value
            else:
                archive["snapshot"] = _snapshot_env(key, value)
    return data


def _snapshot_env(key: str, value: str) -> bool | str:
    word = value.strip().lower()
    if word in ("1", "true", "yes", "on"):
        return True
    if word in ("0", "false", "no", "off"):
        return False
    if word in ("auto", ""):
        return "auto"
    raise ConfigError(f"{key}: '{value}' is not true, false or auto")


def _snapshot(t: Table) -> bool | None:
    """archives.<a>.snapshot: true, false, or "auto" (the default: None, the machine's apt policy)."""
    value = t.data.get("snapshot", "auto")
    if value == "auto":
        t.text("snapshot")
        return None
    if isinstance(value, str):
        raise ConfigError(f"{t.at('snapshot')}: '{value}' is not true, false or \"auto\"")
    return t.flag("snapshot")


def _archive(name: str, t: Table, apt_config: str | None) -> Archive:
    family = t.choice("family", FAMILIES)
    mirror = t.text("mirror", "auto")
    keyring = t.text("keyring")
    kp_table = t.sub("keyring_package")
    kp = None
    if kp_table.data:
        kp = KeyringPackage(
            archive=kp_table.text("archive", required=True),
            suite=kp_table.text("suite", required=True),
            package=kp_table.text("package", required=True),
            path=kp_table.text("path", required=True),
        )
        kp_table.done()
    if keyring is None and kp is None:
        raise ConfigError(f"{t.where}: needs 'keyring' or 'keyring_package'")
    snapshot = _snapshot(t)
    t.done()
    if mirror != "auto" and not re.match(r"^(https?|file)://", mirror):
        raise ConfigError(f"{t.at('mirror')}: '{mirror}' is neither 'auto' nor a URL")
    return Archive(name, family, mirror.rstrip("/"), Path(keyring) if keyring else None, kp, snapshot,
                   apt_config)


def _version_suffix(t: Table, key: str = "version_suffix") -> str:
    """targets.<t>.version_suffix (or rebuild_suffix): Debian revision characters around {n}, its only placeholder."""
    suffix: str = t.text(key, required=True)
    at = t.at(key)
    try:
        fields = list(string.Formatter().parse(suffix))
    except ValueError as e:
        raise ConfigError(f"{at}: '{suffix}' is not a template ({e}); write {{n}} for the local revision") from None
    for _, field, spec, conversion in fields:
        if field is not None and (field, spec, conversion) != ("n", "", None):
            placeholder = "{" + field + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}"
            raise ConfigError(f"{at}: unknown placeholder {placeholder} in '{suffix}'; the only one is {{n}}")
    if not any(field == "n" for _, field, _, _ in fields):
        raise ConfigError(f"{at}: must contain {{n}}, the local revision")
    if not _REVISION.fullmatch(suffix.format(n=1)):
        raise ConfigError(f"{at}: '{suffix}' gives '{suffix.format(n=1)}', which has characters a Debian"
                          " revision cannot (letters, digits, '.', '+', '~')")
    return suffix


def _rebuild_rule(t: Table) -> tuple[str, str]:
    """targets.<t>.rebuild_suffix and update_tag, checked on sample versions to sort right."""
    suffix = _version_suffix(t, "rebuild_suffix")
    tag: str = t.text("update_tag", "")
    if tag and not re.fullmatch(r"[A-Za-z0-9.+~]*[A-Za-z.+~]", tag):
        raise ConfigError(f"{t.at('update_tag')}: '{tag}' is not Debian revision characters ending in a"
                          " non-digit (the archive's update number follows it)")
    problem = rule_problem(tag, suffix)
    if problem:
        raise ConfigError(f"{t.at('rebuild_suffix')}: '{suffix}' with update_tag '{tag}' {problem}")
    return suffix, tag


def _target(name: str, t: Table, archives: Mapping[str, Archive]) -> Target:
    archive = t.text("archive", required=True)
    if archive not in archives:
        raise ConfigError(f"{t.at('archive')}: unknown archive '{archive}'")
    suite = t.text("suite", required=True)
    lists = {k: t.strings(k) for k in ("pockets", "extra_suites", "components", "include")}
    for key in ("pockets", "extra_suites"):
        for s in lists[key] + (suite,):
            if not _SUITE.match(s):
                raise ConfigError(f"{t.at(key)}: '{s}' is not a suite name")
    suffix = _version_suffix(t)
    rebuild_suffix, update_tag = _rebuild_rule(t)
    target = Target(
        name=name,
        archive=archive,
        suite=suite,
        pockets=lists["pockets"],
        extra_suites=lists["extra_suites"],
        components=lists["components"] or ("main",),
        include=lists["include"],
        version_suffix=suffix,
        rebuild_suffix=rebuild_suffix,
        update_tag=update_tag,
        plain_revision=t.flag("plain_revision", False),
        distribution=t.text("distribution", suite),
    )
    t.done()
    return target


def load_settings(
    root: Path,
    config: Path | None = None,
    env: Mapping[str, str] | None = None,
    cli: Mapping[str, Any] | None = None,
) -> Settings:
    """Read the layers and validate them once."""
    root = root.resolve()
    data = load(DEFAULTS)
    path = config or root / "kronos.toml"
    if config is not None or path.exists():
        data = merge(data, load(path))
    environ = os.environ if env is None else env
    data = merge(data, env_overrides(environ))
    if cli:
        data = merge(data, cli)
    where = str(path)
    top = Table(data, where)
    k = top.sub("kronos")
    output_dir = root / k.text("output_dir", "out")
    cache_dir = root / k.text("cache_dir", ".cache/kronos")
    store = k.text("store", "")
    store_dir = root / store if store else cache_dir / "store"
    executor = k.text("executor", "local")
    if executor not in EXECUTORS:
        raise ConfigError(f"{where}: kronos.executor: unknown executor '{executor}' (known: {', '.join(EXECUTORS)})")
    architecture = k.text("architecture", "amd64")
    default_targets = k.strings("default_targets")
    index_max_age = k.number("index_max_age", 3600)
    if index_max_age < 0:
        raise ConfigError(f"{where}: kronos.index_max_age: {index_max_age} is negative (0: always download)")
    build_lock_timeout = k.number("build_lock_timeout", 14400)
    if build_lock_timeout < 0:
        raise ConfigError(f"{where}: kronos.build_lock_timeout: {build_lock_timeout} is negative")
    k.done()
    m = top.sub("maintainer")
    maintainer = Maintainer(m.text("name", required=True), m.text("email", required=True))
    m.done()
    if not re.fullmatch(r"[^@\s<>]+@[^@\s<>]+", maintainer.email):
        raise ConfigError(f"{where}: maintainer.email: '{maintainer.email}' is not an address")
    a = top.sub("archives", required=True)
    archives = {name: _archive(name, a.sub(name), environ.get("APT_CONFIG")) for name in a.data}
    a.done()
    tt = top.sub("targets", required=True)
    targets = {name: _target(name, tt.sub(name), archives) for name in tt.data}
    tt.done()
    qa = load_policy(top.sub("qa"), targets)
    nightly = load_nightly(top.sub("nightly"), targets)
    dask = load_dask(top.sub("dask"), root)
    top.done()
    for name in default_targets:
        if name not in targets:
            raise ConfigError(f"{where}: kronos.default_targets: unknown target '{name}'")
    return Settings(
        root=root,
        output_dir=output_dir,
        cache_dir=cache_dir,
        architecture=architecture,
        default_targets=default_targets,
        maintainer=maintainer,
        archives=archives,
        targets=targets,
        index_max_age=index_max_age,
        build_lock_timeout=build_lock_timeout,
        qa=qa,
        nightly=nightly,
        store_dir=store_dir,
        executor=executor,
        dask=dask,
    )
