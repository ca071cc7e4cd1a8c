"""A TCP proxy for tests that need a server (PostgreSQL, usually) to go away and come back.

Put it between the code under test and the server, point the code at the proxy, then cut:

    async with TcpProxy("127.0.0.1", 5432) as proxy:
        url = proxied_url(os.environ["TEST_DATABASE_URL"], proxy.port)
        engine = create_async_engine(url)       # talks to PostgreSQL through the proxy
        ...
        await proxy.cut()      # the database "went away"
        ...                    # open connections are reset, new ones refused
        await proxy.restore()  # it is back, on the same port
        proxy.connections      # connections open through the proxy now

``cut()`` resets every open connection on both sides (an RST, as when a host or a firewall
drops a connection; ``reset=False`` closes with a FIN instead, as a crashed server's kernel
does) and stops listening, so that a new connection is refused (ECONNREFUSED), as with a
server that is down. When ``cut()`` returns the sockets are closed. ``restore()`` listens again
on the same port. A connection whose target cannot be reached is reset at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from dataclasses import dataclass, field

from sqlalchemy.engine import URL, make_url

_CHUNK = 64 * 1024
# SO_LINGER on, timeout 0: close() sends an RST instead of a FIN and drops unsent data.
_LINGER_RESET = struct.pack("ii", 1, 0)


def proxied_url(url: str | URL, port: int, host: str = "127.0.0.1") -> str:
    """``url`` (a SQLAlchemy database URL) with its host and port replaced by the proxy's."""
    return make_url(url).set(host=host, port=port).render_as_string(hide_password=False)


def _close(writer: asyncio.StreamWriter, *, reset: bool) -> None:
    transport = writer.transport
    if transport.is_closing():
        return
    if reset:
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
    transport.abort()


@dataclass(eq=False)
class _Link:
    """One client connection and, once made, its connection to the target."""

    client: asyncio.StreamWriter
    target: asyncio.StreamWriter | None = None
    closed: bool = False
    reset: bool = True

    def close(self, *, reset: bool) -> None:
        self.closed = True
        self.reset = reset
        _close(self.client, reset=reset)
        if self.target is not None:
            _close(self.target, reset=reset)


@dataclass
class TcpProxy:
    """Forwards TCP from a local port to ``target_host:target_port`` until cut."""

    target_host: str
    target_port: int
    host: str = "127.0.0.1"
    port: int = 0  # 0: the OS chooses; read it back after start()
    accepted: int = 0  # connections accepted in all, for tests that count reconnects
    _server: asyncio.Server | None = field(default=None, init=False, repr=False)
    _links: set[_Link] = field(default_factory=set, init=False, repr=False)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set, init=False, repr=False)
    _is_cut: bool = field(default=False, init=False, repr=False)

    @property
    def connections(self) -> int:
        """How many client connections are open through the proxy now."""
        return len(self._links)

    @property
    def is_cut(self) -> bool:
        return self._is_cut

    async def start(self) -> TcpProxy:
        """Listen (on ``port``, or on a port the OS chooses) and forward."""
        await self._listen()
        return self

    async def stop(self) -> None:
        """Stop listening, close every connection and wait for the forwarding to end."""
        await self.cut(reset=False)

    async def __aenter__(self) -> TcpProxy:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def cut(self, *, reset: bool = True) -> None:
        """Close every open connection (both directions) and refuse new ones until restore()."""
        self._is_cut = True
        if self._server is not None:
            self._server.close()
            self._server = None
        for link in list(self._links):
            link.close(reset=reset)
        # Transports close their sockets on the loop's next turn: wait until every forwarding
        # task has seen it and ended, so that the caller finds everything closed.
        await self._drain_tasks()

    async def restore(self) -> None:
        """Accept and forward again, on the same port."""
        if self._server is None:
            await self._listen()
        self._is_cut = False

    async def _listen(self) -> None:
        # Bound by hand so that restore() gets the same port back (SO_REUSEADDR lets it rebind
        # while the connections cut() closed sit in TIME_WAIT).
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.host, self.port))
            sock.listen(512)
            sock.setblocking(False)
            self._server = await asyncio.start_server(self._serve, sock=sock)
        except BaseException:
            sock.close()
            raise
        self.port = sock.getsockname()[1]
        self._is_cut = False

    async def _drain_tasks(self) -> None:
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        self.accepted += 1
        link = _Link(writer)
        if self._is_cut:  # accepted in the instant before cut()
            link.close(reset=True)
            return
        self._links.add(link)
        try:
            try:
                target_reader, link.target = await asyncio.open_connection(
                    self.target_host, self.target_port
                )
            except OSError:
                link.close(reset=True)
                return
            if link.closed:  # cut while connecting
                link.close(reset=link.reset)
                return
            await asyncio.gather(
                self._pump(reader, link.target, link), self._pump(target_reader, writer, link)
            )
        finally:
            self._links.discard(link)
            if not link.closed:
                link.close(reset=False)

    @staticmethod
    async def _pump(source: asyncio.StreamReader, sink: asyncio.StreamWriter, link: _Link) -> None:
        """Copy one direction until EOF, then half-close the other side as TCP would."""
        try:
            while data := await source.read(_CHUNK):
                sink.write(data)
                await sink.drain()
            if not sink.transport.is_closing() and sink.can_write_eof():
                sink.write_eof()
        except OSError:
            # One side failed (reset, broken pipe): the peer on the other side must see it too.
            link.close(reset=True)
