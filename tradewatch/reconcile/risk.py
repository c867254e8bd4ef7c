"""Risk limits over the account and its positions, each off unless a limit is given."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from decimal import Decimal
from fractions import Fraction

from tradewatch.broker import BrokerAccount, BrokerPosition, BrokerSnapshot
from tradewatch.findings import Finding, jsonable
from tradewatch.reconcile.records import DbPosition

Book = dict[str, list[DbPosition]]  # the database's live positions by symbol


def risk_limit_breaches(
    rows: Sequence[DbPosition], snapshot: BrokerSnapshot, *, max_open_positions: int | None = None,
    max_position_pct: float | None = None, max_daily_loss_pct: float | None = None,
) -> list[Finding]:
    """RISK_LIMIT_BREACHED for each limit given that the book or the account is past.

    rows: the database's live positions. Open positions are the symbols held by the database
    or the broker; a position's share of equity is its market value when the broker has it,
    else its entry price times its quantity; the daily loss is equity against last_equity.
    The percentage limits need the snapshot's account.
    """
    mine: Book = defaultdict(list)
    for row in rows:
        mine[row.symbol].append(row)
    held = {position.symbol: position for position in snapshot.positions if position.qty != 0}
    symbols = sorted(set(mine) | set(held))
    findings = []
    if max_open_positions is not None and len(symbols) > max_open_positions:
        findings.append(_too_many(symbols, mine, max_open_positions))
    if max_position_pct is not None:
        equity = _account(snapshot).equity
        for symbol in symbols:
            findings += _concentrated(symbol, mine.get(symbol, []), held.get(symbol), equity,
                                      max_position_pct)
    if max_daily_loss_pct is not None:
        findings += _daily_loss(_account(snapshot), symbols, max_daily_loss_pct)
    return findings


def position_value(rows: Sequence[DbPosition], theirs: BrokerPosition | None) -> tuple[Decimal | None, str]:
    """A symbol's exposure and what valued it: the broker's market value, else entry price x quantity."""
    if theirs is not None and theirs.market_value is not None:
        return abs(theirs.market_value), "market_value"
    if rows and all(row.entry_price is not None for row in rows):
        return sum((row.quantity * (row.entry_price or 0) for row in rows), Decimal(0)), "entry_price"
    if theirs is not None and theirs.avg_entry_price is not None:
        return abs(theirs.qty) * theirs.avg_entry_price, "entry_price"
    return None, "unknown"


def _too_many(symbols: list[str], mine: Book, limit: int) -> Finding:
    return Finding(
        "RISK_LIMIT_BREACHED", "CRITICAL", {},
        f"{len(symbols)} open positions, past the limit of {limit}: {', '.join(symbols)}",
        details={"limit": "max_open_positions", "value": len(symbols), "threshold": limit,
                 "symbols": symbols, "position_ids": [r.position_id for s in symbols for r in mine[s]]},
        subject="max_open_positions",
    )


def _concentrated(
    symbol: str, rows: list[DbPosition], theirs: BrokerPosition | None, equity: Decimal, limit: float,
) -> list[Finding]:
    value, basis = position_value(rows, theirs)
    if value is None:
        return []  # no price on either side: the cost basis rule says so
    # No equity left: any position is all of it.
    share = Fraction(value) * 100 / Fraction(equity) if equity > 0 else None
    if share is not None and share <= Fraction(str(limit)):
        return []
    return [Finding(
        "RISK_LIMIT_BREACHED", "CRITICAL", {"symbol": symbol},
        f"{symbol} is {_pct(share)} of equity ({jsonable(value)} of {jsonable(equity)}), "
        f"past the limit of {limit:g}%",
        details={"limit": "max_position_pct", "value": None if share is None else round(float(share), 4),
                 "threshold": limit, "position_value": value, "valued_by": basis, "equity": equity,
                 "position_ids": [row.position_id for row in rows]},
    )]


def _daily_loss(account: BrokerAccount, symbols: list[str], limit: float) -> list[Finding]:
    if account.last_equity <= 0:
        return []  # no equity yesterday: no loss to measure against it
    loss = Fraction(account.last_equity - account.equity) * 100 / Fraction(account.last_equity)
    if loss <= Fraction(str(limit)):
        return []
    return [Finding(
        "RISK_LIMIT_BREACHED", "CRITICAL", {},
        f"the account lost {_pct(loss)} today ({jsonable(account.last_equity)} to "
        f"{jsonable(account.equity)}), past the limit of {limit:g}%",
        details={"limit": "max_daily_loss_pct", "value": round(float(loss), 4), "threshold": limit,
                 "equity": account.equity, "last_equity": account.last_equity, "symbols": symbols},
        subject="max_daily_loss_pct",
    )]


def _account(snapshot: BrokerSnapshot) -> BrokerAccount:
    if snapshot.account is None:
        raise ValueError("the broker snapshot holds no account: take it with account=True")
    return snapshot.account


def _pct(share: Fraction | None) -> str:
    return "all" if share is None else f"{float(share):.2f}%"
