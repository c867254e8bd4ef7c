"""The README's 'Your schema' tables, made from the profiles so the two cannot disagree."""

from __future__ import annotations

from tradewatch.schema_map.model import FIELDS
from tradewatch.schema_map.profiles import PROFILES, Profile

NONE = "—"


def _header(*first: str) -> list[str]:
    names = [*first, *(f"`{name}`" for name in PROFILES)]
    return ["| " + " | ".join(names) + " |", "|" + "---|" * len(names)]


def profiles_table() -> str:
    """One row per profile: the layout, its market, and what tradewatch does with its broker and schema."""
    rows = ["| profile | layout | market | Alpaca checks | migrated by tradewatch |", "|---|---|---|---|---|"]
    for profile in PROFILES.values():
        market = f"{profile.market.calendar}, {profile.market.zone}"
        alpaca = "yes" if profile.broker == "alpaca" else f"no ({profile.broker})"
        rows.append(f"| `{profile.name}` | {profile.about} | {market} | {alpaca} | "
                    f"{'yes' if profile.migrated else 'no'} |")
    return "\n".join(rows)


def fields_table() -> str:
    """One row per logical field: what it holds and its table or column in each profile."""
    rows = _header("field", "holds")
    for field in FIELDS:
        cells = [_name(profile, field.name) for profile in PROFILES.values()]
        about = f"{field.about} ({field.type_about})" if field.type_about else field.about
        rows.append(f"| `{field.name}` | {about} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def _name(profile: Profile, field: str) -> str:
    name = profile.names[field]
    return f"`{name}`" if name else NONE


def vocabulary_table() -> str:
    """One row per vocabulary column: the values each profile stores (stored=meaning where they differ)."""
    profiles = PROFILES.values()
    columns = dict.fromkeys(column for profile in profiles for column in profile.vocabulary.spellings)
    rows = _header("column")
    for column in columns:
        cells = []
        for profile in PROFILES.values():
            spellings = profile.vocabulary.spellings.get(column)
            cells.append(", ".join(stored if stored == meaning else f"{stored}={meaning}"
                                   for stored, meaning in spellings.items()) if spellings else NONE)
        rows.append(f"| `{column}` | " + " | ".join(cells) + " |")
    return "\n".join(rows)
