"""``latest.json`` and ``latest.md`` from the benchmark results."""

from __future__ import annotations

from typing import Any

import orjson

from bench.common import RESULTS


def _n(x: float | None, digits: int = 0) -> str:
    return "n/a" if x is None else f"{x:,.{digits}f}"


def _met(ok: bool | None) -> str:
    return "n/a" if ok is None else ("met" if ok else "**not met**")


def _row(bench: str, measure: str, value: str, target: str = "", status: str = "") -> str:
    return f"| {bench} | {measure} | {value} | {target} | {status} |"


def write(results: dict[str, Any]) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    opts = orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS
    (RESULTS / "latest.json").write_bytes(orjson.dumps(results, option=opts))
    (RESULTS / "latest.md").write_text(markdown(results))


def markdown(r: dict[str, Any]) -> str:
    m = r["machine"]
    lines = [
        "# kilowatch benchmarks",
        "",
        f"{m['date']} · {m['cores']} cores ({m['cpu']}), load avg at start {m['load_avg_at_start']} · "
        f"Kafka {m['kafka']} (single local broker) · Python {m['python']}, "
        f"faust-streaming {m['faust_streaming']}, aiokafka {m['aiokafka']} · commit `{m['commit']}` · "
        f"mode: {r['mode']} · `python -m bench.run` took {r['elapsed_s']:.0f}s",
        "",
        "| benchmark | measure | value | target | status |",
        "|---|---|---:|---|---|",
    ]
    t = r.get("throughput")
    if t:
        lines += _throughput(t, m)
    tb = r.get("throughput_batch")
    if tb:
        tg = tb["targets"]
        lines.append(
            _row(
                "throughput",
                "kilowatch worker, `batch` path, steady state; same data, own topics",
                f"{_n(tb['worker_per_s'])}/s ({tb['ratio_worker_baseline'] * 100:.1f} % of its raw loop)",
                "≥ 10,000/s · goal ≥ 25,000/s",
                f"{_met(tg['first >= 10,000/s'])} · {_met(tg['goal >= 25,000/s'])}",
            )
        )
    if r.get("latency"):
        lines += _latency(r["latency"])
    if r.get("latency_batch"):
        lines += _latency(r["latency_batch"])
    if t and t.get("changelog"):
        lines += _changelog(t["changelog"])
    if r.get("memory"):
        lines += _memory(r["memory"])
    if t and t.get("profile"):
        p = t["profile"]
        lines += _profile(
            p,
            f"Where the time goes in the scoring step (cProfile of the in-process pipeline over "
            f"{p['readings']:,} readings; own time; the profiler inflates many small calls):",
            12,
        )
    if r.get("worker_profile"):
        wp = r["worker_profile"]
        lines += _profile(
            wp,
            f"Where the time goes in the worker process (cProfile of a `kilowatch worker`, main thread, "
            f"steady state: {wp['readings']:,} readings in {wp['window_s']:.0f} s = "
            f"{wp['per_s_under_profiler']:,.0f}/s under the profiler; own time):",
            20,
        )
    if r.get("failures"):
        lines += ["", "**Failed benchmarks:** " + ", ".join(sorted(r["failures"])) + " (see latest.json)"]
    lines += ["", *(f"- {n}" for n in r.get("notes", [])), ""]
    return "\n".join(lines)


def _throughput(t: dict[str, Any], m: dict[str, Any]) -> list[str]:
    w, tg, cpu, ip = t["worker"], t["targets"], t["worker"]["cpu"], t["in_process"]
    return [
        _row(
            "throughput",
            f"readings pre-produced ({t['assets']:,} assets, {t['partitions']} partitions)",
            f"{t['readings']:,}",
            "≥ 200,000",
            _met(t["readings"] >= 200_000),
        ),
        _row(
            "throughput",
            "raw aiokafka `getmany` + `orjson.loads` (baseline, mean of 2)",
            f"{_n(t['baseline_per_s'])}/s",
        ),
        _row(
            "throughput",
            "kilowatch worker, `agent` path, steady state (changelog, records 10-90 %)",
            f"{_n(t['worker_per_s'])}/s",
            "≥ 10,000/s · goal ≥ 25,000/s",
            f"{_met(tg['first >= 10,000/s'])} · {_met(tg['goal >= 25,000/s'])}",
        ),
        _row(
            "throughput",
            "worker / baseline",
            f"{_n(100 * (t['ratio_worker_baseline'] or 0), 1)} %",
            "≥ 50 %",
            _met(tg["goal >= 50% of raw loop"]),
        ),
        _row(
            "throughput",
            "worker, from committed offsets (10-90 %)",
            f"{_n(w.get('committed_10_90_per_s'))}/s",
        ),
        _row(
            "throughput",
            "worker wall time incl. start-up and group join",
            f"{w['wall_incl_startup_s']:.1f} s",
        ),
        _row(
            "throughput",
            "worker CPU while draining (process CPU / wall)",
            f"{cpu['worker_cpu_util']:.0%} of one core "
            f"({cpu['worker_cpu_s']:.0f} s in {cpu['wall_s']:.0f} s); "
            f"machine busy {cpu['machine_busy_cores']:.2f} of {m['cores']} cores",
        ),
        _row(
            "throughput",
            "in-process `ScoringPipeline.process` + `InMemoryStore` (no Kafka)",
            f"{_n(ip['per_s'])}/s ({ip['us_per_reading']:.1f} µs/reading)",
        ),
    ]


def _latency(lat: dict[str, Any]) -> list[str]:
    out = []
    path = f"`{lat.get('readings_path', 'agent')}` path"
    for k, ph in enumerate(lat["phases"]):
        out.append(
            _row(
                "latency",
                f"{path}: produce -> anomaly arrival, {ph['rate_per_s']:,}/s over {lat['assets']} assets for "
                f"{ph['duration_s']:.0f} s (achieved {ph['achieved_rate_per_s']:,.0f}/s)",
                f"p50 {_n(ph['p50_ms'], 1)} · p95 {_n(ph['p95_ms'], 1)} · p99 {_n(ph['p99_ms'], 1)} · "
                f"max {_n(ph['max_ms'], 1)} ms (n = {ph['count']:,}; {ph['injected_spikes_flagged']:,} of "
                f"{ph['injected_spikes']:,} injected spikes among them)",
                "p99 < 250 ms" if k == 0 else "(reference: a rate below capacity)",
                _met(ph["target_met"]) if k == 0 else "",
            )
        )
    return out


def _changelog(c: dict[str, Any]) -> list[str]:
    return [
        _row(
            "changelog",
            f"bytes per record (key + value), {c['records']:,} records for {c['readings']:,} readings",
            f"{c['bytes_per_record']:.1f} B",
            "one record per reading",
            _met(c["one_record_per_reading"]),
        ),
        _row(
            "changelog",
            f"whole window per update ({c['whole_window_formula']})",
            f"{c['whole_window_bytes_per_update']:,} B = {c['ratio_whole_over_actual']:.1f}x more",
        ),
    ]


def _memory(mem: dict[str, Any]) -> list[str]:
    wk, ip = mem["worker"], mem["in_process"]
    return [
        _row(
            "memory",
            f"worker after {wk['assets']:,} assets x {wk['rows']} readings via Kafka: VmRSS / VmHWM",
            f"{wk['VmRSS_kB'] / 1024:,.0f} / {wk['VmHWM_kB'] / 1024:,.0f} MiB",
        ),
        _row(
            "memory", "same worker idle before any reading (VmRSS)", f"{wk['idle_VmRSS_kB'] / 1024:,.0f} MiB"
        ),
        _row(
            "memory",
            f"in-process pipeline cache, {ip['assets']:,} assets x full {ip['window']}-reading window "
            "(tracemalloc, fresh interpreter)",
            f"{ip['tracemalloc_bytes'] / 2**20:,.1f} MiB ({ip['bytes_per_asset']:,.0f} B/asset)",
        ),
        _row("memory", "same cache, RSS growth", f"{ip['rss_delta_kB'] / 1024:,.1f} MiB"),
    ]


def _profile(p: dict[str, Any], title: str, top: int) -> list[str]:
    lines = ["", title, "", "| area | own s | % | µs/reading |", "|---|---:|---:|---:|"]
    for a in p.get("by_area", []):
        lines.append(f"| {a['area']} | {a['own_s']:.3f} | {a['pct']:.1f} | {a['us_per_reading']:.1f} |")
    lines += ["", "| function | calls | own s | own % | µs/reading |", "|---|---:|---:|---:|---:|"]
    for row in p["top_own"][:top]:
        lines.append(
            f"| `{row['function']}` | {row['calls']:,} | {row['own_s']:.3f} | {row['own_pct']:.1f} "
            f"| {row['own_us_per_reading']:.2f} |"
        )
    return lines
