"""A slow, breaking link for tests: an asyncio TCP proxy (in a thread of its own) that
throttles what the client sends to a given rate and cuts the connection (RST both ways)
once the client has sent a given number of bytes, as an office link at 230 kbps that
drops at minute 14 does."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urlparse

PIECE_BYTES = 4096


@dataclass
class SlowLink:
    """Listens on 127.0.0.1:`port` and forwards to `target_port`."""

    target_port: int
    bytes_per_second: int
    cut_after_bytes: int | None = None  # client bytes after which every connection is cut
    port: int = 0
    uploaded: int = 0  # bytes the client sent through the proxy (all connections)
    cuts: int = 0
    _loop: asyncio.AbstractEventLoop | None = field(default=None, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)
    _writers: set = field(default_factory=set, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> SlowLink:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        self.port = sock.getsockname()[1]
        ready = threading.Event()

        def run() -> None:
            self._loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self._loop)
            server = self._loop.run_until_complete(asyncio.start_server(self._serve, sock=sock))
            ready.set()
            try:
                self._loop.run_forever()
            finally:
                tasks = asyncio.all_tasks(self._loop)
                for task in tasks:
                    task.cancel()
                self._loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
                server.close()
                self._loop.run_until_complete(server.wait_closed())
                self._loop.close()

        self._thread = threading.Thread(target=run, name="slow-link", daemon=True)
        self._thread.start()
        ready.wait(10)
        return self

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:

            def close_all() -> None:
                for writer in list(self._writers):
                    writer.transport.abort()
                self._loop.stop()

            self._loop.call_soon_threadsafe(close_all)
            self._thread.join(10)

    def _cut_due(self) -> bool:
        return (
            self.cut_after_bytes is not None
            and self.cuts == 0
            and (self.uploaded >= self.cut_after_bytes)
        )

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.transport.abort()
            return
        self._writers.update({writer, up_writer})

        def cut() -> None:
            writer.transport.abort()
            up_writer.transport.abort()

        async def client_to_server() -> None:
            while True:
                data = await reader.read(PIECE_BYTES)
                if not data:
                    break
                await asyncio.sleep(len(data) / self.bytes_per_second)
                self.uploaded += len(data)
                up_writer.write(data)
                await up_writer.drain()
                if self._cut_due():
                    self.cuts += 1
                    cut()
                    return
            up_writer.write_eof() if up_writer.can_write_eof() else None

        async def server_to_client() -> None:
            while True:
                data = await up_reader.read(65536)
                if not data:
                    break
                writer.write(data)
                await writer.drain()
            writer.close()

        try:
            await asyncio.gather(client_to_server(), server_to_client())
        except (OSError, asyncio.IncompleteReadError, ConnectionError):
            cut()
        finally:
            self._writers.discard(writer)
            self._writers.discard(up_writer)


def cut_patch(url: str, offset: int, declared: int, data: bytes) -> None:
    """A PATCH that promises `declared` bytes, sends `data`, then the link drops (RST)."""
    parsed = urlparse(url)
    sock = socket.create_connection((parsed.hostname, parsed.port), timeout=30)
    head = (
        f"PATCH {parsed.path} HTTP/1.1\r\nHost: {parsed.netloc}\r\nTus-Resumable: 1.0.0\r\n"
        f"Upload-Offset: {offset}\r\nContent-Type: application/offset+octet-stream\r\n"
        f"Content-Length: {declared}\r\n\r\n"
    ).encode()
    sock.sendall(head + data)
    time.sleep(1.0)  # the bytes are on their way through nginx
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    sock.close()
