"""The account's state: blocked, short of buying power, near the pattern day trader limit."""

from __future__ import annotations

from decimal import Decimal

from tradewatch.broker import BrokerAccount
from tradewatch.findings import Finding, jsonable

BLOCKING_FLAGS = ("trading_blocked", "account_blocked", "trade_suspended_by_user")
DAYTRADE_LIMIT = 3  # day trades in five sessions that make a pattern day trader's account restricted


def account_figures(account: BrokerAccount) -> dict[str, Decimal]:
    """What the report shows of the account: never its number or ids."""
    return {"equity": account.equity, "cash": account.cash, "buying_power": account.buying_power}


def account_blocked(account: BrokerAccount) -> list[Finding]:
    """ACCOUNT_BLOCKED when the broker blocks trading or the account, or trading is suspended."""
    raised = [flag for flag in BLOCKING_FLAGS if getattr(account, flag)]
    if not raised:
        return []
    return [Finding(
        "ACCOUNT_BLOCKED", "CRITICAL", {},
        f"the broker account is blocked: {', '.join(raised)}",
        details={flag: getattr(account, flag) for flag in BLOCKING_FLAGS},
    )]


def buying_power_low(account: BrokerAccount, *, minimum: Decimal = Decimal(0)) -> list[Finding]:
    """BUYING_POWER_LOW when buying power is below minimum."""
    if account.buying_power >= minimum:
        return []
    return [Finding(
        "BUYING_POWER_LOW", "WARNING", {},
        f"the account's buying power is {jsonable(account.buying_power)}, below {jsonable(minimum)}",
        details={"buying_power": account.buying_power, "minimum": minimum, "cash": account.cash},
    )]


def daytrade_limit(account: BrokerAccount, *, limit: int = DAYTRADE_LIMIT) -> list[Finding]:
    """DAYTRADE_LIMIT when a pattern day trader's account has made limit day trades or more."""
    if not (account.pattern_day_trader and account.daytrade_count >= limit):
        return []
    return [Finding(
        "DAYTRADE_LIMIT", "WARNING", {},
        f"the account is a pattern day trader with {account.daytrade_count} day trades "
        f"(limit {limit})",
        details={"daytrade_count": account.daytrade_count, "limit": limit},
    )]
