"""The invoke Collection (the only module that imports invoke), also the `kronos` program."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from invoke.collection import Collection
from invoke.context import Context
from invoke.exceptions import Exit
from invoke.program import Program
from invoke.tasks import task

from . import __version__, interrupt, log
from .cluster import Tls
from .config import EXECUTORS, Settings, Target, load_settings
from .errors import ConfigError, KronosError, os_error_line

F = TypeVar("F", bound=Callable[..., Any])

TLS_HELP = {"tls_ca": "mutual TLS with the scheduler: the CA's certificate (default: KRONOS_TLS_CA, dask.tls_ca)",
            "tls_cert": "this party's certificate (default: KRONOS_TLS_CERT, dask.tls_cert)",
            "tls_key": "this party's private key (default: KRONOS_TLS_KEY, dask.tls_key)"}


def debugging() -> bool:
    """`kronos --debug …` (invoke's core flag) or KRONOS_DEBUG=1 shows tracebacks."""
    return bool(os.environ.get("KRONOS_DEBUG")) or logging.getLogger().isEnabledFor(logging.DEBUG)


def handled(func: F) -> F:
    """Turn a KronosError into one line and a non-zero exit (a traceback only when debugging).

    Errors are converted where they happen (engine, downloads, state files, config) so the line can
    say what failed; an OSError that no boundary converted (a full disk, a file kronos may not
    write) still becomes one line with its reason and file."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        log.setup()
        try:
            result = func(*args, **kwargs)
        except (KronosError, OSError, KeyboardInterrupt) as e:
            # whatever a stop made fail (a killed container, a child's SIGTERM) is the interrupt
            stopped = interrupt.signum()
            if stopped is not None and not isinstance(e, interrupt.Interrupted):
                e = interrupt.Interrupted(stopped)
            if isinstance(e, KeyboardInterrupt):
                e = interrupt.Interrupted(2)
            if debugging():
                raise
            if isinstance(e, OSError):
                raise Exit(f"kronos: error: {os_error_line(e)}", code=1) from None
            raise Exit(f"kronos: error: {e}", code=e.exit_code) from None
        stopped = interrupt.signum()
        if stopped is not None:  # the work ended anyway (nothing was left to stop): still say so
            raise Exit(f"kronos: error: {interrupt.Interrupted(stopped)}", code=128 + stopped)
        return result

    return wrapper  # type: ignore[return-value]


def settings(c: Context) -> Settings:
    root = Path(os.environ.get("KRONOS_ROOT", os.getcwd()))
    config = os.environ.get("KRONOS_CONFIG")
    return load_settings(root, Path(config) if config else None)


def _pipeline(s: Settings) -> Any:
    from .engine import get_engine
    from .pipeline import Pipeline

    return Pipeline(s, get_engine())


@task(iterable=["target"], help={"check": "download and verify every suite's InRelease now (is the archive reachable?)",
                                 "target": "with --check: a target (repeatable; default: the default targets)"})
@handled
def targets(c: Context, check: bool = False, target: list[str] | None = None) -> None:
    """List the configured targets (archive, suites, components, version rule); --check: download and
    verify each one's InRelease files now and say how long each took."""
    s = settings(c)
    if check:
        return _check_targets(s, [s.target(t) for t in target or s.default_targets])
    for t in s.targets.values():
        mark = "*" if t.name in s.default_targets else " "
        suites = ",".join((t.suite, *t.pockets))
        extra = f" build-deps-from={','.join(t.extra_suites)}" if t.extra_suites else ""
        print(f"{mark} {t.name:10} {t.archive:7} {suites:40} {','.join(t.components):14}"
              f" {t.version_suffix} rebuilds={t.update_tag + '0' if t.update_tag else ''}{t.rebuild_suffix}{extra}")


def _check_targets(s: Settings, chosen: list[Target]) -> None:
    from .archive.probe import probe
    from .cache import Cache

    failed = []
    for p in probe(s, Cache(s.cache_dir), chosen):
        print(p.line(), flush=True)
        if p.problem:
            failed.append(f"{p.target} {p.suite}")
    if failed:
        raise KronosError(f"{len(failed)} suite(s) could not be reached or verified: {', '.join(failed)}")


@task(help={"check": "fetch each git source's commit into its mirror and ask each url source's server"
                       " (HTTP HEAD) now: can every upstream be fetched?"})
@handled
def recipes(c: Context, check: bool = False) -> None:
    """List the recipes: source, targets, what each comes after; --check: whether each git and url
    source can be fetched now (archive sources: `kronos targets --check`)."""
    from .recipe import load_recipes

    s = settings(c)
    if check:
        return _check_recipes(s)
    for r in load_recipes(s).values():
        what = r.describe_source()
        after = f" after={','.join(r.after)}" if r.after else ""
        print(f"{r.name:16} {what:34} targets={','.join(r.targets)}{after}")


def _check_recipes(s: Settings) -> None:
    from .cache import Cache
    from .recipe import load_recipes
    from .sources.reach import check

    failed = []
    for r in load_recipes(s).values():
        why = check(r, Cache(s.cache_dir))
        if why is not None:
            print(f"{r.name:16} {r.describe_source():34} {'NOT reachable: ' + why if why else 'reachable'}",
                  flush=True)
        if why:
            failed.append(r.name)
    if failed:
        raise KronosError(f"{len(failed)} recipe source(s) cannot be fetched: {', '.join(failed)}")


@task(iterable=["target"], help={"target": "a target (repeatable; default: the default targets)",
                                 "dot": "print Graphviz (dot) instead of text"})
@handled
def graph(c: Context, target: list[str] | None = None, dot: bool = False) -> None:
    """Print each target's build order and every edge with the dependency that made it."""
    from .graph.metadata import graphs

    for g in graphs(settings(c), target or None):
        if dot:
            print(g.dot())
            continue
        print(f"{g.target}: {' '.join(g.order())}")
        for edge in g.edges:
            print(f"  {edge.line()}")


@task(iterable=["target"], help={"target": "a target (repeatable; default: the default targets)",
                                 "refresh": "rebuild even when an image with the same key exists"})
@handled
def images(c: Context, target: list[str] | None = None, refresh: bool = False) -> None:
    """Build base images with mmdebstrap and import them into the engine (content-keyed)."""
    for image in _pipeline(settings(c)).images(target or None, refresh):
        print(f"{image.target}: {image.ref}")


@task(iterable=["target", "only", "skip"], help={
                                         "target": "a target (repeatable; default: the default targets)",
                                         "only": "build only this recipe and what it comes after (repeatable)",
                                         "skip": "leave out this recipe, or TARGET/RECIPE for one target only"
                                                 " (repeatable; what comes after it takes the archive's)",
                                         "dsc": "build this source package (.dsc) instead of a recipe, with the"
                                                " project's recipes as its siblings",
                                         "keyring": "--dsc: check the .dsc's signature against this keyring (gpgv)",
                                         "keep_version": "build the tree's/.dsc's own version (no changelog entry,"
                                                         " no local revision), for a one-off local test",
                                         "publish": "publish the built targets afterwards (like kronos publish)",
                                         "shell_on_failure": "on a failed build, open a shell in its kept build tree",
                                         "rebuild": "build the --only recipes (or all) even when up to date;"
                                                    " the same inputs keep their version",
                                         "refresh": "download and verify every InRelease again, even within"
                                                    " kronos.index_max_age",
                                         "jobs": "build up to N packages at once (default: KRONOS_JOBS or 1)",
                                         "verbose": "stream every build's log as it grows",
                                         "executor": "where builds run: local (this engine) or dask (kronos"
                                                     " workers; default: kronos.executor, KRONOS_EXECUTOR)",
                                         "scheduler": "the Dask scheduler's address (tcp://127.0.0.1:8786,"
                                                      " tls://host:port; default: KRONOS_SCHEDULER, dask.scheduler)",
                                         **TLS_HELP})
@handled
def build(c: Context, target: list[str] | None = None, only: list[str] | None = None,
          rebuild: bool = False, refresh: bool = False, jobs: str = "", verbose: bool = False,
          dsc: str = "", keyring: str = "", keep_version: bool = False, publish: bool = False,
          shell_on_failure: bool = False, skip: list[str] | None = None, executor: str = "", scheduler: str = "",
          tls_ca: str = "", tls_cert: str = "", tls_key: str = "") -> None:
    """Build the recipes (or a .dsc) for the targets in clean containers; unchanged inputs are not rebuilt."""
    from rich.console import Console

    from .executor.report import failure, show
    from .recipe import dsc_recipe

    s = settings(c)
    if refresh:
        s = dataclasses.replace(s, index_max_age=0)
    if keyring and not dsc:
        raise ConfigError("--keyring checks the signature of a --dsc; name the .dsc too")
    if dsc and only:
        raise ConfigError("--dsc builds the given source package; it takes no --only")
    given = dsc_recipe(Path(dsc), Path(keyring) if keyring else None, target or s.default_targets, s) if dsc else None
    where = executor or s.executor
    if where not in EXECUTORS:
        raise ConfigError(f"--executor: unknown executor '{where}' (known: {', '.join(EXECUTORS)})")
    # a bad --jobs is the user's error, said before the engine is asked; with dask: the workers' slots
    n = _jobs(jobs) if where == "local" or jobs or os.environ.get("KRONOS_JOBS") else None
    with contextlib.ExitStack() as stack:
        runner = None
        if where == "dask":
            from .runner.dask_runner import DaskRunner
            from .store import Store

            address = scheduler or s.dask.scheduler
            runner = stack.enter_context(DaskRunner(Store(s.store_dir), address, _tls(s, tls_ca, tls_cert, tls_key),
                                                    s.cache_dir))
        pipeline = _pipeline(s)
        rows = pipeline.build(target or None, only or None, rebuild, jobs=n, verbose=verbose,
                              keep_version=keep_version, given=given, skip=skip or None, runner=runner)
    out = Console(highlight=False, width=None if sys.stdout.isatty() else 400)
    show(out, rows)
    stopped = interrupt.signum()
    if stopped is not None:  # each job has its row: stopped, or not started
        raise interrupt.Interrupted(stopped)
    error = failure(rows)  # one failure: its own line; several: "2 failed, 1 skipped; see the table above"
    if error is not None:
        if shell_on_failure:
            from .contrib import shell_into_failures

            shell_into_failures(pipeline.engine, rows)
        raise error
    if publish:
        _publish(s, target or [t for t in s.default_targets if (s.output_dir / t).is_dir()])


def _tls(s: Settings, ca: str, cert: str, key: str) -> Tls | None:
    """The certificates from the command line, else the settings'."""
    given = {"--tls-ca": ca, "--tls-cert": cert, "--tls-key": key}
    if any(given.values()):
        missing = [k for k, v in given.items() if not v]
        if missing:
            raise ConfigError(f"mutual TLS needs --tls-ca, --tls-cert and --tls-key; missing {', '.join(missing)}")
        return Tls(Path(ca), Path(cert), Path(key))
    return s.dask.tls


def _count(value: str, what: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise ConfigError(f"{what} must be a whole number of at least 1, not {value!r}")
    return int(value)


@task(help={"scheduler": "the Dask scheduler's address (default: KRONOS_SCHEDULER, dask.scheduler); other than"
                         " loopback it must be tls:// with the --tls-* certificates",
            "docker_host": "the engine this worker builds in (default: DOCKER_HOST, else the local socket)",
            "slots": "builds it runs at once (default: 1)",
            "store": "the artefact store, as this machine mounts it (default: kronos.store, KRONOS_STORE)",
            "work": "its own scratch directory (default: <cache>/worker/<name>)",
            "name": "its name in the scheduler and in build.json (default: <host>-<pid>)",
            **TLS_HELP})
@handled
def worker(c: Context, scheduler: str = "", docker_host: str = "", slots: str = "1", store: str = "", work: str = "",
           name: str = "", tls_ca: str = "", tls_cert: str = "", tls_key: str = "") -> None:
    """Serve builds to a Dask scheduler: Dask's worker with Kronos's plugin and its own engine."""
    from .cluster import require_tls
    from .runner.worker import default_name, run_worker

    s = settings(c)
    address = scheduler or s.dask.scheduler
    tls = _tls(s, tls_ca, tls_cert, tls_key)
    require_tls(address, tls, "kronos worker")
    n = _count(slots, "--slots")
    name = name or default_name()
    run_worker(address, docker_host or None, n, Path(store).resolve() if store else s.store_dir,
               Path(work).resolve() if work else s.cache_dir / "worker" / name, name, tls)


@task(help={"host": "the address to listen on (default: 127.0.0.1; any other needs the --tls-* certificates)",
            "port": "the port (default: 8786)",
            "attempts": "how many workers a build may be given before it fails when they are lost (default: 3)",
            **TLS_HELP})
@handled
def scheduler(c: Context, host: str = "127.0.0.1", port: str = "8786", attempts: str = "3", tls_ca: str = "",
              tls_cert: str = "", tls_key: str = "") -> None:
    """Run a Dask scheduler for kronos workers (Dask's own, with kronos importable for its jobs)."""
    from .cluster import require_tls
    from .runner.worker import run_scheduler

    s = settings(c)
    tls = _tls(s, tls_ca, tls_cert, tls_key)
    p = _count(port, "--port")
    require_tls(f"{'tls' if tls else 'tcp'}://{host}:{p}", tls, "kronos scheduler")
    run_scheduler(host, p, _count(attempts, "--attempts"), tls)


def _jobs(given: str) -> int:
    """--jobs, else KRONOS_JOBS, else 1 (taken as text: a bad value is one error line, not invoke's traceback)."""
    raw = given or os.environ.get("KRONOS_JOBS", "1")
    if not raw.isdigit() or int(raw) < 1:
        raise ConfigError(f"--jobs / KRONOS_JOBS must be a whole number of at least 1, not {raw!r}")
    return int(raw)


@task(iterable=["target"], help={"recipe": "the recipe to explain",
                                 "target": "a target (repeatable; default: the default targets the recipe is for)"})
@handled
def why(c: Context, recipe: str, target: list[str] | None = None) -> None:
    """Say whether a recipe would rebuild and which recorded input changed; builds nothing."""
    from .explain import explain

    for verdict in explain(_pipeline(settings(c)), recipe, target or None):
        for line in verdict.lines():
            print(line)


@task(iterable=["target", "only"], help={"target": "a target (repeatable; default: the default targets)",
                                         "only": "judge only this recipe's build (repeatable)",
                                         "gate": "gates, comma-separated (default: all four)",
                                         "jobs": "run up to N gates at once (default: KRONOS_JOBS or 1)"})
@handled
def qa(c: Context, target: list[str] | None = None, only: list[str] | None = None, gate: str = "",
       jobs: str = "") -> None:
    """Run the QA gates (lintian, piuparts, autopkgtest, repro) on the builds in out/; verdicts kept per build."""
    from rich.console import Console

    from .engine import get_engine
    from .qa.command import failure, run_qa, show, store
    from .qa.policy import GATES

    s = settings(c)
    names = [g for g in gate.split(",") if g] if gate else list(GATES)
    rows = run_qa(s, get_engine(), target or list(s.default_targets), only or [], names, _jobs(jobs))
    show(Console(highlight=False, width=None if sys.stdout.isatty() else 400), rows, store(s))
    stopped = interrupt.signum()
    if stopped is not None:
        raise interrupt.Interrupted(stopped)
    error = failure(rows)
    if error is not None:
        raise error


@task(help={"ledger": "also forget the version and upload ledgers (versions may then be reused or re-uploaded)",
            "images": "also remove kronos's images from the engine",
            "verdicts": "also forget the QA verdicts (out/qa: the gates then judge every build again)",
            "nights": "also remove the nightly's records (out/nightly: reports, smoke verdicts)"})
@handled
def clean(c: Context, ledger: bool = False, images: bool = False, verdicts: bool = False,
          nights: bool = False) -> None:
    """Remove outputs, logs, the download cache and the containers a killed kronos left behind."""
    from .clean import clean as do_clean

    do_clean(settings(c), ledger=ledger, images=images, verdicts=verdicts, nights=nights)


def _publisher(s: Settings) -> Any:
    from .publish.open import publisher

    return publisher(s)


@task(iterable=["target"], help={"target": "a target whose outputs to publish (repeatable; default: the"
                                           " default targets that have outputs)"})
@handled
def publish(c: Context, target: list[str] | None = None) -> None:
    """Publish the built packages as a signed apt repository (atomic; by-hash; InRelease + Release.gpg)."""
    s = settings(c)
    _publish(s, target or [t for t in s.default_targets if (s.output_dir / t).is_dir()])


def _publish(s: Settings, names: list[str]) -> None:
    from .publish.outputs import client_lines, uploads

    repo, publisher = _publisher(s)
    found, records = uploads(s, names, publisher.seen_outputs())
    summary = publisher.publish(found, outputs=records)
    for line in summary.added + [f"dropped {d}" for d in summary.dropped]:
        print(line)
    print(f"repository {repo.path} ({repo.url}); to use it:")
    for line in client_lines(repo.path, repo.name):
        print(f"  {line}")


@task
@handled
def repo_list(c: Context) -> None:
    """List the published packages per suite."""
    _, publisher = _publisher(settings(c))
    for suite, rows in publisher.listing().items():
        for name, version, arch in rows:
            print(f"{suite:10} {name:24} {version:32} {arch}")


@task(iterable=["package"], help={"suite": "the suite (target) to remove from", "package": "a package name"
                                  " (repeatable; its binaries or source of every version)"})
@handled
def repo_remove(c: Context, suite: str, package: list[str] | None = None) -> None:
    """Remove packages from a suite and publish the result."""
    if not package:
        raise Exit("kronos: error: name at least one --package", code=2)
    _, publisher = _publisher(settings(c))
    summary = publisher.publish({}, remove={suite: package})
    for line in summary.dropped:
        print(f"dropped {line}")


@task(help={"uid": "the key's user id, e.g. 'Kronos Archive <archive@example.org>'",
            "gnupghome": "where to keep the key (default: the repository's signing.gnupghome)",
            "algo": "ed25519 (default), rsa3072 or rsa4096", "expire": "expiry, e.g. 2y (default)"})
@handled
def keys_create(c: Context, uid: str, gnupghome: str = "", algo: str = "ed25519", expire: str = "2y") -> None:
    """Make a signing key (passphrase from the configured env variable or file); print its fingerprint."""
    from .publish.settings import load_repo_settings
    from .publish.signing import create_key, passphrase

    s = settings(c)
    repo = load_repo_settings(s.root)
    home = Path(gnupghome) if gnupghome else repo.gnupghome
    print(create_key(home, uid, passphrase(repo), algo, expire))


@task(help={"target": "sid, noble or resolute (the upload targets in repo/repository.toml)",
            "dry_run": "prepare, sign and check the upload, but do not send it (the only mode without a host)"})
@handled
def upload(c: Context, target: str, dry_run: bool = False) -> None:
    """Prepare a signed source-only upload (.changes, .dsc, .buildinfo) of our own packages for a target."""
    from .publish.settings import load_repo_settings
    from .upload import upload as do_upload

    s = settings(c)
    for path in do_upload(s, load_repo_settings(s.root), target, dry_run):
        print(path)


@task(iterable=["name"], help={
    "target": "the target to backport to", "from_suite": "the suites to take sources from, in order of preference"
    " (--from sid or --from trixie,sid)", "name": "a source, or a binary with an optional version constraint"
    " (also given as positional arguments)", "profiles": "build profiles, comma-separated (default: plan.toml's,"
    " nocheck,nodoc)", "json": "print JSON",
    "write_recipes": "write a recipe (and its patches) for each reachable member under DIR/recipes, DIR/patches",
    "with_recipes": "count the binaries this project's recipes build for the target as available"})
@handled
def plan(c: Context, target: str = "", from_suite: str = "", name: list[str] | None = None, profiles: str = "",
         json: bool = False, write_recipes: str = "", with_recipes: bool = False) -> None:
    """The backport closure: which sources to take from --from so that NAMEs install on the target."""
    from .plan import output
    from .plan.command import plan as compute

    closure, written = compute(settings(c), target, [s for s in from_suite.split(",") if s], name or [],
                               [p for p in profiles.split(",") if p] if profiles else None,
                               Path(write_recipes) if write_recipes else None, with_recipes)
    print(output.dumps(closure) if json else "\n".join(output.lines(closure)))
    if written and not json:
        print(f"recipes written to {write_recipes}: {' '.join(written)}")
    if any(not w.ok for w in closure.wants):
        raise Exit(code=1)


_PLAN_VALUES = ("--target", "--from", "--from-suite", "--profiles", "--name", "--write-recipes", "-t", "-f", "-p",
                "-n", "-w")


def plan_argv(argv: list[str]) -> list[str]:
    """`kronos plan --from S NAME...`: invoke takes one positional value and a flag named after the
    parameter; give it --from-suite and one --name per positional NAME."""
    words = [n for n, a in enumerate(argv) if n and not a.startswith("-")]
    if not words or argv[words[0]] != "plan":
        return argv
    at = words[0] + 1
    out, rest = argv[:at], argv[at:]
    i = 0
    while i < len(rest):
        arg = rest[i]
        if arg == "--from" or arg.startswith("--from="):
            arg = arg.replace("--from", "--from-suite", 1)
        if arg in _PLAN_VALUES:
            out += [arg, *rest[i + 1:i + 2]]
            i += 2
            continue
        out += [arg] if arg.startswith("-") else ["--name", arg]
        i += 1
    return out


@task(help={"target": "the target whose published packages to boot (default: bookworm)",
            "keep": "leave the VM running after the checks (until Ctrl-C), reachable with the run's ssh_config",
            "port": "the TCP port on 127.0.0.1 forwarded to dom0's ssh (default: a free one)",
            "refresh": "make the dom0 image again even when an unchanged one is cached"})
@handled
def smoke(c: Context, target: str = "bookworm", keep: bool = False, port: str = "", refresh: bool = False) -> None:
    """Boot our Xen with a PV dom0 in QEMU from our published repository and check it."""
    from .smoke.command import smoke as run_smoke

    if port and not port.isdigit():
        raise ConfigError(f"--port must be a TCP port number, not {port!r}")
    print(run_smoke(settings(c), target, int(port) if port else None, keep, refresh=refresh))


@task(iterable=["target"], help={"target": "a target (repeatable; default: the default targets)",
                                 "jobs": "build and judge up to N packages at once (default: KRONOS_JOBS or 1)"})
@handled
def nightly(c: Context, target: list[str] | None = None, jobs: str = "") -> None:
    """Build, gate, stage, smoke, promote what passed; report in out/nightly."""
    from .engine import get_engine
    from .nightly.command import check, run, summary

    s = settings(c)
    night = run(s, get_engine(), target or list(s.default_targets), _jobs(jobs))
    for line in summary(night):
        print(line)
    check(night)


@task(iterable=["target"], help={"rollback": "serve again what the served suites held before the last promotion",
                                 "target": "roll back only this target's suite (repeatable; default: those the"
                                           " last promotion changed)"})
@handled
def promote(c: Context, rollback: bool = False, target: list[str] | None = None) -> None:
    """Undo the last promotion (--rollback): serve the previous suites."""
    if not rollback:
        raise ConfigError("kronos nightly promotes what passed its gates; `kronos promote --rollback` undoes the"
                          " last promotion")
    s = settings(c)
    for name in target or []:
        s.target(name)
    _, publisher = _publisher(s)
    summary, undone = publisher.rollback(target or None)
    for line in summary.added + [f"dropped {d}" for d in summary.dropped]:
        print(line)
    print(f"rolled back promotion {undone.get('run')}: serving what generation {undone.get('before')} served"
          f" (now generation {summary.generation})")


repo_ns = Collection("repo")
repo_ns.add_task(repo_list, "list")  # type: ignore[arg-type]
repo_ns.add_task(repo_remove, "remove")
keys_ns = Collection("keys")
keys_ns.add_task(keys_create, "create")
ns = Collection(targets, recipes, graph, plan, images, build, why, qa, clean, publish, upload, smoke, nightly,
                promote, worker, scheduler)
ns.add_collection(repo_ns)
ns.add_collection(keys_ns)
program = Program(namespace=ns, version=__version__, name="kronos", binary="kronos")


def main() -> None:
    interrupt.install()  # Ctrl-C and SIGTERM stop the run cleanly; a second one exits at once
    program.run(plan_argv(sys.argv))
