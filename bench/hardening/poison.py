"""Poison fuzz on a real broker: malformed messages of every kind mixed with valid readings, a real
``kilowatch worker`` on each readings path. Every produced message is followed by its (partition,
offset): a valid reading must come out once on the scores topic, a malformed one once on the
dead-letters topic (same key, SHA-256 of the whole payload), or be refused by the broker at produce
time. The worker must stay up the whole run.

    python -m bench.hardening.poison [--bad 10000] [--assets 300] [--per-asset 30] [--paths batch,agent]

Needs the infrastructure up (the KILOWATCH_* environment names it). Writes
bench/results/hardening-poison.json and .md (unless --no-write)."""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.common import RESULTS, Worker, delete_group, delete_topics
from bench.hardening.harness import TopicCollector, TrackingProducer, isolated, wait_for_worker
from bench.hardening.poison_kinds import KINDS, Message, corpus
from stream_app.kafka.topics import ensure_topics, readings_max_message_bytes


def log(msg: str) -> None:
    print(f"[poison {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


@dataclass
class KindRow:
    sent: int = 0
    refused_by_broker: int = 0
    dead_lettered: int = 0
    scored: int = 0
    lost: int = 0
    twice: int = 0  # messages with more than one output (dead letters + scores)
    wrong_outcome: int = 0  # valid dead-lettered, or malformed scored
    bad_letter: int = 0  # dead letter whose key or SHA-256 does not match the message


@dataclass
class PathResult:
    path: str
    worker_alive_throughout: bool
    worker_exit_code: int | None
    seconds_to_settle: float
    rows: dict[str, KindRow] = field(default_factory=dict)
    refusal_errors: dict[str, int] = field(default_factory=dict)
    score_statuses: dict[str, int] = field(default_factory=dict)
    dead_letter_errors: dict[str, dict[str, int]] = field(default_factory=dict)
    worker_log_errors: list[str] = field(default_factory=list)
    # bytes (key + value) of the smallest message the broker refused and the largest it took
    smallest_refused: int | None = None
    largest_accepted: int | None = None
    topic_max_message_bytes: int = 0
    collector_errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.worker_alive_throughout and all(
            r.lost == 0 and r.twice == 0 and r.wrong_outcome == 0 and r.bad_letter == 0
            for r in self.rows.values()
        )


def _error_class(error: str) -> str:
    """A dead letter's error without its variable parts (for the per-kind reasons table)."""
    head = error.split(":", 1)[0]
    return head[:60]


def run_path(
    path: str,
    messages: list[Message],
    settle_timeout: float = 240.0,
    idle_timeout: float = 60.0,
    log_dir: Path | None = RESULTS / "logs",
) -> PathResult:
    """One worker on one readings path, the whole corpus; its log is copied to ``log_dir``."""
    tag = f"poison-{path}-{uuid.uuid4().hex[:6]}"
    state = Path(tempfile.mkdtemp(prefix=f"kw-{tag}-"))
    settings, env = isolated(tag, state, readings_path=path, batch_within=0.05)
    ensure_topics(settings)
    result_limit = readings_max_message_bytes(settings)
    worker = Worker(env, f"{path}-1", state, [])
    result = PathResult(path, True, None, 0.0, topic_max_message_bytes=result_limit)
    scores = TopicCollector(settings, settings.kafka.topic("scores"), settings.kafka.topic_partitions)
    dead = TopicCollector(settings, settings.kafka.topic("dead-letters"), settings.kafka.topic_partitions)
    try:
        wait_for_worker(settings, worker.alive, 120)
        log(f"{path}: worker up; producing {len(messages)} messages")
        prod = TrackingProducer(settings)
        topic = settings.kafka.topic("readings")
        deliveries = []
        for i, m in enumerate(messages):
            deliveries.append(prod.send(topic, m.key, m.value))
            if i % 500 == 0:
                prod.poll()
                if not worker.alive():
                    result.worker_alive_throughout = False
        left = prod.flush(120)
        if left:
            raise RuntimeError(f"{left} messages still undelivered after 120 s")
        landed = {(d.partition, d.offset) for d in deliveries if d.error is None}
        log(f"{path}: {len(landed)} landed, {len(deliveries) - len(landed)} refused; waiting for outputs")
        started = last_progress = time.monotonic()
        last = -1
        while True:
            if not worker.alive():
                result.worker_alive_throughout = False
                break
            seen = {(r.value.get("partition"), r.value.get("offset")) for r in scores.snapshot()}
            seen |= {(r.value.get("partition"), r.value.get("offset")) for r in dead.snapshot()}
            done = len(landed & seen)
            if done == len(landed):
                break
            if done != last:
                last, last_progress = done, time.monotonic()
            if time.monotonic() - last_progress > idle_timeout or time.monotonic() - started > settle_timeout:
                log(f"{path}: gave up waiting with {done}/{len(landed)} accounted for")
                break
            time.sleep(1.0)
        result.seconds_to_settle = round(time.monotonic() - started, 1)
        time.sleep(3.0)  # late duplicates, if any, have time to show
        result.worker_alive_throughout = result.worker_alive_throughout and worker.alive()
    finally:
        scores.close()
        dead.close()
        result.worker_exit_code = worker.proc.poll()
        worker.stop()
        result.collector_errors = scores.errors[:5] + dead.errors[:5]
        text = worker.log_path.read_text(errors="replace")
        result.worker_log_errors = [
            line[:300]
            for line in text.splitlines()
            if '"level":"error"' in line or "Traceback" in line or "CRITICAL" in line
        ][:20]
        if log_dir is not None:
            log_dir.mkdir(parents=True, exist_ok=True)
            shutil.copy(worker.log_path, log_dir / f"hardening-poison-{path}.log")
        delete_group(settings, settings.worker.app_id)
        delete_topics(settings, settings.kafka.topic_prefix)
        shutil.rmtree(state, ignore_errors=True)
    _tally(result, messages, deliveries, scores.snapshot(), dead.snapshot())
    return result


def _tally(
    result: PathResult, messages: list[Message], deliveries: list[Any], scores: list[Any], dead: list[Any]
) -> None:
    by_pos: dict[tuple[int, int], int] = {}
    rows: dict[str, KindRow] = defaultdict(KindRow)
    refusals: Counter[str] = Counter()
    for i, (m, d) in enumerate(zip(messages, deliveries, strict=True)):
        row = rows[m.kind]
        row.sent += 1
        size = len(m.key or b"") + len(m.value or b"")
        if d.error is not None:
            row.refused_by_broker += 1
            refusals[f"{m.kind}: {d.error}"] += 1
            result.smallest_refused = min(size, result.smallest_refused or size)
        else:
            result.largest_accepted = max(size, result.largest_accepted or 0)
            by_pos[(d.partition, d.offset)] = i
    outputs: dict[int, list[tuple[str, dict[str, Any]]]] = defaultdict(list)
    statuses: Counter[str] = Counter()
    for r in scores:
        i = by_pos.get((r.value["partition"], r.value["offset"]))
        if i is not None:
            outputs[i].append(("score", r.value))
            statuses[f"{messages[i].kind}: {r.value['status']}"] += 1
    reasons: dict[str, Counter[str]] = defaultdict(Counter)
    for r in dead:
        i = by_pos.get((r.value["partition"], r.value["offset"]))
        if i is not None:
            outputs[i].append(("dead", r.value))
            reasons[messages[i].kind][_error_class(r.value.get("error", ""))] += 1
    for pos, i in by_pos.items():
        m = messages[i]
        row = rows[m.kind]
        outs = outputs.get(i, [])
        if not outs:
            row.lost += 1
            continue
        if len(outs) > 1:
            row.twice += 1
        kind, value = outs[0]
        if kind == "score":
            row.scored += 1
            if m.kind != "valid":
                row.wrong_outcome += 1
        else:
            row.dead_lettered += 1
            if m.kind == "valid":
                row.wrong_outcome += 1
            want_sha = hashlib.sha256(m.value or b"").hexdigest()
            want_key = m.key[:1024].decode("utf-8", "replace") if m.key is not None else None
            if (
                value.get("payload_sha256") != want_sha
                or value.get("key") != want_key
                or value.get("partition") != pos[0]
            ):
                row.bad_letter += 1
    result.rows = {k: rows[k] for k in ["valid", *KINDS] if k in rows}
    result.refusal_errors = dict(refusals)
    result.score_statuses = dict(statuses)
    result.dead_letter_errors = {k: dict(v.most_common(6)) for k, v in reasons.items()}


def markdown(results: list[PathResult], meta: dict[str, Any]) -> str:
    lines = [
        "# Poison fuzz on a real broker",
        "",
        f"Run {meta['finished_at']} by `{meta['command']}` (corpus seed {meta['seed']}): "
        f"{meta['bad']} malformed messages of {len(KINDS)} kinds mixed at random places into "
        f"{meta['valid']} valid readings ({meta['assets']} assets x {meta['per_asset']}), produced to the "
        "readings topic of a real single-broker Kafka with one `kilowatch worker` per readings path "
        "(scores topic on). Each message is followed by its partition and offset: a valid reading must "
        "come out once on the scores topic, a malformed one once on the dead-letters topic (key and "
        "SHA-256 of the whole payload checked), or be refused by the broker at produce time "
        '("refused at the door").',
        "",
    ]
    for res in results:
        verdict = "PASS" if res.ok else "FAIL"
        lines += [
            f"## Readings path `{res.path}`: {verdict}",
            "",
            f"- worker alive the whole run: **{res.worker_alive_throughout}** "
            f"(exit code {res.worker_exit_code}); readings topic max.message.bytes "
            f"{res.topic_max_message_bytes:,}: smallest message refused {res.smallest_refused} B, "
            f"largest taken {res.largest_accepted} B; "
            f"all outputs settled {res.seconds_to_settle} s after the last produce",
            "",
            "| kind | sent | dead-lettered | refused by broker | scored | lost | twice | wrong outcome "
            "| letter mismatch |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        total = KindRow()
        for kind, r in res.rows.items():
            lines.append(
                f"| {kind} | {r.sent} | {r.dead_lettered} | {r.refused_by_broker} | {r.scored} | {r.lost} | "
                f"{r.twice} | {r.wrong_outcome} | {r.bad_letter} |"
            )
            if kind != "valid":
                for f in asdict(total):
                    setattr(total, f, getattr(total, f) + getattr(r, f))
        lines.append(
            f"| **all malformed** | {total.sent} | {total.dead_lettered} | {total.refused_by_broker} | "
            f"{total.scored} | {total.lost} | {total.twice} | {total.wrong_outcome} | {total.bad_letter} |"
        )
        lines.append("")
        wrong = {k: r.wrong_outcome for k, r in res.rows.items() if r.wrong_outcome}
        if wrong:
            lines.append(
                "**Wrong outcomes** (malformed scored, or valid dead-lettered): "
                + ", ".join(f"{k} x{v}" for k, v in wrong.items())
            )
            lines.append("")
        if res.refusal_errors:
            lines.append(
                "Refused at produce time: " + ", ".join(f"{k} x{v}" for k, v in res.refusal_errors.items())
            )
            lines.append("")
        odd = {k: v for k, v in res.score_statuses.items() if not k.startswith("valid: scored")}
        if odd:
            lines.append(
                "Score records other than valid/scored: " + ", ".join(f"{k} x{v}" for k, v in odd.items())
            )
            lines.append("")
        if res.worker_log_errors:
            lines.append(f"Worker log error lines (first {len(res.worker_log_errors)}):")
            lines += ["", "```", *res.worker_log_errors, "```", ""]
    lines += [
        "Columns: *dead-lettered* / *scored*: the message's first output; *twice*: messages with more than "
        "one output; *wrong outcome*: a valid reading dead-lettered or a malformed one scored; *letter "
        "mismatch*: a dead letter whose key, partition or payload SHA-256 differs from what was sent; "
        "*lost*: "
        "accepted by the broker, no output at all.",
        "",
        "Most frequent dead-letter reason per kind (first words of the error, first path):",
        "",
        *[
            f"- {kind}: {max(reasons, key=lambda k: reasons[k])!r} ({sum(reasons.values())} letters)"
            for kind, reasons in (results[0].dead_letter_errors.items() if results else [])
            if reasons
        ],
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--bad", type=int, default=10_000)
    ap.add_argument("--assets", type=int, default=300)
    ap.add_argument("--per-asset", type=int, default=30)
    ap.add_argument("--paths", default="batch,agent")
    ap.add_argument("--seed", type=int, default=20261207)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args(argv)
    messages = corpus(args.bad, args.assets, args.per_asset, args.seed)
    size = sum(len(m.value or b"") + len(m.key or b"") for m in messages)
    log(f"corpus: {len(messages)} messages, {size / 1e6:.0f} MB")
    results = [run_path(p, messages) for p in args.paths.split(",")]
    meta = {
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": "scripts/poison-fuzz " + " ".join(argv if argv is not None else sys.argv[1:]),
        "seed": args.seed,
        "bad": args.bad,
        "valid": args.assets * args.per_asset,
        "assets": args.assets,
        "per_asset": args.per_asset,
    }
    for res in results:
        log(f"{res.path}: {'PASS' if res.ok else 'FAIL'}")
    if not args.no_write:
        RESULTS.mkdir(parents=True, exist_ok=True)
        doc = {"meta": meta, "paths": [{**asdict(r), "ok": r.ok} for r in results]}
        (RESULTS / "hardening-poison.json").write_text(json.dumps(doc, indent=2) + "\n")
        (RESULTS / "hardening-poison.md").write_text(markdown(results, meta))
    print(markdown(results, meta))
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
