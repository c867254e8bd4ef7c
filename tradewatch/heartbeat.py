"""The heartbeat: after every checks run, a ping to a healthchecks-style URL, its /fail when the run
is an ERROR, so a schedule that stops running (or cannot see) alerts by itself."""

from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from tradewatch import deadline, report, text

# Seconds to connect and between two reads of the answer; a ping is tried up to 1 + RETRIES times.
TIMEOUT_S = (5.0, 10.0)
RETRIES = 2
# Seconds the whole send may take, every attempt and wait included: the timeouts above bound each
# read only, so a receiver trickling its answer (or asking to retry much later) would hold the run.
BUDGET_S = 10.0


@dataclass(frozen=True)
class Beat:
    """What one run tells the receiver: whether it failed, and a line saying how it went."""

    failed: bool
    line: str


def of_report(path: Path | None, exitstatus: int) -> Beat:
    """The beat of a run: its report's status (ERROR when the report is missing or unreadable); a run
    that wrote no report (turned off) by pytest's exit status alone."""
    if path is None:
        failed = exitstatus not in (0, 1)  # pytest's OK and TESTS_FAILED: the run completed
        return Beat(failed, f"tradewatch run ended with pytest exit status {exitstatus}")
    try:
        summary = report.summarize(report.load(str(path)))
    except report.ReportError as exc:
        return Beat(True, f"tradewatch ERROR: {text.one_line(str(exc), 300)}")
    counts = summary["summary"]
    status = counts["status"]
    line = (f"tradewatch {status}: {counts['critical']} critical, {counts['warnings']} warning, "
            f"{counts['info']} info, {counts['acknowledged']} acknowledged")
    if summary["errors"]:
        line += f"; {text.one_line(summary['errors'][0], 300)}"
    return Beat(status == "ERROR", line)


def target(url: str, failed: bool) -> str:
    """The URL to ping: the plain one when the run completed, its /fail when it is an ERROR."""
    if not failed:
        return url
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=parts.path.rstrip("/") + "/fail"))


def malformed(url: str) -> str | None:
    """What makes the URL unusable, told without any of it (its path and userinfo are secrets)."""
    try:
        parts = urlsplit(url)
        _ = parts.port  # reading it raises ValueError for a port out of range or not a number
    except ValueError:
        return "its host or port cannot be read"
    if parts.scheme not in ("http", "https"):
        return "it does not start with http:// or https://"
    if not parts.hostname:
        return "it names no host"
    return None


def where(url: str) -> str:
    """The receiver as it may be shown: scheme, host and port only (the path is the check's secret)."""
    if malformed(url):
        return "a malformed URL"
    parts = urlsplit(url)
    return f"{parts.scheme}://{text.one_line(parts.netloc.rpartition('@')[2], 100)}"


def send(url: str, beat: Beat, within: float | None = None) -> str | None:
    """POST the beat's line, retrying, all within `within` s (BUDGET_S); a one-line problem or None."""
    problem = malformed(url)
    if problem:
        return f"heartbeat not sent: the heartbeat URL is malformed ({problem})"
    budget = BUDGET_S if within is None else within
    retry = Retry(total=RETRIES, backoff_factor=0.5, status_forcelist=(429, 500, 502, 503, 504),
                  allowed_methods=None, raise_on_status=False)
    with requests.Session() as session:
        session.mount("http://", HTTPAdapter(max_retries=retry))
        session.mount("https://", HTTPAdapter(max_retries=retry))
        try:  # The bound is kept by SIGALRM: pytest_unconfigure runs on the main thread.
            with deadline.bounded(budget, "the heartbeat's time is up") as bound:
                answer = session.post(target(url, beat.failed), data=beat.line.encode(), timeout=TIMEOUT_S,
                                      headers={"User-Agent": f"tradewatch/{version('tradewatch')}",
                                               "Content-Type": "text/plain; charset=utf-8"})
        except deadline.Expired as exc:
            if exc.bound is not bound:
                raise
            return f"heartbeat to {where(url)} failed: no answer within {budget:g} s"
        except requests.RequestException as exc:
            return f"heartbeat to {where(url)} failed: {type(exc).__name__}"
    if not answer.ok:
        return f"heartbeat to {where(url)} answered HTTP {answer.status_code}"
    return None
