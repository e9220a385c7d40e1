from __future__ import annotations

from pathlib import Path

import pytest

from kronos.config import load_settings
from kronos.errors import ConfigError
from kronos.graph.graph import SourceMeta, derive
from kronos.recipe import DebianSource, GitSource, PypiSource, UrlSource, load_recipe, load_recipes, require_known

ROOT = Path(__file__).resolve().parents[2]
SHA = "a" * 64


def recipe(tmp_path: Path, text: str, name: str = "pkg", templates: bool = False) -> Path:
    d = tmp_path / "recipes" / name
    d.mkdir(parents=True)
    if templates:
        (d / "debian").mkdir()
    (d / "recipe.toml").write_text(text)
    return d / "recipe.toml"


def test_project_recipes_load() -> None:
    s = load_settings(ROOT, env={})
    recipes = load_recipes(s)
    assert {"python3-xenapi", "quickjs", "dh-ocaml"} <= set(recipes)
    x = recipes["python3-xenapi"]
    assert isinstance(x.source, PypiSource) and x.source.version == "26.21.1"
    assert x.targets == ("sid", "trixie", "bookworm", "noble", "resolute")
    d = recipes["dh-ocaml"]
    assert isinstance(d.source, DebianSource) and d.source.suite == "sid" and d.after == ()  # the graph orders it
    assert d.options_for("bookworm").profiles == ("nocheck", "nodoc")


def test_per_target_options_override(tmp_path: Path) -> None:
    s = load_settings(tmp_path, env={})
    path = recipe(tmp_path, 'targets = ["sid", "bookworm"]\n[source]\nkind = "debian"\nsuite = "sid"\n'
                            'package = "p"\n[build]\noptions = ["nocheck"]\nenv = { A = "1" }\n'
                            '[build.targets.bookworm]\nprofiles = ["nodoc"]\nenv = { B = "2" }\n')
    r = load_recipe(path, s)
    assert r.options_for("sid").profiles == ()
    b = r.options_for("bookworm")
    assert b.profiles == ("nodoc",) and b.options == ("nocheck",) and dict(b.env) == {"A": "1", "B": "2"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[source]\nkind = "cvs"\n', r"source.kind: 'cvs' is not one of"),
        ('[source]\nkind = "debian"\nsuite = "sid"\n', r"source: missing key 'package'"),
        ('[source]\nkind = "pypi"\nname = "x"\nversion = "1"\nsha256 = "zz"\n', r"source.sha256: not a sha256"),
        ('targets = ["nosuch"]\n[source]\nkind = "debian"\nsuite = "sid"\npackage = "p"\n',
         r"targets: unknown target 'nosuch'"),
        ('colour = "red"\n[source]\nkind = "debian"\nsuite = "sid"\npackage = "p"\n', r"unknown key 'colour'"),
        ('targets = "sid"\n[source]\nkind = "debian"\nsuite = "sid"\npackage = "p"\n',
         r"targets: expected list, got str"),
        (f'[source]\nkind = "pypi"\nname = "x"\nversion = "1"\nsha256 = "{SHA}"\n',
         r"a pypi source needs \[packaging\]"),
        ('[source\nkind = "debian"\n', r"not valid TOML"),
        ('targets = ["sid"]\n[source]\nkind = "debian"\nsuite = "sid"\npackage = "p"\n'
         '[build.targets.bookworm]\nprofiles = []\n', r"build.targets.bookworm: not one of this recipe's targets"),
    ],
)
def test_malformed_recipe_names_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    s = load_settings(tmp_path, env={})
    path = recipe(tmp_path, text)
    with pytest.raises(ConfigError, match=message) as e:
        load_recipe(path, s)
    assert str(path) in str(e.value)


def test_order_rejects_cycles_and_unknown(tmp_path: Path) -> None:
    s = load_settings(tmp_path, env={})
    recipe(tmp_path, 'after = ["bb"]\n[source]\nkind = "debian"\nsuite = "sid"\npackage = "a"\n', "aa")
    recipe(tmp_path, 'after = ["aa"]\n[source]\nkind = "debian"\nsuite = "sid"\npackage = "b"\n', "bb")
    recipes = load_recipes(s)
    metas = {r.name: SourceMeta(r.name, r.name, "1", {}, (), after=r.after) for r in recipes.values()}
    with pytest.raises(ConfigError, match=r"cycle \(sid\): aa -> bb .*; bb -> aa "):
        derive("sid", "amd64", metas).order()
    with pytest.raises(ConfigError, match="unknown recipe 'zzz'"):
        require_known(recipes, ["zzz"])


def test_after_must_name_a_recipe(tmp_path: Path) -> None:
    s = load_settings(tmp_path, env={})
    recipe(tmp_path, 'after = ["ghost"]\n[source]\nkind = "debian"\nsuite = "sid"\npackage = "a"\n', "aa")
    with pytest.raises(ConfigError, match="after: unknown recipe 'ghost'"):
        load_recipes(s)


@pytest.mark.parametrize(("extra", "message"), [
    ('[source.targets.noble]\nkind = "debian"\narchive = "ubuntu"\nsuite = "noble"\npackage = "p"\n',
     r"source\.targets\.noble: not one of this recipe's targets"),
    ('[source.targets.bookworm]\nkind = "pypi"\nname = "p"\nversion = "1"\nsha256 = "' + SHA + '"\n',
     r"source\.targets: every target's source must be of the same kind as \[source\]"),
    ('[source.targets.bookworm]\nkind = "debian"\nsuite = "bookworm"\npakage = "p"\n',
     r"source\.targets\.bookworm: missing key 'package'"),
])
def test_per_target_source_errors(tmp_path: Path, extra: str, message: str) -> None:
    s = load_settings(tmp_path, env={})
    path = recipe(tmp_path, 'targets = ["sid", "bookworm"]\n[source]\nkind = "debian"\nsuite = "sid"\n'
                            'package = "p"\n' + extra)
    with pytest.raises(ConfigError, match=message):
        load_recipe(path, s)


def test_xen_takes_each_targets_own_source() -> None:
    x = load_recipes(load_settings(ROOT, env={}))["xen"]
    noble, bookworm = x.source_for("noble"), x.source_for("bookworm")
    assert isinstance(noble, DebianSource) and (noble.archive, noble.suite) == ("ubuntu", "noble")
    assert isinstance(bookworm, DebianSource) and (bookworm.archive, bookworm.suite) == ("debian", "bookworm")

COMMIT = "0123456789abcdef0123456789abcdef01234567"
PACKAGING = '[packaging]\nsource_name = "demo"\n'
GIT = f'[source]\nkind = "git"\nurl = "https://example.invalid/xapi.git"\ncommit = "{COMMIT}"\nversion = "25.1.0"\n'
URL = f'[source]\nkind = "url"\nurl = "http://127.0.0.1:8000/foo-1.0.tar.gz"\nsha256 = "{SHA}"\nversion = "1.0"\n'


def test_git_and_url_sources_load(tmp_path: Path) -> None:
    s = load_settings(tmp_path, env={})
    g = load_recipe(recipe(tmp_path, GIT + 'submodules = "follow"\n' + PACKAGING, "gg", templates=True), s)
    assert g.source == GitSource("https://example.invalid/xapi.git", COMMIT, "25.1.0", "follow")
    assert g.source.version == "25.1.0" and not g.own_debian
    assert g.describe_source() == f"git:https://example.invalid/xapi.git@{COMMIT[:12]}"
    local = load_recipe(recipe(tmp_path, GIT.replace("https://example.invalid/xapi.git", "../../up") + PACKAGING,
                               "ll", templates=True), s)
    assert isinstance(local.source, GitSource) and local.source.url == "../../up"  # as written: the key's
    assert local.source.submodules == "refuse"
    u = load_recipe(recipe(tmp_path, URL + PACKAGING, "uu", templates=True), s)
    assert u.source == UrlSource("http://127.0.0.1:8000/foo-1.0.tar.gz", SHA, "1.0")
    assert u.source.version == "1.0"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (GIT.replace(COMMIT, "main") + PACKAGING, r"source.commit: 'main' is not a full commit id"),
        (GIT.replace(COMMIT, COMMIT[:12]) + PACKAGING, r"source.commit: '0123456789ab' is not a full commit id"),
        (GIT.replace('version = "25.1.0"\n', "") + PACKAGING, r"source: missing key 'version'"),
        (GIT.replace('url = "https://example.invalid/xapi.git"\n', "") + PACKAGING, r"source: missing key 'url'"),
        (GIT.replace("https://example.invalid/xapi.git", "--upload-pack=x") + PACKAGING,
         r"source.url: .* not a git URL"),
        (GIT + 'submodules = "recurse"\n' + PACKAGING, r"source.submodules: 'recurse' is not one of refuse, follow"),
        (GIT + 'branch = "main"\n' + PACKAGING, r"source: unknown key 'branch'"),
        (GIT, r"a git source needs \[packaging\]"),
        (URL.replace(SHA, "zz") + PACKAGING, r"source.sha256: not a sha256"),
        (URL.replace(f'sha256 = "{SHA}"\n', "") + PACKAGING, r"source: missing key 'sha256'"),
        (URL.replace('version = "1.0"\n', "") + PACKAGING, r"source: missing key 'version'"),
        (URL.replace("http://", "ftp://") + PACKAGING, r"source.url: .* is not an http, https or file URL"),
        (URL.replace(".tar.gz", ".zip") + PACKAGING, r"source.url: .* does not name a tarball"),
        (URL, r"a url source needs \[packaging\]"),
    ],
)
def test_malformed_git_and_url_sources_name_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    s = load_settings(tmp_path, env={})
    path = recipe(tmp_path, text, templates=True)
    with pytest.raises(ConfigError, match=message) as e:
        load_recipe(path, s)
    assert str(path) in str(e.value) and "\n" not in str(e.value)
