"""A TCP proxy on 127.0.0.1 for the self-tests that can stop relaying: a link that stalls, not one that
breaks. Once stalled it still reads (so the client's bytes and keepalives are acknowledged by this
host's TCP) but forwards nothing either way, as a wedged firewall or NAT does."""

from __future__ import annotations

import socket
import threading
from contextlib import suppress
from dataclasses import dataclass, field
from types import TracebackType

CHUNK = 65536


@dataclass
class StallProxy:
    """Relays 127.0.0.1:port to upstream (TCP, or a Unix socket's directory) until stall(), or until a
    client sends `stall_on`."""

    upstream_host: str
    upstream_port: int
    stall_on: bytes | None = None  # stall when a client's bytes hold this (that chunk is not relayed)
    stalled: threading.Event = field(default_factory=threading.Event)
    relayed: int = 0  # bytes forwarded, both ways
    dropped: list[bytes] = field(default_factory=list)  # what clients sent while the link was stalled
    _listener: socket.socket | None = None
    _sockets: list[socket.socket] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def asked_while_stalled(self) -> list[bytes]:
        """The PostgreSQL messages clients sent while stalled, but their goodbyes (Terminate, 'X')."""
        with self._lock:
            return [chunk for chunk in self.dropped if not chunk.startswith(b"X")]

    @property
    def port(self) -> int:
        """The local port clients connect to."""
        assert self._listener is not None, "the proxy is not running"
        port: int = self._listener.getsockname()[1]
        return port

    def start(self) -> StallProxy:
        """Listen on a free local port; relay each connection in threads of its own."""
        self._listener = socket.create_server(("127.0.0.1", 0))
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def stall(self) -> None:
        """From now on forward nothing, on every connection, old or new."""
        self.stalled.set()

    def stop(self) -> None:
        """Close the listener and every connection."""
        with self._lock:
            sockets = [self._listener, *self._sockets] if self._listener else list(self._sockets)
        for sock in sockets:
            with suppress(OSError):  # a socket the other side closed already
                sock.shutdown(socket.SHUT_RDWR)  # wakes the threads reading it
            sock.close()

    def __enter__(self) -> StallProxy:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def _accept(self) -> None:
        assert self._listener is not None
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # closed
            upstream = None
            if not self.stalled.is_set():
                try:
                    upstream = self._connect_upstream()
                except OSError:
                    client.close()
                    continue
            with self._lock:
                self._sockets.extend(sock for sock in (client, upstream) if sock is not None)
            threading.Thread(target=self._pump, args=(client, upstream, True), daemon=True).start()
            if upstream is not None:
                threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()

    def _connect_upstream(self) -> socket.socket:
        """TCP to host:port; a host that is a directory is PostgreSQL's Unix socket (an embedded server)."""
        if self.upstream_host.startswith("/"):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.connect(f"{self.upstream_host}/.s.PGSQL.{self.upstream_port}")
            return sock
        return socket.create_connection((self.upstream_host, self.upstream_port))

    def _pump(self, source: socket.socket, target: socket.socket | None, from_client: bool) -> None:
        while True:
            try:
                data = source.recv(CHUNK)
            except OSError:
                return
            if not data:
                return
            if from_client and self.stall_on is not None and self.stall_on in data:
                self.stall()
            if self.stalled.is_set() or target is None:
                if from_client:
                    with self._lock:
                        self.dropped.append(data)
                continue  # read and dropped: the sender sees its bytes acknowledged, nothing more
            try:
                target.sendall(data)
            except OSError:
                return
            with self._lock:
                self.relayed += len(data)
