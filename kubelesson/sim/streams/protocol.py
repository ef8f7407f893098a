"""The remote-command stream protocol of exec and attach (k8s.io/apimachinery
util/remotecommand, kubelet's remotecommand server), as the two transports carry it.

Five streams: stdin, stdout, stderr, error and resize. Over SPDY each is a stream whose
`streamtype` header names it (`v4.channel.k8s.io`); over a WebSocket each message starts
with the stream's channel number, 0 to 4 (`v4.channel.k8s.io`, and `v5.channel.k8s.io`,
which adds a CLOSE message, 255 followed by a channel, to end one stream: kubectl 1.30+
sends it when its stdin ends). The error stream carries one JSON metav1.Status at the end:
Success, or Failure with reason NonZeroExitCode and the exit code as a cause (kubectl
prints `command terminated with exit code N` and exits with N), or another failure whose
message kubectl prints as `error: <message>`.
"""

from __future__ import annotations

import json
from typing import Any

STDIN, STDOUT, STDERR, ERROR, RESIZE = 0, 1, 2, 3, 4
CLOSE = 255
STREAM_TYPES = {"stdin": STDIN, "stdout": STDOUT, "stderr": STDERR, "error": ERROR,
                "resize": RESIZE}

V5 = "v5.channel.k8s.io"
V4 = "v4.channel.k8s.io"
SPDY_PROTOCOLS = (V4,)  # the versions the SPDY side speaks (v1 to v3 are long gone)

Obj = dict[str, Any]


def success() -> Obj:
    return {"metadata": {}, "status": "Success"}


def exit_code(code: int, argv: list[str]) -> Obj:
    """What the kubelet writes for a command that exited with a non-zero code."""
    return {
        "metadata": {}, "status": "Failure",
        "message": ("command terminated with non-zero exit code: error executing command "
                    f"[{' '.join(argv)}], exit code {code}"),
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]},
    }


def internal_error(message: str) -> Obj:
    """apierrors.NewInternalError: kubectl prints `error: Internal error occurred: ...`."""
    return {
        "metadata": {}, "status": "Failure", "message": f"Internal error occurred: {message}",
        "reason": "InternalError", "details": {"causes": [{"message": message}]},
        "code": 500,
    }


def encode_status(status: Obj) -> bytes:
    return json.dumps(status, separators=(",", ":")).encode()
