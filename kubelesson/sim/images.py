"""The images the simulated nodes can 'pull': what they log at start-up and which ports they serve.

An image not in this catalogue behaves like a typo on a real cluster: the pull fails,
ErrImagePull then ImagePullBackOff.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass

LogLines = Callable[[float], list[str]]


@dataclass(frozen=True)
class Image:
    repository: str  # short name as on Docker Hub, e.g. "caddy"
    ports: tuple[int, ...]
    logs: LogLines
    runs_forever: bool = True  # False: the default command exits at once (busybox, alpine)
    size: int = 20_000_000


def _caddy_logs(t: float) -> list[str]:
    def line(**fields: object) -> str:
        return json.dumps({"level": "info", "ts": round(t, 7), **fields}, separators=(",", ":"))

    warn = line(logger="http.auto_https", msg="server is listening only on the HTTP port, so no "
                "automatic HTTPS will be applied to this server", server_name="srv0",
                http_port=80).replace('"level":"info"', '"level":"warn"')
    return [
        line(msg="maxprocs: Leaving GOMAXPROCS=2: CPU quota undefined"),
        line(msg="GOMEMLIMIT is updated", package="github.com/KimMachineGun/automemlimit/memlimit",
             GOMEMLIMIT=1_844_674_407_370_955_161, previous=9_223_372_036_854_775_807),
        line(msg="using config from file", file="/etc/caddy/Caddyfile"),
        line(msg="adapted config to JSON", adapter="caddyfile"),
        line(logger="admin", msg="admin endpoint started", address="localhost:2019",
             enforce_origin=False,
             origins=["//localhost:2019", "//[::1]:2019", "//127.0.0.1:2019"]),
        warn,
        line(logger="http.log", msg="server running", name="srv0", protocols=["h1", "h2", "h3"]),
        line(msg="autosaved config (load with --resume flag)", file="/config/caddy/autosave.json"),
        line(msg="serving initial configuration"),
    ]


def _nginx_logs(t: float) -> list[str]:
    import time

    stamp = time.strftime("%Y/%m/%d %H:%M:%S", time.gmtime(t))
    return [
        "/docker-entrypoint.sh: /docker-entrypoint.d/ is not empty, will attempt to perform "
        "configuration",
        "/docker-entrypoint.sh: Looking for shell scripts in /docker-entrypoint.d/",
        "/docker-entrypoint.sh: Launching /docker-entrypoint.d/10-listen-on-ipv6-by-default.sh",
        "10-listen-on-ipv6-by-default.sh: info: Getting the checksum of "
        "/etc/nginx/conf.d/default.conf",
        "10-listen-on-ipv6-by-default.sh: info: Enabled listen on IPv6 in "
        "/etc/nginx/conf.d/default.conf",
        "/docker-entrypoint.sh: Configuration complete; ready for start up",
        f"{stamp} [notice] 1#1: using the \"epoll\" event method",
        f"{stamp} [notice] 1#1: nginx/1.27.3",
        f"{stamp} [notice] 1#1: start worker processes",
        f"{stamp} [notice] 1#1: start worker process 29",
    ]


def _redis_logs(t: float) -> list[str]:
    import time

    ms = int((t % 1) * 1000)
    stamp = time.strftime("%d %b %Y %H:%M:%S", time.gmtime(t)) + f".{ms:03d}"
    return [
        f"1:C {stamp} * oO0OoO0OoO0Oo Redis is starting oO0OoO0OoO0Oo",
        f"1:C {stamp} * Redis version=7.4.1, bits=64, commit=00000000, modified=0, pid=1, "
        "just started",
        f"1:C {stamp} # Warning: no config file specified, using the default config. In order to "
        "specify a config file use redis-server /path/to/redis.conf",
        f"1:M {stamp} * monotonic clock: POSIX clock_gettime",
        f"1:M {stamp} * Running mode=standalone, port=6379.",
        f"1:M {stamp} * Server initialized",
        f"1:M {stamp} * Ready to accept connections tcp",
    ]


def _mariadb_logs(t: float) -> list[str]:
    import time

    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t))
    return [
        f"{stamp}+00:00 [Note] [Entrypoint]: Entrypoint script for MariaDB Server "
        "1:11.4.4+maria~ubu2404 started.",
        f"{stamp}+00:00 [Note] [Entrypoint]: Switching to dedicated user 'mysql'",
        f"{stamp} 0 [Note] Starting MariaDB 11.4.4-MariaDB-ubu2404 source revision "
        "0000000000000000000000000000000000000000 server_uid 0000000000000000000000000000 as "
        "process 1",
        f"{stamp} 0 [Note] InnoDB: Buffer pool(s) load completed at {stamp[2:]}",
        f"{stamp} 0 [Note] mariadbd: ready for connections.",
        "Version: '11.4.4-MariaDB-ubu2404'  socket: '/run/mysqld/mysqld.sock'  port: 3306  "
        "mariadb.org binary distribution",
    ]


def _no_logs(t: float) -> list[str]:
    return []


CATALOGUE: dict[str, Image] = {
    image.repository: image
    for image in (
        Image("caddy", (80, 443, 2019), _caddy_logs, size=19_964_331),
        Image("nginx", (80,), _nginx_logs, size=72_955_450),
        Image("redis", (6379,), _redis_logs, size=45_006_431),
        Image("mariadb", (3306,), _mariadb_logs, size=113_227_580),
        Image("busybox", (), _no_logs, runs_forever=False, size=2_156_502),
        Image("alpine", (), _no_logs, runs_forever=False, size=3_653_068),
        Image("httpd", (80,), _no_logs, size=58_163_128),
        Image("traefik/whoami", (80,), _no_logs, size=3_196_498),
    )
}


def split_reference(reference: str) -> tuple[str, str]:
    """`caddy:2` -> ("docker.io/library/caddy", "2"); digests keep their `@sha256:…` form."""
    name, tag = reference, "latest"
    if "@" in name:
        name, digest = name.split("@", 1)
        tag = "@" + digest
    else:
        last = name.rsplit("/", 1)[-1]
        if ":" in last:
            name, tag = name.rsplit(":", 1)
    parts = name.split("/")
    if len(parts) == 1:
        full = f"docker.io/library/{name}"
    elif "." in parts[0] or ":" in parts[0] or parts[0] == "localhost":
        full = name
    else:
        full = f"docker.io/{name}"
    return full, tag


def lookup(reference: str) -> Image | None:
    """The catalogue entry for an image reference (any tag), None for an unknown image."""
    full, _ = split_reference(reference)
    for prefix in ("docker.io/library/", "docker.io/"):
        if full.startswith(prefix):
            found = CATALOGUE.get(full[len(prefix):])
            if found:
                return found
    return None


def full_reference(reference: str) -> str:
    """What containerd reports in containerStatuses[].image, e.g. docker.io/library/caddy:2."""
    full, tag = split_reference(reference)
    return full + tag if tag.startswith("@") else f"{full}:{tag}"


def image_id(reference: str) -> str:
    full, _ = split_reference(reference)
    digest = hashlib.sha256(reference.encode()).hexdigest()
    return f"{full}@sha256:{digest}"
