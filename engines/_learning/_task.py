"""`LearningTask`: a workflow, its metric and its labelled splits, in one object the commands can name."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Generic, Literal, TypeVar, get_args

from flock_core import Flock
from flock_core.exceptions import ConfigurationError

from ._examples import ExampleLike, Metric, WorkflowExample, as_examples
from ._options import OptimizeOptions

__all__ = ["LearningTask", "SplitName"]

L = TypeVar("L")
SplitName = Literal["train", "dev", "test"]
"""A task's labelled splits: `train` (demos come from it), `dev` (scores candidates), `test` (held out)."""


@dataclass(frozen=True, slots=True, init=False)
class LearningTask(Generic[L]):
    """What `flock optimize` and `flock evaluate` run: a workflow, a metric, labelled splits and how to search.

    A module names one as `MODULE:ATTRIBUTE` on the command line (the attribute may also be a function
    that takes no argument and returns the task, so that data loads only when a command runs).

    Attributes:
        flock: the workflow (its `learned` state is what optimization changes).
        metric: `metric(example, run) -> float | bool`.
        trainset: the examples demos come from.
        devset: the examples that score candidates (`valset` of `optimize`); optional.
        testset: held-out examples, scored before and after optimization; optional.
        options: how to search (`flock optimize`'s options override these).

    >>> from pydantic import BaseModel
    >>> class Ticket(BaseModel):
    ...     text: str
    >>> task = LearningTask(Flock(), lambda example, run: True, trainset=[(Ticket(text="late"), "eta")])
    >>> task.split("train")[0].expected, task.default_split
    ('eta', 'train')
    """

    flock: Flock
    metric: Metric[L]
    trainset: tuple[WorkflowExample[L], ...]
    devset: tuple[WorkflowExample[L], ...] | None
    testset: tuple[WorkflowExample[L], ...] | None
    options: OptimizeOptions = field(default_factory=OptimizeOptions)

    def __init__(
        self,
        flock: Flock,
        metric: Metric[L],
        *,
        trainset: Iterable[ExampleLike[L]],
        devset: Iterable[ExampleLike[L]] | None = None,
        testset: Iterable[ExampleLike[L]] | None = None,
        options: OptimizeOptions | None = None,
    ) -> None:
        if not isinstance(flock, Flock):
            raise ConfigurationError(f"LearningTask.flock must be a Flock, got {type(flock).__name__}")
        if not callable(metric):
            raise ConfigurationError(f"LearningTask.metric must be callable, got {type(metric).__name__}")
        object.__setattr__(self, "flock", flock)
        object.__setattr__(self, "metric", metric)
        object.__setattr__(self, "trainset", tuple(as_examples(trainset, "trainset")))
        object.__setattr__(self, "devset", None if devset is None else tuple(as_examples(devset, "devset")))
        object.__setattr__(self, "testset", None if testset is None else tuple(as_examples(testset, "testset")))
        object.__setattr__(self, "options", options or OptimizeOptions())

    @property
    def default_split(self) -> SplitName:
        """The split reports score: `test` if there is one, else `dev`, else `train`."""
        return "test" if self.testset is not None else "dev" if self.devset is not None else "train"

    def split(self, name: SplitName) -> Sequence[WorkflowExample[L]]:
        """The examples of split `name`.

        Raises:
            ConfigurationError: the task has no such split.
        """
        if name not in get_args(SplitName):
            raise ConfigurationError(f"split must be one of {get_args(SplitName)}, got {name!r}", setting="split")
        examples = {"train": self.trainset, "dev": self.devset, "test": self.testset}[name]
        if examples is None:
            raise ConfigurationError(f"this LearningTask has no {name} split", setting="split")
        return examples
