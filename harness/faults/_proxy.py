"""A small TCP proxy that can cut, refuse and slow connections, controlled from the test thread.

    with TcpProxy("127.0.0.1", backend.postgres.port) as proxy:
        service_db_url = f"postgresql://postgres@127.0.0.1:{proxy.port}/harness"
        ...
        proxy.cut()        # every open connection is reset and new ones are refused
        proxy.restore()    # connections are accepted again

It runs its own asyncio loop in a daemon thread; every control method is thread-safe and returns when done.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from typing import Any


def _host_port(url: str) -> str:
    """``host:port`` of a server URL such as ``amqp://user:pw@host:port/vhost``."""
    return url.split("@", 1)[1].split("/", 1)[0]


class TcpProxy:
    """Forward ``127.0.0.1:<port>`` to ``target_host:target_port``, with fault controls."""

    @classmethod
    def in_front_of(cls, url: str) -> TcpProxy:
        """A proxy (not started) to the loopback server ``url`` names."""
        return cls("127.0.0.1", int(_host_port(url).rsplit(":", 1)[1]))

    def url(self, url: str) -> str:
        """``url`` with its host:port replaced by this proxy's: the same server, reached through it."""
        return url.replace(_host_port(url), f"127.0.0.1:{self.port}")

    def __init__(self, target_host: str, target_port: int, *, listen_port: int = 0) -> None:
        self.target = (target_host, target_port)
        self.port = listen_port
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="harness-proxy", daemon=True)
        self._server: asyncio.base_events.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._cut = False
        self._delay = 0.0
        self.accepted = 0

    # --- lifecycle ----------------------------------------------------------------------------------
    def start(self) -> TcpProxy:
        self._thread.start()
        self._call(self._start_server())
        return self

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        self._call(self._shutdown())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def __enter__(self) -> TcpProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- controls -----------------------------------------------------------------------------------
    def cut(self) -> None:
        """Reset every open connection and refuse new ones until :meth:`restore`."""
        self._call(self._cut_all())

    def restore(self) -> None:
        """Accept and forward connections again."""
        self._cut = False

    def set_delay(self, seconds: float) -> None:
        """Delay every forwarded chunk by ``seconds`` (0 = no delay)."""
        self._delay = max(0.0, seconds)

    @property
    def open_connections(self) -> int:
        return len(self._writers) // 2

    # --- internals ----------------------------------------------------------------------------------
    def _call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)

    async def _start_server(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port, reuse_address=True)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        await self._cut_all()
        self._cut = False
        tasks = [t for t in asyncio.all_tasks(self._loop) if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _cut_all(self) -> None:
        self._cut = True
        for writer in list(self._writers):
            _reset(writer)
        self._writers.clear()

    async def _handle(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        if self._cut:
            _reset(client_writer)
            return
        try:
            server_reader, server_writer = await asyncio.open_connection(*self.target)
        except OSError:
            _reset(client_writer)
            return
        self.accepted += 1
        self._writers.update((client_writer, server_writer))
        await asyncio.gather(
            self._pump(client_reader, server_writer, client_writer),
            self._pump(server_reader, client_writer, server_writer),
        )

    async def _pump(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, other: asyncio.StreamWriter
    ) -> None:
        try:
            while not self._cut:
                data = await reader.read(65536)
                if not data:
                    break
                if self._delay:
                    await asyncio.sleep(self._delay)
                writer.write(data)
                await writer.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            for w in (writer, other):
                if w in self._writers:
                    self._writers.discard(w)
                    _close(w)


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with RST (SO_LINGER 0), as a broken network would, not with an orderly FIN."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        except OSError:
            pass
    _close(writer)


def _close(writer: asyncio.StreamWriter) -> None:
    try:
        writer.close()
    except (OSError, RuntimeError):
        pass
