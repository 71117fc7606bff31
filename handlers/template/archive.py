"""The archive of cold events (`core/archive.py`), opt-in: the `ArchiveBucket` parameter names a bucket the
operator's `aws-es archive` writes to (empty, the default: no archive, and no function may read one).

With a bucket, the functions that may read an aggregate's history from its first event read it too, each only
the objects under `ArchivePrefix`: the commands function (time travel below a snapshot, a stale snapshot's
replay), the queries function (the dashboard's older events), the rebuild worker (a segment's scan) and the
projector (a gap it fills below what was archived, as a row parked for long has). Each reads the aggregate's
archive marker first, a GetItem in its events table; the rebuild worker also lists the objects' names (a
rebuild's progress counts archived events). Nothing deployed writes or deletes an archive object."""

from __future__ import annotations

from typing import Any

from handlers.template.functions import allow
from handlers.template.stack import Stack
from handlers.template.yaml_text import NO_VALUE, Equals, If, Ref, Sub, arn

#: The condition that holds when no archive bucket is given.
OFF = "ArchiveOff"
READERS = ("CommandsFunction", "QueriesFunction", "RebuildWorkerFunction")  # and the projector, by its role


def parameters() -> dict[str, Any]:
    return {
        "ArchiveBucket": {"Type": "String", "Default": "", "AllowedPattern": "^$|^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$",
                          "Description": "The bucket `aws-es archive` moves cold events to (ARCHIVE_BUCKET); empty: "
                                         "no archive, and no function may read one."},
        "ArchivePrefix": {"Type": "String", "Default": "archive/",
                          "AllowedPattern": "^[A-Za-z0-9!_.*'()-][A-Za-z0-9!_.*'()/-]*/$",
                          "Description": "Key prefix of the archive objects (ARCHIVE_PREFIX); the functions may read "
                                         "only it."},
    }


def conditions() -> dict[str, Any]:
    return {OFF: Equals(Ref("ArchiveBucket"), "")}


def attach(stack: Stack, functions: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Each reader gets the bucket's variables and, with a bucket, GetObject on the prefix and GetItem on the
    events tables (the archive marker)."""
    objects = Sub("arn:${AWS::Partition}:s3:::${ArchiveBucket}/${ArchivePrefix}*")
    for name in READERS:
        properties = functions[name]["Properties"]
        properties["Environment"]["Variables"].update(ARCHIVE_BUCKET=If(OFF, NO_VALUE, Ref("ArchiveBucket")),
                                                      ARCHIVE_PREFIX=Ref("ArchivePrefix"))
        statements = [allow("ArchiveObjects", ["s3:GetObject"], [objects]),
                      allow("ArchiveMarkers", ["dynamodb:GetItem"], [arn(t.id) for t in stack.events])]
        if name == "RebuildWorkerFunction":  # a rebuild's progress counts the archived events by their objects' names
            bucket = Sub("arn:${AWS::Partition}:s3:::${ArchiveBucket}")
            statements.append(allow("ArchiveCount", ["s3:ListBucket"], [bucket],
                                    Condition={"StringLike": {"s3:prefix": Sub("${ArchivePrefix}*")}}))
        properties["Policies"] = [*properties["Policies"], If(OFF, NO_VALUE, {"Statement": statements})]
    # the projector's own role: a gap it fills may reach below what was archived (a row parked for long)
    role = functions["ProjectorRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    role.append(If(OFF, NO_VALUE, allow("ArchiveObjects", ["s3:GetObject"], [objects])))
    functions["ProjectorFunction"]["Properties"]["Environment"]["Variables"].update(
        ARCHIVE_BUCKET=If(OFF, NO_VALUE, Ref("ArchiveBucket")), ARCHIVE_PREFIX=Ref("ArchivePrefix"))
    return functions
