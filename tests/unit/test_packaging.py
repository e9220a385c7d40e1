from __future__ import annotations

from pathlib import Path

from debian.changelog import Changelog

from kronos.config import Maintainer
from kronos.packaging import changelog, templates


def test_changelog_entry_and_source_date_epoch(tmp_path: Path) -> None:
    m = Maintainer("Release Engineer", "re@example.org")
    changelog.add_entry(tmp_path, "python-xenapi", "26.21.1-1~bpo12+1", "bookworm", ["First."], m, 1764580000)
    changelog.add_entry(tmp_path, "python-xenapi", "26.21.1-1~bpo12+2", "bookworm", ["Second."], m, 1764590000)
    with (tmp_path / "debian" / "changelog").open() as f:
        parsed = Changelog(f)
    assert [str(b.version) for b in parsed] == ["26.21.1-1~bpo12+2", "26.21.1-1~bpo12+1"]
    assert parsed[0].distributions == "bookworm"
    assert parsed[0].author == "Release Engineer <re@example.org>"
    assert changelog.source_date_epoch(tmp_path) == 1764590000
    assert changelog.top(tmp_path) == ("python-xenapi", "26.21.1-1~bpo12+2")


def test_templates_render_strictly(tmp_path: Path) -> None:
    src = tmp_path / "t"
    (src / "source").mkdir(parents=True)
    (src / "control.j2").write_text("Source: {{ source_name }}\nMaintainer: {{ maintainer }}\n")
    (src / "rules.j2").write_text("#!/usr/bin/make -f\n")
    (src / "rules.j2").chmod(0o755)
    (src / "source" / "format").write_text("3.0 (quilt)\n")
    out = tmp_path / "debian"
    templates.render(src, out, {"source_name": "p", "maintainer": Maintainer("A", "a@b.c")})
    assert (out / "control").read_text() == "Source: p\nMaintainer: A <a@b.c>\n"
    assert (out / "rules").stat().st_mode & 0o111
    assert (out / "source" / "format").read_text() == "3.0 (quilt)\n"
    (src / "bad.j2").write_text("{{ nope }}")
    try:
        templates.render(src, out, {"source_name": "p", "maintainer": "m"})
    except Exception as e:
        assert "bad.j2: template error" in str(e) and "nope" in str(e)
    else:
        raise AssertionError("an undefined template variable was accepted")
