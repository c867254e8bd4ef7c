"""A local port that counts who connects to it: the proof that a run opened no database."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class Listener:
    """A TCP port on 127.0.0.1 that accepts and at once closes every connection, counting them."""

    def __init__(self, server: socket.socket) -> None:
        self._server = server
        self.port = server.getsockname()[1]
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def url(self) -> str:
        """A libpq URL of this port: a client that tries it fails fast, and is counted."""
        return f"postgresql://tradewatch@127.0.0.1:{self.port}/nothing?connect_timeout=5"

    def start(self) -> None:
        """Accept connections in a thread from now on."""
        self._thread.start()

    def stop(self) -> None:
        """Stop accepting; the count is final."""
        self._stop.set()
        self._thread.join()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._server.accept()
            except TimeoutError:
                continue
            self.connections += 1
            conn.close()


@contextmanager
def listening() -> Iterator[Listener]:
    """A Listener for the duration of the block."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        server.settimeout(0.1)
        listener = Listener(server)
        listener.start()
        try:
            yield listener
        finally:
            listener.stop()
