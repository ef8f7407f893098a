"""The nodes' own disks: what a hostPath volume, a local-path PersistentVolume or an emptyDir
holds lives in a real directory of the machine running the simulator,
`<state dir>/nodes/<node name>/<path on the node>`.

A real node's disk outlives every pod, namespace and lesson run; only `k3d cluster delete`
removes it. The simulator's nodes live as long as the simulator: their disks are wiped when
it starts (a new simulator is a new cluster, since none of its API objects survive either)
and removed when it stops.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import threading
from pathlib import Path

from kubelesson.sim.kubelet.podfs import clean_path


class NodeDisks:
    def __init__(self, root: Path | None = None) -> None:
        if root is None:  # a cluster without a state dir (tests building one directly)
            root = Path(tempfile.mkdtemp(prefix="kubelesson-sim-nodes-"))
        self.root = root
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        """Empty disks, as on a freshly created cluster."""
        with self._lock:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root.mkdir(parents=True, exist_ok=True)

    def path(self, node: str, node_path: str) -> Path:
        """Where `node_path` (an absolute path on the node) is on this machine. `..` never
        leaves the node's disk, and a node name never names another directory."""
        name = node.replace("/", "_") or "_"
        return self.root / name / clean_path(node_path).lstrip("/")

    def remove(self, node: str, node_path: str) -> None:
        target = self.path(node, node_path)
        with contextlib.suppress(FileNotFoundError):
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target)
            else:
                target.unlink()

    def close(self) -> None:
        with self._lock:
            shutil.rmtree(self.root, ignore_errors=True)
