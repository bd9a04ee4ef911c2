"""An attached container's stdio as every front-end sees it: typed output chunks, stdin,
resize and the exit code, with the monitor's frame protocol kept behind it."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from types import TracebackType

from cove.containers.state import Status
from cove.monitor import protocol
from cove.monitor.client import Attachment


class OutputStream(enum.Enum):
    STDOUT = "stdout"
    STDERR = "stderr"


@dataclass(frozen=True)
class Output:
    stream: OutputStream
    data: bytes


_STREAMS = {protocol.STDOUT: OutputStream.STDOUT, protocol.STDERR: OutputStream.STDERR}


class AttachStream:
    """One attached client: ``read`` gives the container's output as it comes, until the
    stream ends. ``ended`` tells that the container's exit came; ``exit_code`` is the code it
    carried (None when there was none to give). A stream that stops without it (a killed
    monitor) leaves both unset: the caller asks for the container's recorded exit instead.

    ``fileno`` is there to wait on (select) beside the user's stdin."""

    def __init__(self, attachment: Attachment) -> None:
        self._attachment = attachment

    @property
    def status(self) -> Status | None:
        """The container's status when the stream began, as its monitor told."""
        return self._attachment.status

    @property
    def ended(self) -> bool:
        return self._attachment.ended

    @property
    def exit_code(self) -> int | None:
        return self._attachment.exit_code

    def fileno(self) -> int:
        return self._attachment.fileno()

    def send_stdin(self, data: bytes) -> None:
        self._attachment.send_stdin(data)

    def close_stdin(self) -> None:
        self._attachment.close_stdin()

    def resize(self, rows: int, cols: int) -> None:
        self._attachment.resize(rows, cols)

    def read(self) -> list[Output]:
        """The output available now (blocks until some comes); [] when the stream ended (then
        see ``ended``). Frames with nothing for the user (empty ones) are read past."""
        while True:
            frames = self._attachment.read()
            out = [
                Output(_STREAMS[kind], payload) for kind, payload in frames if kind in _STREAMS and payload
            ]
            if out or not frames or self.ended:
                return out

    def close(self) -> None:
        self._attachment.close()

    def __enter__(self) -> AttachStream:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
