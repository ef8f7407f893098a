"""`kubelesson sim …`: click commands only; the work is in control.py."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import click

from kubelesson.messages import language, say
from kubelesson.sim import control
from kubelesson.sim.options import SimOptions, parse_host_ports

_DEFAULTS = SimOptions()


def _state_dir_option(func: Any) -> Any:
    return click.option(
        "--state-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
        help="Where the kubeconfig, cache, pid and log live "
             "(default $XDG_STATE_HOME/kubelesson/sim).",
    )(func)


def _check_cluster_name(ctx: click.Context, param: click.Parameter, value: str) -> str:
    # k3d accepts a DNS label of at most 32 characters as a cluster name.
    if not re.fullmatch(r"[a-z0-9]([-a-z0-9]{0,30}[a-z0-9])?", value):
        raise click.BadParameter("a cluster name is lower-case letters, digits and '-', "
                                 "at most 32 characters, as k3d accepts")
    return value


def _check_host_ports(ctx: click.Context, param: click.Parameter,
                      value: tuple[str, ...]) -> tuple[str, ...]:
    try:
        parse_host_ports(value)
    except ValueError:
        raise click.BadParameter("a host port is PORT or PORT=LOCAL, ports 1-65535 "
                                 "(LOCAL 0 for a free one)") from None
    return value


def _server_options(func: Any) -> Any:
    options = [
        click.option("--port", type=click.IntRange(0, 65535), default=0, show_default=True,
                     help="Loopback port; 0 picks a free one."),
        click.option("--pending-seconds", type=float, default=_DEFAULTS.pending_seconds,
                     show_default=True, help="Time a new pod waits for a node."),
        click.option("--creating-seconds", type=float, default=_DEFAULTS.creating_seconds,
                     show_default=True, help="Time spent in ContainerCreating."),
        click.option("--terminating-seconds", type=float, default=_DEFAULTS.terminating_seconds,
                     show_default=True, help="Time a deleted pod shows Terminating."),
        click.option("--backoff-seconds", type=float, default=_DEFAULTS.backoff_seconds,
                     show_default=True, help="ErrImagePull -> ImagePullBackOff delay."),
        click.option("--kube-version", default=_DEFAULTS.kube_version, show_default=True,
                     help="Version /version reports (the kubectl dispatcher follows it)."),
        click.option("--nodes-ready/--no-nodes-ready", default=_DEFAULTS.nodes_ready,
                     show_default=True, help="With --no-nodes-ready pods stay Pending."),
        click.option("--agents", type=click.IntRange(0, 20), default=_DEFAULTS.agents,
                     show_default=True, help="Agent nodes besides the server node."),
        click.option("--cluster-name", default=_DEFAULTS.cluster_name, show_default=True,
                     callback=_check_cluster_name,
                     help="Nodes are named as k3d names them: k3d-NAME-server-0, ..."),
        click.option("--watch-log-size", type=int, default=_DEFAULTS.watch_log_size,
                     hidden=True),
        click.option("--event-ttl", type=click.FloatRange(min=0, min_open=True),
                     default=_DEFAULTS.event_ttl, show_default=True,
                     help="Seconds an Event is kept after its last change (as --event-ttl)."),
        click.option("--header-timeout", type=click.FloatRange(min=0, min_open=True),
                     default=_DEFAULTS.header_timeout, hidden=True),
        click.option("--idle-timeout", type=click.FloatRange(min=0, min_open=True),
                     default=_DEFAULTS.idle_timeout, hidden=True),
        click.option("--max-connections", type=click.IntRange(min=1),
                     default=_DEFAULTS.max_connections, hidden=True),
        click.option("--lifecycle-log-size", type=click.IntRange(min=1),
                     default=_DEFAULTS.lifecycle_log_size, hidden=True),
        click.option("--compaction-interval", type=click.FloatRange(min=0, min_open=True),
                     default=_DEFAULTS.compaction_interval, hidden=True),
        click.option("--forbidden", multiple=True, metavar="RESOURCE",
                     help="Refuse to create this resource (plural, e.g. namespaces) as RBAC would."),
        # `--host-ports` too: `sim up` passes every option to `sim run` by its field name.
        click.option("--host-port", "--host-ports", "host_ports", multiple=True,
                     metavar="PORT[=LOCAL]",
                     default=_DEFAULTS.host_ports, show_default=True,
                     callback=_check_host_ports,
                     help="A host port of the k3d cluster, served on a free 127.0.0.1 port "
                          "(or LOCAL); see the ConfigMap kubelesson-sim-host-ports."),
        click.option("--disable", multiple=True, type=click.Choice(["traefik", "servicelb"]),
                     help="Leave out a packaged k3s component, as k3s's --disable does."),
        click.option("--database-init-seconds", type=click.FloatRange(min=0),
                     default=_DEFAULTS.database_init_seconds, show_default=True,
                     help="Time MariaDB takes to initialise a new data directory."),
        click.option("--probe-seconds", type=click.FloatRange(min=0, min_open=True),
                     default=_DEFAULTS.probe_seconds, show_default=True,
                     help="Length of a probe's second (periodSeconds, initialDelaySeconds)."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _options(kwargs: dict[str, Any]) -> SimOptions:
    values = {k: kwargs[k] for k in SimOptions.__dataclass_fields__}
    values["forbidden"] = tuple(values["forbidden"])
    values["host_ports"] = tuple(values["host_ports"])
    values["disable"] = tuple(values["disable"])
    return SimOptions(**values)


def _state(state_dir: Path | None) -> Path:
    return (state_dir or control.default_state_dir()).resolve()


@click.group(name="sim")
def sim() -> None:
    """A SIMULATED Kubernetes cluster on 127.0.0.1 for the real kubectl (no Docker needed)."""


@sim.command()
@_state_dir_option
@_server_options
def up(state_dir: Path | None, port: int, **kwargs: Any) -> None:
    """Start the simulator in the background and print the export lines for it."""
    where = _state(state_dir)
    lang = language()
    try:
        started = control.up(where, _options(kwargs), port)
    except control.ControlError as exc:
        click.echo(say(lang, "sim.error", what=exc.text(lang)), err=True)
        raise SystemExit(2) from None
    # The same export lines either way, so that `eval "$(kubelesson sim up)"` always works.
    for line in control.env_lines(where):
        click.echo(line)
    if started.already:
        click.echo(say(lang, "sim.already_running", url=started.status.url,
                       pid=started.status.pid), err=True)


@sim.command()
@_state_dir_option
def down(state_dir: Path | None) -> None:
    """Stop the background simulator (exit 0 even if it was not running)."""
    where = _state(state_dir)
    stopped = control.down(where)
    key = {"stopped": "sim.stopped", "not-running": "sim.was_not_running",
           "stale": "sim.stale_pid", "unverified": "sim.unverified"}[stopped.outcome]
    click.echo(say(language(), key, state_dir=where, pid=stopped.pid))


@sim.command()
@_state_dir_option
def status(state_dir: Path | None) -> None:
    """Say whether the simulator runs, where, and for how long (exit 2 when it does not)."""
    current = control.status(_state(state_dir))
    lang = language()
    if not current.running:
        click.echo(say(lang, "sim.not_running", state_dir=current.state_dir))
        raise SystemExit(2)  # not running is an environment state, as for the other commands
    click.echo(say(lang, "sim.status", url=current.url, pid=current.pid,
                   uptime=f"{current.uptime or 0.0:.0f}", state_dir=current.state_dir))
    if current.host_ports:
        ports = ", ".join(f"{host} -> 127.0.0.1:{local}" for host, local in current.host_ports)
        click.echo(say(lang, "sim.status_host_ports", ports=ports))


@sim.command()
@_state_dir_option
def env(state_dir: Path | None) -> None:
    """Print the export lines (KUBECONFIG, KUBECACHEDIR) for the simulator."""
    for line in control.env_lines(_state(state_dir)):
        click.echo(line)


@sim.command()
@_state_dir_option
@_server_options
@click.option("--quiet", is_flag=True, hidden=True)
def run(state_dir: Path | None, port: int, quiet: bool, **kwargs: Any) -> None:
    """Run the simulator in the foreground until Ctrl-C."""
    where = _state(state_dir)
    try:
        code = control.run_foreground(where, _options(kwargs), port, quiet=quiet)
    except control.ControlError as exc:
        lang = language()
        click.echo(say(lang, "sim.error", what=exc.text(lang)), err=True)
        raise SystemExit(2) from None
    raise SystemExit(code)
