"""A local stand-in for an LLM provider: per-key concurrency, requests and tokens per
window as token buckets, 429s with a retry-after, and a bill.

(Layer: workloads. No network: a call is answered in this process after the latency the
caller gives it, so the same calls cost the same on every run.)

The provider enforces its limits whatever its clients declare, as a real one does: a
swarm that declares the same limits (:meth:`ProviderLimits.resource_limits`, swarmlab's
pools and rates under the same names) is never refused, one that does not draws
:class:`~swarmlab.RateLimited` with the provider's retry-after. It bills a call when it
admits it (input plus output tokens, priced per million) and never bills a refused one,
so :attr:`FakeProvider.billed_tokens` is what a run paid: set beside what the task bodies
reported, it shows what was paid twice.

Its buckets are swarmlab's own :class:`~swarmlab.core.bucket.TokenBucket` on the clock the
provider is given (``time.monotonic`` by default): the model providers document (full at
the start, refilled continuously), the one the dispatcher's rates follow, so a client
bucket that takes its units before the provider does never holds more than the
provider's, and declared limits mean no 429. The one thing between the two buckets is the
time from the dispatcher's grant to the body's call, which varies with the machine's load:
the provider admits a call its buckets will hold within :data:`GRACE_S` (the tolerance a
rate limiter gives arrivals that jitter, GCRA's), and its retry-after names the instant it
would admit it.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace

from ..checks import non_negative, positive, positive_int
from ..core.bucket import EPSILON, TokenBucket
from ..errors import ConfigError, RateLimited
from ..model import RateLimit, ResourceLimits

__all__ = ["GRACE_S", "POOL", "RPM", "TPM", "FakeProvider", "ProviderLimits", "Usage"]

#: The names of the provider's limits, as pools and rates of a run declare them and as a
#: refusal's ``RateLimited.resource`` names them.
POOL, RPM, TPM = "llm", "rpm", "tpm"
#: Seconds early a call may arrive for the units of a rate and still be admitted (its
#: bucket goes into debt by at most that much refill, which later calls wait out). A
#: client's bucket grants a unit the moment it holds it and the body reaches the provider
#: a little later, by a delay that varies with load: a call whose predecessor was delayed
#: more than it arrives early by the difference. The largest seen in the declared runs of
#: ``llm_swarm`` on a busy 2-core machine was 7 ms (one refusal in six runs without this);
#: a tenth of a second covers a scheduler's delays under heavy load many times over and is
#: a small share of any window a provider documents (a minute).
GRACE_S = 0.1


@dataclass(frozen=True, slots=True)
class ProviderLimits:
    """What one key of a provider may do: ``concurrency`` calls in flight, ``rpm``
    requests and ``tpm`` tokens (input plus output) per ``window_s`` seconds."""

    concurrency: int
    rpm: float
    tpm: float
    window_s: float = 60.0

    def __post_init__(self) -> None:
        positive_int(self.concurrency, "ProviderLimits concurrency (calls in flight)")
        positive(self.rpm, "ProviderLimits rpm (requests per window)")
        positive(self.tpm, "ProviderLimits tpm (tokens per window)")
        positive(self.window_s, "ProviderLimits window_s (seconds)")

    def scaled(self, tier: float) -> ProviderLimits:
        """The limits of a higher (or lower) tier: every limit times ``tier`` (the
        concurrency rounded, at least 1)."""
        positive(tier, "the provider tier (a factor on its limits)")
        return replace(self, concurrency=max(1, round(self.concurrency * tier)), rpm=self.rpm * tier,
                       tpm=self.tpm * tier)

    def resource_limits(self, **limits) -> ResourceLimits:
        """These limits as a run's ``ResourceLimits``: the pool ``llm`` and the rates ``rpm``
        and ``tpm`` (trued up by the ``tokens`` a body reports); ``limits`` are the other
        fields of the ``ResourceLimits``."""
        return ResourceLimits(pools={POOL: self.concurrency},
                              rates={RPM: RateLimit(self.rpm, per_s=self.window_s),
                                     TPM: RateLimit(self.tpm, per_s=self.window_s, reported="tokens")},
                              **limits)


@dataclass(frozen=True, slots=True)
class Usage:
    """What one call was billed."""

    tokens_in: int
    tokens_out: int
    cost_usd: float

    @property
    def tokens(self) -> int:
        return self.tokens_in + self.tokens_out


class FakeProvider:
    """A provider that answers calls after their latency, within its limits.

    Parameters
    ----------
    limits : ProviderLimits
    usd_per_mtok_in, usd_per_mtok_out : float
        Prices per million input and output tokens.
    clock : callable, optional
        Seconds, monotonic; ``time.monotonic`` by default.

    Its counters: ``calls`` admitted, ``refused`` per limit (a :class:`collections.Counter`
    keyed by ``llm``, ``rpm``, ``tpm``), ``billed_tokens``, ``billed_usd``. Safe to call from
    many threads and from an event loop at once.
    """

    def __init__(self, limits: ProviderLimits, *, usd_per_mtok_in: float = 3.0, usd_per_mtok_out: float = 15.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if not isinstance(limits, ProviderLimits):
            raise ConfigError(f"FakeProvider takes ProviderLimits; got {limits!r}")
        self.limits = limits
        non_negative(usd_per_mtok_in, "usd_per_mtok_in (dollars per million input tokens)")
        non_negative(usd_per_mtok_out, "usd_per_mtok_out (dollars per million output tokens)")
        self.prices = (usd_per_mtok_in, usd_per_mtok_out)
        self.usd_in = usd_per_mtok_in / 1e6
        self.usd_out = usd_per_mtok_out / 1e6
        self.clock = clock
        now = clock()
        self._requests = TokenBucket(limits.rpm, limits.window_s, now)
        self._tokens = TokenBucket(limits.tpm, limits.window_s, now)
        self._ends: list[float] = []  # when each call in flight is due to end
        self._lock = threading.Lock()
        self.calls = 0
        self.refused: Counter = Counter()
        self.billed_tokens = 0
        self.billed_usd = 0.0

    def on_clock(self, clock: Callable[[], float]) -> FakeProvider:
        """A fresh provider like this one (the same limits and prices; full buckets, an
        empty bill) on ``clock``: how a simulation models it on virtual time
        (:class:`swarmlab.virtual.Call`)."""
        return FakeProvider(self.limits, usd_per_mtok_in=self.prices[0], usd_per_mtok_out=self.prices[1],
                            clock=clock)

    @property
    def in_flight(self) -> int:
        return len(self._ends)

    def admit(self, tokens_in: int, tokens_out: int, latency_s: float) -> tuple[Usage, float]:
        """Admit one call now and bill it, or raise the 429 a provider would: its usage and
        when it is due to end. The caller tells :meth:`finished` that end when the call
        is over (:meth:`complete` does both; a driver that keeps its own time calls
        these two)."""
        for name, v in (("tokens_in", tokens_in), ("tokens_out", tokens_out)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise ConfigError(f"a call's {name} must be an int >= 0; got {v!r}")
        if isinstance(latency_s, bool) or not isinstance(latency_s, (int, float)) or not 0 <= latency_s < math.inf:
            raise ConfigError(f"a call's latency_s must be a finite number of seconds >= 0; got {latency_s!r}")
        tokens = tokens_in + tokens_out
        if tokens > self.limits.tpm:
            raise ConfigError(f"a call of {tokens} tokens can never fit the provider's {self.limits.tpm:g} tokens "
                              f"per {self.limits.window_s:g} s")
        with self._lock:
            now = self.clock()
            if len(self._ends) >= self.limits.concurrency:
                self.refused[POOL] += 1
                raise RateLimited(max(0.0, min(self._ends) - now), POOL)
            for name, bucket, units in ((RPM, self._requests, 1), (TPM, self._tokens, tokens)):
                # (GRACE_S's refill may be lacking; EPSILON is the float tolerance of the
                # client's own buckets: a call granted at the instant it is due is never
                # refused for dust)
                if bucket.available(now) + bucket.rate * GRACE_S + EPSILON * max(1.0, units) < units:
                    self.refused[name] += 1
                    raise RateLimited(bucket.when(units, now) - GRACE_S - now, name)
            self._requests.charge(1, now)  # (into debt by at most GRACE_S's refill)
            self._tokens.charge(tokens, now)
            end = now + latency_s
            self._ends.append(end)
            usage = Usage(tokens_in, tokens_out, tokens_in * self.usd_in + tokens_out * self.usd_out)
            self.calls += 1
            self.billed_tokens += tokens
            self.billed_usd += usage.cost_usd
        return usage, end

    def finished(self, end: float) -> None:
        """The call admitted with this ``end`` is over: it no longer counts as in flight."""
        with self._lock:
            self._ends.remove(end)

    async def complete(self, tokens_in: int, tokens_out: int, latency_s: float) -> Usage:
        """One call, awaited: admitted and billed now (or :class:`RateLimited`), answered
        after ``latency_s``. A call cancelled in flight stays billed, as a provider's is."""
        usage, end = self.admit(tokens_in, tokens_out, latency_s)
        try:
            await asyncio.sleep(latency_s)
        finally:
            self.finished(end)
        return usage

    def complete_sync(self, tokens_in: int, tokens_out: int, latency_s: float) -> Usage:
        """:meth:`complete` for a THREAD body: blocks this thread for the latency."""
        usage, end = self.admit(tokens_in, tokens_out, latency_s)
        try:
            time.sleep(latency_s)
        finally:
            self.finished(end)
        return usage

    def __repr__(self) -> str:
        return (f"FakeProvider({self.limits}, calls={self.calls}, refused={dict(self.refused)}, "
                f"billed_tokens={self.billed_tokens})")
