"""Where tradewatch's shipped files are: in the checkout it runs from, else in the installed package."""

from __future__ import annotations

import tomllib
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
# What a built package carries under tradewatch/shipped/ (setup.py copies it there from the
# checkout): pytest.ini, checks/, migrations/, the demo (fixtures/demo.sql, its rewrites into later
# layouts and those layouts' tables) and cassettes/demo.yaml. pytest
# and yoyo need real folders, and pip installs a wheel unzipped, so these are plain paths.
SHIPPED = PACKAGE / "shipped"


def is_checkout(folder: Path) -> bool:
    """Whether a folder is a tradewatch checkout: its pyproject.toml names the project tradewatch."""
    try:
        project = tomllib.loads((folder / "pyproject.toml").read_text(encoding="utf-8")).get("project")
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return False
    return isinstance(project, dict) and project.get("name") == "tradewatch"


# The checkout when the package is imported from one (an editable install, or the checkout on
# sys.path); else the installed package's copy, laid out the same way.
ROOT = PACKAGE.parent if is_checkout(PACKAGE.parent) else SHIPPED
CHECKS = ROOT / "checks"
MIGRATIONS = ROOT / "migrations"
INI = ROOT / "pytest.ini"
DEMO_SQL = ROOT / "fixtures" / "demo.sql"
DEMO_CASSETTE = ROOT / "cassettes" / "demo.yaml"


def checks_folders(rootpath: Path) -> list[Path]:
    """The folders holding tradewatch's checks that a pytest run rooted at rootpath may collect."""
    folders = [CHECKS, SHIPPED / "checks"]
    # A checkout's own checks, also when the package it runs is installed from elsewhere.
    if is_checkout(rootpath):
        folders.append(rootpath.resolve() / "checks")
    return folders
