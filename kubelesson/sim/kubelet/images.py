"""The images the simulated nodes can 'pull': what they log at start-up and which ports they serve.

An image not in this catalogue behaves like a typo on a real cluster: the pull fails,
ErrImagePull then ImagePullBackOff. So does a known image with a tag its registry does not
have (`caddy:22`, `caddy:2.77`): each image lists the tags that exist on its registry (as of
mid-2025: every major, minor and patch version of the lines a course may use, `latest`, and
the usual variants such as `-alpine`). A digest (`caddy@sha256:…`) is taken as it is: the
simulator cannot know which digests a registry holds.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass

LogLines = Callable[[float], list[str]]


@dataclass(frozen=True)
class Image:
    repository: str  # short name as on Docker Hub ("caddy", "traefik/whoami"), else the full one
    ports: tuple[int, ...]
    logs: LogLines
    tags: frozenset[str]  # the tags the registry has; any other tag fails to pull
    runs_forever: bool = True  # False: the default command exits at once (busybox, alpine)
    size: int = 20_000_000


def _tags(*, majors: tuple[str, ...] = (), patches: dict[str, int] | None = None,
          named: tuple[str, ...] = ("latest",), suffixes: tuple[str, ...] = (),
          prefix: str = "") -> frozenset[str]:
    """Tags as official images publish them: each major (`2`), minor (`2.8`) and patch
    (`2.8.0` .. `2.8.<last>`) version, each also with every variant suffix (`2.8-alpine`),
    plus the named tags (`latest`, `alpine`). `patches` maps a minor to its last patch."""
    versions = [prefix + major for major in majors]
    for minor, last in (patches or {}).items():
        versions.append(prefix + minor)
        versions += [f"{prefix}{minor}.{patch}" for patch in range(last + 1)]
    tags = set(named) | set(versions)
    tags |= {version + suffix for version in versions for suffix in suffixes}
    return frozenset(tags)


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


def _no_logs(t: float) -> list[str]:
    return []


def _klipper_logs(t: float) -> list[str]:
    """klipper-lb's entry script traces its commands (`set -x`); the first of them."""
    return ["+ trap exit TERM INT", "+ BIN_DIR=/sbin", "+ check_iptables_mode",
            "+ set +e", "+ info 'legacy mode detected'", "[INFO]  legacy mode detected"]


def _traefik_logs(t: float) -> list[str]:
    import time

    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))
    return [f'time="{stamp}" level=info msg="Configuration loaded from flags."']


CATALOGUE: dict[str, Image] = {
    image.repository: image
    for image in (
        Image("caddy", (80, 443, 2019), _caddy_logs, _tags(
            majors=("2",),
            patches={"2.0": 0, "2.1": 1, "2.2": 1, "2.3": 0, "2.4": 6, "2.5": 2, "2.6": 4,
                     "2.7": 6, "2.8": 4, "2.9": 1, "2.10": 2},
            named=("latest", "alpine", "builder", "builder-alpine"),
            suffixes=("-alpine", "-builder", "-builder-alpine")), size=19_964_331),
        Image("nginx", (80,), _nginx_logs, _tags(
            majors=("1",),
            patches={"1.14": 2, "1.15": 12, "1.16": 1, "1.17": 10, "1.18": 0, "1.19": 10,
                     "1.20": 2, "1.21": 6, "1.22": 1, "1.23": 4, "1.24": 0, "1.25": 5,
                     "1.26": 3, "1.27": 5, "1.28": 0, "1.29": 0},
            named=("latest", "stable", "mainline", "alpine", "alpine-slim", "perl",
                   "alpine-perl", "bookworm", "stable-alpine", "mainline-alpine"),
            suffixes=("-alpine", "-alpine-slim", "-perl", "-alpine-perl", "-bookworm")),
            size=72_955_450),
        Image("redis", (6379,), _redis_logs, _tags(
            majors=("6", "7", "8"),
            patches={"6.0": 20, "6.2": 17, "7.0": 15, "7.2": 7, "7.4": 2, "8.0": 2},
            named=("latest", "alpine", "bookworm"), suffixes=("-alpine", "-bookworm")),
            size=45_006_431),
        # mariadb's log is written by its simulated program (apps/mariadb/process.py).
        Image("mariadb", (3306,), _no_logs, _tags(
            majors=("10", "11"),
            patches={"10.4": 34, "10.5": 27, "10.6": 20, "10.11": 10, "11.0": 6, "11.1": 6,
                     "11.2": 6, "11.3": 2, "11.4": 5, "11.5": 2, "11.6": 2, "11.7": 2,
                     "11.8": 2},
            named=("latest", "lts", "noble", "jammy", "focal"),
            suffixes=("-noble", "-jammy", "-focal", "-ubi")), size=113_227_580),
        Image("mysql", (3306, 33060), _no_logs, _tags(
            majors=("8", "9"),
            patches={"8.0": 42, "8.4": 5, "9.0": 1, "9.1": 0, "9.2": 0, "9.3": 0},
            named=("latest", "lts", "innovation", "oracle", "debian"),
            suffixes=("-oracle", "-debian")), size=232_000_000),
        Image("busybox", (), _no_logs, _tags(
            majors=("1",),
            patches={"1.31": 1, "1.32": 1, "1.33": 1, "1.34": 1, "1.35": 0, "1.36": 1,
                     "1.37": 0},
            named=("latest", "stable", "unstable", "musl", "glibc", "uclibc"),
            suffixes=("-musl", "-glibc", "-uclibc")), runs_forever=False, size=2_156_502),
        Image("alpine", (), _no_logs, _tags(
            majors=("3",),
            patches={"3.15": 11, "3.16": 9, "3.17": 10, "3.18": 12, "3.19": 7, "3.20": 6,
                     "3.21": 3, "3.22": 0},
            named=("latest", "edge")), runs_forever=False, size=3_653_068),
        Image("httpd", (80,), _no_logs, _tags(
            majors=("2",), patches={"2.4": 63}, named=("latest", "alpine", "bookworm"),
            suffixes=("-alpine", "-bookworm")), size=58_163_128),
        Image("traefik/whoami", (80,), _no_logs, _tags(
            patches={"1.8": 7, "1.9": 0, "1.10": 4, "1.11": 0}, prefix="v"),
            size=3_196_498),
        # Chapter 8's traQ: only the tag the course uses is known.
        Image("ghcr.io/traptitech/traq", (3000,), _no_logs, _tags(), size=60_000_000),
        Image("ghcr.io/traptitech/traq-ui", (80,), _no_logs, _tags(), size=20_000_000),
        # Lesson 5: what k3s runs in kube-system (controllers/servicelb.py, traefik.py); only
        # the tags k3s releases are known to use.
        Image("rancher/klipper-lb", (), _klipper_logs, frozenset(
            {"v0.4.0", "v0.4.4", "v0.4.7", "v0.4.9", "v0.4.13", "v0.4.17"}), size=4_777_465),
        Image("rancher/mirrored-library-traefik", (8000, 8443, 9000, 9100), _traefik_logs,
              frozenset({"2.9.4", "2.10.4", "2.10.5", "2.10.7", "2.11.18", "3.3.6", "3.5.1",
                         "3.6.13"}), size=43_240_420),
    )
}


def split_reference(reference: str) -> tuple[str, str]:
    """`caddy:2` -> ("docker.io/library/caddy", "2"); a digest wins over a tag and keeps its
    `@sha256:…` form (`caddy:2@sha256:…` -> ("docker.io/library/caddy", "@sha256:…"))."""
    name, tag = reference, "latest"
    if "@" in name:
        name, digest = name.split("@", 1)
        tag = "@" + digest
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        name, named_tag = name.rsplit(":", 1)
        if not tag.startswith("@"):
            tag = named_tag
    parts = name.split("/")
    if len(parts) == 1:
        full = f"docker.io/library/{name}"
    elif "." in parts[0] or ":" in parts[0] or parts[0] == "localhost":
        full = name
    else:
        full = f"docker.io/{name}"
    return full, tag


def repository(reference: str) -> Image | None:
    """The catalogue entry for an image's repository, whatever the tag; None if unknown."""
    full, _ = split_reference(reference)
    for prefix in ("docker.io/library/", "docker.io/"):
        if full.startswith(prefix):
            found = CATALOGUE.get(full[len(prefix):])
            if found:
                return found
    return CATALOGUE.get(full)


def lookup(reference: str) -> Image | None:
    """The image a node can pull for this reference: None for an unknown repository and for
    a tag the repository does not have, which fail to pull as on a real registry."""
    image = repository(reference)
    if image is None:
        return None
    _, tag = split_reference(reference)
    return image if tag.startswith("@") or tag in image.tags else None


def full_reference(reference: str) -> str:
    """What containerd reports in containerStatuses[].image, e.g. docker.io/library/caddy:2."""
    full, tag = split_reference(reference)
    return full + tag if tag.startswith("@") else f"{full}:{tag}"


def image_id(reference: str) -> str:
    full, _ = split_reference(reference)
    digest = hashlib.sha256(reference.encode()).hexdigest()
    return f"{full}@sha256:{digest}"
