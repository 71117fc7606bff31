"""`aws-es parked` and `aws-es redrive`: what the projector parked because a projection could not fold it, and
folding it in order once the projection is fixed (projections/parking.py)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from handlers.views import UsageError

if TYPE_CHECKING:
    from handlers.app import App


def register_parked(commands: Any) -> None:
    command = commands.add_parser(
        "parked", help="list the aggregates whose events a projection could not fold, and why",
        description="List every aggregate parked in the parking table (PARKED_EVENTS_TABLE, default ParkedEvents): "
        "per projection and aggregate, the first event number parked, how many events wait, the reason the first "
        "could not be folded and since when. Its other aggregates keep flowing; fix the projection, then run "
        "`aws-es redrive`. Exit 0 whether or not anything is parked.",
    )
    command.add_argument("projection", nargs="?", help="only this projection (a projection, counters or alias name)")
    command.set_defaults(run=run_parked)


def run_parked(app: App, args: argparse.Namespace) -> int:
    names = [app.projection(args.projection).name] if args.projection else [p.name for p in app.projections()]
    parking = app.parking()
    parked = [marker for name in names for marker in parking.parked(name)]
    for marker in parked:
        print(f"{marker.projection}  {marker.aggregate_id}  first {marker.first}  count {marker.count}  "
              f"since {marker.since}  {marker.reason}")
    events = sum(marker.count for marker in parked)
    print(f"{len(parked)} aggregates parked, {events} events" + ("" if parked else ": nothing to redrive"))
    return 0


def register_redrive(commands: Any) -> None:
    command = commands.add_parser(
        "redrive", help="fold parked events in order, after a fix, and remove them from parking",
        description="Fold each parked aggregate's events, in number order, through the live projector (the same "
        "guarded write as the stream's), then remove them from parking. Safe to run twice or after an "
        "interruption: events the row already holds are skipped. An aggregate the projection still cannot fold "
        "stays parked and is named (exit 1). With no argument, every projection; with PROJECTION, its "
        "aggregates; with PROJECTION ID, that one (exit 2 if nothing of it is parked).",
    )
    command.add_argument("projection", nargs="?", help="a projection, counters or alias name (default: all)")
    command.add_argument("id", nargs="?", help="one parked aggregate id of that projection")
    command.set_defaults(run=run_redrive)


def run_redrive(app: App, args: argparse.Namespace) -> int:
    declared = [app.projection(args.projection)] if args.projection else app.projections()
    parking = app.parking()
    if args.id is not None:
        name = declared[0].name
        if args.id not in parking.parked_among(name, [args.id]):
            raise UsageError(f"nothing of {args.id!r} is parked in {name}: `aws-es parked` lists what is")
        todo = [(declared[0], args.id)]
    else:
        todo = [(projection, marker.aggregate_id) for projection in declared
                for marker in parking.parked(projection.name)]
    projectors = {projection.name: app.projector_for(projection) for projection, _ in todo}
    folded, failed = 0, 0
    for projection, aggregate_id in todo:
        try:
            outcome = projectors[projection.name].redrive(aggregate_id)
        except Exception as exc:  # one aggregate still failing must not stop the others
            from handlers.cli import describe

            failed += 1
            print(f"{projection.name}  {aggregate_id}  still parked: {describe(exc)}")
            continue
        folded += outcome.folded
        print(f"{projection.name}  {aggregate_id}  redriven: {outcome.folded} events folded, "
              f"{outcome.duplicates} already held")
    print(f"{len(todo) - failed} aggregates redriven ({folded} events folded), {failed} still parked")
    return 1 if failed else 0
