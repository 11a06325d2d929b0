"""The timed jobs inside the daemon, on APScheduler 3.x.

Two interval jobs (the SLA sweep and the follow-up sweep) with ``coalesce=True`` and
``max_instances=1``: runs missed while one was busy collapse into one, and a run never
overlaps the previous. Each job hands its sweep to the single writer and waits for it,
so the store still has one writer. Jobs live in memory only: what is due lives on the
ticket rows, so there is no job store to corrupt and a restart replays nothing. The first
runs come at start-up, which is how a daemon stopped over a weekend catches up.

Several daemons on one PostgreSQL database all run these jobs, but only the one that
holds the sweep lock (``may_sweep``, store/locks.py) acts: the others find it taken and
stand by, asking again at each run, so one of them takes over within a sweep interval
once the holder's database session is gone.

The scheduler keeps real time (it only says *when* to look); what is due is decided with
the injected clock's ``now``, so tests call the sweeps directly with a ``FakeClock``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from maildesk.clock import Clock
from maildesk.service.health import JobState
from maildesk.sla.sweeps import SweepReport, Sweeps
from maildesk.store.store import iso

log = logging.getLogger(__name__)

Submit = Callable[..., "Future[Any]"]
MONTHLY_EVERY = 3600  # seconds between looks at whether a monthly report is due


class Scheduler:
    def __init__(
        self,
        sweeps: Callable[[], Sweeps],
        submit: Submit,
        clock: Clock,
        interval: float,
        monthly: Callable[[datetime], object] | None = None,
        may_sweep: Callable[[], bool] | None = None,
    ) -> None:
        self.sweeps = sweeps  # asked at each run, so a reloaded configuration applies
        # The monthly report mail (report_mail.py): looked at hourly; it knows what it sent.
        self.monthly = monthly
        self.submit = submit  # Writer.submit: run a function on the single writer thread
        # On the writer thread: whether this daemon holds the sweep lock (takes it if free).
        self.may_sweep = may_sweep or _always
        self.sweeping = False  # for /healthz: whether the last look found the lock ours
        self.clock = clock
        self.interval = interval
        self._scheduler: Any = None
        self._stopping = False
        self._lock = threading.Lock()
        # Runs under way. APScheduler's shutdown holds its job-store lock while it waits
        # for them, so a run must be over before it begins: a run that asks the scheduler
        # anything (the next run time, a new interval) would wait for that lock forever.
        self._active = 0
        self._idle = threading.Condition()
        # For /healthz, read from the HTTP threads: replaced whole, never changed in place.
        self.states: dict[str, JobState] = {}

    def start(self) -> None:
        # APScheduler logs every run at INFO; that belongs in debugging only.
        library = logging.getLogger("apscheduler")
        if library.level == logging.NOTSET and not log.isEnabledFor(logging.DEBUG):
            library.setLevel(logging.WARNING)
        scheduler = BackgroundScheduler(
            timezone=UTC,
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )
        first: datetime = self.clock.now()
        jobs: tuple[tuple[str, Callable[[Sweeps, datetime], SweepReport]], ...] = (
            ("sla", Sweeps.run_sla),
            ("follow-ups", Sweeps.run_follow_ups),
        )
        for name, sweep in jobs:
            scheduler.add_job(
                self._run,
                IntervalTrigger(seconds=self.interval, timezone=UTC),
                args=(name, sweep),
                id=name,
                name=name,
                next_run_time=first,
            )
        if self.monthly is not None:
            scheduler.add_job(
                self._run_monthly,
                IntervalTrigger(seconds=MONTHLY_EVERY, timezone=UTC),
                id="monthly-report",
                name="monthly-report",
                next_run_time=first,
            )
        self._scheduler = scheduler
        self.states = {job.id: JobState() for job in scheduler.get_jobs()}
        scheduler.start()
        for job in scheduler.get_jobs():
            self._state(job.id)
        log.info("sweeps every %g s: reminders, escalations, follow-ups", self.interval)

    @contextmanager
    def _running(self) -> Iterator[bool]:
        """Whether this run may go on; shutdown waits for the runs inside."""
        with self._idle:
            if self._stopping:
                yield False
                return
            self._active += 1
        try:
            yield True
        finally:
            with self._idle:
                self._active -= 1
                self._idle.notify_all()

    def _run(self, name: str, sweep: Callable[[Sweeps, datetime], SweepReport]) -> None:
        with self._running() as allowed:
            if allowed:
                self._sweep(name, sweep)

    def _standby(self, name: str) -> bool:
        """Whether another daemon sweeps: then this one's run does nothing."""
        try:
            self.sweeping = bool(self.submit(self.may_sweep).result())
        except Exception as exc:  # the store cannot say: act as if it were taken
            log.warning(
                "%s: cannot ask for the sweep lock (%s); the next run asks again", name, exc
            )
            self.sweeping = False
        if not self.sweeping:
            self._state(name, state="standby", last_result="another node sweeps")
        return not self.sweeping

    def _sweep(self, name: str, sweep: Callable[[Sweeps, datetime], SweepReport]) -> None:
        if self._standby(name):
            return
        self._state(name, state="running", last_run=iso(self.clock.now()))
        done = SweepReport()
        result = ""
        try:
            # A catch-up goes on in parts, each its own transaction, while mail keeps coming
            # in between.
            while not self._stopping:
                report, interval = self.submit(self._part, sweep).result()
                done = _add(done, report)
                if interval != self.interval:
                    self._reschedule(interval)
                if not report.more:
                    break
        except Exception as exc:  # the next run tries again; a job must not die with one bad row
            log.exception("%s sweep failed; the next run tries again", name)
            result = f"failed: {exc}"
        self._state(name, state="scheduled", last_result=result or _summary(done))

    def _run_monthly(self) -> None:
        with self._running() as allowed:
            if allowed:
                self._monthly()

    def _monthly(self) -> None:
        monthly = self.monthly
        if monthly is None or self._standby("monthly-report"):
            return
        self._state("monthly-report", state="running", last_run=iso(self.clock.now()))
        try:
            # Asked again beside the work, as in _part.
            sent = self.submit(
                lambda: monthly(self.clock.now()) if self.may_sweep() else None
            ).result()
            result = f"sent {sent}" if sent else "nothing due"
        except Exception as exc:  # the next hour tries again
            log.exception("monthly report failed; the next run tries again")
            result = f"failed: {exc}"
        self._state("monthly-report", state="scheduled", last_result=result)

    def run_soon(self, job: str) -> None:
        """Run ``job`` now rather than at its next time (this daemon took the sweeps over).

        Counted as a run, so a shutdown waits for it before APScheduler's own begins.
        """
        with self._running() as allowed:
            scheduler = self._scheduler
            if not allowed or scheduler is None or scheduler.get_job(job) is None:
                return
            scheduler.modify_job(job, next_run_time=self.clock.now())

    def _part(self, sweep: Callable[[Sweeps, datetime], SweepReport]) -> tuple[SweepReport, int]:
        """On the writer thread: the sweeps of the configuration in force, at ``now``.

        The lock is asked for again in the same job: a session lost since ``_standby``
        took it with it, and another daemon may be sweeping now."""
        sweeps = self.sweeps()
        if not self.may_sweep():
            return SweepReport(), sweeps.config.sla.sweep_seconds
        return sweep(sweeps, self.clock.now()), sweeps.config.sla.sweep_seconds

    def _reschedule(self, interval: float) -> None:
        """A reloaded configuration changed ``sweep_seconds``: both jobs follow it."""
        with self._lock:
            if interval == self.interval or self._scheduler is None:
                return
            for job in ("sla", "follow-ups"):
                self._scheduler.reschedule_job(
                    job, trigger=IntervalTrigger(seconds=interval, timezone=UTC)
                )
            self.interval = interval
        log.info("sweeps every %g s from now on", interval)

    def _state(self, name: str, **changes: str) -> None:
        job = self._scheduler.get_job(name) if self._scheduler is not None else None
        following = iso(job.next_run_time) if job and job.next_run_time else ""
        current = self.states.get(name, JobState())
        self.states = {**self.states, name: replace(current, next_run=following, **changes)}

    def shutdown(self) -> None:
        """Stop the jobs, waiting for a running sweep (the writer is still up)."""
        with self._idle:
            self._stopping = True  # a catch-up in parts stops after the part under way
            while self._active:
                self._idle.wait()
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=True)
            self._scheduler = None


def _always() -> bool:
    return True


def _add(total: SweepReport, part: SweepReport) -> SweepReport:
    counts = {k: v + getattr(part, k) for k, v in vars(total).items() if k != "more"}
    return SweepReport(**counts)


def _summary(report: SweepReport) -> str:
    """'reviewed 12, escalated 1' for /healthz: what the last run did."""
    done = [f"{k} {v}" for k, v in vars(report).items() if k != "more" and v]
    return ", ".join(done) or "nothing due"
