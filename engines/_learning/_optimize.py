"""Optimizing a workflow: bootstrap demos from good runs, search candidates, keep the best; resumable.

An optimization is a sequence of trials, each checkpointed when it completes:

1. `bootstrap`: run the workflow once per training example (with the starting learned state) and keep,
   per `(agent, output group)`, the demos of the runs the metric passes (see `engines._learning._traces`).
2. `propose` (`"mipro"`): ask the proposer engine for instructions, per output group seen; or
   `teleprompter` (a DSPy teleprompter): compile each output group on its own (`_teleprompter`).
3. `baseline` / `candidate`: apply one candidate learned state and score it on the evaluation set
   (`valset`, else the training set). The candidates are a pure function of the checkpointed pool,
   proposals and seed (`engines._learning._search`), so a resumed optimization tries exactly what an
   uninterrupted one would, and ends with the same result.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Generator, Iterable, Mapping
from contextlib import contextmanager
from typing import Any, Generic, Literal, TypeVar

import anyio
import anyio.to_thread
from opentelemetry import trace
from opentelemetry.trace import Span, Tracer

from flock_core import Demo, Flock, LearnedState, OptimizationProgress, Usage
from flock_core.exceptions import ConfigurationError, UnknownAgentError

from .._dspy_engine import DSPyEngine
from .._meter import metering
from ._budget import Spending, first_run_estimate
from ._checkpoint import Checkpoint
from ._codec import encode_state
from ._evaluate import judge, mean
from ._evolve import Evolution, Hooks
from ._examples import ExampleLike, Metric, WorkflowExample, as_examples, examples_fingerprint
from ._options import OptimizeOptions
from ._persist import group_fingerprint
from ._propose import propose_all
from ._results import OptimizationResult, OptimizationState, OptimizationStatus, OptimizerName, TrialKind, TrialRecord
from ._runner import Batch, StopReason, run_examples
from ._search import Candidate, bootstrapped, learns, random_candidates
from ._traces import GroupKey, run_demos

__all__ = ["SPENDING_JOURNAL", "OptimizationRun"]

SPENDING_JOURNAL = "spending.jsonl"
"""The file in `run_dir` where the meter records every model call before it is made."""

L = TypeVar("L")
Learned = dict[GroupKey, LearnedState]
Best = tuple[int | None, float | None]
"""The trial that scored the chosen candidate, and its score."""
_SEARCHES: tuple[OptimizerName, ...] = ("bootstrap_random_search", "mipro")
ProgressState = Literal["started", "running", "paused", "finished", "cancelled", "failed"]


class OptimizationRun(Generic[L]):
    """A handle on one optimization: start it with `await run.run()`, watch `status()`, stop it with `cancel()`.

    The arguments are those of `engines.optimize` (see there). `cancel()` stops before the next batch of
    runs: the trial in progress is dropped, the starting learned state is restored, and with a `run_dir`
    a new optimization on the same directory resumes after the last completed trial.
    """

    def __init__(
        self,
        flock: Flock,
        trainset: Iterable[ExampleLike[L]],
        metric: Metric[L],
        options: OptimizeOptions | None = None,
        *,
        valset: Iterable[ExampleLike[L]] | None = None,
    ) -> None:
        options = options or OptimizeOptions()
        self._flock = flock
        self._train = as_examples(trainset, "trainset")
        self._val = as_examples(valset, "valset") if valset is not None else None
        self._metric = metric
        self._optimizer = options.optimizer
        self._scope = _scope(flock, options.agents)
        self._keys = frozenset((name, i) for name in self._scope for i in range(len(flock.agents[name].output_groups)))
        self._options = options
        self._state: OptimizationState = "pending"
        self._cancelled = False
        self._unpaused: anyio.Event | None = None
        self._current: str | None = None
        self._stop: StopReason | None = None
        self._checkpoint = Checkpoint(self._fingerprint())
        self._spending = Spending(options.budget, Usage())
        self._planned: tuple[tuple[int, int, int], list[tuple[TrialKind, Candidate]]] | None = None
        self._trial_cost = 0.0
        self._evolution: Evolution | None = None
        self.optimization_id = uuid.uuid4().hex[:16]

    @property
    def _name(self) -> str:
        return self._optimizer if isinstance(self._optimizer, str) else type(self._optimizer).__name__

    # -- control -------------------------------------------------------------------------------------

    def status(self) -> OptimizationStatus:
        """The progress so far: trials, best score, LM calls and tokens (across resumes), state."""
        scores = [
            t.score for t in self._checkpoint.trials if t.kind in ("baseline", "candidate") and t.score is not None
        ]
        return OptimizationStatus(
            state=self._state,
            trials_done=len(self._checkpoint.trials),
            trials_total=self._trials_total(),
            best_score=max(scores) if scores else None,
            usage=self._spending.spent,
            current_trial=self._current,
            stop_reason=self._stop,
            cost=self._spending.cost,
            trials=tuple(self._checkpoint.trials),
        )

    def cancel(self) -> None:
        """Stop before the next batch of runs (runs in flight finish; the trial in progress is dropped)."""
        self._cancelled = True
        self.resume()

    def pause(self) -> None:
        """Hold before the next batch of runs until `resume()` (runs in flight finish; nothing is dropped)."""
        if self._unpaused is None:
            self._unpaused = anyio.Event()

    def resume(self) -> None:
        """Continue after `pause()`."""
        if self._unpaused is not None:
            self._unpaused.set()
            self._unpaused = None

    async def _wait_while_paused(self) -> None:
        while (unpaused := self._unpaused) is not None:
            state, self._state = self._state, "paused"
            self._save(self._checkpoint, "completed")
            self._emit("paused")
            await unpaused.wait()
            self._state = state
            self._emit("running")

    async def run(self) -> OptimizationResult:
        """Run (or resume) the optimization and apply what it found to `flock.learned`.

        Raises:
            ConfigurationError: this handle already ran, or `run_dir` holds another optimization's checkpoint.
        """
        if self._state != "pending":
            raise ConfigurationError("an OptimizationRun runs once; create a new one (same run_dir to resume)")
        self._state = "running"
        checkpoint = self._load()
        resumed = len(checkpoint.trials)
        self._emit("started")
        try:
            self._stop = await self._search(checkpoint)
        except BaseException as exc:
            _apply(self._flock, self._keys, checkpoint.initial)
            ended: ProgressState = "cancelled" if isinstance(exc, anyio.get_cancelled_exc_class()) else "failed"
            self._state = ended
            self._emit(ended)
            raise
        finally:
            self._spending.meter.close()
        result = self._result(checkpoint, self._stop, resumed)
        ended = "cancelled" if self._stop == "cancelled" else "finished"
        self._state = ended
        self._emit(ended)
        return result

    @property
    def correlation_prefix(self) -> str:
        """The start of the correlation id of every workflow run this optimization makes."""
        return f"learn-{self.optimization_id}-"

    def _emit(self, state: ProgressState, trial: TrialRecord | None = None) -> None:
        """Tell `flock.events` where the optimization stands (`OptimizationProgress`)."""
        if not self._flock.events.listening:
            return
        status, spent = self.status(), self._spending.spent
        self._flock.events.emit(
            OptimizationProgress(
                optimization_id=self.optimization_id,
                correlation_prefix=self.correlation_prefix,
                state=state,
                trials_done=status.trials_done,
                trials_total=status.trials_total,
                trial=trial.label if trial is not None else None,
                score=trial.score if trial is not None else None,
                best_score=status.best_score,
                calls=spent.calls,
                input_tokens=spent.input_tokens,
                output_tokens=spent.output_tokens,
                cost=self._spending.cost,
            )
        )

    # -- trials --------------------------------------------------------------------------------------

    def _load(self) -> Checkpoint:
        run_dir = self._options.checkpoint_dir
        loaded = Checkpoint.load(run_dir, self._checkpoint.fingerprint) if run_dir is not None else None
        if loaded is None:
            loaded = self._checkpoint
            loaded.initial = {key: state for key, state in self._flock.learned.items() if key in self._keys}
        self._checkpoint = loaded
        journal = run_dir / SPENDING_JOURNAL if run_dir is not None else None
        if run_dir is not None:
            run_dir.mkdir(parents=True, exist_ok=True)
        self._spending = Spending(
            self._options.budget,
            loaded.spent,
            loaded.most,
            cost=loaded.cost,
            most_cost=loaded.most_cost,
            journal=journal,
        )
        return loaded

    @property
    def _steps(self) -> int:
        """How many trials come before the evaluations: bootstrap, then propose or teleprompter."""
        return 1 if self._optimizer in ("bootstrap", "bootstrap_random_search") else 2

    async def _search(self, checkpoint: Checkpoint) -> StopReason:
        """Run every trial the checkpoint has not completed yet, in order; stop at the first that stops."""
        if self._optimizer == "gepa":
            return await self._evolve(checkpoint)
        steps = [self._bootstrap, self._propose if self._optimizer == "mipro" else self._compile][: self._steps]
        for number, step in enumerate(steps):
            if number < len(checkpoint.trials):
                continue
            stop = await step(checkpoint)
            if stop != "completed":
                return stop
        for number, (kind, candidate) in enumerate(self._plan(checkpoint), start=self._steps):
            if number < len(checkpoint.trials):
                continue
            stop = await self._evaluate(checkpoint, kind, candidate)
            if stop != "completed":
                return stop
        return "completed"

    async def _bootstrap(self, checkpoint: Checkpoint) -> StopReason:
        """Collect demos from the passing training runs, in rounds: each round reruns the examples that have
        not passed yet, with the demos found so far applied (as DSPy's BootstrapFewShot does with `max_rounds`)."""
        _apply(self._flock, self._keys, checkpoint.initial)
        with self._trial("bootstrap", "training set") as span:
            collected, passed, first = _Collected(), set[int](), list[float]()
            stop: StopReason = "completed"
            for number in range(self._options.bootstrap_rounds):
                todo = [i for i in range(len(self._train)) if i not in passed]
                if not todo:
                    break
                if number:
                    taught = bootstrapped(collected.pool, checkpoint.initial, self._options.max_demos)
                    _apply(self._flock, self._keys, {**checkpoint.initial, **taught.states})
                batch = await self._runs([self._train[i] for i in todo])
                collected.runs, collected.usage = collected.runs + len(batch.runs), collected.usage + batch.usage
                for index, run in zip(todo, batch.runs, strict=False):
                    score = judge(self._metric, self._train[index], run).score
                    first.extend([score] if number == 0 else [])
                    if self._passes(score):
                        passed.add(index)
                        collected.add(run_demos(run, self._flock.agents, self._scope))
                stop = batch.stop
                if stop != "completed":
                    break
            for index, example in enumerate(self._train):
                if index not in passed:
                    collected.add(
                        {key: [demo] for key, demo in example.labelled_demos(self._flock.agents, self._scope).items()}
                    )
            _apply(self._flock, self._keys, checkpoint.initial)
            if stop == "cancelled":
                return self._save(checkpoint, "cancelled")
            checkpoint.pool = {key: demos for key, demos in collected.pool.items() if key in self._keys}
            record = TrialRecord(0, "bootstrap", "training set", mean(first), collected.runs, collected.usage)
            self._complete(checkpoint, span, record)
        return stop

    async def _propose(self, checkpoint: Checkpoint) -> StopReason:
        with self._trial("propose", "instructions") as span:
            with metering(self._spending.meter):
                proposals = await propose_all(
                    self._options.proposer or DSPyEngine(),
                    self._flock.agents,
                    checkpoint.pool or {},
                    count=self._options.num_instructions,
                    model=self._flock.model,
                    spending=self._spending,
                    concurrency=self._options.concurrency,
                    cancelled=lambda: self._cancelled,
                )
            if proposals.stop == "cancelled":
                return self._save(checkpoint, "cancelled")
            checkpoint.proposals = {key: texts for key, texts in proposals.found.items() if texts}
            record = TrialRecord(1, "propose", "instructions", None, proposals.calls, proposals.usage)
            self._complete(checkpoint, span, record)
        return proposals.stop

    async def _evolve(self, checkpoint: Checkpoint) -> StopReason:
        """GEPA-style reflective evolution of the instructions (`engines._learning._evolve`)."""
        options, reflector = self._options, self._options.reflection_lm or self._options.proposer
        hooks = Hooks(
            runs=self._runs,
            trial=self._trial,
            complete=lambda span, record: self._complete(checkpoint, span, record),
            passes=self._passes,
            cancelled=lambda: self._cancelled,
        )
        self._evolution = Evolution(
            self._flock,
            sorted(self._keys),
            checkpoint,
            (self._train, self._val if self._val is not None else self._train, self._metric),
            reflector=DSPyEngine(reflector) if reflector is None or isinstance(reflector, str) else reflector,
            spending=self._spending,
            hooks=hooks,
            settings=(options.num_candidates, options.minibatch_size, options.seed),
        )
        try:
            return await self._evolution.search()
        finally:
            _apply(self._flock, self._keys, checkpoint.initial)

    async def _compile(self, checkpoint: Checkpoint) -> StopReason:
        from ._teleprompter import compile_groups  # DSPy's teleprompters load only for optimizers that use one

        optimizer, flock, pool = self._optimizer, self._flock, checkpoint.pool or {}
        with self._trial("teleprompter", self._name) as span:
            compiled = await anyio.to_thread.run_sync(
                lambda: compile_groups(optimizer, flock, pool, self._options.proposer)
            )
            self._spending.record("teleprompter", compiled.usage)
            checkpoint.compiled = compiled.states
            record = TrialRecord(1, "teleprompter", self._name, None, len(compiled.states), compiled.usage)
            self._complete(checkpoint, span, record)
        return "completed"

    async def _evaluate(self, checkpoint: Checkpoint, kind: TrialKind, candidate: Candidate) -> StopReason:
        _apply(self._flock, self._keys, {**checkpoint.initial, **candidate.states})
        examples = self._val if self._val is not None else self._train
        with self._trial(kind, candidate.label) as span:
            batch = await self._runs(examples)
            if batch.stop != "completed":
                return self._save(checkpoint, batch.stop)
            scores = [judge(self._metric, ex, run).score for ex, run in zip(examples, batch.runs, strict=True)]
            index = len(checkpoint.trials)
            record = TrialRecord(index, kind, candidate.label, mean(scores), len(batch.runs), batch.usage)
            self._complete(checkpoint, span, record)
        return "completed"

    async def _runs(self, examples: list[WorkflowExample[L]]) -> Batch:
        batch = await self._run_batch(examples)
        if unpriced := self._spending.meter.unpriced:
            raise ConfigurationError(
                f"Budget(max_cost=...) cannot price model(s) {sorted(unpriced)}: they are not in LiteLLM's bundled "
                "price map; give their price with Budget(prices={model: engines.Price(input=..., output=...)})",
                setting="budget",
            )
        return batch

    async def _run_batch(self, examples: list[WorkflowExample[L]]) -> Batch:
        return await run_examples(
            self._flock,
            examples,
            concurrency=self._options.concurrency,
            spending=self._spending,
            first_estimate=first_run_estimate(self._flock.agents, (i for e in examples for i in e.inputs)),
            cancelled=lambda: self._cancelled,
            on_window=self._checkpoint_spending,
            paused=self._wait_while_paused,
            prefix=self.correlation_prefix,
        )

    # -- the plan and the result ---------------------------------------------------------------------

    def _primary(self, checkpoint: Checkpoint) -> Candidate:
        """The candidate a non-search optimizer applies: the bootstrapped demos, or the compiled states."""
        if isinstance(self._optimizer, str):
            return bootstrapped(checkpoint.pool or {}, checkpoint.initial, self._options.max_demos)
        return Candidate(self._name, dict(checkpoint.compiled or {}))

    def _plan(self, checkpoint: Checkpoint) -> list[tuple[TrialKind, Candidate]]:
        """The evaluation trials, in order (a pure function of the checkpointed pool and proposals; memoized)."""
        inputs = (id(checkpoint.pool), id(checkpoint.proposals), id(checkpoint.compiled))
        if self._planned is None or self._planned[0] != inputs:
            self._planned = (inputs, self._make_plan(checkpoint))
        return self._planned[1]

    def _make_plan(self, checkpoint: Checkpoint) -> list[tuple[TrialKind, Candidate]]:
        options = self._options
        plan: list[tuple[TrialKind, Candidate]] = []
        if self._val is not None:
            plan.append(("baseline", Candidate("baseline", {})))
        if self._optimizer != "bootstrap" or self._val is not None:
            plan.append(("candidate", self._primary(checkpoint)))
        if self._optimizer in _SEARCHES:
            extra = random_candidates(
                checkpoint.pool or {},
                checkpoint.initial,
                checkpoint.proposals or {},
                max_demos=options.max_demos,
                count=options.num_candidates,
                seed=options.seed,
            )
            plan.extend(("candidate", candidate) for candidate in extra)
        return plan

    def _trials_total(self) -> int:
        if self._optimizer == "gepa":
            return 1 + 2 * self._options.num_candidates  # at most: a rejected child is not scored on the valset
        if self._checkpoint.pool is not None:
            return self._steps + len(self._plan(self._checkpoint))
        evaluations = (self._val is not None) * 2 + (self._val is None and self._optimizer != "bootstrap")
        return self._steps + evaluations + (self._options.num_candidates if self._optimizer in _SEARCHES else 0)

    def _choose(self, checkpoint: Checkpoint, baseline: float | None) -> tuple[Candidate | None, Best]:
        """The candidate to apply, with its trial and score: the primary one (`"bootstrap"`), or the best that beat
        the baseline (the search optimizers, and a teleprompter: its result is applied only if it wins)."""
        if self._optimizer == "gepa":
            return self._evolution.choice(baseline) if self._evolution is not None else (None, (None, baseline))
        if checkpoint.pool is None:
            return None, (None, baseline)
        trials = checkpoint.trials
        scored = [
            (number, candidate, trials[number].score)
            for number, (_, candidate) in enumerate(self._plan(checkpoint), start=self._steps)
            if number < len(trials)
        ]
        if isinstance(self._optimizer, str) and self._optimizer not in _SEARCHES:
            primary = self._primary(checkpoint)
            return primary, next(((i, s) for i, c, s in scored if c.label == primary.label), (None, None))
        chosen: Candidate | None = None
        best: Best = (None, baseline)
        for number, candidate, score in scored:
            if score is not None and candidate.label != "baseline" and (best[1] is None or score > best[1]):
                chosen, best = candidate, (number, score)
        return chosen, best

    def _result(self, checkpoint: Checkpoint, stop: StopReason, resumed: int) -> OptimizationResult:
        trials = tuple(checkpoint.trials)
        baseline = _baseline(trials, training_runs=None if self._val is not None else len(self._train))
        chosen, best = self._choose(checkpoint, baseline)
        learned = self._final_states(checkpoint, chosen, best)
        applied = stop != "cancelled"
        _apply(self._flock, self._keys, learned if applied else checkpoint.initial)
        return OptimizationResult(
            learned=learned,
            applied=applied,
            baseline_score=baseline,
            best_score=best[1],
            best_trial=best[0],
            trials=trials,
            usage=self._spending.spent,
            stop_reason=stop,
            resumed_trials=resumed,
            cost=self._spending.cost,
        )

    def _final_states(
        self, checkpoint: Checkpoint, chosen: Candidate | None, best: Best
    ) -> dict[GroupKey, LearnedState]:
        changed: Mapping[GroupKey, LearnedState] = chosen.states if chosen is not None else {}
        metadata = {"optimizer": self._name, "trial": best[0], "score": best[1]}
        states = {**checkpoint.initial, **changed}
        return {
            key: _with_metadata(state, metadata) if key in changed else state
            for key, state in sorted(states.items())
            if key in self._keys and learns(state)
        }

    # -- helpers -------------------------------------------------------------------------------------

    def _passes(self, score: float) -> bool:
        threshold = self._options.metric_threshold
        return score >= threshold if threshold is not None else score > 0

    @contextmanager
    def _trial(self, kind: TrialKind, label: str) -> Generator[Span]:
        self._current, self._trial_cost = label, self._spending.cost
        attributes = {"flock.optimize.trial": len(self._checkpoint.trials), "flock.optimize.kind": kind}
        try:
            with _tracer().start_as_current_span(f"optimize {kind}", attributes=attributes) as span:
                span.set_attribute("flock.optimize.label", label)
                yield span
        finally:
            self._current = None

    def _complete(self, checkpoint: Checkpoint, span: Span, record: TrialRecord) -> None:
        """Record a completed trial (on its span too) and checkpoint it."""
        record = dataclasses.replace(record, cost=round(self._spending.cost - self._trial_cost, 9))
        checkpoint.trials.append(record)
        self._emit("running", record)
        if record.score is not None:
            span.set_attribute("flock.optimize.score", record.score)
        span.set_attribute("flock.optimize.runs", record.runs)
        span.set_attribute("flock.optimize.calls", record.usage.calls)
        span.set_attribute("gen_ai.usage.input_tokens", record.usage.input_tokens)
        span.set_attribute("gen_ai.usage.output_tokens", record.usage.output_tokens)
        self._save(checkpoint, "completed")

    def _fingerprint(self) -> str:
        """What a checkpoint must match to be resumed: optimizer, options, examples and the groups in scope."""
        options = self._options
        parts: list[Any] = [
            self._name,
            [
                options.max_demos,
                options.num_candidates,
                options.num_instructions,
                options.seed,
                options.metric_threshold,
                options.bootstrap_rounds,
                *([options.minibatch_size] if self._optimizer == "gepa" else []),
            ],
            examples_fingerprint(self._train),
            examples_fingerprint(self._val) if self._val is not None else None,
            [[key[0], key[1], group_fingerprint(self._flock.agents[key[0]], key[1])] for key in sorted(self._keys)],
        ]
        return json.dumps(parts)

    def _checkpoint_spending(self, _: int) -> None:
        """After each batch of runs: save what was spent so far (the trial in progress is not saved)."""
        self._save(self._checkpoint, "completed")

    def _save(self, checkpoint: Checkpoint, stop: StopReason) -> StopReason:
        checkpoint.spent = self._spending.spent
        checkpoint.most = dict(self._spending.most)
        checkpoint.cost, checkpoint.most_cost = self._spending.cost, self._spending.most_cost
        if self._options.checkpoint_dir is not None:
            checkpoint.save(self._options.checkpoint_dir)
        return stop


def _baseline(trials: tuple[TrialRecord, ...], *, training_runs: int | None) -> float | None:
    """The starting state's score: its trial on the valset, else the bootstrap trial's first round, if complete."""
    baseline = next((t.score for t in trials if t.kind == "baseline"), None)
    if baseline is None and trials and training_runs is not None and trials[0].runs >= training_runs:
        return trials[0].score
    return baseline


class _Collected:
    """The demos of the passing bootstrap runs, each demo once, in training order."""

    def __init__(self) -> None:
        self.pool: dict[GroupKey, list[Demo]] = {}
        self.runs = 0
        self.usage = Usage()
        self._seen: set[str] = set()

    def add(self, demos: Mapping[GroupKey, list[Demo]]) -> None:
        for key, found in demos.items():
            kept = self.pool.setdefault(key, [])
            for demo in found:
                if (identity := _identity(demo)) not in self._seen:
                    self._seen.add(identity)
                    kept.append(demo)


def _apply(flock: Flock, keys: frozenset[GroupKey], states: Mapping[GroupKey, LearnedState]) -> None:
    """Set the learned state of every group in `keys` to its entry in `states` (no entry: nothing learned)."""
    for key in keys:
        state = states.get(key)
        if state is not None and learns(state):
            flock.learned[key] = state
        else:
            flock.learned.pop(key, None)


def _tracer() -> Tracer:
    """The tracer of the trial spans: OpenTelemetry's global provider (configured by the user, or a no-op)."""
    return trace.get_tracer("engines")


def _scope(flock: Flock, agents: Iterable[str] | None) -> tuple[str, ...]:
    names = tuple(sorted(flock.agents if agents is None else set(agents)))
    for name in names:
        if name not in flock.agents:
            raise UnknownAgentError(name, list(flock.agents))
    return names


def _with_metadata(state: LearnedState, metadata: Mapping[str, Any]) -> LearnedState:
    return LearnedState(state.demos, state.instructions, {**state.metadata, **metadata})


def _identity(demo: Demo) -> str:
    return json.dumps(encode_state(LearnedState(demos=(demo,)))["demos"], sort_keys=True)
