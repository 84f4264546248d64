"""A TCP relay on loopback that delays every chunk, and records what passed through it.

Why not ``tc netem``: the machine is shared, and a qdisc on ``lo`` would slow every other
process's loopback traffic too. Delaying chunks in user space models one-way latency
well enough for a protocol that sends a request and waits for its answer: each chunk read
from one side is written to the other side ``delay`` seconds after it was read, chunks of
one direction never overtake each other, and chunks read together leave together (the
delay does not add up along a burst). With ``delay`` 0 the relay is the recording tap
between check_mapi and the emulator that the floor replay is built from.

The proxy also times each connection's first exchange as the wire saw it: from the
kernel's arrival time of the first request's first chunk to the moment the proxy wrote
the last chunk of the answer (before the next request began). That span holds the delays,
the server's time and its queueing under load, but no time the client spent waiting for
its own CPU: the benchmark compares the plugin's reported ``connect_time`` with it.

One asyncio loop in a daemon thread serves every connection. The client's side is a raw
socket whose reads carry the kernel's arrival time (Linux SO_TIMESTAMPNS): under load the
loop gets to a request late, and that lateness must not shorten the exchange it times.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType

from check_mapi.transport.stamps import ANCILLARY_SPACE, SO_TIMESTAMPNS, stamped

CHUNK = 65536


def _nothing() -> None:
    return None


class _Client:
    """The client's side of a relayed connection: the reader and writer interface of
    asyncio's streams over a raw socket, whose reads note the kernel's arrival time."""

    def __init__(self, sock: socket.socket, loop: asyncio.AbstractEventLoop) -> None:
        self.sock, self.loop = sock, loop
        self.arrived = 0.0  # of the last read's data
        self._unsent = b""
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)

    async def read(self, size: int) -> bytes:
        while True:
            try:
                data, ancillary, _, _ = self.sock.recvmsg(size, ANCILLARY_SPACE)
            except BlockingIOError:
                await self._readable()
                continue
            except OSError:
                return b""
            self.arrived = stamped(ancillary) or time.monotonic()
            return data

    async def _readable(self) -> None:
        ready: asyncio.Future[None] = self.loop.create_future()
        fd = self.sock.fileno()

        def wake() -> None:
            if not ready.done():
                ready.set_result(None)

        self.loop.add_reader(fd, wake)
        try:
            await ready
        finally:
            self.loop.remove_reader(fd)

    def write(self, chunk: bytes) -> None:
        if not self._unsent:
            with contextlib.suppress(BlockingIOError):
                chunk = chunk[self.sock.send(chunk):]
        self._unsent += chunk

    async def drain(self) -> None:
        data, self._unsent = self._unsent, b""
        if data:
            await self.loop.sock_sendall(self.sock, data)

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_WR)

    def abort(self) -> None:
        """Wakes a pending read with the end of the stream."""
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self.sock.close()


class _FirstExchange:
    """The first request/answer of one relayed connection, in the proxy's clock."""

    __slots__ = ("answered", "closed", "started")

    def __init__(self) -> None:
        self.started: float | None = None  # the first request chunk was read
        self.answered: float | None = None  # the last answer chunk was written
        self.closed = False  # a second request began: the first exchange is over

    def request_chunk(self, arrived: float) -> None:
        if self.started is None:
            self.started = arrived
        elif self.answered is not None:
            self.closed = True

    def answer_chunk(self) -> None:
        if not self.closed and self.started is not None:
            self.answered = time.monotonic()

    def span(self) -> float | None:
        if self.started is None or self.answered is None:
            return None
        return self.answered - self.started


@dataclass
class Recording:
    """The bytes of one relayed TCP connection, per direction, in order."""

    sent: bytearray = field(default_factory=bytearray)  # client -> server
    received: bytearray = field(default_factory=bytearray)  # server -> client


class DelayingProxy:
    """``DelayingProxy(port, delay=0.025).start()`` relays 127.0.0.1:``self.port`` to
    ``host:port``, each chunk ``delay`` seconds late; ``record=True`` keeps the bytes of
    every connection in ``recordings`` (in the order the connections were accepted)."""

    def __init__(self, upstream_port: int, delay: float = 0.0, *,
                 upstream_host: str = "127.0.0.1", record: bool = False) -> None:
        self.delay = delay
        self.record = record
        self.recordings: list[Recording] = []
        self.first_exchanges: list[float] = []  # seconds, one per finished connection
        self.upstream = (upstream_host, upstream_port)
        self._loop = asyncio.new_event_loop()
        self._listener: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._writers: set[asyncio.StreamWriter | _Client] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.port = 0

    def start(self) -> DelayingProxy:
        ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(ready,), daemon=True,
                                        name="check_mapi-bench-proxy")
        self._thread.start()
        ready.wait(10)
        if not self.port:
            raise RuntimeError("the delaying proxy did not start")
        return self

    def stop(self) -> None:
        """Close the listener and every relayed connection, let the tasks end, then stop."""
        if self._thread is None:
            return
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._thread = None

    def cpu_seconds(self) -> float:
        """CPU time of the proxy's thread so far (Linux: /proc/self/task/<tid>/stat)."""
        if self._thread is None or self._thread.native_id is None:
            return 0.0
        try:
            with open(f"/proc/self/task/{self._thread.native_id}/stat", encoding="ascii") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    async def _shutdown(self) -> None:
        self._close_listener()
        for writer in list(self._writers):
            if isinstance(writer, _Client):
                writer.abort()
            else:
                writer.transport.abort()
        current = asyncio.current_task()
        tasks = [t for t in asyncio.all_tasks() if t is not current]
        if tasks:
            await asyncio.wait(tasks, timeout=2)

    def __enter__(self) -> DelayingProxy:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.stop()

    def _run(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self._loop)
        self._listener = socket.create_server(("127.0.0.1", 0), backlog=256)
        self._listener.setblocking(False)
        self.port = int(self._listener.getsockname()[1])
        self._loop.add_reader(self._listener.fileno(), self._accept)
        ready.set()
        try:
            self._loop.run_forever()
        finally:
            self._close_listener()
            tasks = asyncio.all_tasks(self._loop)
            for task in tasks:
                task.cancel()
            self._loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            self._loop.close()

    def _close_listener(self) -> None:
        if self._listener is not None:
            self._loop.remove_reader(self._listener.fileno())
            self._listener.close()
            self._listener = None

    def _accept(self) -> None:
        if self._listener is None:
            return
        try:
            sock, _ = self._listener.accept()
        except OSError:  # BlockingIOError: another wake-up took it
            return
        task = self._loop.create_task(self._relay(_Client(sock, self._loop)))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _relay(self, client: _Client) -> None:
        self._writers.add(client)
        recording = Recording()
        if self.record:
            self.recordings.append(recording)
        try:
            server_reader, server_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            self._writers.discard(client)
            client.close()
            return
        self._writers.add(server_writer)
        sock = server_writer.get_extra_info("socket")
        if sock is not None:  # a chunk must leave when due, not wait for an ACK
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        first = _FirstExchange()
        try:
            await asyncio.gather(
                self._pump(client, server_writer, recording.sent,
                           read=lambda: first.request_chunk(client.arrived)),
                self._pump(server_reader, client, recording.received,
                           wrote=first.answer_chunk))
        finally:
            span = first.span()
            if span is not None:
                self.first_exchanges.append(span)
            for writer in (client, server_writer):
                self._writers.discard(writer)
                with contextlib.suppress(OSError):
                    writer.close()

    async def _pump(self, reader: asyncio.StreamReader | _Client,
                    writer: asyncio.StreamWriter | _Client,
                    tape: bytearray, read: Callable[[], None] = _nothing,
                    wrote: Callable[[], None] = _nothing) -> None:
        """Read chunks as they come; a second task writes each when its time is due."""
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()
        sender = asyncio.ensure_future(self._send(queue, writer, wrote))
        try:
            while chunk := await reader.read(CHUNK):
                read()
                if self.record:
                    tape += chunk
                queue.put_nowait((time.monotonic() + self.delay, chunk))
        except OSError:
            pass
        queue.put_nowait((time.monotonic() + self.delay, b""))  # end of stream, in order
        await sender

    @staticmethod
    async def _send(queue: asyncio.Queue[tuple[float, bytes]],
                    writer: asyncio.StreamWriter | _Client, wrote: Callable[[], None]) -> None:
        try:
            while True:
                due, chunk = await queue.get()
                wait = due - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                if not chunk:
                    break
                writer.write(chunk)
                wrote()
                await writer.drain()
            if writer.can_write_eof():  # half-close: the other direction may still run
                writer.write_eof()
        except OSError:
            pass
