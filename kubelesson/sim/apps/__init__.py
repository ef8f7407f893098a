"""Simulated programs that run in containers and have a life of their own: MariaDB (its data
on the pod's volume, a slow first start, the MySQL protocol) and traQ with its web UI
(which needs its database before it serves). The static servers of backends.py (caddy,
nginx, redis) stay as they are; these add start-up, shutdown, exit codes and logs.

`runtime.AppRuntime` starts and stops them for the simulated kubelet (lifecycle.py);
`registry.listener` says what answers on a pod's port now, for port-forwards and for
connections between pods (network.py).
"""
