"""How many examples a property of the kit runs, and with what hypothesis settings.

The kit's defaults are modest (a property runs in about a second on in-memory stores), so it belongs in a
fast test tier. Whatever the loaded hypothesis profile sets explicitly wins over the kit's defaults, and
`max_examples=` or `settings=` given to a check win over both.
"""

from __future__ import annotations

from hypothesis import HealthCheck, Phase
from hypothesis import settings as Settings

#: Examples per property when neither the caller nor the loaded profile says otherwise.
DEFAULT_EXAMPLES = 20


def kit_settings(max_examples: int | None = None, settings: Settings | None = None) -> Settings:
    """`settings` as given, else the loaded profile with the kit's defaults where the profile kept
    hypothesis's own: `DEFAULT_EXAMPLES` examples (or `max_examples`) and no deadline (a property folds
    whole histories, so one example takes longer than hypothesis's 200 ms guess for a unit test); and one
    failure reported, the simplest, rather than each distinct one hypothesis met, without the explain phase
    (which reruns a failing history many times over to say which parts of it matter)."""
    if settings is not None:
        return settings if max_examples is None else Settings(settings, max_examples=max_examples)
    if max_examples is not None and max_examples < 1:
        raise ValueError(f"max_examples must be at least 1, not {max_examples!r}")
    loaded, builtin = Settings(), Settings.get_profile("default")
    examples = max_examples or (loaded.max_examples if loaded.max_examples != builtin.max_examples
                                else DEFAULT_EXAMPLES)
    deadline = loaded.deadline if loaded.deadline != builtin.deadline else None
    checks = [*loaded.suppress_health_check, HealthCheck.too_slow, HealthCheck.data_too_large]
    phases = [phase for phase in loaded.phases if phase is not Phase.explain] \
        if tuple(loaded.phases) == tuple(builtin.phases) else loaded.phases
    return Settings(loaded, max_examples=examples, deadline=deadline, suppress_health_check=checks,
                    report_multiple_bugs=False, phases=phases)
