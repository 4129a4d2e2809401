"""Reproducible image configs (pure) and what a registry holds (a small registry on loopback).

The acceptance tests build the example twice from nothing and compare the engine's image IDs;
these check the parts: the times, what is dropped, the history's layers, the load archive.
"""

from __future__ import annotations

import base64
import hashlib
import http.server
import io
import json
import tarfile
import threading

import pytest

from builder.core.errors import ConfigError
from builder.engine import registry_api
from builder.image import reproducible

LAYERS = ["sha256:" + c * 64 for c in "abc"]
ATTRS = {
    "Id": "sha256:" + "f" * 64,
    "Architecture": "amd64",
    "Os": "linux",
    "Created": "2026-12-01T12:00:00.123456789Z",
    "DockerVersion": "20.10.24",
    "Config": {"Hostname": "", "Domainname": "", "User": "", "Tty": False, "Image": "sha256:" + "e" * 64,
               "Env": ["PATH=/usr/bin", "LANG=C.UTF-8"], "Cmd": ["app.handler"], "Volumes": None,
               "WorkingDir": "/var/task", "Entrypoint": ["/lambda-entrypoint.sh"],
               "Labels": {"builder.function": "health"}},  # fmt: skip
    "RootFS": {"type": "layers", "Layers": LAYERS},
}
# As the history API answers: newest first, a time per step, no word of which steps made layers.
HISTORY = [
    {"Created": 1764590400, "CreatedBy": 'CMD ["app.handler"]', "Size": 0, "Comment": "buildkit.dockerfile.v0"},
    {"Created": 1764590400, "CreatedBy": "COPY /x /var/task/ # buildkit", "Size": 0, "Comment": "buildkit.dockerfile.v0"},
    {"Created": 1764590399, "CreatedBy": "ENV LANG=C.UTF-8", "Size": 0, "Comment": "buildkit.dockerfile.v0"},
    {"Created": 1764590398, "CreatedBy": "RUN /bin/sh -c pip install # buildkit", "Size": 4000, "Comment": ""},
    {"Created": 1764590000, "CreatedBy": "", "Size": 161_000_000, "Comment": "Imported from -"},
]


def test_the_epoch_is_source_date_epoch_or_zero_and_a_bad_one_says_what_to_set():
    assert reproducible.epoch({}) == 0 and reproducible.epoch({"SOURCE_DATE_EPOCH": ""}) == 0
    assert reproducible.epoch({"SOURCE_DATE_EPOCH": "1700000000"}) == 1700000000
    with pytest.raises(ConfigError, match=r"SOURCE_DATE_EPOCH='yesterday' is not a number .*git log -1"):
        reproducible.epoch({"SOURCE_DATE_EPOCH": "yesterday"})
    assert reproducible.timestamp(0) == "1970-01-01T00:00:00Z"
    assert reproducible.timestamp(1700000000) == "2023-11-14T22:13:20Z"


def test_history_marks_the_steps_that_made_no_layer_and_refuses_a_reading_that_does_not_add_up():
    history = reproducible.history_from_api(HISTORY, len(LAYERS))
    assert [h["created_by"] for h in history] == [e["CreatedBy"] for e in reversed(HISTORY)]
    assert [bool(h.get("empty_layer")) for h in history] == [False, False, True, False, True]
    assert "created" not in history[0] and history[0]["comment"] == "Imported from -"
    assert reproducible.history_from_api(HISTORY, 4) is None  # the caller then reads the stored config


def test_a_stored_configs_history_keeps_what_it_says_and_drops_its_times():
    raw = {"history": [{"created": "2026-12-01T12:00:00Z", "created_by": "ENV A=1", "empty_layer": True},
                       {"created": "2026-12-01T12:00:01Z", "created_by": "COPY . /", "comment": "buildkit"}]}  # fmt: skip
    assert reproducible.history_from_config(raw) == [
        {"created_by": "ENV A=1", "empty_layer": True}, {"created_by": "COPY . /", "comment": "buildkit"}]


def test_the_fixed_config_has_one_time_no_build_host_and_the_same_bytes_for_the_same_image():
    history = reproducible.history_from_api(HISTORY, len(LAYERS))
    raw = reproducible.fixed_config(ATTRS, history, 1700000000)
    doc = json.loads(raw)
    times = {doc["created"], *(h["created"] for h in doc["history"])}
    assert times == {"2023-11-14T22:13:20Z"}
    assert doc["rootfs"] == {"type": "layers", "diff_ids": LAYERS}
    assert doc["config"] == {"Env": ["PATH=/usr/bin", "LANG=C.UTF-8"], "Cmd": ["app.handler"], "WorkingDir": "/var/task",
                             "Entrypoint": ["/lambda-entrypoint.sh"], "Labels": {"builder.function": "health"}}  # fmt: skip
    assert "docker_version" not in doc and "20.10" not in raw.decode()
    # Another build of the same image: other times, another parent, keys in another order.
    again = {**ATTRS, "Created": "2026-12-02T08:00:00Z", "Config": dict(reversed(list(ATTRS["Config"].items())))}
    again["Config"]["Image"] = "sha256:" + "d" * 64
    later = [{**e, "Created": e["Created"] + 86400} for e in HISTORY]
    assert reproducible.fixed_config(again, reproducible.history_from_api(later, 3), 1700000000) == raw
    changed = {**ATTRS, "Config": {**ATTRS["Config"], "Cmd": ["other.handler"]}}
    assert reproducible.fixed_config(changed, history, 1700000000) != raw


def test_the_load_archive_holds_the_config_under_its_id_and_names_every_layer():
    config = b'{"a":1}'
    config_id = "sha256:" + hashlib.sha256(config).hexdigest()
    archive = reproducible.load_archive(config, config_id, ["backend-health:latest"], 3)
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        assert tar.getnames() == [f"{config_id[7:]}.json", "manifest.json"]
        assert tar.extractfile(f"{config_id[7:]}.json").read() == config
        manifest = json.loads(tar.extractfile("manifest.json").read())
    assert manifest == [{"Config": f"{config_id[7:]}.json", "RepoTags": ["backend-health:latest"],
                         "Layers": ["0/layer.tar", "1/layer.tar", "2/layer.tar"]}]  # fmt: skip


# ---- what a registry holds ----------------------------------------------------------------------

MANIFEST = json.dumps({"schemaVersion": 2, "mediaType": registry_api.MANIFEST_TYPES[0],
                       "config": {"digest": "sha256:" + "c" * 64}, "layers": []}).encode()  # fmt: skip
INDEX = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                    "manifests": []}).encode()  # fmt: skip


@pytest.fixture(scope="module")
def registry():
    """A registry on loopback holding ``shop:health-latest`` (a manifest), ``shop:multi`` (an index);
    ``private`` answers only with Basic credentials. Records each request's Authorization header."""
    seen: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (the http.server API)
            seen.append(self.headers.get("Authorization", ""))
            body = {"/v2/shop/manifests/health-latest": MANIFEST, "/v2/shop/manifests/multi": INDEX,
                    "/v2/private/manifests/v1": MANIFEST}.get(self.path)  # fmt: skip
            wanted = "Basic " + base64.b64encode(b"AWS:secret").decode()
            if self.path.startswith("/v2/private/") and self.headers.get("Authorization") != wanted:
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="registry"')
                self.end_headers()
                return
            self.send_response(200 if body else 404)
            if body:
                self.send_header("Docker-Content-Digest", "sha256:" + hashlib.sha256(body).hexdigest())
            self.end_headers()
            self.wfile.write(body or b"{}")

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"127.0.0.1:{server.server_address[1]}", seen
    server.shutdown()


def test_a_tags_manifest_gives_its_digest_and_the_image_config_it_names(registry):
    host, _ = registry
    found = registry_api.remote_image(host, "shop", "health-latest")
    assert found == registry_api.RemoteImage("sha256:" + hashlib.sha256(MANIFEST).hexdigest(), "sha256:" + "c" * 64)


def test_what_is_missing_an_index_or_a_refusal_is_none_never_an_error(registry):
    host, _ = registry
    assert registry_api.remote_image(host, "shop", "nope") is None
    assert registry_api.remote_image(host, "shop", "multi") is None  # Lambda takes one manifest, not an index
    assert registry_api.remote_image(host, "private", "v1") is None
    assert registry_api.remote_image("127.0.0.1:9", "shop", "health-latest", timeout=2) is None  # nothing listens


def test_credentials_are_sent_as_basic_auth(registry):
    host, seen = registry
    found = registry_api.remote_image(host, "private", "v1", auth={"username": "AWS", "password": "secret"})
    assert found is not None and found.config == "sha256:" + "c" * 64
    assert seen[-1].startswith("Basic ")


@pytest.mark.parametrize(("host", "base"), [("127.0.0.1:5000", "http://127.0.0.1:5000"),
                                           ("localhost:5000", "http://localhost:5000"),
                                           ("[::1]:5000", "http://[::1]:5000"),
                                           ("123456789012.dkr.ecr.eu-west-1.amazonaws.com",
                                            "https://123456789012.dkr.ecr.eu-west-1.amazonaws.com"),
                                           ("docker.io", "https://registry-1.docker.io")])  # fmt: skip
def test_loopback_registries_speak_http_as_the_engine_assumes_and_the_rest_https(host, base):
    assert registry_api.api_base(host) == base


def test_builds_wait_only_for_the_first_function_that_shares_their_lowest_layers():
    text = """\
# a comment, and a stage that is not a function's
FROM ${BASE_IMAGE} AS deps-boto3
RUN python3 /stage/stage.py install /opt/deps/boto3

FROM ${BASE_IMAGE} AS a
COPY --from=deps-boto3 /out/ /
ENV PYTHONPATH="/var/task:\\
/opt/deps/boto3"
COPY --from=code-a /out/function/ /

FROM ${BASE_IMAGE} AS b
COPY --from=deps-boto3 /out/ /
COPY --from=code-b /out/function/ /
LABEL builder.function="b"

FROM ${BASE_IMAGE} AS c
COPY --from=deps-boto3 /out/ /
COPY --from=deps-numpy /out/ /

FROM ${BASE_IMAGE} AS d
COPY --from=deps-numpy /out/ /

FROM other-base AS e
COPY --from=deps-numpy /out/ /
"""
    after = reproducible.build_after(text, ["b", "a", "c", "d", "e"])
    # a and b are the same layers (two handlers of one code folder can be the same files): b, asked
    # first, builds them; c shares boto3 with both; d and e share nothing (e has another base).
    assert after == {"b": frozenset(), "a": frozenset({"b"}), "c": frozenset({"b"}), "d": frozenset(),
                     "e": frozenset()}  # fmt: skip
    assert reproducible.build_after(text, ["d", "e"]) == {"d": frozenset(), "e": frozenset()}
    assert reproducible.build_after("", ["x"]) == {"x": frozenset()}  # no such stage: nothing to wait for
