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
from kronos.nightly.command import Night
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
    night.smoke = {"bookworm": {"result": "not run", "why": "no xen", "run_dir": "", "cases": [], "times": {},
                                "virt_caps": [], "artefacts": []}}
    data = report.build(settings, night)  # type: ignore[arg-type]
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
