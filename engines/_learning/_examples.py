"""Training data for workflows: typed examples, the metric that judges a run, and their fingerprint."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from pydantic import BaseModel

from flock_core import AgentSpec, Demo, type_name_of
from flock_core.exceptions import ConfigurationError

if TYPE_CHECKING:
    from ._traces import GroupKey
    from ._workflow_run import WorkflowRun

__all__ = ["ExampleLike", "Metric", "WorkflowExample", "as_examples", "examples_fingerprint"]

L = TypeVar("L")


@dataclass(frozen=True, slots=True, init=False)
class WorkflowExample(Generic[L]):
    """One input of a workflow and what a good run of it should produce.

    Attributes:
        inputs: the payloads published to start one run (they share one correlation id).
        expected: the label the metric compares the run against (a string, a model, anything).
        outputs: optional, what a correct run publishes in reply to `inputs` (for example the right `Triage`):
            each agent that consumes the inputs' types and publishes exactly these types learns them as a
            labelled demo, as DSPy's labelled demos (`LabeledFewShot`) do, also when its own run fails.

    >>> from pydantic import BaseModel
    >>> class Ticket(BaseModel):
    ...     text: str
    >>> WorkflowExample(Ticket(text="where is my order?"), "eta").inputs
    (Ticket(text='where is my order?'),)
    """

    inputs: tuple[BaseModel, ...]
    expected: L
    outputs: tuple[BaseModel, ...]

    def __init__(
        self, inputs: BaseModel | Iterable[BaseModel], expected: L, *, outputs: Iterable[BaseModel] = ()
    ) -> None:
        items = (inputs,) if isinstance(inputs, BaseModel) else tuple(inputs)
        if not items or not all(isinstance(item, BaseModel) for item in items):
            raise ConfigurationError("a WorkflowExample needs one or more Pydantic model instances as inputs")
        labelled = tuple(outputs)
        if not all(isinstance(item, BaseModel) for item in labelled):
            raise ConfigurationError("a WorkflowExample's outputs must be Pydantic model instances")
        object.__setattr__(self, "inputs", items)
        object.__setattr__(self, "expected", expected)
        object.__setattr__(self, "outputs", labelled)

    def labelled_demos(self, specs: Mapping[str, AgentSpec], agents: Iterable[str]) -> dict[GroupKey, Demo]:
        """The demo `outputs` give each output group of `agents` that consumes the inputs and publishes their types."""
        if not self.outputs:
            return {}
        inputs = tuple((type_name_of(type(item)), item.model_dump(mode="json")) for item in self.inputs)
        outputs = tuple((type_name_of(type(item)), item.model_dump(mode="json")) for item in self.outputs)
        found: dict[GroupKey, Demo] = {}
        for name in agents:
            spec = specs[name]
            if not {type_name for type_name, _ in inputs} <= set(spec.consumed_types):
                continue
            for index, group in enumerate(spec.output_groups):
                if set(group.types) == {type_name for type_name, _ in outputs}:
                    found[name, index] = Demo(inputs=inputs, outputs=outputs)
        return found


ExampleLike = WorkflowExample[L] | tuple[BaseModel | Sequence[BaseModel], L]
"""A `WorkflowExample`, or the pair `(inputs, expected)` it is made from."""

Metric = Callable[[WorkflowExample[L], "WorkflowRun"], float | bool]
"""`metric(example, run) -> float | bool`: how good one run is for one example (higher is better)."""


def as_examples(items: Iterable[ExampleLike[L]], what: str) -> list[WorkflowExample[L]]:
    """`items` as `WorkflowExample`s (pairs are converted); `what` names the set in errors."""
    examples = [item if isinstance(item, WorkflowExample) else WorkflowExample(item[0], item[1]) for item in items]
    if not examples:
        raise ConfigurationError(f"the {what} is empty; give at least one example")
    return examples


def examples_fingerprint(examples: Sequence[WorkflowExample[Any]]) -> str:
    """A digest of the examples' inputs and labels (a checkpoint belongs to one training set)."""
    rows = [
        [
            [[type_name_of(type(item)), item.model_dump(mode="json")] for item in ex.inputs],
            _plain(ex.expected),
            [[type_name_of(type(item)), item.model_dump(mode="json")] for item in ex.outputs],
        ]
        for ex in examples
    ]
    return hashlib.sha256(json.dumps(rows, sort_keys=True, default=repr).encode()).hexdigest()[:16]


def _plain(value: object) -> object:
    return value.model_dump(mode="json") if isinstance(value, BaseModel) else value
