"""Remote-command streams over SPDY/3.1 (`v4.channel.k8s.io`): what kubectl falls back to
when the WebSocket upgrade is refused (and uses alone with
KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false), and what older kubectl always speaks.

kubectl opens one stream per standard stream, named by its `streamtype` header (error,
stdin, stdout, stderr, and resize with a terminal); each SYN_STREAM gets a SYN_REPLY. The
kubelet starts the command once every stream it expects is there. At the end the server
writes the Status on the error stream and finishes every stream with FIN; kubectl then
closes the connection.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable

from kubelesson.sim.shell.io import Stdin
from kubelesson.sim.streams import protocol, spdy
from kubelesson.sim.streams.spdysession import ServerSession, Transport

log = logging.getLogger(__name__)
STREAM_CREATION_TIMEOUT = 30.0  # the kubelet's wait for the client's streams
LINGER_SECONDS = 5.0


class SpdyChannels(ServerSession):
    def __init__(self, transport: Transport, expected: set[str], stdin: Stdin | None,
                 conn_timeout: Callable[[float], None]) -> None:
        super().__init__(transport)
        self._expected = set(expected)
        self.stdin = stdin
        self._set_timeout = conn_timeout
        self._ids: dict[str, int] = {}  # streamtype -> stream id
        self._finished: set[int] = set()
        self._started = False
        self._start: Callable[[], None] = lambda: None

    # -- writing (any thread) --
    def _data(self, kind: str, data: bytes, *, fin: bool = False) -> None:
        stream_id = self._ids.get(kind)
        if stream_id is None or stream_id in self._finished:
            return
        if fin:
            self._finished.add(stream_id)
        self.send(lambda: spdy.encode_data(stream_id, data, fin=fin))

    def stdout(self, data: bytes) -> None:
        if data:
            self._data("stdout", data)

    def stderr(self, data: bytes) -> None:
        if data:
            self._data("stderr", data)

    def finish(self, status: protocol.Obj) -> None:
        self._data("error", protocol.encode_status(status))
        for kind in list(self._ids):
            self._data(kind, b"", fin=True)
        self._set_timeout(LINGER_SECONDS)

    # -- reading (the handler's thread) --
    def run(self, start: Callable[[], None]) -> None:
        """Serve the client's frames; `start` runs the command once its streams are open."""
        self._start = start
        timer = threading.Timer(STREAM_CREATION_TIMEOUT, self._gave_up)
        timer.daemon = True
        timer.start()
        try:
            self.read_frames()
        except (spdy.ProtocolError, OSError, ValueError) as exc:
            log.debug("exec/attach SPDY session ended: %s", exc)
        finally:
            timer.cancel()
            self.closed.set()
            if self.stdin is not None:
                self.stdin.close()

    def _gave_up(self) -> None:
        if not self._started:
            log.info("exec/attach: the client did not open its streams in time")
            self.closed.set()
            self._transport.close()

    def on_stream(self, frame: spdy.SynStream) -> None:
        kind = frame.headers.get("streamtype", "")
        if kind not in protocol.STREAM_TYPES:
            self.reset(frame.stream_id, spdy.RST_PROTOCOL_ERROR)
            return
        self._ids[kind] = frame.stream_id
        if frame.fin and kind == "stdin" and self.stdin is not None:
            self.stdin.close()
        if not self._started and self._expected <= set(self._ids):
            self._started = True
            self._start()

    def on_data(self, frame: spdy.DataFrame) -> None:
        if frame.stream_id != self._ids.get("stdin") or self.stdin is None:
            return  # resize (ignored) and the error stream's FIN
        if frame.data:
            self.stdin.feed(frame.data)
        if frame.fin:
            self.stdin.close()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._transport.close()
