"""What is inside each simulated image, as far as a command run in it can tell: its shell
(busybox ash, Debian's dash, or none), the programs on its PATH, its environment, its
working directory and its files.

busybox and alpine are busybox through and through; caddy is built on alpine; the
`-alpine` variants of the other images too. redis, nginx, httpd and mariadb are Debian or
Ubuntu images with dash as /bin/sh and no wget. traefik/whoami is built FROM scratch: it
has no shell at all.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from kubelesson.sim.kubelet.backends import CADDY_FILES, NGINX_FILES, image_name
from kubelesson.sim.kubelet.images import split_reference

PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
ROOT_DIRS = ("/bin", "/dev", "/etc", "/home", "/lib", "/media", "/mnt", "/opt", "/proc",
             "/root", "/run", "/sbin", "/srv", "/sys", "/tmp", "/usr", "/var")

# The busybox applets the simulator runs, and the ones every image's coreutils have.
BUSYBOX_APPLETS = frozenset({"sh", "ash", "echo", "cat", "ls", "env", "printenv",
                             "hostname", "wget", "nslookup", "true", "false", "sleep",
                             "pwd", "head", "tail", "wc", "grep"})
COREUTILS = frozenset({"sh", "dash", "bash", "echo", "cat", "ls", "env", "printenv",
                       "hostname", "true", "false", "sleep", "pwd", "head", "tail", "wc",
                       "grep"})


@dataclass(frozen=True)
class Profile:
    shell: str  # "ash" (busybox), "dash", or "" when the image has no shell
    programs: frozenset[str]
    env: tuple[tuple[str, str], ...] = (("PATH", PATH),)
    workdir: str = "/"
    files: Mapping[str, bytes] = field(default_factory=dict)
    dirs: tuple[str, ...] = ROOT_DIRS


ALPINE_OS = (b'NAME="Alpine Linux"\nID=alpine\nVERSION_ID=3.22.0\n'
             b'PRETTY_NAME="Alpine Linux v3.22"\nHOME_URL="https://alpinelinux.org/"\n'
             b'BUG_REPORT_URL="https://gitlab.alpinelinux.org/alpine/aports/-/issues"\n')
DEBIAN_OS = (b'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\n'
             b'VERSION_ID="12"\nVERSION="12 (bookworm)"\nVERSION_CODENAME=bookworm\n'
             b'ID=debian\nHOME_URL="https://www.debian.org/"\n'
             b'SUPPORT_URL="https://www.debian.org/support"\n'
             b'BUG_REPORT_URL="https://bugs.debian.org/"\n')


Env = tuple[tuple[str, str], ...]


def _alpine(extra: frozenset[str] = frozenset(), *, env: Env = (("PATH", PATH),),
            workdir: str = "/", files: Mapping[str, bytes] | None = None,
            dirs: tuple[str, ...] = ROOT_DIRS) -> Profile:
    return Profile("ash", BUSYBOX_APPLETS | extra, env, workdir,
                   {"/etc/os-release": ALPINE_OS, **(files or {})}, dirs)


def _debian(extra: frozenset[str] = frozenset(), *, workdir: str = "/",
            files: Mapping[str, bytes] | None = None,
            dirs: tuple[str, ...] = ROOT_DIRS) -> Profile:
    return Profile("dash", COREUTILS | extra, (("PATH", PATH),), workdir,
                   {"/etc/os-release": DEBIAN_OS, **(files or {})}, dirs)


_REDIS = frozenset({"redis-cli", "redis-server"})
_CADDY_ENV = (("PATH", PATH), ("CADDY_VERSION", "v2.10.0"), ("XDG_CONFIG_HOME", "/config"),
              ("XDG_DATA_HOME", "/data"))

PROFILES: dict[str, Profile] = {
    "busybox": Profile("ash", BUSYBOX_APPLETS),
    # apk is there but needs the Internet: it says it is not simulated.
    "alpine": _alpine(frozenset({"apk"})),
    "caddy": _alpine(frozenset({"caddy", "apk"}), env=_CADDY_ENV, workdir="/srv",
                     files=CADDY_FILES, dirs=(*ROOT_DIRS, "/config", "/data")),
    "redis": _debian(_REDIS, workdir="/data", dirs=(*ROOT_DIRS, "/data")),
    "nginx": _debian(frozenset({"nginx"}), files=NGINX_FILES),
    "httpd": _debian(frozenset({"httpd"}), workdir="/usr/local/apache2"),
    "mariadb": _debian(frozenset({"mariadb", "mariadbd", "mysql"})),
    "mysql": _debian(frozenset({"mysql", "mysqld"})),
    "whoami": Profile("", frozenset({"whoami"}), dirs=()),
}
ALPINE_VARIANTS = {"redis": _alpine(_REDIS, workdir="/data", dirs=(*ROOT_DIRS, "/data")),
                   "nginx": _alpine(frozenset({"nginx"}), files=NGINX_FILES)}
NO_SHELL = Profile("", frozenset(), dirs=())


def profile_for(image: str) -> Profile:
    """The profile of an image reference (`caddy:2.8`, `redis:7-alpine`)."""
    name = image_name(image)
    _, tag = split_reference(image)
    if "alpine" in tag and name in ALPINE_VARIANTS:
        return ALPINE_VARIANTS[name]
    return PROFILES.get(name, NO_SHELL)


def runs_commands(image: str) -> bool:
    """Whether a container of this image runs a command it is given as a simulated
    process (busybox and alpine, whose default command is a shell)."""
    return image_name(image) in ("busybox", "alpine")
