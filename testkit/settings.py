"""How many examples a property of the kit runs, and with what hypothesis settings.

The kit's defaults are modest (a property runs in about a second on in-memory stores), so it belongs in a
fast test tier. Whatever the loaded hypothesis profile, or the `settings=` given to a check, sets to other
than hypothesis's own default wins over the kit's defaults; `max_examples=` given to a check wins over all.
"""

from __future__ import annotations

from hypothesis import HealthCheck, Phase
from hypothesis import settings as Settings

#: Examples per property when neither the caller nor the loaded profile says otherwise.
DEFAULT_EXAMPLES = 20


def kit_settings(max_examples: int | None = None, settings: Settings | None = None) -> Settings:
    """`settings` (else the loaded profile), with the kit's defaults wherever it kept hypothesis's own:
    `DEFAULT_EXAMPLES` examples; no deadline (a property folds whole histories, so one example takes longer
    than hypothesis's 200 ms guess for a unit test); one failure reported, the simplest, rather than each
    distinct one hypothesis met; no explain phase (which reruns a failing history many times over to say
    which parts of it matter). `max_examples`, when given, wins over both."""
    if max_examples is not None and (not isinstance(max_examples, int) or max_examples < 1):
        raise ValueError(f"max_examples must be at least 1, not {max_examples!r}")
    base, builtin = settings if settings is not None else Settings(), Settings.get_profile("default")

    def kept(name: str) -> bool:
        return bool(getattr(base, name) == getattr(builtin, name))

    phases = [phase for phase in base.phases if phase is not Phase.explain] if kept("phases") else base.phases
    return Settings(
        base,
        max_examples=max_examples or (DEFAULT_EXAMPLES if kept("max_examples") else base.max_examples),
        deadline=None if kept("deadline") else base.deadline,
        report_multiple_bugs=False if kept("report_multiple_bugs") else base.report_multiple_bugs,
        phases=phases,
        suppress_health_check=[*base.suppress_health_check, HealthCheck.too_slow, HealthCheck.data_too_large],
    )
