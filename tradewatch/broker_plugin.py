"""How a run reaches the broker (live, replayed or recorded with vcrpy) and takes its one snapshot."""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext, suppress
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import vcr
from vcr.errors import CannotOverwriteExistingCassetteException

from tradewatch import demo
from tradewatch.broker import (
    SECRET_NAME,
    BrokerClient,
    BrokerSnapshot,
    BrokerUnavailable,
    redact_text,
    scrub_json,
    take_snapshot,
)
from tradewatch.errors import CheckCannotRun
from tradewatch.settings import Settings

Mode = Literal["live", "replay", "record", "skipped"]
# Request headers that carry credentials; the cassette never stores them.
SECRET_HEADERS = ("APCA-API-KEY-ID", "APCA-API-SECRET-KEY", "Authorization", "Cookie")


@dataclass(frozen=True)
class BrokerPlan:
    """How this run reaches the broker, decided once from the settings."""

    mode: Mode
    cassette: Path | None
    record_mode: str
    paper: bool
    reason: str = ""

    def describe(self, root: Path) -> dict[str, Any]:
        """The run metadata's broker entry (the cassette relative to root when inside it)."""
        cassette = None
        if self.cassette is not None:
            inside = self.cassette.is_relative_to(root)
            cassette = str(self.cassette.relative_to(root) if inside else self.cassette)
        return {"mode": self.mode, "cassette": cassette, "paper": self.paper}


def plan(settings: Settings, record_mode: str, is_demo: bool, root: Path) -> BrokerPlan:
    """Live with credentials, replay or record with a cassette, skipped with neither."""
    cassette = None
    if settings.broker_cassette:
        cassette = root / settings.broker_cassette  # an absolute path stays as it is
    elif is_demo:
        cassette = demo.DEMO_CASSETTE
    paper = settings.alpaca_paper
    if cassette is None:
        if settings.alpaca_api_key and settings.alpaca_secret_key:
            return BrokerPlan("live", None, "none", paper)
        return BrokerPlan(
            "skipped", None, "none", paper,
            "no broker credentials (ALPACA_API_KEY, ALPACA_SECRET_KEY) and no --broker-cassette",
        )
    # The demo's default cassette is only ever replayed: recording needs one named on purpose.
    if record_mode == "none" or not settings.broker_cassette:
        return BrokerPlan("replay", cassette, "none", paper)
    return BrokerPlan("record", cassette, record_mode, paper)


class BrokerFeed:
    """Takes the run's broker snapshot, live or from a cassette, given what the database says."""

    def __init__(
        self, plan: BrokerPlan, settings: Settings, as_of: datetime, since: Callable[[], datetime]
    ) -> None:
        self.plan = plan
        self.settings = settings
        self.as_of = as_of
        # The window of recent orders and fills (from the start of the previous trading session),
        # asked for only when the broker is.
        self.since = since

    def take(self, db_statuses: list[tuple[str, str]]) -> BrokerSnapshot:
        """One snapshot: the account, positions, open orders, the window's fills, and look-ups of the
        database's orders (db_statuses: broker id and status of each) these contradict."""
        settings, cassette = self.settings, self.plan.cassette
        if self.plan.mode == "skipped":
            raise CheckCannotRun(f"the broker is not configured: {self.plan.reason}")
        if self.plan.mode == "replay" and cassette is not None and not cassette.exists():
            raise BrokerUnavailable(
                f"broker cassette {cassette} does not exist: record it with "
                f"--broker-cassette={cassette} --record-mode=once"
            )
        has_keys = bool(settings.alpaca_api_key and settings.alpaca_secret_key)
        replays_only = self.plan.record_mode == "once" and cassette is not None and cassette.exists()
        if self.plan.mode == "record" and not has_keys and not replays_only:
            raise BrokerUnavailable(
                "recording a broker cassette needs ALPACA_API_KEY and ALPACA_SECRET_KEY"
            )
        client = BrokerClient(settings, placeholder_keys=self.plan.mode == "replay")
        try:
            with self._cassette(settings):
                since = self.since()
                return take_snapshot(
                    client, self.as_of, db_statuses,
                    lookup_limit=settings.broker_lookup_limit, account=True, fills_since=since,
                )
        except CannotOverwriteExistingCassetteException as exc:
            asked = exc.failed_request
            what = f"{asked.method} {asked.path}" if asked is not None else "a request"
            raise BrokerUnavailable(
                f"broker cassette {cassette} has no recorded reply to {what} (record mode "
                f"{self.plan.record_mode}); record it again with --record-mode=new_episodes"
            ) from None

    def _cassette(self, settings: Settings) -> AbstractContextManager[Any]:
        if self.plan.cassette is None:
            return nullcontext()
        secrets = [key for key in (settings.alpaca_api_key, settings.alpaca_secret_key) if key]
        return recording(self.plan.cassette, self.plan.record_mode, secrets)


def recording(path: Path, record_mode: str, secrets: list[str]) -> AbstractContextManager[Any]:
    """vcrpy around the snapshot's requests, with credentials and secret-looking values filtered out."""
    if record_mode == "rewrite":  # pytest-recording's mode: the cassette starts afresh
        path.unlink(missing_ok=True)
        record_mode = "new_episodes"
    recorder = vcr.VCR(
        record_mode=record_mode,
        # Not by host: a cassette replays whichever server recorded it.
        match_on=("method", "path", "query"),
        filter_headers=list(SECRET_HEADERS),
        before_record_request=request_scrubber(secrets),
        before_record_response=response_scrubber(secrets),
        decode_compressed_response=True,
        # A recording cut short by a broker failure must not replace a good cassette.
        record_on_exception=False,
    )
    cassette: AbstractContextManager[Any] = recorder.use_cassette(str(path))
    return cassette


def request_scrubber(secrets: list[str]) -> Callable[[Any], Any]:
    """vcrpy's before_record_request: the secrets' values out of the URL (headers are filtered)."""

    def scrub(request: Any) -> Any:
        request.uri = redact_text(request.uri, secrets)
        return request

    return scrub


def response_scrubber(secrets: list[str]) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """vcrpy's before_record_response: secret-looking headers, JSON fields and values out, and
    the account's number and ids (tradewatch.broker.scrub_json)."""

    def scrub(response: dict[str, Any]) -> dict[str, Any]:
        response["headers"] = {
            name: [redact_text(str(value), secrets) for value in values]
            for name, values in response.get("headers", {}).items()
            if not SECRET_NAME.search(name)
        }
        body = response.get("body") or {}
        raw = body.get("string", b"")
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
        with suppress(ValueError):  # a body that is not JSON (a garbled reply) stays as it came
            data = json.loads(text)
            cleaned = scrub_json(data)
            if cleaned != data:  # keep the broker's own bytes unless something was redacted
                text = json.dumps(cleaned)
        if "string" in body:
            body["string"] = redact_text(text, secrets).encode()
        return response

    return scrub
