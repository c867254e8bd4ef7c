"""The values the rules speak of (canonical), and how each layout spells them (its vocabulary)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

# Canonical order statuses: Alpaca's, and the ones trading systems write themselves.
ALPACA_STATUSES = (
    "new", "partially_filled", "filled", "done_for_day", "canceled", "expired", "replaced",
    "pending_cancel", "pending_replace", "pending_review", "accepted", "pending_new",
    "accepted_for_bidding", "stopped", "rejected", "suspended", "calculated", "held",
)
INTERNAL_STATUSES = ("created", "pending", "submitted", "error", "not_found")
ORDER_STATUSES = ALPACA_STATUSES + INTERNAL_STATUSES
# Waiting for the broker to act: an order in one of these for long is stuck.
PENDING_STATUSES = ("created", "pending", "submitted", "pending_new", "accepted", "new")
# Nothing more will happen to an order in one of these.
TERMINAL_STATUSES = frozenset({
    "filled", "canceled", "expired", "rejected", "replaced", "done_for_day", "stopped",
    "suspended", "error", "not_found",
})
# An order in one of these holds shares.
HOLDING_STATUSES = ("filled", "partially_filled")

# Order types that wait for their price by design: a stop resting at the broker is not stuck.
STOP_ORDER_TYPES = ("stop", "stop_limit", "trailing_stop")

ORDER_SIDES = ("buy", "sell")
POSITION_SIDES = ("long", "short")
# A purpose opens its position (the side of the position) or closes it (the other side).
OPENING_PURPOSES = ("entry", "scale_in")
CLOSING_PURPOSES = ("exit", "stop_loss", "take_profit", "scale_out")
ORDER_PURPOSES = ("entry", "exit", "stop_loss", "take_profit", "scale_in", "scale_out")

POSITION_STATUSES = ("open", "partial", "risk_reduced", "pending", "closed", "cancelled", "error")
# A position in one of these still holds shares.
LIVE_POSITION_STATUSES = ("open", "partial", "risk_reduced")

CYCLE_STATUSES = ("active", "paused", "running", "suspended", "stopped", "completed", "failed")
# A cycle in one of these should be updating.
RUNNING_CYCLE_STATUSES = ("active", "paused", "running", "suspended")

# Broker statuses a layout may have no word for, and what its writer records instead (meanings,
# best first): a writer without 'new' or 'held' calls an order resting at the broker submitted,
# one without 'expired' calls an expiry a cancel. The broker and such a layout then agree.
_RESTING = ("new", "accepted", "submitted")
STAND_INS: Mapping[str, Mapping[str, tuple[str, ...]]] = {
    "orders.status": {
        **{status: tuple(word for word in _RESTING if word != status)
           for status in ("new", "accepted", "pending_new", "held", "accepted_for_bidding",
                          "pending_review")},
        "expired": ("canceled",),
        "done_for_day": ("expired", "canceled"),
    },
}

# The vocabulary columns, each with its canonical values.
CANONICAL: Mapping[str, tuple[str, ...]] = {
    "orders.status": ORDER_STATUSES,
    "orders.side": ORDER_SIDES,
    "orders.purpose": ORDER_PURPOSES,
    "positions.side": POSITION_SIDES,
    "positions.status": POSITION_STATUSES,
    "cycles.status": CYCLE_STATUSES,
}


class VocabularyError(ValueError):
    """A vocabulary override that names an unknown column or canonical value."""


@dataclass(frozen=True)
class Vocabulary:
    """How one layout spells each vocabulary column: stored value -> canonical value."""

    spellings: Mapping[str, Mapping[str, str]]

    def stored(self, column: str, canonical: Iterable[str] | None = None) -> list[str]:
        """The stored values of a column meaning one of these canonical values (all when None)."""
        wanted = None if canonical is None else set(canonical)
        return sorted(value for value, meaning in self.spellings.get(column, {}).items()
                      if wanted is None or meaning in wanted)

    def canonical(self, column: str, value: str | None) -> str | None:
        """What a stored value means; None when it is NULL or outside the vocabulary."""
        return None if value is None else self.spellings.get(column, {}).get(value)

    def spelling(self, column: str, canonical: str) -> str | None:
        """How this layout writes a canonical value (its plainest spelling), if it can."""
        options = self.stored(column, (canonical,))
        return canonical if canonical in options else (options[0] if options else None)

    def has(self, column: str, canonical: str) -> bool:
        """Whether this layout can hold the canonical value at all."""
        return bool(self.stored(column, (canonical,)))

    def holds_as(self, column: str, canonical: str) -> tuple[str, ...]:
        """The meanings this layout records the value as: the value itself where the layout can hold
        it, else those of its stand-ins the layout has, best first (empty: it cannot record it)."""
        if self.has(column, canonical):
            return (canonical,)
        return tuple(word for word in STAND_INS.get(column, {}).get(canonical, ()) if self.has(column, word))

    def written(self, column: str, canonical: str) -> str | None:
        """How this layout writes the value, or its best stand-in; None when it cannot record it."""
        held = self.holds_as(column, canonical)
        return self.spelling(column, held[0]) if held else None

    def with_overrides(self, lines: Iterable[str]) -> Vocabulary:
        """This vocabulary changed by lines like 'orders.status += working=new' (=, += or -=)."""
        spellings = {column: dict(values) for column, values in self.spellings.items()}
        given: dict[tuple[str, str], str] = {}  # what the lines themselves said each spelling means
        for line in lines:
            column, operator, values = _parse(line)
            for stored, meaning in values.items():
                if operator == "-=":
                    given.pop((column, stored), None)
                    continue
                said = given.setdefault((column, stored), meaning)
                if said != meaning:
                    # Two lines at odds: the last would win unseen, and judge by a meaning not meant.
                    raise VocabularyError(
                        f"vocabulary {column}: {stored!r} is given two meanings, {said} and {meaning}")
            if operator == "=":
                spellings[column] = values
            elif operator == "+=":
                spellings.setdefault(column, {}).update(values)
            else:
                for stored in values:
                    spellings.get(column, {}).pop(stored, None)
        return Vocabulary(spellings)


def _parse(line: str) -> tuple[str, str, dict[str, str]]:
    """One override line: column, operator, {stored: canonical}."""
    for operator in ("+=", "-=", "="):
        column, found, rest = line.partition(operator)
        if found:
            break
    column = column.strip()
    if not found or column not in CANONICAL:
        raise VocabularyError(
            f"vocabulary {line.strip()!r}: expected COLUMN = VALUES with COLUMN one of "
            f"{', '.join(CANONICAL)}"
        )
    values: dict[str, str] = {}
    for word in rest.split():
        stored, _, meaning = word.partition("=")
        meaning = meaning or stored
        if operator != "-=" and meaning not in CANONICAL[column]:
            raise VocabularyError(
                f"vocabulary {column}: {meaning!r} is not a value tradewatch knows; "
                f"write STORED=MEANING with MEANING one of {', '.join(CANONICAL[column])}"
            )
        if values.setdefault(stored, meaning) != meaning:
            raise VocabularyError(
                f"vocabulary {column}: {stored!r} is given two meanings, {values[stored]} and {meaning}")
    return column, operator, values


def spelled(canonical: Iterable[str], **aliases: str) -> dict[str, str]:
    """A column's spellings: each canonical value as itself, plus aliases (stored=canonical)."""
    return {**{value: value for value in canonical}, **aliases}


def normalize_status(status: str) -> str:
    """A broker status in one spelling (the broker's own are canonical; cancelled is canceled)."""
    lowered = status.strip().lower()
    return {"cancelled": "canceled", "partial_fill": "partially_filled"}.get(lowered, lowered)


def expected_side(position_side: str, purpose: str) -> str:
    """The order side that opens (entry, scale_in) or closes (the others) a position."""
    opening = purpose in OPENING_PURPOSES
    return "buy" if (position_side == "long") == opening else "sell"
