"""The lifecycle every local stand-in's HTTP server shares (the device platform, the print
vendor, the fake Stripe): started on 127.0.0.1 on a free port in a daemon thread, stopped
within 50 ms (``serve_forever``'s poll), usable as a context manager."""

from __future__ import annotations

import functools
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self


class LocalHttpServer:
    """Subclasses set ``_server = _thread = None`` and ``_stopping = threading.Event()`` in
    their ``__init__`` and give ``_handler_class`` (a handler bound to ``self``)."""

    thread_name = "local-server"
    _server: ThreadingHTTPServer | None
    _thread: threading.Thread | None
    _stopping: threading.Event

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        raise NotImplementedError

    def start(self) -> Self:
        if self._server is not None:
            return self
        server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        server.daemon_threads = True  # a stalled request never holds up stop()
        self._stopping.clear()
        self._server = server
        self._thread = threading.Thread(
            target=functools.partial(server.serve_forever, poll_interval=0.05),
            name=self.thread_name,
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._stopping.set()  # wakes stalled requests
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server, self._thread = None, None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError(f"the {self.thread_name} server is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"
