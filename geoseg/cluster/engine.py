"""The engine: the one place geoseg hands work to Dask.

A *job* is a generator that describes its work as typed steps and gets their results back::

    def scene_job(...) -> Job[SceneResult]:
        handle = yield Task(tasks.assemble_layer, (store, "classes", blocks, final), "assemble")
        [path] = yield Wait((handle,))
        ...
        return SceneResult(...)

The engine runs many jobs at once on one client: ``yield Task`` submits a call and gives back its
``Handle`` at once (a handle can be an argument of later tasks: Dask passes the result worker to
worker); ``yield Wait`` resumes the job with the results once they are all in; ``yield Spawn``
starts another job (a date of a change pair) whose result a ``Wait`` collects like a task's. So the
polygons and manifest of scene N run on workers while scene N+1's tiles are inferred, and the
pipeline modules never touch a future.

Memory stays bounded by the *slots*: ``yield Slot()`` waits until fewer than ``max_slots`` are
held, and the job's next task marked ``slot=True`` (a block being stitched) carries that slot
until it ends. Waiting jobs are served smallest work first (``Slot.size``), then in the order
they were started, so scenes stream one after another, never all at once, and a huge scene does
not hold back small ones.

A task's error fails its job, not the run: it is raised inside the job at its current ``yield``
(the job may catch it), and a job that ends with an error is reported as ``Failed`` with one line;
its remaining tasks are cancelled. Other jobs go on.
"""

import heapq
from collections.abc import Callable, Generator, Iterable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar
from uuid import uuid4

from distributed import Client, Future, as_completed

from geoseg.errors import GeosegError
from geoseg.locations import printable, redact

T = TypeVar("T")


@dataclass(frozen=True)
class Handle:
    """A submitted task's result, still on the cluster."""

    future: Future


@dataclass(frozen=True)
class Task:
    """Run ``fn(*args)`` on a worker. ``Handle`` arguments are replaced by their results.

    Attributes:
        fn: a task function (``geoseg.cluster.tasks``).
        args: its arguments: small values, paths and handles.
        name: the stage, shown in Dask's dashboard and task stream (``predict``, ``stitch`` ...).
        gpu: runs where the ``GPU`` resource is, when any worker has one.
        slot: carries the slot its job holds (``Slot``) until it ends (the module docstring).
        done: called in the client, without the result, when the task has finished.
    """

    fn: Callable[..., Any]
    args: tuple[Any, ...]
    name: str
    gpu: bool = False
    slot: bool = False
    done: Callable[[], None] | None = None


@dataclass(frozen=True)
class JobHandle:
    """A spawned job, to ``Wait`` for like a task."""

    index: int


@dataclass(frozen=True)
class Wait:
    """Resume the job with the results of these handles, in order; with ``fetch=False`` only
    once they are done (the results stay on the workers, the job gets Nones)."""

    handles: tuple[Handle | JobHandle, ...]
    fetch: bool = True


@dataclass(frozen=True)
class Slot:
    """Wait for a free slot and hold it for the job's next ``slot`` task: work submitted in
    between (the predictions a block needs) then starts only when the block may. ``size`` is
    the job's whole work (a scene's pixels): waiting jobs of less work get slots first, so a
    huge scene never keeps small ones from starting."""

    size: int = 0


@dataclass(frozen=True)
class Spawn:
    """Start a job beside this one; the ``yield`` gives its ``JobHandle``."""

    job: "Job[Any]"
    name: str


Step = Task | Wait | Spawn | Slot
Job = Generator[Step, Any, T]


@dataclass(frozen=True)
class Done(Generic[T]):
    """A job that returned ``value``."""

    name: str
    value: T


@dataclass(frozen=True)
class Failed:
    """A job that raised: ``error`` is one line."""

    name: str
    error: str


Outcome = Done[T] | Failed


class JobFailed(GeosegError):
    """A job waited on a spawned job that failed."""


NEVER_ENDED = "its job never ended (it waited for something that could not come)"


def _error_of(future: Future) -> BaseException:
    """The error a failed or cancelled task raises in its job."""
    return future.exception() if future.status == "error" else GeosegError("task cancelled")


def error_line(exc: BaseException) -> str:
    """A one-line message for an exception raised in a task or a job."""
    text = redact(str(exc).strip().splitlines()[0]) if str(exc).strip() else ""
    return text if isinstance(exc, GeosegError) else f"{type(exc).__name__}: {text}"


@dataclass(eq=False)
class _Run:
    """One job's state in the engine."""

    index: int
    name: str
    job: Job[Any]
    parent: "_Run | None"
    futures: set[Future] = field(default_factory=set)
    children: list["_Run"] = field(default_factory=list)
    waiting: Wait | None = None
    wants_slot: bool = False
    held_slots: int = 0
    outcome: Outcome[Any] | None = None

    def priority(self, size: int) -> tuple[int, int, int]:
        """Slots go to the job of least work (``Slot.size``) first, then to the oldest
        top-level job, and within it to the oldest job."""
        root = self
        while root.parent is not None:
            root = root.parent
        return size, root.index, self.index


class Engine:
    """Runs jobs on ``client`` (see the module docstring)."""

    def __init__(self, client: Client, max_slots: int | None = None) -> None:
        self.client = client
        # Two blocks per worker thread keep every thread busy while a block is written.
        self.max_slots = max_slots or 2 * (sum(client.nthreads().values()) or 1)
        workers = client.scheduler_info(n_workers=-1)["workers"].values()
        self.gpu = any(w.get("resources", {}).get("GPU", 0) > 0 for w in workers)
        self._runs: list[_Run] = []
        self._owner: dict[Future, tuple[_Run, Task]] = {}
        self._slots_used = 0
        self._slot_queue: list[tuple[tuple[int, int, int], int]] = []  # (priority, run index)
        self._completed = as_completed()

    def run(self, jobs: Iterable[tuple[str, Job[T]]]) -> list[Outcome[T]]:
        """Run named jobs to their end; one outcome per job, in order."""
        top = [self._start(job, name, None) for name, job in jobs]
        try:
            for run in top:
                self._resume(run, None)
            for future in self._completed:
                self._finished(future)
                if all(r.outcome is not None for r in top):
                    break
        finally:
            self.client.cancel([f for r in self._runs for f in r.futures])
        return [run.outcome or Failed(run.name, NEVER_ENDED) for run in top]

    def _start(self, job: Job[Any], name: str, parent: _Run | None) -> _Run:
        run = _Run(len(self._runs), name, job, parent)
        self._runs.append(run)
        if parent is not None:
            parent.children.append(run)
        return run

    def _submit(self, run: _Run, task: Task) -> Handle:
        future = self.client.submit(
            task.fn,
            *map(_unwrapped, task.args),
            key=f"{task.name}-{printable(run.name)}-{uuid4().hex[:12]}",
            pure=False,
            resources={"GPU": 1} if task.gpu and self.gpu else None,
        )
        run.futures.add(future)
        self._owner[future] = (run, task)
        self._completed.add(future)
        return Handle(future)

    def _hold_slot(self, run: _Run) -> None:
        self._slots_used += 1
        run.held_slots += 1

    def _resume(self, run: _Run, value: Any, error: BaseException | None = None) -> None:
        """Drive ``run`` until it waits for something, ends or fails."""
        while run.outcome is None:
            try:
                step = run.job.throw(error) if error is not None else run.job.send(value)
            except StopIteration as stop:
                return self._end(run, Done(run.name, stop.value))
            except Exception as exc:  # noqa: BLE001 (a job's error fails that job only)
                return self._end(run, Failed(run.name, error_line(exc)))
            value, error = None, None
            if isinstance(step, Slot):
                if self._slots_used >= self.max_slots:
                    run.wants_slot = True
                    heapq.heappush(self._slot_queue, (run.priority(step.size), run.index))
                    return None
                self._hold_slot(run)
            elif isinstance(step, Task):
                if step.slot and not run.held_slots:
                    error = RuntimeError(f"{step.name}: a slot task needs a Slot first")
                    continue
                run.held_slots -= step.slot  # the task carries its job's slot until it ends
                value = self._submit(run, step)
            elif isinstance(step, Spawn):
                child = self._start(step.job, step.name, run)
                value = JobHandle(child.index)
                self._resume(child, None)
            else:
                ready = self._collect(step)
                if ready is None:
                    run.waiting = step
                    return None
                value, error = ready
        return None

    def _collect(self, wait: Wait) -> tuple[list[Any] | None, BaseException | None] | None:
        """The results ``wait`` resumes its job with (or the error of a spawned job that failed);
        None while something it waits for is not done."""
        futures = [h.future for h in wait.handles if isinstance(h, Handle)]
        for future in futures:
            if future.status in ("error", "cancelled") and future not in self._owner:
                return None, _error_of(future)  # raised in the job before: raise it again
        if any(f.status != "finished" for f in futures):
            return None  # pending, or failed: ``_finished`` raises its error in the job
        values = iter(self.client.gather(futures) if wait.fetch and futures else [])
        results: list[Any] = []
        for handle in wait.handles:
            if isinstance(handle, Handle):
                results.append(next(values) if wait.fetch else None)
                continue
            outcome = self._runs[handle.index].outcome
            if outcome is None:
                return None
            if isinstance(outcome, Failed):
                return None, JobFailed(f"{outcome.name}: {outcome.error}")
            results.append(outcome.value)
        return results, None

    def _wake(self, run: _Run) -> None:
        """Resume a waiting job if everything it waits for is in."""
        ready = self._collect(run.waiting) if run.waiting is not None else None
        if ready is not None:
            run.waiting = None
            self._resume(run, *ready)

    def _finished(self, future: Future) -> None:
        run, task = self._owner.pop(future)
        run.futures.discard(future)
        self._slots_used -= task.slot
        if run.outcome is None:
            if future.status != "finished":
                self._fail(run, _error_of(future))
            else:
                if task.done is not None:
                    task.done()
                self._wake(run)
        self._serve_slots()

    def _fail(self, run: _Run, error: BaseException) -> None:
        """A task of ``run`` failed: raise it in the job where it stands."""
        run.waiting, run.wants_slot = None, False  # a stale queue entry is skipped when served
        self._resume(run, None, error)

    def _serve_slots(self) -> None:
        while self._slot_queue and self._slots_used < self.max_slots:
            _, index = heapq.heappop(self._slot_queue)
            run = self._runs[index]
            if run.wants_slot and run.outcome is None:
                run.wants_slot = False
                self._hold_slot(run)
                self._resume(run, None)

    def _end(self, run: _Run, outcome: Outcome[Any]) -> None:
        run.outcome = outcome
        run.job.close()
        self._slots_used -= run.held_slots
        run.held_slots = 0
        for child in run.children:
            if child.outcome is None:
                self._end(child, Failed(child.name, "cancelled: the job that started it ended"))
        self.client.cancel(list(run.futures))
        if run.parent is not None:
            self._wake(run.parent)
        self._serve_slots()


def run_jobs(
    client: Client, jobs: Iterable[tuple[str, Job[T]]], max_slots: int | None = None
) -> list[Outcome[T]]:
    """Run named jobs on ``client`` with at most ``max_slots`` slot tasks in flight (default: two
    per worker thread)."""
    return Engine(client, max_slots).run(jobs)


def call(task: Task) -> Job[Any]:
    """Run one task and return its result (``result = yield from call(Task(...))``)."""
    handle = yield task
    [result] = yield Wait((handle,))
    return result


def _unwrapped(arg: Any) -> Any:
    """A task argument with its handles (also inside lists) replaced by their futures."""
    if isinstance(arg, Handle):
        return arg.future
    if isinstance(arg, list):
        return [_unwrapped(a) for a in arg]
    return arg


def share(client: Client, value: Any) -> Handle:
    """``value`` (a model object) copied once to every worker, for tasks to take as an argument."""
    return Handle(client.scatter(value, broadcast=True, hash=False))
