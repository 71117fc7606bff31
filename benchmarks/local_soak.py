"""A soak through `aws-es local`: several HTTP clients send keyed loan commands at once, some twice (a duplicate),
some with the reply cut (the client hangs up, then retries with the same key); a rebuild of the loan summary
runs midway. Then it counts lost commits, doubled commits, good commands refused, rows that differ from the
log (`aws-es rebuild loan-summary --verify`), the stack's memory before and after, and how long Ctrl-C took.

Run: `python -m benchmarks.local_soak [--clients 6] [--commands 1000]`. Loopback only, bounded in count and time.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from typing import Any
from urllib.parse import urlsplit

import boto3

from benchmarks.local_process import HERE, LocalProcess, client_environment

#: An EMF line of the APIs' handlers (powertools prints `"service": "commands"` in each).
API_METRICS = re.compile(r'"_aws".*"service":\s*"(commands|queries)"')
#: Statuses a client retries with the same key: in progress (409), unavailable (503), a failed handler (502).
RETRIED = {409, 502, 503}


def send(api: str, path: str, body: str, key: str) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(api + path, data=body.encode(), method="POST",
                                     headers={"Content-Type": "application/json", "Idempotency-Key": key})
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def cut(api: str, path: str, body: str, key: str) -> None:
    """Send the request and hang up (with a reset) without reading the reply."""
    parts = urlsplit(api)
    data = body.encode()
    with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80), timeout=30) as connection:
        connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        connection.sendall(f"POST {path} HTTP/1.1\r\nHost: local\r\nContent-Type: application/json\r\n"
                           f"Idempotency-Key: {key}\r\nContent-Length: {len(data)}\r\n\r\n".encode() + data)
        time.sleep(0.01)


class Soak:
    def __init__(self, api: str, clients: int, commands: int, seed: int) -> None:
        self.api, self.clients, self.commands = api, clients, commands
        self.random = random.Random(seed)
        self.lock = threading.Lock()
        self.acknowledged: dict[str, tuple[str, int]] = {}  # key -> (loan, event number)
        self.refused: list[tuple[str, int, dict[str, Any]]] = []
        self.mismatched: list[str] = []  # a duplicate or retry answered differently from the first reply
        self.sent = Counter[str]()
        self.done = 0

    def command(self, path: str, body: str, cut_first: bool, duplicate: bool) -> dict[str, Any] | None:
        key = str(uuid.uuid4())
        if cut_first:
            cut(self.api, path, body, key)
            self.sent["cut"] += 1
        answers = []
        for _ in range(2 if duplicate else 1):
            for attempt in range(200):
                status, reply = send(self.api, path, body, key)
                if status not in RETRIED:
                    break
                self.sent["retried"] += 1
                time.sleep(min(0.05 * (attempt + 1), 1.0))
            answers.append((status, reply))
        self.sent["duplicate"] += duplicate
        status, reply = answers[0]
        with self.lock:
            self.done += 1
            if status not in (200, 201):
                self.refused.append((path, status, reply))
                return None
            if any(answer != answers[0] for answer in answers[1:]):
                self.mismatched.append(key)
            self.acknowledged[key] = (reply["id"], int(reply["version"]))
        return reply

    def client(self, count: int, chance: random.Random) -> None:
        loan_id, step = None, 0
        for _ in range(count):
            cut_first, duplicate = chance.random() < 0.1, chance.random() < 0.1
            if loan_id is None or step >= 12:
                reply = self.command("/loans", '{"requested_amount": 5000.00, "interest": 0.05}', cut_first, duplicate)
                loan_id, step = (reply["id"] if reply else None), 0
                continue
            kind = ["LoanApproved", "LoanDisbursed"][step] if step < 2 else "LoanPaid"
            body = json.dumps({"type": kind}) if kind != "LoanPaid" else '{"type": "LoanPaid", "amount": 10.00}'
            self.command(f"/loans/{loan_id}/events", body, cut_first, duplicate)
            step += 1

    def run(self, midway: Any) -> None:
        share = [self.commands // self.clients + (1 if n < self.commands % self.clients else 0)
                 for n in range(self.clients)]
        threads = [threading.Thread(target=self.client, args=(count, random.Random(self.random.random())))
                   for count in share]
        for thread in threads:
            thread.start()
        while self.done < self.commands // 2 and any(thread.is_alive() for thread in threads):
            time.sleep(0.1)
        midway()
        for thread in threads:
            thread.join()


def log_of(endpoint: str, loan_ids: set[str]) -> dict[str, list[int]]:
    from core.dynamodb import DynamoDBEventStore
    from loans import Loan

    client = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1",
                          aws_access_key_id="testing", aws_secret_access_key="testing")
    store = DynamoDBEventStore(Loan.default_table(), client)
    return {loan_id: [event.number for event in store.read(loan_id)] for loan_id in loan_ids}


def aws_es(endpoint: str, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "handlers.cli", *args], env=client_environment(endpoint), cwd=HERE,
                          capture_output=True, text=True, timeout=timeout, check=False)


def soak(clients: int = 6, commands: int = 1_000, seed: int = 15, patched: bool = True) -> dict[str, Any]:
    """Start `aws-es local`, soak it, stop it with Ctrl-C; the figures, with how long Ctrl-C took."""
    with LocalProcess(patched=patched) as stack:
        figures = soak_on(stack, clients, commands, seed, warm_up=40)
        figures["ctrl_c_s"] = round(stack.stop(), 1)
    return {"moto": "patched" if patched else "as shipped", **figures}


def soak_on(stack: LocalProcess, clients: int, commands: int, seed: int = 15, warm_up: int = 0) -> dict[str, Any]:
    """Soak a running `aws-es local`: `warm_up` commands first (clients, resolvers and caches get built), then
    `commands` from `clients` clients with a rebuild midway; the figures."""
    started = time.monotonic()
    if warm_up:
        Soak(stack.api, 2, warm_up, seed).run(lambda: None)
    rss_before, before = stack.rss_mb(), len(stack.stderr)
    run = Soak(stack.api, clients, commands, seed + 1)
    rebuild: dict[str, Any] = {}

    def midway() -> None:
        done = aws_es(stack.endpoint, "rebuild", "loan-summary")
        rebuild.update(exit=done.returncode, out=(done.stdout + done.stderr).strip()[-300:])

    run.run(midway)
    rss_after = stack.rss_mb()
    loans = {loan_id for loan_id, _ in run.acknowledged.values()}
    log = log_of(stack.endpoint, loans)
    numbers = Counter((loan_id, number) for loan_id, number in run.acknowledged.values())
    lost = sum(1 for loan_id, number in run.acknowledged.values() if number not in log[loan_id])
    told_twice = sum(1 for count in numbers.values() if count > 1)  # two keys were told the same event
    doubled = sum(len(numbers_) for numbers_ in log.values()) - len(numbers)  # events no key was told of
    caught_up = time.monotonic()
    verify = aws_es(stack.endpoint, "rebuild", "loan-summary", "--verify")
    while verify.returncode != 0 and time.monotonic() - caught_up < 30:  # the projector may still be folding
        time.sleep(1)
        verify = aws_es(stack.endpoint, "rebuild", "loan-summary", "--verify")
    divergent = int(verify.stdout.strip().splitlines()[-1].split(": ")[1].split()[0])
    errors = stack.stderr[before:]
    return {
        "clients": clients, "commands": run.done, "keyed": run.done, "duplicates": run.sent["duplicate"],
        "cut_replies": run.sent["cut"], "retries": run.sent["retried"], "rebuild_exit": rebuild.get("exit"),
        "lost": lost, "doubled": doubled, "told_twice": told_twice, "divergent_rows": divergent,
        "good_refused": len(run.refused), "replies_differing": len(run.mismatched),
        "rss_before_mb": round(rss_before, 1), "rss_after_mb": round(rss_after, 1),
        "rss_growth": round(rss_after / rss_before, 2),
        "hangups_logged": sum(1 for line in errors if "hung up" in line),
        "tracebacks": sum(1 for line in errors if line.startswith("Traceback")),
        "api_metrics_on_stdout": sum(1 for line in stack.stdout if API_METRICS.search(line)),
        "seconds": round(time.monotonic() - started, 1), "refused_sample": run.refused[:3],
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.local_soak", description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=6)
    parser.add_argument("--commands", type=int, default=1_000)
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--unpatched", action="store_true", help="moto as shipped (no handlers.local_moto)")
    args = parser.parse_args(argv)
    print(json.dumps(soak(args.clients, args.commands, args.seed, not args.unpatched)))


if __name__ == "__main__":
    main()
