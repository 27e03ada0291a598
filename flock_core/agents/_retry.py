"""Retry policies: how often an agent's failed activation is tried again, after which wait, for which errors.

A retry is scheduled, never slept: the failed work item goes back to the store as pending with the time
it may run again (`WorkRecord.retry_at`), so the wait holds no concurrency slot and survives a restart.
Only transient errors are retried by default (`is_transient`): rate limits (HTTP 429), server errors
(5xx, 408) and timeouts of the model call. A contract violation, a declaration mistake or a programming
error fails at once: trying again would fail the same way, and cost the same again.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta

from ..exceptions import CircuitBreakerTripped, ContractViolation, UserError

__all__ = ["DEFAULT_RETRY", "Backoff", "RetryPolicy", "is_transient"]

_log = logging.getLogger("flock_core")

_TRANSIENT_STATUS = frozenset({408, 429})


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff with jitter: `initial * multiplier ** (n - 1)` after the n-th failure, at most `maximum`.

    With `jitter` (the default), the wait is drawn uniformly between half of that and all of it, so
    activations that failed together (a rate limit) do not all come back at the same moment.

    >>> policy = Backoff(initial=1.0, multiplier=2.0, maximum=5.0, jitter=False)
    >>> [policy.delay(n).total_seconds() for n in (1, 2, 3, 4)]
    [1.0, 2.0, 4.0, 5.0]
    """

    initial: float = 1.0
    multiplier: float = 2.0
    maximum: float = 60.0
    jitter: bool = True

    def __post_init__(self) -> None:
        if self.initial < 0 or self.maximum < 0 or self.multiplier < 1:
            raise ValueError(
                f"Backoff needs initial >= 0, maximum >= 0 and multiplier >= 1, got initial={self.initial}, "
                f"multiplier={self.multiplier}, maximum={self.maximum}"
            )

    def delay(self, failures: int, rng: Callable[[], float] = random.random) -> timedelta:
        """The wait after the `failures`-th failed attempt (from 1)."""
        seconds = min(self.maximum, self.initial * self.multiplier ** max(0, failures - 1))
        if self.jitter:
            seconds *= 0.5 + 0.5 * rng()
        return timedelta(seconds=seconds)


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """`exc` and the exceptions it was raised from (its `__cause__`/`__context__` chain), without cycles."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _status_code(exc: BaseException) -> int | None:
    """The HTTP status an exception carries (LiteLLM, OpenAI and httpx errors name it `status_code`)."""
    for holder in (exc, getattr(exc, "response", None)):
        code = getattr(holder, "status_code", None)
        if isinstance(code, int):
            return code
    return None


def is_transient(exc: BaseException) -> bool:
    """Whether `exc` is worth retrying: a rate limit, a server error or a timeout, anywhere in its cause chain.

    A contract violation, a user error (declaration, configuration) and the circuit breaker are never
    transient, whatever caused them. Anything else counts when one exception of its chain is a
    `TimeoutError`, has a timeout type (`httpx.TimeoutException`, `litellm.Timeout`,
    `openai.APITimeoutError`), or carries an HTTP status of 408, 429 or 5xx.

    >>> class RateLimited(Exception):
    ...     status_code = 429
    >>> is_transient(RateLimited()), is_transient(TimeoutError()), is_transient(ValueError("bug"))
    (True, True, False)
    """
    chain = list(_causes(exc))
    if isinstance(chain[0], ContractViolation | UserError | CircuitBreakerTripped):
        return False
    for cause in chain:
        if isinstance(cause, TimeoutError) or any("Timeout" in kind.__name__ for kind in type(cause).__mro__):
            return True
        code = _status_code(cause)
        if code is not None and (code in _TRANSIENT_STATUS or 500 <= code <= 599):
            return True
    return False


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How an agent's failed activations are retried (declared with `AgentBuilder.retry`).

    Attributes:
        attempts: how many times an activation is tried in all (1: never retried).
        backoff: the wait before each retry.
        retry_on: which errors are retried (default: `is_transient`).
    """

    attempts: int = 3
    backoff: Backoff = field(default_factory=Backoff)
    retry_on: Callable[[BaseException], bool] = is_transient

    def should_retry(self, exc: BaseException, attempt: int) -> bool:
        """Whether the `attempt`-th try (from 1), which raised `exc`, is tried again.

        A `retry_on` predicate that raises counts as "no": the activation fails with its own error.
        """
        if attempt >= self.attempts:
            return False
        try:
            return bool(self.retry_on(exc))
        except Exception:  # noqa: BLE001 - a failing user predicate must not hide the activation's own error
            _log.warning("retry_on predicate %r raised; the failure is not retried", self.retry_on, exc_info=True)
            return False


DEFAULT_RETRY = RetryPolicy()
"""Three attempts in all, for transient errors only, 1 s then 2 s apart (each with jitter)."""
