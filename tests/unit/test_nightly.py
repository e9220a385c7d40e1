"""The nightly's decisions (what is promoted, what is held back and why), its failure classes, the
"since last night" comparison, and the report against its JSON Schema with its HTML pages."""

from __future__ import annotations

import datetime as dt
import json
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from kronos.errors import BuildError, EngineError, FetchError, PatchError, StorageError
from kronos.executor.report import Row
from kronos.executor.report import State as RowState
from kronos.nightly import html, report
from kronos.nightly.command import Night, NightFailed, check, summary
from kronos.nightly.decide import Failure, GateResult, Package, decide
from kronos.nightly.stages import Attempt, Built, failure_class, keep_log

PASS = (GateResult("lintian", "pass", True), GateResult("piuparts", "pass", True))


def pkg(recipe: str, build: str = "built", version: str = "1.0-1", siblings: dict[str, str] | None = None,
        gates: tuple[GateResult, ...] = PASS, binaries: tuple[str, ...] = ()) -> Package:
    return Package("bookworm", recipe, build, version, siblings or {}, binaries, gates)


def states(decisions: list[Any]) -> dict[str, str]:
    return {d.package.recipe: d.state.value for d in decisions}


def test_each_state_and_who_is_promoted() -> None:
    lint_fail = (GateResult("lintian", "fail", True, "error no-copyright-file (kx)"), PASS[1])
    gate_error = (PASS[0], GateResult("piuparts", "error", True, "mirror unreachable"))
    not_blocking = (GateResult("lintian", "fail", False, "error x"), PASS[1])
    archive_too = (PASS[0], GateResult("piuparts", "fails in the archive as well", True, "install-purge"))
    got = decide([pkg("ok"), pkg("same", "up to date"), pkg("broken", "failed"), pkg("after", "skipped"),
                  pkg("lint", gates=lint_fail), pkg("unjudged", gates=gate_error), pkg("advisory", gates=not_blocking),
                  pkg("archive", gates=archive_too)])
    assert states(got) == {"ok": "built", "same": "up to date", "broken": "failed",
                           "after": "skipped because a dependency failed", "lint": "held back by a gate",
                           "unjudged": "held back: a gate could not judge it", "advisory": "built", "archive": "built"}
    assert [d.package.recipe for d in got if d.promoted] == ["ok", "same", "advisory", "archive"]
    assert next(d.why for d in got if d.package.recipe == "lint") == "lintian: error no-copyright-file (kx)"


def test_what_was_built_against_a_held_back_version_is_held_back_transitively() -> None:
    lint_fail = (GateResult("lintian", "fail", True, "error x"),)
    got = decide([pkg("lib", version="2.0-1", gates=lint_fail), pkg("mid", siblings={"lib": "2.0-1"}),
                  pkg("top", siblings={"mid": "1.0-1"}), pkg("old", siblings={"lib": "1.0-1"}),
                  pkg("app", "skipped", siblings={"broken": "1.0-1"}), pkg("broken", "failed")])
    assert states(got) == {"lib": "held back by a gate", "mid": "held back: built against a held-back package",
                           "top": "held back: built against a held-back package", "old": "built",
                           "app": "skipped because a dependency failed", "broken": "failed"}
    assert next(d.why for d in got if d.package.recipe == "top") == \
        "built against mid 1.0-1, which is held back: built against a held-back package"


def test_a_failed_smoke_holds_back_only_what_dom0_installs_and_changed() -> None:
    got = decide([pkg("xen"), pkg("ocaml-re"), pkg("python3-xenapi")], {"bookworm": "dom0 never answered"},
                 {"bookworm": {"xen"}})
    assert states(got) == {"xen": "held back by smoke", "ocaml-re": "built", "python3-xenapi": "built"}
    assert got[0].why == "smoke of bookworm failed: dom0 never answered"


@pytest.mark.parametrize(("error", "cls"), [
    (EngineError("engine gone"), Failure.INFRASTRUCTURE), (FetchError("404"), Failure.INFRASTRUCTURE),
    (StorageError("disk full"), Failure.INFRASTRUCTURE), (OSError(28, "No space left on device"),
                                                          Failure.INFRASTRUCTURE),
    (BuildError("dpkg-buildpackage failed"), Failure.PACKAGE), (PatchError("does not apply"), Failure.PACKAGE),
    (None, Failure.PACKAGE),
])
def test_failure_classes(error: BaseException | None, cls: Failure) -> None:
    assert failure_class(error) is cls


def entry(recipe: str, state: str, version: str = "1.0-1", tags: tuple[str, ...] = ()) -> dict[str, Any]:
    return {"target": "bookworm", "recipe": recipe, "state": state, "version": version, "why": "",
            "gates": [{"gate": "lintian", "tags": list(tags)}]}


def test_since_last_night() -> None:
    prev = {"run": "20261206T020000Z", "packages": [
        entry("a", "built"), entry("b", "failed"), entry("c", "up to date", tags=("warning old-tag",)),
        entry("d", "held back by a gate")]}
    now = [entry("a", "failed"), entry("b", "built", "1.0-2"), entry("c", "built", "1.0-2",
                                                                    ("warning old-tag", "error new-tag")),
           entry("d", "held back by a gate"), entry("e", "built")]
    got = report.since(prev, now)
    assert got["previous_run"] == "20261206T020000Z"
    assert got["newly_failing"] == [{"package": "bookworm/a", "state": "failed", "why": ""}]
    assert got["fixed"] == [{"package": "bookworm/b", "was": "failed"}]
    assert got["version_changes"] == [{"package": "bookworm/b", "from": "1.0-1", "to": "1.0-2"},
                                      {"package": "bookworm/c", "from": "1.0-1", "to": "1.0-2"}]
    assert got["new_lintian_tags"] == [{"package": "bookworm/c", "tag": "error new-tag"}]
    assert report.since(None, now)["previous_run"] is None


class Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("href", "src") and value:
                self.links.append(value)


def local_links(page: Path) -> list[Path]:
    parser = Links()
    parser.feed(page.read_text())
    assert not [u for u in parser.links if "://" in u], "a page must work from file:// alone"
    return [page.parent / u.split("#", 1)[0] for u in parser.links if not u.startswith("#")]


def test_a_report_validates_against_its_schema_and_its_pages_link_only_to_files(tmp_path: Path) -> None:
    """report.build() of a night with a failure, a retried build and a held-back package; the schema
    must also reject what it does not describe."""
    (tmp_path / "out" / "nightly").mkdir(parents=True)
    settings = type("S", (), {})()
    settings.output_dir = tmp_path / "out"
    settings.root = tmp_path
    settings.cache_dir = tmp_path / "cache"
    settings.nightly = type("N", (), {"keep_nights": 2, "webhook": "", "webhook_secret_env": "X"})()
    run_dir = tmp_path / "out" / "nightly" / "20261207T020000Z"
    run_dir.mkdir()
    log = tmp_path / "x.build"
    log.write_text("the build log\n")
    night = Night("20261207T020000Z", run_dir, ["bookworm"], dt.datetime(2026, 12, 7, 2, tzinfo=dt.UTC))
    night.stages = [{"name": "refresh", "result": "ok", "seconds": 1.0}, {"name": "build", "result": "ok",
                                                                          "seconds": 9.5}]
    night.built = Built({("bookworm", "a"): Row("bookworm", "a", RowState.FAILED, "1.0-1", 3.0, str(log), "boom"),
                         ("bookworm", "b"): Row("bookworm", "b", RowState.BUILT, "2.0-1", 4.0, str(log))},
                        {("bookworm", "b"): [
                            Attempt(1, "failed", 1.0, keep_log(str(log), run_dir / "attempts" / "b.1.log"),
                                    "engine gone", "infrastructure"),
                            Attempt(2, "built", 4.0, keep_log(str(log), run_dir / "attempts" / "b.2.log"))]})
    pkgs = [Package("bookworm", "a", "failed", "1.0-1", failure=Failure.PACKAGE),
            Package("bookworm", "b", "built", "2.0-1", failure=Failure.FLAKY)]
    night.decisions = decide(pkgs)
    night.refresh = [{"target": "bookworm", "suite": "bookworm", "date": "Sat, 05 Dec 2026 09:00:00 UTC",
                      "seconds": 0.4, "problem": ""}]
    night.outranked = [{"target": "bookworm", "source": "xen", "ours": "4.17.5-1+deb12u0+kronos1",
                        "archive": "4.17.7-1", "suite": "bookworm-security"}]
    night.keys = [{"fingerprint": "AB" * 20, "expires": "2026-12-20T00:00:00+00:00", "days_left": 13, "soon": True}]
    night.warnings = ["signing key ... expires in 13 day(s)"]
    night.moved = {("bookworm", "b"): ["libc6-dev 2.36-9+deb12u9 -> 2.36-9+deb12u10"]}
    night.smoke = {"bookworm": {"result": "not run", "why": "no xen", "run_dir": "", "cases": [], "times": {},
                                "virt_caps": [], "artefacts": []}}
    # served: what the publisher's state said before the night and after its promotion
    night.served_before = {("bookworm", "a"): "0.9-1", ("bookworm", "b"): "1.0-1"}
    night.served = {("bookworm", "a"): "0.9-1", ("bookworm", "b"): "2.0-1"}
    data = report.build(settings, night)  # type: ignore[arg-type]
    assert [(p["served_before"], p["served"]) for p in data["packages"]] == [("0.9-1", "0.9-1"), ("1.0-1", "2.0-1")]
    assert summary(night) == [
        "bookworm/a: failed", f"nightly {night.run_id}: 1 built, 1 failed; smoke of bookworm: not run;"
        f" report {run_dir / 'index.html'}"]
    with pytest.raises(NightFailed, match=r"1 package\(s\) held back or failed; see "):
        check(night)
    schema = json.loads(report.SCHEMA.read_text())
    jsonschema.validate(data, schema, format_checker=jsonschema.FormatChecker())
    assert data["result"] == "failed" and data["exit_code"] == 1
    assert [p["failure"] for p in data["packages"]] == ["package", "flaky"]
    assert (run_dir / data["packages"][0]["log"]).read_text() == "the build log\n"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**data, "result": "mostly fine"}, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**data, "packages": [{**data["packages"][0], "state": "meh"}]}, schema)

    (run_dir / report.REPORT).write_text(json.dumps(data))
    html.write_night(run_dir, data)
    html.write_index(run_dir.parent, report.nights(run_dir.parent))
    for page in (run_dir / "index.html", run_dir.parent / "index.html"):
        links = local_links(page)
        assert links and all(p.exists() for p in links), [p for p in links if not p.exists()]
    text = (run_dir / "index.html").read_text()
    assert "attempt 1 log (infrastructure)" in text and "kronos build --target bookworm --only a" in text
    assert 'name="viewport"' in text
    assert "the archive moved" in text and "4.17.7-1 in bookworm-security" in text and "13 days" in text


def test_the_webhook_gets_a_signed_summary_when_a_state_changed_and_never_fails_the_night() -> None:
    import hashlib
    import hmac
    import http.server
    import threading

    from kronos.nightly.webhook import HEADER, notify

    got: list[tuple[bytes, str]] = []

    class Hook(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (the http.server name)
            body = self.rfile.read(int(self.headers["Content-Length"]))
            got.append((body, self.headers.get(HEADER, "")))
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/hook"
    night = {"run": "20261207T020000Z", "result": "failed", "exit_code": 1, "started": "2026-12-07T02:00:00+00:00",
             "seconds": 60.0, "counts": {"failed": 1}, "project": {"commit": "abc", "dirty": False},
             "since_last_night": {"newly_failing": [{"package": "bookworm/a", "state": "failed", "why": ""}],
                                  "fixed": []}}
    try:
        sent = notify(url, "SECRET", night, env={"SECRET": "s3cret"})
        quiet = notify(url, "SECRET", {**night, "since_last_night": {"newly_failing": [], "fixed": []}}, env={})
    finally:
        server.shutdown()
        server.server_close()
    assert sent == {"sent": True, "why": "a package changed state", "status": 204, "signed": True}
    assert quiet == {"sent": False, "why": "no package changed state"} and len(got) == 1
    body, header = got[0]
    assert header == "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert json.loads(body)["newly_failing"][0]["package"] == "bookworm/a"
    gone = notify(url, "SECRET", night, env={})  # the server is gone: a warning, not an exception
    assert gone["sent"] is False and gone["why"].startswith("warning: the webhook could not be reached")


def test_the_archive_moved_under_a_rebuild_says_which_build_dependencies_changed(tmp_path: Path) -> None:
    from kronos.nightly.morning import archive_moved

    def buildinfo(d: Path, deps: str) -> Path:
        d.mkdir()
        (d / "x_1.0_amd64.buildinfo").write_text(f"Format: 1.0\nSource: x\nInstalled-Build-Depends:\n {deps}\n")
        return d

    old = buildinfo(tmp_path / "old", "base-files (= 12.4),\n gcc-12 (= 12.2.0-14),\n libc6-dev:amd64 (= 2.36-9)")
    new = buildinfo(tmp_path / "new", "base-files (= 12.4),\n gcc-12 (= 12.2.0-14+deb12u1),\n libfoo (= 1)")
    assert archive_moved(old, new) == ["gcc-12 12.2.0-14 -> 12.2.0-14+deb12u1", "libc6-dev 2.36-9 -> (none)",
                                       "libfoo (none) -> 1"]
    assert archive_moved(old, tmp_path / "gone") == []  # no earlier build to compare with


def test_sources_of_finds_each_name_in_one_read(tmp_path: Path) -> None:
    from kronos.archive.indices import sources_of

    index = tmp_path / "Sources"
    index.write_text("Package: xen\nVersion: 4.17.5-1\n\nPackage: xen-doc\nVersion: 9\n\n"
                     "Package: ounit\nVersion: 2.2.6-1\n\nPackage: xen\nVersion: 4.17.7-1\n")
    found = sources_of(index, {"xen", "ounit", "absent"})
    assert {n: [str(s["Version"]) for s in v] for n, v in found.items()} == {
        "xen": ["4.17.5-1", "4.17.7-1"], "ounit": ["2.2.6-1"]}


def test_pictures_of_the_run_and_of_the_nights(tmp_path: Path) -> None:
    from kronos.nightly import pictures

    spans = [("bookworm/xen", 100.0, 700.0, "built"), ("bookworm/ounit", 100.0, 140.0, "built"),
             ("bookworm/ocaml-re", 141.0, 180.0, "failed"), ("sid/python3-xenapi", 180.0, 200.0, "built")]
    assert [(slot, name) for slot, name, *_ in pictures.slots(spans)] == [
        (0, "bookworm/ounit"), (1, "bookworm/xen"), (0, "bookworm/ocaml-re"), (0, "sid/python3-xenapi")]
    assert pictures.timeline(tmp_path / "timeline.svg", spans, "a night")
    svg = (tmp_path / "timeline.svg").read_text()
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg and "slot 2" in svg.replace("\u00a0", " ")
    nights = [{"run": f"2026120{d}T020000Z", "packages": [
        {"target": "bookworm", "recipe": "xen", "state": "built", "seconds": 600.0 + d}]} for d in (7, 6, 5)]
    assert pictures.history(tmp_path / "build-times.svg", nights)
    assert "bookworm/xen" in (tmp_path / "build-times.svg").read_text()
    assert not pictures.timeline(tmp_path / "none.svg", [], "nothing ran")
    assert not pictures.history(tmp_path / "none.svg", [{"run": "x", "packages": []}])


def test_only_the_newest_image_of_a_package_that_fails_now_is_kept() -> None:
    from kronos.nightly.housekeeping import failed_images

    class Engine:
        def __init__(self) -> None:
            self.removed: list[str] = []

        def images(self, prefix: str) -> list[str]:
            assert prefix == "kronos/failed-"
            return ["kronos/failed-bookworm-xen:4.17.5-1_kronos1", "kronos/failed-bookworm-xen:4.17.5-1_kronos2",
                    "kronos/failed-bookworm-ounit:2.2.6-1", "kronos/failed-sid-python3-xenapi:26.1-1"]

        def remove_image(self, ref: str) -> None:
            self.removed.append(ref)

    engine = Engine()
    gone = failed_images(engine, [("bookworm", "xen")])  # type: ignore[arg-type]
    assert gone == engine.removed == ["kronos/failed-bookworm-ounit:2.2.6-1",
                                      "kronos/failed-bookworm-xen:4.17.5-1_kronos1",
                                      "kronos/failed-sid-python3-xenapi:26.1-1"]


DOSE = """\
output-version: 1.2
native-architecture: amd64
report:
 -
  package: kny-needs
  version: 1.0-1~bpo12+1
  architecture: all
  status: broken
  reasons:
   -
    missing:
     pkg:
      package: kny-needs
      version: 1.0-1~bpo12+1
      architecture: all
      unsat-dependency: kny-lint:amd64 (>> 1.0-1~bpo12+1)
 -
  package: kx
  version: 1
  architecture: all
  status: broken
  reasons:
   -
    conflict:
     pkg1:
      package: kx
      unsat-conflict: ky

background-packages: 63000
foreground-packages: 5
broken-packages: 2
"""


def test_dose_distchecks_report_names_each_broken_package_and_why() -> None:
    from kronos.nightly.installable import parse

    assert parse(DOSE) == {"kny-needs": "not installable: unsat-dependency kny-lint:amd64 (>> 1.0-1~bpo12+1)",
                           "kx": "not installable: unsat-conflict ky"}
    assert parse("output-version: 1.2\nreport:\nbackground-packages: 1\n") == {}
