"""Streams into simulated containers: `kubectl exec` and `kubectl attach` (and
`kubectl run -i`, which attaches), over the WebSocket protocol kubectl 1.30+ tries first
and over SPDY, reusing the framing of port-forward (spdy.py, websocket.py).

protocol.py holds what both transports carry, wschannels.py and spdychannels.py carry it,
exec.py checks the request, answers the upgrade and connects a simulated process
(shell/).
"""

from __future__ import annotations

from kubelesson.sim.streams.exec import serve

__all__ = ["serve"]
