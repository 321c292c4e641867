"""The start order of a grid on a launcher running jobs side by side (nnexp/sweep/job_order.py)."""

import heapq
import itertools

from nnexp.sweep.job_order import EpochOrder, split_epochs

USED_BY_GRID = [[f"lr={lr}", f"epochs={epochs}"] for lr, epochs in itertools.product((0.025, 0.1, 0.3), (1, 5, 10))]
"""The grid of ``python -m nnexp -m lr=0.025,0.1,0.3 epochs=1,5,10``, in Hydra's job order."""


def simulate(batch, slots, shared=True):
    """Run the order on ``slots`` workers where a job lasts the epochs it trains (its epochs minus those
    its group's finished jobs hold, as the reuse store gives them). Returns (makespan, start log
    [(time, index)], the largest number of jobs of one group ever running at once)."""
    order, clock, running, log, trained = EpochOrder(batch, shared), 0, [], [], {}
    overlap, active = 1, {}
    while True:
        while len(running) < slots and (index := order.next_job()) is not None:
            key, epochs = split_epochs(batch[index])
            length = max(0, epochs - trained.get(key, 0)) if shared else epochs
            heapq.heappush(running, (clock + length, index))
            log.append((clock, index))
            active[key] = active.get(key, 0) + 1
            overlap = max(overlap, active[key])
        if not running:
            return clock, log, overlap
        clock, index = heapq.heappop(running)
        key, epochs = split_epochs(batch[index])
        trained[key] = max(trained.get(key, 0), epochs)
        active[key] -= 1
        order.done(index)


def test_the_used_by_grid_on_two_workers_comes_within_an_epoch_of_its_arithmetic():
    """30 epochs on 2 workers: 16 epoch-times against the arithmetic's 15 (the greedy rule's price; Hydra's
    order with both workers taking one rate's jobs side by side waits on the sibling), no worker waiting
    on a sibling (never two jobs of one learning rate at once), every job's epochs trained once, fewest
    epochs first within a rate."""
    makespan, log, overlap = simulate(USED_BY_GRID, slots=2)
    assert makespan == 16 and overlap == 1
    started = [index for _, index in log]
    assert sorted(started) == list(range(9))
    for rate in range(3):
        assert [i for i in started if i // 3 == rate] == [3 * rate, 3 * rate + 1, 3 * rate + 2]
    assert simulate(USED_BY_GRID, slots=2, shared=False)[0] > 15   # 48 epochs without the store


def test_the_longest_remaining_chain_starts_first_and_ties_go_to_the_lower_job():
    batch = [["lr=1", "epochs=2"], ["lr=2", "epochs=8"], ["lr=2", "epochs=4"], ["lr=3", "epochs=8"]]
    order = EpochOrder(batch)
    assert order.next_job() == 2            # lr=2 and lr=3 both have 8 to train; lr=2 holds the lower job (1)
    assert order.next_job() == 3
    assert order.next_job() == 0            # lr=2 is running: its epochs=8 waits for its epochs=4
    assert order.next_job() is None
    order.done(2)
    assert order.next_job() == 1


def test_jobs_without_epochs_or_without_the_store_start_in_hydras_order():
    batch = [["lr=1"], ["lr=2"], ["lr=1", "epochs=3"], ["lr=1", "epochs=2"]]
    assert [EpochOrder(batch, shared=False).next_job() for _ in range(1)] == [0]
    unshared = EpochOrder(batch, shared=False)
    assert [unshared.next_job() for _ in range(4)] == [0, 1, 2, 3]
    shared = EpochOrder(batch)
    assert [shared.next_job() for _ in range(3)] == [3, 0, 1]   # epochs 2 then 3 of lr=1: the longer chain first
    assert split_epochs(["+epochs=7", "lr=1"]) == (("lr=1",), 7)
    assert split_epochs(["epochs=x"]) == (("epochs=x",), None)
