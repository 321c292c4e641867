"""The order in which a grid's jobs start on a launcher that runs several at once, so that no worker
waits on a sibling's epochs.

Jobs whose overrides differ only in ``epochs=`` share their epochs through the reuse store
(nnexp.training.reuse): ``epochs=10`` continues from the epochs ``epochs=5`` stored. Two of them
running at once make one wait, at the store's lock, for the epochs the other trains. So a group of
such jobs runs one job at a time, fewest epochs first: each job trains only the epochs after the
previous one's, and a group's chain of epochs is cut into pieces at its jobs' epochs. A free worker
takes the next job of the group with the most epochs left to train (longest remaining chain first,
the rule that keeps the last chain from running alone at the end); ties go to the lower job number.

The jobs keep Hydra's job numbers (their place in the grid), so their directories, the guard, resume
and the report are those of any sweep. Only the start order changes.
"""

from dataclasses import dataclass, field

EPOCHS_KEY = "epochs"


def split_epochs(overrides):
    """(the overrides without ``epochs=``, the epochs as an int or None) of one job."""
    rest, epochs = [], None
    for override in overrides:
        key, _, value = override.partition("=")
        if key.lstrip("+~") == EPOCHS_KEY:
            try:
                epochs = int(value)
                continue
            except ValueError:   # not a number: let Hydra refuse it in the job, as it would anyway
                pass
        rest.append(override)
    return tuple(rest), epochs


@dataclass
class Group:
    """Jobs (indices into the batch) that differ only in epochs, fewest epochs first."""
    jobs: list = field(default_factory=list)     # [(epochs, index)]
    trained: int = 0                             # epochs the group's finished jobs hold
    running: bool = False

    def left(self):
        """Epochs still to train: the group's largest minus what its finished jobs hold."""
        return max((epochs for epochs, _ in self.jobs), default=self.trained) - self.trained


class EpochOrder:
    """Which job of ``batch`` (a list of override lists) a free worker starts next.

    ``next_job()`` gives a batch index, or None when every job not yet started belongs to a group with a
    job running (wait for ``done``) or none is left; ``done(index)`` records a finished job. Without the
    reuse store (``shared`` False) every job is a group of its own: Hydra's order.
    """

    def __init__(self, batch, shared=True):
        self.groups, self.group_of = {}, {}
        for index, overrides in enumerate(batch):
            key, epochs = split_epochs(overrides)
            if not shared or epochs is None:
                key, epochs = ("job", index), 0
            group = self.groups.setdefault(key, Group())
            group.jobs.append((epochs, index))
            self.group_of[index] = (group, epochs)
        for group in self.groups.values():
            group.jobs.sort()

    def next_job(self):
        waiting = [(-group.left(), group.jobs[0][1], group) for group in self.groups.values()
                   if group.jobs and not group.running]
        if not waiting:
            return None
        *_, group = min(waiting, key=lambda item: item[:2])
        _, index = group.jobs.pop(0)
        group.running = True
        return index

    def done(self, index):
        group, epochs = self.group_of[index]
        group.running = False
        group.trained = max(group.trained, epochs)
