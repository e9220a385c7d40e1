"""Git sources: a commit's tree becomes the same .orig bytes every time (whatever the commit, the
cache or the clock), a missing commit or an unfollowed submodule is one line, followed submodules
are packed at the commits the tree records."""

from __future__ import annotations

import shutil
import tarfile
from pathlib import Path

import pytest

from kronos.cache import Cache, sha256_file
from kronos.errors import FetchError
from kronos.sources import git as gitsrc

from .git_fixture import add_submodule, commit, git, make_repo

TOP = "demo-1.0"
FILES = {"README": "hello\n", "src/main.c": "int main(void) { return 0; }\n", "run.sh": "#!/bin/sh\n"}


def orig(tmp_path: Path, repo: Path, sha: str, cache: str = "cache", follow: bool = False) -> gitsrc.Fetched:
    return gitsrc.fetch(Cache(tmp_path / cache), str(repo), sha, follow, TOP, "demo")


def test_same_tree_same_bytes_whatever_the_cache_and_the_commit(tmp_path: Path) -> None:
    repo = tmp_path / "up"
    first = make_repo(repo, FILES, executable=("run.sh",), links={"link": "README"})
    a = orig(tmp_path, repo, first, "cache-a")
    b = orig(tmp_path, repo, first, "cache-b")  # a fresh cache: packed anew
    assert a.orig.read_bytes() == b.orig.read_bytes()
    assert a.tree == git(repo, "rev-parse", f"{first}^{{tree}}") and a.submodules == ()
    # another commit of the same tree (an empty commit, a day later): the same bytes
    again = commit(repo, {}, when=1700086400, message="nothing")
    assert orig(tmp_path, repo, again, "cache-c").orig.read_bytes() == a.orig.read_bytes()
    changed = commit(repo, {"README": "hello again\n"}, when=1700090000)
    c = orig(tmp_path, repo, changed, "cache-a")
    assert c.tree != a.tree and sha256_file(c.orig) != sha256_file(a.orig)
    assert sha256_file(orig(tmp_path, repo, first, "cache-a").orig) == sha256_file(a.orig)


def test_tarball_is_normalised(tmp_path: Path) -> None:
    repo = tmp_path / "up"
    sha = make_repo(repo, FILES, executable=("run.sh",), links={"link": "README"})
    with tarfile.open(orig(tmp_path, repo, sha).orig) as tar:
        members = tar.getmembers()
        names = [m.name for m in members]
        assert names == [TOP] + sorted(f"{TOP}/{n}" for n in ["README", "link", "run.sh", "src", "src/main.c"])
        by = {m.name.removeprefix(f"{TOP}/"): m for m in members}
        assert {(m.mtime, m.uid, m.gid, m.uname, m.gname) for m in members} == {(0, 0, 0, "", "")}
        assert by["run.sh"].mode == 0o755 and by["README"].mode == 0o644 and by["src"].isdir()
        assert by["link"].issym() and by["link"].linkname == "README"
        main = tar.extractfile(f"{TOP}/src/main.c")
        assert main is not None and main.read() == FILES["src/main.c"].encode()
        assert not tar.pax_headers


def test_unknown_commit_is_one_line(tmp_path: Path) -> None:
    repo = tmp_path / "up"
    make_repo(repo, FILES)
    missing = "0123456789abcdef0123456789abcdef01234567"
    with pytest.raises(FetchError) as e:
        orig(tmp_path, repo, missing)
    assert str(e.value) == f"demo: git {repo}: commit {missing} not found"
    with pytest.raises(FetchError, match=r"^demo: git .*nowhere: cannot fetch: fatal: .* not appear to be a git") as e:
        orig(tmp_path, tmp_path / "nowhere", missing)
    assert "\n" not in str(e.value)


def test_submodules_refused_by_default_followed_on_request(tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    make_repo(lib, {"lib.c": "int lib;\n"})
    nested = tmp_path / "nested"
    make_repo(nested, {"deep.txt": "deep\n"})
    lib_second = add_submodule(lib, "vendor/deep", "../nested", git(nested, "rev-parse", "HEAD"))
    commit(lib, {"lib.c": "int lib = 2;\n"}, when=1700000200)  # a later commit the tree does not record
    repo = tmp_path / "up"
    make_repo(repo, FILES)
    sha = add_submodule(repo, "third_party/lib", str(lib), lib_second)
    with pytest.raises(FetchError) as e:
        orig(tmp_path, repo, sha)
    assert str(e.value).startswith(f"demo: git {repo}: commit {sha} has submodules (third_party/lib);")
    got = orig(tmp_path, repo, sha, follow=True)
    assert got.submodules == (("third_party/lib", lib_second),
                              ("third_party/lib/vendor/deep", git(nested, "rev-parse", "HEAD")))
    with tarfile.open(got.orig) as tar:
        for directory in ("third_party/lib", "third_party/lib/vendor/deep"):
            assert tar.getmember(f"{TOP}/{directory}").isdir()
        lib_c = tar.extractfile(f"{TOP}/third_party/lib/lib.c")
        deep = tar.extractfile(f"{TOP}/third_party/lib/vendor/deep/deep.txt")
        assert lib_c is not None and lib_c.read() == b"int lib;\n"  # the recorded commit, not the newest
        assert deep is not None and deep.read() == b"deep\n"
    again = orig(tmp_path, repo, sha, "cache-2", follow=True)
    assert again.orig.read_bytes() == got.orig.read_bytes()
    # what `kronos recipes --check` asks: the same refusal, or every commit fetched
    refused = gitsrc.reachable(Cache(tmp_path / "cache-3"), str(repo), sha, False, "demo")
    assert refused.startswith(f"demo: git {repo}: commit {sha} has submodules (third_party/lib);")
    assert gitsrc.reachable(Cache(tmp_path / "cache-3"), str(repo), sha, True, "demo") == ""


def test_submodule_without_url_is_one_line(tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    lib_sha = make_repo(lib, {"lib.c": "x\n"})
    repo = tmp_path / "up"
    make_repo(repo, FILES)
    git(repo, "update-index", "--add", "--cacheinfo", f"160000,{lib_sha},lib")
    git(repo, "commit", "--quiet", "-m", "gitlink without .gitmodules")
    sha = git(repo, "rev-parse", "HEAD")
    with pytest.raises(FetchError, match=r"submodule lib of commit .* has no usable url in \.gitmodules$"):
        orig(tmp_path, repo, sha, follow=True)


def test_mirror_is_reused_and_commit_kept(tmp_path: Path) -> None:
    repo = tmp_path / "up"
    sha = make_repo(repo, FILES)
    first = orig(tmp_path, repo, sha)
    shutil.rmtree(repo)  # the upstream is gone: the mirror has the commit, the cache the .orig
    assert orig(tmp_path, repo, sha).orig == first.orig
    packed = first.orig.read_bytes()
    first.orig.unlink()  # the .orig is made again from the mirror, the same bytes
    assert orig(tmp_path, repo, sha).orig.read_bytes() == packed


@pytest.mark.parametrize(("url", "expected"), [
    ("https://example.invalid/xapi.git", "https://example.invalid/xapi.git"),
    ("git@example.invalid:xapi.git", "git@example.invalid:xapi.git"),
    ("file:///srv/xapi.git", "file:///srv/xapi.git"),
    ("../../upstream", "{root}/upstream"),
])
def test_remote_resolves_paths_against_the_recipe(tmp_path: Path, url: str, expected: str) -> None:
    recipe_dir = tmp_path / "recipes" / "demo"
    assert gitsrc.remote(url, recipe_dir) == expected.format(root=tmp_path)
