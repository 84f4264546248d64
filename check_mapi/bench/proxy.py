"""A TCP relay on loopback that delays every chunk, and records what passed through it.

Why not ``tc netem``: the machine is shared, and a qdisc on ``lo`` would slow every other
process's loopback traffic too. Delaying chunks in user space models one-way latency
well enough for a protocol that sends a request and waits for its answer: each chunk read
from one side is written to the other side ``delay`` seconds after it was read, chunks of
one direction never overtake each other, and chunks read together leave together (the
delay does not add up along a burst). With ``delay`` 0 the relay is the recording tap
between check_mapi and the emulator that the floor replay is built from.

One asyncio loop in a daemon thread serves every connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import time
from dataclasses import dataclass, field
from types import TracebackType

CHUNK = 65536


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
        self.upstream = (upstream_host, upstream_port)
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.base_events.Server | None = None
        self._thread: threading.Thread | None = None
        self._writers: set[asyncio.StreamWriter] = set()
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
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
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
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._relay, "127.0.0.1", 0, backlog=256))
        self.port = int(self._server.sockets[0].getsockname()[1])
        ready.set()
        try:
            self._loop.run_forever()
        finally:
            self._server.close()
            tasks = asyncio.all_tasks(self._loop)
            for task in tasks:
                task.cancel()
            self._loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            self._loop.close()

    async def _relay(self, client_reader: asyncio.StreamReader,
                     client_writer: asyncio.StreamWriter) -> None:
        self._writers.add(client_writer)
        recording = Recording()
        if self.record:
            self.recordings.append(recording)
        try:
            server_reader, server_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            self._writers.discard(client_writer)
            client_writer.close()
            return
        self._writers.add(server_writer)
        for writer in (client_writer, server_writer):
            sock = writer.get_extra_info("socket")
            if sock is not None:  # a chunk must leave when due, not wait for an ACK
                sock.setsockopt(6, 1, 1)  # IPPROTO_TCP, TCP_NODELAY
        try:
            await asyncio.gather(
                self._pump(client_reader, server_writer, recording.sent),
                self._pump(server_reader, client_writer, recording.received))
        finally:
            for writer in (client_writer, server_writer):
                self._writers.discard(writer)
                with contextlib.suppress(OSError):
                    writer.close()

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    tape: bytearray) -> None:
        """Read chunks as they come; a second task writes each when its time is due."""
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()
        sender = asyncio.ensure_future(self._send(queue, writer))
        try:
            while chunk := await reader.read(CHUNK):
                if self.record:
                    tape += chunk
                queue.put_nowait((time.monotonic() + self.delay, chunk))
        except OSError:
            pass
        queue.put_nowait((time.monotonic() + self.delay, b""))  # end of stream, in order
        await sender

    @staticmethod
    async def _send(queue: asyncio.Queue[tuple[float, bytes]],
                    writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                due, chunk = await queue.get()
                wait = due - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                if not chunk:
                    break
                writer.write(chunk)
                await writer.drain()
            if writer.can_write_eof():  # half-close: the other direction may still run
                writer.write_eof()
        except OSError:
            pass
