"""The pure parts of checking a rollout and a Redis session: replaying a pod watch into
the figures the invariants judge, and RESP replies shown the way redis-cli shows them."""

from __future__ import annotations

import io
import json

import pytest

from kubelesson import podstate, resp


def _pod(name: str, uid: str, *, ready: bool, deleting: bool = False) -> dict[str, object]:
    meta: dict[str, object] = {"name": name, "uid": uid}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return {"metadata": meta, "status": {"phase": "Running",
                                         "conditions": [{"type": "Ready", "status": str(ready)}]}}


def _watch(*events: tuple[str, dict[str, object]]) -> str:
    return "\n".join(json.dumps({"type": kind, "object": obj}, indent=2) for kind, obj in events)


def test_a_surge_of_one_keeps_three_ready_and_never_more_than_four() -> None:
    text = _watch(
        ("ADDED", _pod("old-1", "u1", ready=True)), ("ADDED", _pod("old-2", "u2", ready=True)),
        ("ADDED", _pod("old-3", "u3", ready=True)),
        ("ADDED", _pod("new-1", "n1", ready=False)), ("MODIFIED", _pod("new-1", "n1", ready=True)),
        ("MODIFIED", _pod("old-1", "u1", ready=True, deleting=True)), ("DELETED", _pod("old-1", "u1", ready=True)),
    )
    seen = podstate.rollout(text, initial=3)
    assert (seen.min_ready, seen.max_live) == (3, 4)
    assert seen.before == {"u1", "u2", "u3"}
    assert sorted(seen.after) == ["new-1", "old-2", "old-3"]


def test_a_moment_with_too_few_ready_pods_is_seen() -> None:
    text = _watch(
        ("ADDED", _pod("a", "u1", ready=True)), ("ADDED", _pod("b", "u2", ready=True)),
        ("MODIFIED", _pod("a", "u1", ready=True, deleting=True)),
        ("ADDED", _pod("c", "u3", ready=True)),
    )
    assert podstate.rollout(text, initial=2).min_ready == 1


def test_the_opening_list_is_not_counted_half_way() -> None:
    """While the watch lists the pods that exist, the counts are not taken pod by pod."""
    text = _watch(*(("ADDED", _pod(f"p{k}", f"u{k}", ready=True)) for k in range(3)))
    assert podstate.rollout(text, initial=3).min_ready == 3


def test_a_half_written_object_is_left_for_later() -> None:
    whole = _watch(("ADDED", _pod("a", "u1", ready=True)))
    assert len(list(podstate.events(whole + '\n{"type": "ADDED", "object": {"metadata"'))) == 1


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        (b"+OK\r\n", ["OK"]),
        (b"$3\r\nbar\r\n", ['"bar"']),
        (b"$-1\r\n", ["(nil)"]),
        (b":2\r\n", ["(integer) 2"]),
        (b"*1\r\n$3\r\nfoo\r\n", ['1) "foo"']),
        (b"*0\r\n", ["(empty array)"]),
        (b"-ERR unknown command\r\n", ["(error) ERR unknown command"]),
    ],
)
def test_replies_as_redis_cli_shows_them(raw: bytes, shown: list[str]) -> None:
    assert resp.render(resp.read(io.BytesIO(raw))) == shown


def test_commands_are_arrays_of_bulk_strings() -> None:
    assert resp.encode(["GET", "foo"]) == b"*2\r\n$3\r\nGET\r\n$3\r\nfoo\r\n"


@pytest.mark.parametrize("raw", [b"HTTP/1.1 200 OK\r\n", b"+OK", b"$10\r\nshort\r\n"])
def test_another_protocol_on_the_port_is_an_error(raw: bytes) -> None:
    with pytest.raises(resp.ProtocolError):
        resp.read(io.BytesIO(raw))
