"""The engine on a real LocalCluster: jobs of typed steps run side by side, one job's failure
stays its own, slots bound the work in flight, and long chains of steps need no deep stack."""

import time

from distributed import Client

from geoseg.cluster import Done, Failed, Job, Slot, Spawn, Task, Wait, call, run_jobs


def add(a: int, b: int) -> int:
    return a + b


def fail(message: str) -> None:
    raise ValueError(message)


def interval(seconds: float) -> tuple[float, float]:
    """Sleep, and say when this task ran."""
    start = time.time()
    time.sleep(seconds)
    return start, time.time()


def total_job(numbers: list[int]) -> Job[int]:
    """Sums numbers with one task per addition, each taking the previous result's handle."""
    handle = yield Task(add, (0, 0), "add")
    for n in numbers:
        handle = yield Task(add, (handle, n), "add")
    [result] = yield Wait((handle,))
    return result


def failing_job() -> Job[int]:
    yield from call(Task(fail, ("bad block 3",), "stitch"))
    return 0


def test_jobs_run_side_by_side_and_a_failure_stays_in_its_job(client: Client) -> None:
    outcomes = run_jobs(
        client, [("a", total_job([1, 2, 3])), ("bad", failing_job()), ("b", total_job([10]))]
    )
    assert outcomes[0] == Done("a", 6)
    assert outcomes[1] == Failed("bad", "ValueError: bad block 3")
    assert outcomes[2] == Done("b", 10)


def test_a_job_may_catch_its_task_errors(client: Client) -> None:
    def careful() -> Job[str]:
        try:
            yield from call(Task(fail, ("no such file",), "read"))
        except ValueError as exc:
            return f"handled: {exc}"
        return "not raised"

    assert run_jobs(client, [("careful", careful())]) == [Done("careful", "handled: no such file")]


def test_spawned_jobs_give_results_and_their_failures_reach_the_parent(client: Client) -> None:
    def parent(fail_second: bool) -> Job[list[int]]:
        first = yield Spawn(total_job([1, 1]), "first")
        second = yield Spawn(failing_job() if fail_second else total_job([5]), "second")
        return (yield Wait((first, second)))

    ok, bad = run_jobs(client, [("ok", parent(False)), ("bad", parent(True))])
    assert ok == Done("ok", [2, 5])
    assert bad == Failed("bad", "second: ValueError: bad block 3")


def test_slots_bound_the_tasks_in_flight(client: Client) -> None:
    """Two jobs of six slot tasks each, two slots: never more than two at once, and the older
    job's tasks are served first."""

    def sleeper() -> Job[list[tuple[float, float]]]:
        handles = []
        for _ in range(6):
            yield Slot()
            handles.append((yield Task(interval, (0.2,), "sleep", slot=True)))
        return (yield Wait(tuple(handles)))

    first, second = run_jobs(client, [("first", sleeper()), ("second", sleeper())], max_slots=2)
    assert isinstance(first, Done) and isinstance(second, Done)
    spans = [*first.value, *second.value]
    for start, _ in spans:
        running = sum(1 for s, e in spans if s <= start < e)
        assert running <= 2
    assert max(e for _, e in first.value) <= min(e for _, e in second.value) + 0.2


def test_a_job_of_less_work_gets_slots_before_an_older_bigger_one(client: Client) -> None:
    """A huge scene started first does not keep a small one waiting behind all its blocks."""

    def sleeper(blocks: int, size: int) -> Job[list[tuple[float, float]]]:
        handles = []
        for _ in range(blocks):
            yield Slot(size)
            handles.append((yield Task(interval, (0.1,), "sleep", slot=True)))
        return (yield Wait(tuple(handles)))

    big, small = run_jobs(
        client, [("big", sleeper(12, 10**9)), ("small", sleeper(3, 10**4))], max_slots=2
    )
    assert isinstance(big, Done) and isinstance(small, Done)
    assert max(e for _, e in small.value) < sorted(e for _, e in big.value)[6]


def test_long_chains_of_finished_steps_need_no_deep_stack(client: Client) -> None:
    """A job that waits thousands of times on results already in is resumed in a loop."""
    [handle_job] = run_jobs(client, [("one", total_job([1]))])
    assert handle_job == Done("one", 1)

    def patient() -> Job[int]:
        handle = yield Task(add, (1, 1), "add")
        for _ in range(3000):
            yield Wait((handle,), fetch=False)
        [value] = yield Wait((handle,))
        return value

    assert run_jobs(client, [("patient", patient())]) == [Done("patient", 2)]
