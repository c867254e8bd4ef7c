"""Build step: the built package carries the checks and their data, copied from the checkout.

Everything else about the package is declared in pyproject.toml.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

# What `tradewatch check` and `tradewatch migrate` need outside a checkout. The checkout's
# top-level folders stay the one source: these are copied at build time, never committed twice.
SHIPPED = ("pytest.ini", "checks/*.py", "migrations/*.sql", "fixtures/demo.sql",
           "fixtures/demo-layouts/*.sql", "fixtures/layouts/*/schema.sql", "cassettes/demo.yaml")
# Where they go in the package (tradewatch.resources finds them there).
SHIPPED_DIR = Path("tradewatch", "shipped")


def shipped_files() -> list[Path]:
    """The checkout's files to ship, relative to it (the build runs in the checkout or its sdist)."""
    return sorted(path for pattern in SHIPPED for path in Path().glob(pattern) if path.is_file())


class BuildPyWithShipped(build_py):
    """build_py, then the shipped files copied under tradewatch/shipped/ in the build folder."""

    def run(self) -> None:
        """Build the package; a regular build also gets a fresh copy of the shipped files."""
        super().run()
        if self.editable_mode:
            return  # An editable install reads the checkout's own folders.
        target = Path(self.build_lib, SHIPPED_DIR)
        # A build folder left from an earlier build must not ship a check removed since.
        shutil.rmtree(target, ignore_errors=True)
        for source in shipped_files():
            self.mkpath(str((target / source).parent))
            self.copy_file(str(source), str(target / source))

    def get_source_files(self) -> list[str]:
        """The sources an sdist holds: the package's, and the shipped files to copy from it."""
        return [*super().get_source_files(), *map(str, shipped_files())]


setup(cmdclass={"build_py": BuildPyWithShipped})
