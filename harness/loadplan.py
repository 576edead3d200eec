"""Load plans: the presets of `harness load --profile` and the traffic mix, checked before anything starts.

One table (:data:`PROFILES`) holds every preset ``harness load --profile NAME`` knows; explicit options
(``--rate``, ``--duration``, ``--mix``, ``--stream-watchers``) override a preset's values. ``smoke`` stays
under 60 s: CI runs it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

#: kinds of traffic a mix may name: three publishers and the readers
MIX_KINDS = ("http", "batch", "amqp", "query")
PUBLISH_KINDS = ("http", "batch", "amqp")
DEFAULT_MIX = "http=70,batch=10,amqp=10,query=10"
#: events per HTTP batch request
BATCH_SIZE = 10
MAX_DURATION = 3600.0
MAX_RATE = 20_000.0


class LoadConfigError(ValueError):
    """A load option that cannot be used; the message names the option and the fix."""


@dataclass(frozen=True)
class Mix:
    """Shares of the traffic, in percent (they sum to 100).

    The publish kinds (``http``, ``batch``, ``amqp``) split the target rate of publish events between them;
    ``query`` adds reader requests at ``query`` percent of that rate (list by session, get by id, trace).
    """

    http: float = 70.0
    batch: float = 10.0
    amqp: float = 10.0
    query: float = 10.0

    @property
    def publish_total(self) -> float:
        return self.http + self.batch + self.amqp

    def event_rates(self, rate: float) -> dict[str, float]:
        """Publish events/s of each publish kind for a total of ``rate`` events/s."""
        total = self.publish_total
        return {kind: rate * getattr(self, kind) / total for kind in PUBLISH_KINDS}

    def iteration_rates(self, rate: float) -> dict[str, float]:
        """Iterations/s of each kind: a batch iteration publishes :data:`BATCH_SIZE` events."""
        rates = self.event_rates(rate)
        rates["batch"] /= BATCH_SIZE
        rates["query"] = rate * self.query / 100.0
        return rates

    def text(self) -> str:
        return ",".join(f"{kind}={getattr(self, kind):g}" for kind in MIX_KINDS)


def parse_mix(text: str) -> Mix:
    """``http=70,batch=10,amqp=10,query=10`` (kinds left out are 0; the shares must sum to 100)."""
    values: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        kind, sep, number = part.partition("=")
        kind = kind.strip().lower()
        if not sep or kind not in MIX_KINDS:
            raise LoadConfigError(
                f"--mix: {part!r} is not KIND=PERCENT with KIND one of {', '.join(MIX_KINDS)} "
                f"(e.g. --mix {DEFAULT_MIX})"
            )
        if kind in values:
            raise LoadConfigError(f"--mix: {kind} given twice in {text!r}")
        try:
            share = float(number)
        except ValueError:
            raise LoadConfigError(f"--mix: {kind}={number!r} is not a number of percent") from None
        if not 0 <= share <= 100:
            raise LoadConfigError(f"--mix: {kind}={number} must be between 0 and 100 percent")
        values[kind] = share
    mix = Mix(**{kind: values.get(kind, 0.0) for kind in MIX_KINDS})
    if abs(sum(values.values()) - 100.0) > 0.01:
        raise LoadConfigError(
            f"--mix: the shares of {text!r} sum to {sum(values.values()):g}, not 100 "
            f"(e.g. --mix {DEFAULT_MIX})"
        )
    if mix.publish_total <= 0:
        raise LoadConfigError(f"--mix: {text!r} publishes nothing: give http, batch or amqp a share")
    return mix


@dataclass(frozen=True)
class LoadPlan:
    """What one load run does: the target arrival rate of publish events, for how long, in which mix."""

    name: str
    rate: float
    duration: float
    mix: Mix
    stream_watchers: int
    description: str = ""

    def with_options(
        self,
        *,
        rate: float | None = None,
        duration: float | None = None,
        mix: str | None = None,
        stream_watchers: int | None = None,
    ) -> LoadPlan:
        """The preset with the options given on the command line applied, each checked."""
        plan = replace(
            self,
            rate=self.rate if rate is None else rate,
            duration=self.duration if duration is None else duration,
            mix=self.mix if mix is None else parse_mix(mix),
            stream_watchers=self.stream_watchers if stream_watchers is None else stream_watchers,
        )
        if not 0 < plan.rate <= MAX_RATE:
            raise LoadConfigError(
                f"--rate {plan.rate:g}: give the total target events/s, above 0 and at most {MAX_RATE:g}"
            )
        if not 1 <= plan.duration <= MAX_DURATION:
            raise LoadConfigError(
                f"--duration {plan.duration:g}: give seconds of load between 1 and {MAX_DURATION:g}"
            )
        if not 0 <= plan.stream_watchers <= 50:
            raise LoadConfigError(f"--stream-watchers {plan.stream_watchers}: give 0 to 50 watchers")
        return plan


#: the presets of ``--profile`` (one table; smoke ≤ 60 s is what CI runs)
PROFILES: dict[str, LoadPlan] = {
    p.name: p
    for p in (
        LoadPlan("smoke", 50.0, 20.0, Mix(), 1, "CI: a short run of every kind of traffic"),
        LoadPlan("baseline", 150.0, 60.0, Mix(), 2, "the everyday rate, one minute"),
        LoadPlan("stress", 600.0, 120.0, Mix(), 2, "well above the everyday rate"),
        LoadPlan("soak", 100.0, 1800.0, Mix(), 1, "a moderate rate for half an hour"),
        LoadPlan("capacity", 100.0, 10.0, Mix(), 1, "from 100/s, doubling per 10 s step until an SLO breaks"),
    )
}
DEFAULT_PROFILE = "smoke"


def plan_for(
    profile: str | None,
    *,
    rate: float | None = None,
    duration: float | None = None,
    mix: str | None = None,
    stream_watchers: int | None = None,
) -> LoadPlan:
    """The preset named ``profile`` (default: smoke) with the explicit options applied."""
    name = profile or DEFAULT_PROFILE
    if name not in PROFILES:
        raise LoadConfigError(
            f"--profile {name!r} is not a load preset (presets: {', '.join(PROFILES)}); "
            "a target profile is a .toml file"
        )
    return PROFILES[name].with_options(rate=rate, duration=duration, mix=mix, stream_watchers=stream_watchers)


#: faults ``harness load --fault NAME@SECONDS`` can inject on the embedded stack -> seconds the fault is held
#: (the same names and holds as the fault runs of scenarios/faults)
FAULTS: dict[str, float] = {
    "rabbitmq-restart": 2.0,
    "postgres-down-10s": 10.0,
    "candystore-sigkill": 1.0,
    "bloodbank-sigkill": 1.0,
    "cut-candystore-rabbitmq": 5.0,
    "cut-candystore-postgres": 5.0,
}


@dataclass(frozen=True)
class FaultPlan:
    """One fault under load: which, when (seconds after the schedule opens), and for how long."""

    name: str
    at: float
    hold: float


def parse_fault(text: str, duration: float) -> FaultPlan:
    """``rabbitmq-restart@20``: the fault and when it starts; it must be cleared 2 s before the run ends."""
    name, sep, when = text.partition("@")
    name = name.strip()
    if name not in FAULTS:
        raise LoadConfigError(f"--fault {text!r}: unknown fault {name!r} (faults: {', '.join(FAULTS)})")
    try:
        at = float(when) if sep else -1.0
    except ValueError:
        at = -1.0
    if at < 0:
        raise LoadConfigError(f"--fault {text!r}: write NAME@SECONDS, e.g. --fault {name}@10")
    if at + FAULTS[name] + 2 > duration:
        raise LoadConfigError(
            f"--fault {text!r}: the fault is held {FAULTS[name]:g} s and must clear 2 s before the run "
            f"ends: give --duration of at least {at + FAULTS[name] + 2:g} s or an earlier time"
        )
    return FaultPlan(name, at, FAULTS[name])
