"""busybox wget and nslookup inside the pod network (network.py).

wget prints what busybox 1.36/1.37 prints: with -q only the body (and its errors);
without, `Connecting to HOST (IP:PORT)`, `writing to stdout` or `saving to 'FILE'`, the
progress line as busybox writes it when stderr is not a terminal, and `written to
stdout` / `'FILE' saved`. Errors: `bad address 'HOST'`, `can't connect to remote host
(IP): Connection refused`, `server returned error: HTTP/1.1 404 Not Found`, `download
timed out` (after -T seconds, 900 by default, when nothing answers at all)."""

from __future__ import annotations

import posixpath
from dataclasses import dataclass

from kubelesson.sim.shell.context import Context, program
from kubelesson.sim.shell.coreutils import absolute
from kubelesson.sim.shell.files import DNS_SERVICE_IP
from kubelesson.sim.shell.network import REFUSED, TIMEOUT, exchange, parse_response

DEFAULT_TIMEOUT = 900.0  # busybox wget's -T default
MAX_REDIRECTS = 16
BAR = 32  # a non-terminal's width is taken as 80 columns: 80 - 48


class _Fail(Exception):
    pass


@dataclass
class _Url:
    host: str
    port: int
    path: str  # with the leading slash and any query

    @property
    def host_header(self) -> str:
        return self.host if self.port == 80 else f"{self.host}:{self.port}"


def _parse_url(url: str) -> _Url:
    scheme, sep, rest = url.partition("://")
    if not sep:
        scheme, rest = "http", url
    if scheme.lower() != "http":
        raise _Fail(f"kubelesson-sim: wget over {scheme} is not simulated\n")
    hostport, slash, path = rest.partition("/")
    host, colon, port = hostport.rpartition(":") if ":" in hostport else (hostport, "", "")
    if "@" in host:
        host = host.rsplit("@", 1)[1]
    if colon and not port.isdigit():
        raise _Fail(f"wget: bad port spec '{hostport}'\n")
    return _Url(host, int(port) if colon else 80, "/" + path)


def _size5(n: int) -> str:
    """busybox's smart_ulltoa5: five characters, `  615`, `12345`, `97.7k`, ` 123M`."""
    if n <= 99999:
        return f"{n:5d}"
    scaled, index = n * 10, 0
    while True:
        scaled //= 1024
        index += 1
        if scaled < 100000:
            break
    whole, tenths = divmod(scaled, 10)
    unit = " kMGTPEZY"[index]
    return f"{whole:4d}{unit}" if whole >= 100 else f"{whole:2d}.{tenths}{unit}"


def progress_line(name: str, size: int) -> str:
    """The one progress line busybox writes to a non-terminal at the end of a transfer."""
    line = f"{name[:20]:<20} "
    if size:
        line += f"100% |{'*' * BAR}| "
    line += _size5(size)
    line += "  0:00:00 ETA" if size else " --:--:-- ETA"
    return line + "\n"


@dataclass
class _Options:
    quiet: bool = False
    output: str | None = None
    timeout: float = DEFAULT_TIMEOUT
    urls: tuple[str, ...] = ()
    headers: tuple[str, ...] = ()  # --header lines, as given


def _options(argv: list[str]) -> _Options:
    opts = _Options()
    urls: list[str] = []
    args = list(argv[1:])
    while args:
        arg = args.pop(0)
        if arg == "--":
            urls += args
            break
        if arg in ("-q", "--quiet"):
            opts.quiet = True
        elif arg.startswith("--output-document="):
            opts.output = arg.split("=", 1)[1]
        elif arg.startswith("--timeout="):
            opts.timeout = float(arg.split("=", 1)[1])
        elif arg == "--header" or arg.startswith("--header="):
            value = arg.split("=", 1)[1] if "=" in arg else (args.pop(0) if args else "")
            if not value:
                raise _Fail("wget: option '--header' requires an argument\n")
            opts.headers += (value,)
        elif arg.startswith("-") and not arg.startswith("--") and len(arg) > 1:
            _short(arg[1:], args, opts)
        elif arg.startswith("--"):
            raise _Fail(f"kubelesson-sim: 'wget {arg}' is not simulated\n")
        else:
            urls.append(arg)
    opts.urls = tuple(urls)
    return opts


def _short(flags: str, args: list[str], opts: _Options) -> None:
    for index, flag in enumerate(flags):
        if flag == "q":
            opts.quiet = True
        elif flag in "OT":
            value = flags[index + 1:] or (args.pop(0) if args else "")
            if not value:
                raise _Fail(f"wget: option requires an argument: {flag}\n")
            if flag == "O":
                opts.output = value
            else:
                try:
                    opts.timeout = float(value)
                except ValueError:
                    raise _Fail(f"wget: invalid number '{value}'\n") from None
            return
        else:
            raise _Fail(f"kubelesson-sim: 'wget -{flag}' is not simulated\n")


@program("wget")
def wget(ctx: Context, argv: list[str]) -> int:
    try:
        opts = _options(argv)
        if not opts.urls:
            raise _Fail("Usage: wget [-cqS] [--spider] [-O FILE] [-o LOGFILE] [--header "
                        "STR]\n\t[--post-data STR | --post-file FILE] [-Y on/off]\n\t"
                        "[-P DIR] [-U AGENT] [-T SEC] URL...\n\n"
                        "Retrieve files via HTTP or FTP\n")
        for url in opts.urls:
            _download(ctx, opts, _parse_url(url))
    except _Fail as failure:
        ctx.error(str(failure))
        return 1
    return 0


def _download(ctx: Context, opts: _Options, url: _Url) -> None:
    name = opts.output
    if name is None:
        name = posixpath.basename(url.path.split("?", 1)[0]) or "index.html"
        if ctx.files.stat(absolute(ctx, name)) is not None:
            raise _Fail(f"wget: can't open '{name}': File exists\n")
    for _ in range(MAX_REDIRECTS):
        body, location = _fetch(ctx, opts, url)
        if location is None:
            _save(ctx, opts, name, body)
            return
        same_server = location.startswith("/")
        url = _Url(url.host, url.port, location) if same_server else _parse_url(location)
    raise _Fail("wget: too many redirections\n")


def _fetch(ctx: Context, opts: _Options, url: _Url) -> tuple[bytes, str | None]:
    """One request: the body, or where a redirect points."""
    ip = ctx.net.resolve(url.host)
    if ip is None:
        raise _Fail(f"wget: bad address '{url.host}'\n")
    if not opts.quiet:
        ctx.error(f"Connecting to {url.host} ({ip}:{url.port})\n")
    app = ctx.net.connect(ip, url.port)
    if app == TIMEOUT:
        ctx.sleep(opts.timeout)
        raise _Fail("wget: download timed out\n")
    if app == REFUSED or isinstance(app, str):
        raise _Fail(f"wget: can't connect to remote host ({ip}): Connection refused\n")
    request = _request(url, opts.headers)
    parsed = parse_response(exchange(app, request))
    if parsed is None:
        raise _Fail("wget: error getting response: Connection reset by peer\n")
    status_line, headers, body = parsed
    parts = status_line.split()
    code = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
    if code in (300, 301, 302, 303, 307, 308) and headers.get("location"):
        return b"", headers["location"]
    if not 200 <= code <= 204:
        raise _Fail(f"wget: server returned error: {status_line}\n")
    return body, None


def _request(url: _Url, extra: tuple[str, ...]) -> bytes:
    """The request busybox sends: its own Host and User-Agent unless --header gave them (a
    Host header is how a pod reaches an Ingress by name through traefik's address)."""
    given = {line.split(":", 1)[0].strip().lower() for line in extra}
    lines = [f"GET {url.path} HTTP/1.1"]
    if "host" not in given:
        lines.append(f"Host: {url.host_header}")
    if "user-agent" not in given:
        lines.append("User-Agent: Wget")
    lines += ["Connection: close", *extra]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _save(ctx: Context, opts: _Options, name: str, body: bytes) -> None:
    to_stdout = name == "-"
    if not to_stdout:
        problem = ctx.files.write(absolute(ctx, name), b"")
        if problem:
            raise _Fail(f"wget: can't open '{name}': {problem}\n")
    if not opts.quiet:
        ctx.error("writing to stdout\n" if to_stdout else f"saving to '{name}'\n")
    if to_stdout:
        ctx.out(body)
    else:
        ctx.files.write(absolute(ctx, name), body)
    if not opts.quiet:
        ctx.error(progress_line(posixpath.basename(name) or name, len(body)))
        ctx.error("written to stdout\n" if to_stdout else f"'{name}' saved\n")


@program("nslookup")
def nslookup(ctx: Context, argv: list[str]) -> int:
    """busybox nslookup: the server, then the answer for the first name in the search
    path that has one (the real one also prints the other search names' NXDOMAIN
    answers, in the order they come back)."""
    names = [a for a in argv[1:] if not a.startswith("-")]
    if not names:
        ctx.error("Usage: nslookup [-type=QUERY_TYPE] [-debug] HOST [DNS_SERVER]\n\n"
                  "Query DNS about HOST\n")
        return 1
    host = names[0]
    ctx.write(f"Server:\t\t{DNS_SERVICE_IP}\nAddress:\t{DNS_SERVICE_IP}:53\n\n")
    answer = ctx.net.lookup(host)
    if answer is None:
        ctx.write(f"** server can't find {host}: NXDOMAIN\n\n")
        return 1
    for address in answer.addresses:
        ctx.write(f"Name:\t{answer.name}\nAddress: {address}\n")
    ctx.write("\n")
    return 0
