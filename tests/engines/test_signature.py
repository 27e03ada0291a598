from __future__ import annotations

from typing import Any

import dspy
import pytest
from inline_snapshot import snapshot
from pydantic import BaseModel

from engines import RESERVED_NAMES, InputShape, InputSlot, build_signature, plan_signature
from flock_core import AgentSpec, BatchSpec, FanOut, OutputGroup, Subscription


class ResearchQuestion(BaseModel):
    """A question to study."""

    text: str


class Source(BaseModel):
    url: str


class Report(BaseModel):
    title: str
    body: str


class Summary(BaseModel):
    text: str


class Story(BaseModel):
    text: str


class Analysis(BaseModel):
    finding: str


class HTMLPage(BaseModel):
    html: str


class HtmlPage(BaseModel):
    markup: str


class Instructions(BaseModel):
    text: str


class Signature(BaseModel):
    text: str


class Reasoning(BaseModel):
    text: str


class Config(BaseModel):
    value: str


class Context(BaseModel):
    text: str


class ModelDumpJob(BaseModel):
    text: str


def agent(
    *,
    consumes: list[tuple[type[BaseModel], ...]],
    publishes: tuple[type[BaseModel], ...],
    fan_out: FanOut | None = None,
    description: str | None = "Do the research.",
    group_description: str | None = None,
    batch: bool = False,
    names: dict[type[BaseModel], str] | None = None,
) -> AgentSpec:
    """An AgentSpec built directly from the dataclasses (no builder)."""
    named = names or {}

    def name(model: type[BaseModel]) -> str:
        return named.get(model, model.__name__)

    subscriptions = tuple(
        Subscription(tuple(name(m) for m in models), models, batch=BatchSpec(size=3) if batch else None)
        for models in consumes
    )
    group = OutputGroup(
        tuple(name(m) for m in publishes), publishes, fan_out or FanOut(), description=group_description
    )
    return AgentSpec("researcher", description, subscriptions=subscriptions, output_groups=(group,))


def shape(
    *slots: tuple[type[BaseModel], int], names: dict[type[BaseModel], str] | None = None, **flags: bool
) -> InputShape:
    named = names or {}
    return InputShape(tuple(InputSlot(named.get(m, m.__name__), m, n) for m, n in slots), **flags)


def describe(spec: AgentSpec, input_shape: InputShape) -> dict[str, Any]:
    return plan_signature(spec, 0, input_shape).describe()


def test_single_input_single_output() -> None:
    spec = agent(consumes=[(ResearchQuestion,)], publishes=(Report,))
    assert describe(spec, shape((ResearchQuestion, 1))) == snapshot(
        {
            "instructions": "Do the research.",
            "inputs": [
                "research_question: ResearchQuestion = 'The ResearchQuestion input artifact. A question to study.'"
            ],
            "outputs": ["report: Report = 'One Report artifact.'"],
        }
    )


def test_multiple_input_types_follow_declaration_order() -> None:
    spec = agent(consumes=[(ResearchQuestion, Source)], publishes=(Report,))
    assert describe(spec, shape((ResearchQuestion, 1), (Source, 1))) == snapshot(
        {
            "instructions": "Do the research.",
            "inputs": [
                "research_question: ResearchQuestion = 'The ResearchQuestion input artifact. A question to study.'",
                "source: Source = 'The Source input artifact.'",
            ],
            "outputs": ["report: Report = 'One Report artifact.'"],
        }
    )


def test_count_gate_is_one_plural_list_field() -> None:
    spec = agent(consumes=[(Story, Story, Story)], publishes=(Summary,))
    assert describe(spec, shape((Story, 3))) == snapshot(
        {
            "instructions": "Do the research.",
            "inputs": ["stories: list[Story] = 'Every Story input artifact (3 in total).'"],
            "outputs": ["summary: Summary = 'One Summary artifact.'"],
        }
    )


def test_batch_is_a_list_even_with_one_artifact() -> None:
    spec = agent(consumes=[(Analysis,)], publishes=(Summary,), batch=True)
    assert describe(spec, shape((Analysis, 1), batched=True)) == snapshot(
        {
            "instructions": "Do the research.",
            "inputs": ["analyses: list[Analysis] = 'Every Analysis input artifact (1 in total).'"],
            "outputs": ["summary: Summary = 'One Summary artifact.'"],
        }
    )


def test_fan_out_exact() -> None:
    spec = agent(consumes=[(ResearchQuestion,)], publishes=(Story,), fan_out=FanOut(3))
    assert describe(spec, shape((ResearchQuestion, 1))) == snapshot(
        {
            "instructions": "Do the research.",
            "inputs": [
                "research_question: ResearchQuestion = 'The ResearchQuestion input artifact. A question to study.'"
            ],
            "outputs": ["stories: list[Story] = 'A list of exactly 3 Story artifacts.'"],
        }
    )


def test_fan_out_range_with_group_description() -> None:
    spec = agent(
        consumes=[(ResearchQuestion,)],
        publishes=(Analysis,),
        fan_out=FanOut(2, 5),
        group_description="One angle each.",
    )
    assert describe(spec, shape((ResearchQuestion, 1))) == snapshot(
        {
            "instructions": "Do the research.",
            "inputs": [
                "research_question: ResearchQuestion = 'The ResearchQuestion input artifact. A question to study.'"
            ],
            "outputs": ["analyses: list[Analysis] = 'A list of between 2 and 5 Analysis artifacts. One angle each.'"],
        }
    )


def test_several_types_in_one_group_with_fan_out() -> None:
    spec = agent(consumes=[(ResearchQuestion,)], publishes=(Report, Summary), fan_out=FanOut(2))
    assert describe(spec, shape((ResearchQuestion, 1))) == snapshot(
        {
            "instructions": "Do the research.",
            "inputs": [
                "research_question: ResearchQuestion = 'The ResearchQuestion input artifact. A question to study.'"
            ],
            "outputs": [
                "reports: list[Report] = 'A list of exactly 2 Report artifacts.'",
                "summaries: list[Summary] = 'A list of exactly 2 Summary artifacts.'",
            ],
        }
    )


def test_context_and_repair_fields() -> None:
    spec = agent(consumes=[(ResearchQuestion,)], publishes=(Report,))
    assert describe(spec, shape((ResearchQuestion, 1), has_context=True, repair=True)) == snapshot(
        {
            "instructions": """\
Do the research.

Your previous answer was rejected.
`previous_attempt` holds what it produced and every error found in it: answer again, fixing each error.\
""",
            "inputs": [
                "research_question: ResearchQuestion = 'The ResearchQuestion input artifact. A question to study.'",
                "context: list[ContextItem] = 'Other blackboard artifacts that may help (type, producer, data).'",
                "previous_attempt: PreviousAttempt = 'Your previous, rejected answer and the errors to fix.'",
            ],
            "outputs": ["report: Report = 'One Report artifact.'"],
        }
    )


def test_default_instructions_name_the_fields() -> None:
    spec = agent(consumes=[(ResearchQuestion,)], publishes=(Report,), description=None)
    assert describe(spec, shape((ResearchQuestion, 1)))["instructions"] == snapshot(
        "You are the agent `researcher`. Given `research_question`, produce `report`."
    )


def test_collision_same_type_in_and_out() -> None:
    spec = agent(consumes=[(Report,)], publishes=(Report,))
    assert describe(spec, shape((Report, 1))) == snapshot(
        {
            "instructions": "Do the research.",
            "inputs": ["input_report: Report = 'The Report input artifact.'"],
            "outputs": ["output_report: Report = 'One Report artifact.'"],
        }
    )


def test_collision_plural_in_and_out_and_same_snake_name() -> None:
    spec = agent(consumes=[(Report, Report), (HTMLPage,), (HtmlPage,)], publishes=(Report,), fan_out=FanOut(2))
    assert describe(spec, shape((Report, 2), (HTMLPage, 1), (HtmlPage, 1))) == snapshot(
        {
            "instructions": "Do the research.",
            "inputs": [
                "input_reports: list[Report] = 'Every Report input artifact (2 in total).'",
                "html_page: HTMLPage = 'The HTMLPage input artifact.'",
                "html_page_2: HtmlPage = 'The HtmlPage input artifact.'",
            ],
            "outputs": ["output_reports: list[Report] = 'A list of exactly 2 Report artifacts.'"],
        }
    )


def test_collision_dotted_names_with_the_same_last_segment() -> None:
    names: dict[type[BaseModel], str] = {Report: "finance.Report", Summary: "legal.Report"}
    spec = agent(consumes=[(ResearchQuestion,)], publishes=(Report, Summary), names=names)
    assert describe(spec, shape((ResearchQuestion, 1))) == snapshot(
        {
            "instructions": "Do the research.",
            "inputs": [
                "research_question: ResearchQuestion = 'The ResearchQuestion input artifact. A question to study.'"
            ],
            "outputs": [
                "report: Report = 'One finance.Report artifact.'",
                "report_2: Summary = 'One legal.Report artifact.'",
            ],
        }
    )


def test_reserved_names() -> None:
    spec = agent(
        consumes=[(Instructions,), (Signature,), (Config,), (Context,), (ModelDumpJob,)],
        publishes=(Reasoning, Instructions),
    )
    input_shape = shape(
        (Instructions, 1), (Signature, 1), (Config, 1), (Context, 1), (ModelDumpJob, 1), has_context=True
    )
    assert describe(spec, input_shape) == snapshot(
        {
            "instructions": "Do the research.",
            "inputs": [
                "input_instructions: Instructions = 'The Instructions input artifact.'",
                "input_signature: Signature = 'The Signature input artifact.'",
                "input_config: Config = 'The Config input artifact.'",
                "input_context: Context = 'The Context input artifact.'",
                "input_model_dump_job: ModelDumpJob = 'The ModelDumpJob input artifact.'",
                "context: list[ContextItem] = 'Other blackboard artifacts that may help (type, producer, data).'",
            ],
            "outputs": [
                "output_reasoning: Reasoning = 'One Reasoning artifact.'",
                "output_instructions: Instructions = 'One Instructions artifact.'",
            ],
        }
    )


def test_reserved_names_cover_every_public_attribute_of_dspy_signature() -> None:
    public = {name for name in dir(dspy.Signature) if not name.startswith("_")}
    metaclass_properties = {"instructions", "input_fields", "output_fields", "fields", "signature"}
    uncovered = (public | metaclass_properties) - RESERVED_NAMES
    assert all(name.startswith(("model_dump", "model_validate")) for name in uncovered)


def test_every_generated_name_is_accepted_by_dspy() -> None:
    spec = agent(
        consumes=[(Instructions,), (Signature,), (Config,), (Context,), (ModelDumpJob,), (Report, Report)],
        publishes=(Reasoning, Instructions, Report),
        fan_out=FanOut(2),
    )
    input_shape = shape(
        (Instructions, 1), (Signature, 1), (Config, 1), (Context, 1), (ModelDumpJob, 1), (Report, 2), repair=True
    )
    plan, signature = build_signature(spec, 0, input_shape)
    assert list(signature.input_fields) == [f.name for f in plan.inputs]
    assert list(signature.output_fields) == [f.name for f in plan.outputs]
    assert len(plan.inputs) == 7
    assert len(plan.outputs) == 3


def test_build_signature_types_descriptions_and_instructions() -> None:
    spec = agent(consumes=[(ResearchQuestion,)], publishes=(Story,), fan_out=FanOut(3))
    plan, signature = build_signature(spec, 0, shape((ResearchQuestion, 1)))
    assert signature.instructions == "Do the research."
    assert signature.input_fields["research_question"].annotation is ResearchQuestion
    stories = signature.output_fields["stories"]
    assert stories.annotation == list[Story]
    assert stories.json_schema_extra == {
        "__dspy_field_type": "output",
        "desc": "A list of exactly 3 Story artifacts.",
        "prefix": "Stories:",
    }
    assert signature.__name__ == "ResearcherGroup0"
    assert plan.outputs[0].many


def test_build_signature_is_cached_per_declaration_and_shape() -> None:
    spec = agent(consumes=[(Story, Story)], publishes=(Summary,))
    first = build_signature(spec, 0, shape((Story, 2)))
    assert build_signature(spec, 0, shape((Story, 2))) is first
    assert build_signature(spec, 0, shape((Story, 3)))[1] is not first[1]
    same_name_other_declaration = agent(consumes=[(Story, Story)], publishes=(Summary,), description="Other.")
    assert build_signature(same_name_other_declaration, 0, shape((Story, 2)))[1].instructions == "Other."


@pytest.mark.parametrize("count", [1, 2])
def test_the_instructions_hold_the_description_once(count: int) -> None:
    spec = agent(consumes=[(Story,)], publishes=(Summary,), description="Summarise the stories.")
    plan = plan_signature(spec, 0, shape((Story, count)))
    text = str(plan.describe())
    assert text.count("Summarise the stories.") == 1
