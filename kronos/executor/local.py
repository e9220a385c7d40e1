"""The local executor: a thread pool on this machine (the builds themselves run in containers)."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from concurrent import futures

from .. import interrupt
from .base import Executor, Job, Listener, Result, Status, chain_heights, check


def _call(job: Job, listener: Listener) -> Result:
    listener.started(job.name)
    wall, start = time.time(), time.monotonic()
    try:
        value = job.func()
    except Exception as e:  # a job's failure is its result; the run goes on
        return Result(job.name, Status.FAILED, error=e, reason=str(e) or type(e).__name__,
                      seconds=time.monotonic() - start, started=wall)
    return Result(job.name, Status.DONE, value=value, seconds=time.monotonic() - start, started=wall)


class LocalExecutor(Executor):
    def run(self, jobs: Sequence[Job], listener: Listener | None = None) -> dict[str, Result]:
        listen = listener or Listener()
        by_name = check(jobs)
        dependents: dict[str, list[str]] = {name: [] for name in by_name}
        waiting = {job.name: set(job.after) for job in jobs}
        for job in jobs:
            for dep in job.after:
                dependents[dep].append(job.name)
        results: dict[str, Result] = {}
        height = chain_heights(jobs)

        def skip(failed: str) -> None:
            # everything downstream of failed, named after the job that failed
            todo = list(dependents[failed])
            while todo:
                name = todo.pop(0)
                if name in results:
                    continue
                reason = f"not started: {interrupt.name()}" if interrupt.stopping() else f"skipped: {failed} failed"
                results[name] = Result(name, Status.SKIPPED, reason=reason)
                waiting.pop(name, None)
                listen.finished(results[name])
                todo += dependents[name]

        with futures.ThreadPoolExecutor(max_workers=self.jobs, thread_name_prefix="kronos-job") as pool:
            running: dict[futures.Future[Result], str] = {}

            def start_ready() -> None:
                if interrupt.stopping():  # Ctrl-C or SIGTERM: nothing more starts
                    return
                # critical path first: of the ready jobs, those heading the heaviest chains take the free slots
                ready = sorted((n for n in by_name if n in waiting and not waiting[n]), key=lambda n: -height[n])
                for name in ready[: self.jobs - len(running)]:
                    del waiting[name]
                    running[pool.submit(_call, by_name[name], listen)] = name

            try:
                with interrupt.draining():  # a first Ctrl-C: the running jobs are stopped and reported
                    start_ready()
                    while running:
                        done, _ = futures.wait(running, return_when=futures.FIRST_COMPLETED)
                        for fut in done:
                            name = running.pop(fut)
                            result = fut.result()
                            if result.status is Status.FAILED and interrupt.stopping():
                                result = dataclasses.replace(result, reason=f"stopped by {interrupt.name()}")
                            results[name] = result
                            listen.finished(result)
                            if result.status is Status.DONE:
                                for child in dependents[name]:
                                    if child in waiting:
                                        waiting[child].discard(name)
                            else:
                                skip(name)
                        start_ready()
            except BaseException:  # an interrupt: start nothing more; the running jobs end by themselves
                pool.shutdown(wait=False, cancel_futures=True)
                raise
        for name in by_name:  # never started: the run was interrupted
            if name not in results:
                results[name] = Result(name, Status.SKIPPED, reason=f"not started: {interrupt.name()}")
                listen.finished(results[name])
        return {job.name: results[job.name] for job in jobs}
