"""The simulated Kubernetes cluster the real kubectl talks to (`kubelesson sim`).

Imports are lazy so that `import kubelesson.sim` stays cheap for the CLI.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kubelesson.sim.options import SimOptions

if TYPE_CHECKING:
    from kubelesson.sim.handle import PortInUse, SimHandle, running

__all__ = ["PortInUse", "SimHandle", "SimOptions", "running"]


def __getattr__(name: str) -> Any:
    if name in ("running", "SimHandle", "PortInUse"):
        from kubelesson.sim import handle

        return getattr(handle, name)
    raise AttributeError(name)
