"""The pod filesystem (podfs.py) and the web servers that read it (backends.py), without
kubectl: volume projection as the kubelet does it, and caddy's and nginx's rules for paths."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

import pytest

from kubelesson.sim.kubelet import podfs
from kubelesson.sim.kubelet.backends import Backend, backend_for
from kubelesson.sim.store import Obj, Store
from tests.sim.test_portforward_backends import Conn, _http_response

PAGE = b"<html lang='en'>\n  <body>\n    <div>Hello from ConfigMap!</div>\n  </body>\n</html>\n"


def _configmap(store: Store, name: str = "site", **data: str) -> None:
    obj: Obj = {"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": name, "namespace": "default"}, "data": data}
    if store.get("configmaps", "default", name) is None:
        store.create("configmaps", obj)
    else:
        store.mutate("configmaps", "default", name, lambda _: obj)


def _pod(volumes: list[Obj], mounts: list[Obj], name: str = "web") -> Obj:
    return {"metadata": {"name": name, "namespace": "default", "uid": "uid-" + name},
            "spec": {"volumes": volumes,
                     "containers": [{"name": "web", "image": "caddy:2", "volumeMounts": mounts}]}}


def _files(store: Store, source: Mapping[str, Any], kind: str = "configMap") -> podfs.Plan:
    pod = _pod([{"name": "v", kind: source}], [{"name": "v", "mountPath": "/data"}])
    return podfs.plan(store, pod)


def test_a_configmap_volume_has_one_file_per_key() -> None:
    store = Store()
    store.create("configmaps", {"apiVersion": "v1", "kind": "ConfigMap",
                                "metadata": {"name": "site", "namespace": "default"},
                                "data": {"index.html": "hi", "app.conf": "x=1"},
                                "binaryData": {"logo.bin": base64.b64encode(b"\x00\x01").decode()}})
    plan = _files(store, {"name": "site"})
    assert plan.failed == []
    (mount,) = plan.mounts["web"]
    assert mount.path == "/data"
    assert dict(mount.files()) == {"index.html": b"hi", "app.conf": b"x=1", "logo.bin": b"\x00\x01"}


def test_items_choose_keys_and_paths() -> None:
    store = Store()
    _configmap(store, **{"index.html": "hi", "other": "no"})
    plan = _files(store, {"name": "site", "items": [{"key": "index.html", "path": "pages/a.html"}]})
    assert dict(plan.mounts["web"][0].files()) == {"pages/a.html": b"hi"}
    missing = _files(store, {"name": "site", "items": [{"key": "nope", "path": "x"}]})
    assert missing.failed == [("v", "configmap references non-existent config key: nope")]
    optional = _files(store, {"name": "site", "optional": True, "items": [{"key": "nope", "path": "x"}]})
    assert optional.failed == [] and dict(optional.mounts["web"][0].files()) == {}


def test_a_missing_configmap_or_secret_is_the_kubelets_not_found() -> None:
    store = Store()
    assert _files(store, {"name": "nope"}).failed == [("v", 'configmap "nope" not found')]
    assert _files(store, {"secretName": "nope"}, "secret").failed == [
        ("v", 'secret "nope" not found')]
    assert _files(store, {"name": "nope", "optional": True}).failed == []
    # A volume no container mounts is not set up at all, as the kubelet ignores it.
    unused = _pod([{"name": "v", "configMap": {"name": "nope"}}], [])
    assert podfs.plan(store, unused).failed == []


def test_secret_volumes_decode_their_data() -> None:
    store = Store()
    store.create("secrets", {"apiVersion": "v1", "kind": "Secret",
                             "metadata": {"name": "s", "namespace": "default"},
                             "data": {"password": base64.b64encode(b"hunter2").decode()}})
    plan = _files(store, {"secretName": "s"}, "secret")
    assert dict(plan.mounts["web"][0].files()) == {"password": b"hunter2"}


def test_changes_show_at_once_and_a_deleted_configmap_keeps_its_files() -> None:
    store = Store()
    _configmap(store, **{"index.html": "one"})
    (mount,) = _files(store, {"name": "site"}).mounts["web"]
    assert mount.files() == {"index.html": b"one"}
    _configmap(store, **{"index.html": "two"})
    assert mount.files() == {"index.html": b"two"}
    store.delete("configmaps", "default", "site")
    assert mount.files() == {"index.html": b"two"}  # a node keeps the files it wrote


def test_a_sub_path_mount_is_a_copy_made_at_start() -> None:
    store = Store()
    _configmap(store, **{"index.html": "one"})
    pod = _pod([{"name": "v", "configMap": {"name": "site"}}],
               [{"name": "v", "mountPath": "/srv/page.html", "subPath": "index.html"}])
    fs = podfs.Filesystem({}, podfs.plan(store, pod).mounts["web"])
    assert fs.stat("/srv/page.html") == "file" and fs.read("/srv/page.html") == b"one"
    _configmap(store, **{"index.html": "two"})
    assert fs.read("/srv/page.html") == b"one"  # subPath mounts never see updates


def test_mounts_hide_the_image_files_below_them() -> None:
    image = {"/usr/share/caddy/index.html": b"welcome", "/etc/caddy/Caddyfile": b"conf"}
    mount = podfs.Mount("/usr/share/caddy", podfs.StaticFiles({"a/b.txt": b"b"}))
    fs = podfs.Filesystem(image, [mount])
    assert fs.stat("/usr/share/caddy/index.html") is None
    assert fs.read("/usr/share/caddy/a/b.txt") == b"b"
    assert fs.stat("/usr/share/caddy/a") == "dir"
    assert fs.stat("/usr/share") == "dir" and fs.stat("/") == "dir"
    assert fs.read("/etc/caddy/Caddyfile") == b"conf"
    assert fs.read("/usr/share/caddy/../../../etc/caddy/Caddyfile") == b"conf"
    assert fs.stat("/nope") is None


# --- the web servers -------------------------------------------------------------------------


def _server(image: str, root: str, files: dict[str, bytes] | None) -> Backend:
    mounts = [podfs.Mount(root, podfs.StaticFiles(files))] if files is not None else []
    backend = backend_for(image, 80, mounts)
    assert backend is not None
    return backend


def _get(backend: Backend, path: str, host: str = "127.0.0.1:8000") -> tuple[str, dict[str, str], bytes]:
    conn = Conn(backend)
    conn.send(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    head, body = _http_response(conn)
    conn.close()
    lines = head.decode().split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
    return lines[0], headers, body


CADDY_ROOT = "/usr/share/caddy"


def test_caddy_serves_the_mounted_files() -> None:
    caddy = _server("caddy:2", CADDY_ROOT, {"index.html": PAGE, "notes.txt": b"plain",
                                            "docs/index.html": b"<p>docs</p>", "empty/x.bin": b"\0"})
    status, headers, body = _get(caddy, "/")
    assert (status, body) == ("HTTP/1.1 200 OK", PAGE)
    assert headers["content-type"] == "text/html; charset=utf-8" and headers["server"] == "Caddy"
    assert _get(caddy, "/index.html")[2] == PAGE
    assert _get(caddy, "/notes.txt")[1]["content-type"] == "text/plain; charset=utf-8"
    assert _get(caddy, "/docs/")[2] == b"<p>docs</p>"
    # Canonical URLs: a directory gains its slash, a file loses it (308, query kept).
    status, headers, _ = _get(caddy, "/docs?x=1")
    assert (status, headers["location"]) == ("HTTP/1.1 308 Permanent Redirect", "/docs/?x=1")
    assert _get(caddy, "/notes.txt/")[1]["location"] == "/notes.txt"
    # A directory without an index file, and anything missing: 404 with an empty body.
    assert _get(caddy, "/empty/")[::2] == ("HTTP/1.1 404 Not Found", b"")
    assert _get(caddy, "/welcome.html")[::2] == ("HTTP/1.1 404 Not Found", b"")
    # `..` never leaves the web root.
    assert _get(caddy, "/../../etc/caddy/Caddyfile")[0] == "HTTP/1.1 404 Not Found"


def test_caddy_without_a_mount_serves_its_welcome_page() -> None:
    status, _, body = _get(_server("caddy:2", CADDY_ROOT, None), "/")
    assert status == "HTTP/1.1 200 OK" and b"<title>Caddy works!</title>" in body


def test_a_mount_elsewhere_leaves_the_welcome_page() -> None:
    caddy = _server("caddy:2", "/srv", {"index.html": PAGE})
    assert b"Caddy works!" in _get(caddy, "/")[2]


NGINX_ROOT = "/usr/share/nginx/html"


def test_nginx_serves_the_mounted_files_with_its_own_rules() -> None:
    nginx = _server("nginx:1.27", NGINX_ROOT, {"index.html": PAGE, "sub/a.css": b"p{}",
                                               "bare/x.txt": b"x"})
    status, headers, body = _get(nginx, "/")
    assert (status, body, headers["content-type"]) == ("HTTP/1.1 200 OK", PAGE, "text/html")
    assert headers["server"].startswith("nginx/")
    assert _get(nginx, "/sub/a.css")[1]["content-type"] == "text/css"
    # A directory without its slash: 301 to nginx's own port (80), not the forwarded one.
    status, headers, _ = _get(nginx, "/sub", host="localhost:8000")
    assert (status, headers["location"]) == ("HTTP/1.1 301 Moved Permanently", "http://localhost/sub/")
    status, _, body = _get(nginx, "/bare/")
    assert status == "HTTP/1.1 403 Forbidden" and b"<title>403 Forbidden</title>" in body
    status, _, body = _get(nginx, "/missing.html")
    assert status == "HTTP/1.1 404 Not Found" and b"<hr><center>nginx/" in body


@pytest.mark.parametrize("image", ["caddy:2", "nginx:latest"])
def test_head_gets_the_headers_only(image: str) -> None:
    backend = _server(image, CADDY_ROOT if image.startswith("caddy") else NGINX_ROOT,
                      {"index.html": PAGE})
    conn = Conn(backend)
    conn.send(b"HEAD / HTTP/1.1\r\nConnection: close\r\n\r\n")
    data = conn.read_all()
    conn.close()
    assert data.startswith(b"HTTP/1.1 200 OK") and data.endswith(b"\r\n\r\n")
    assert f"Content-Length: {len(PAGE)}".encode() in data
