"""The one module that talks to Docker: :class:`DockerEngine`.

Builds go through a BuildKit-capable docker CLI (the SDK cannot run BuildKit
builds, docker/docker-py#2230); everything else (inspect, history, save,
import, tag, push, containers) goes through the Docker SDK for Python. One
engine object per command run: it connects, and finds the CLI, once.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import io
import json
import logging
import os
import tarfile
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from ..core import proc
from ..core.errors import BuildError, CommandFailed, ConfigError, EngineError, RegistryError
from ..core.files import ChunkStream
from . import Container, ImageInfo
from .buildkit_cli import find_buildkit_client

if TYPE_CHECKING:
    import docker

log = logging.getLogger("builder")

MIN_API_VERSION = (1, 41)  # Docker 20.10: BuildKit with RUN --mount
CONNECT_TIMEOUT = 10  # seconds for the engine to answer its version: a hung one fails here


@functools.cache
def _sdk() -> Any:
    """The Docker SDK, imported on first use: it pulls in requests and urllib3, which cost a command
    that never talks to the engine (closure, dockerfile, lock) about a third of its start-up."""
    import docker.errors

    return docker


def _errors() -> Any:
    return _sdk().errors


def _requests_error() -> type[Exception]:
    import requests  # imported by the SDK already

    return requests.exceptions.RequestException


def _wrap(action: str) -> Callable:
    """Decorator: turn SDK errors into EngineError naming the action (also while a generator streams)."""

    def translate(exc: Exception) -> EngineError:
        if isinstance(exc, _errors().ImageNotFound):
            return EngineError(f"{action}: image not found ({exc.explanation}). Build it first.")
        return EngineError(f"{action} failed: {exc}")

    def deco(fn: Callable) -> Callable:
        if inspect.isgeneratorfunction(fn):

            @functools.wraps(fn)
            def stream(*args: Any, **kwargs: Any) -> Iterator[Any]:
                try:
                    yield from fn(*args, **kwargs)
                except _errors().DockerException as exc:
                    raise translate(exc) from exc

            return stream

        @functools.wraps(fn)
        def inner(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            except _errors().DockerException as exc:
                raise translate(exc) from exc

        return inner

    return deco


class DockerEngine:
    """The Docker engine (through ``DOCKER_HOST``) and a BuildKit-capable docker CLI.

    The SDK client is made, and the engine's API version checked, on first use; the
    CLI is found once (its capabilities cached on disk by path, size and time).
    """

    def __init__(self, timeout: float = 300) -> None:
        self.timeout = timeout
        self._sdk: docker.DockerClient | None = None
        self._cli: str | None = None

    def client(self) -> docker.DockerClient:
        """A connected SDK client, checked once for a recent enough engine."""
        if self._sdk is None:
            try:
                # An engine that accepts and never answers fails here, fast; later calls may take longer.
                sdk = _sdk().from_env(timeout=CONNECT_TIMEOUT)
                version = sdk.version()
                sdk.api.timeout = int(self.timeout)
            except (_errors().DockerException, _requests_error()) as exc:
                raise EngineError(
                    "No Docker engine answers (DOCKER_HOST="
                    f"{os.environ.get('DOCKER_HOST', 'unix:///var/run/docker.sock')}): {exc}. "
                    "Start it (`sudo systemctl start docker`, or `dockerd &` as root), or restart it if it "
                    "hangs, or point DOCKER_HOST at one that runs, and try again."
                ) from exc
            api = tuple(int(p) for p in version.get("ApiVersion", "0.0").split(".")[:2])
            if api < MIN_API_VERSION:
                raise EngineError(
                    f"The Docker engine speaks API {version.get('ApiVersion')}; builder needs "
                    f"{'.'.join(map(str, MIN_API_VERSION))} or newer (Docker 20.10+). Upgrade the engine."
                )
            self._sdk = sdk
        return self._sdk

    def buildkit_client(self) -> str:
        """The first docker CLI on PATH that can run BuildKit builds.

        A client with the buildx plugin can; so can a pre-23 client, whose built-in
        BuildKit mode (DOCKER_BUILDKIT=1) needs no plugin. A 23+ client without
        buildx cannot, so it is skipped.
        """
        if self._cli is None:
            self._cli = find_buildkit_client()
        return self._cli

    def check(self) -> str:
        """Fail early, with a clear message, when builds cannot run; return the CLI used."""
        self.client()
        return self.buildkit_client()

    def build(
        self,
        context: Path,
        dockerfile: str,
        *,
        target: str | None,
        tag: str,
        build_args: Mapping[str, str] | None = None,
        platform: str | None = None,
    ) -> None:
        """Build ``dockerfile`` (text, sent on stdin) in ``context`` with BuildKit and tag it.

        The tag is applied by the engine only when the build succeeds, so a failed
        build never leaves a half-built tag behind. Its output goes to the progress log.
        ``platform`` (``linux/arm64``) is the platform of the stages that do not name theirs.
        """
        options = ["-t", tag, *(["--target", target] if target else []), *(["--platform", platform] if platform else [])]
        self._build(context, dockerfile, options, build_args, tag)

    def build_files(
        self, context: Path, dockerfile: str, *, target: str, dest: Path, build_args: Mapping[str, str] | None = None,
        platform: str | None = None,
    ) -> None:  # fmt: skip
        """Build ``target`` of ``dockerfile`` with BuildKit and write its files to ``dest`` (no image)."""
        options = ["--target", target, "--output", f"type=local,dest={dest}", *(["--platform", platform] if platform else [])]
        self._build(context, dockerfile, options, build_args, target)

    def _build(
        self, context: Path, dockerfile: str, options: list[str], build_args: Mapping[str, str] | None, what: str
    ) -> None:
        argv = [self.buildkit_client(), "build", "--progress=plain", "-f", "-", *options]
        for key, value in sorted((build_args or {}).items()):
            argv += ["--build-arg", f"{key}={value}"]
        argv.append(str(context))
        try:
            proc.run(argv, env={"DOCKER_BUILDKIT": "1"}, stdin=dockerfile.encode())
        except CommandFailed as exc:
            raise BuildError(
                f"docker build of {what} failed (exit code {exc.returncode}). Its output is above; "
                "fix the cause and run the build again.",
            ) from exc

    @_wrap("Inspecting an image")
    def image_info(self, ref: str) -> ImageInfo:
        """Size, layers and labels of a local image."""
        image = self.client().images.get(ref)
        attrs = image.attrs
        return ImageInfo(
            ref=ref,
            id=image.id,
            size=int(attrs.get("Size", 0)),
            layers=tuple(attrs.get("RootFS", {}).get("Layers", ())),
            labels=dict((attrs.get("Config") or {}).get("Labels") or {}),
            platform=f"{attrs.get('Os') or 'linux'}/{attrs.get('Architecture') or 'amd64'}",
        )

    def image_exists(self, ref: str) -> bool:
        """True when a local image ``ref`` exists."""
        try:
            self.client().images.get(ref)
        except _errors().ImageNotFound:
            return False
        except _errors().DockerException as exc:
            raise EngineError(f"Inspecting {ref} failed: {exc}") from exc
        return True

    @_wrap("Inspecting an image")
    def image_config(self, ref: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """A local image as the engine's inspect answers, and its history (newest first)."""
        api = self.client().api
        return api.inspect_image(ref), list(api.history(ref))

    def stored_config(self, ref: str) -> dict[str, Any]:
        """The image config the engine stores for ``ref``: the ``<id>.json`` of its ``docker save``."""
        name = f"{self.image_info(ref).id.removeprefix('sha256:')}.json"
        with tarfile.open(fileobj=io.BufferedReader(ChunkStream(self.save(ref)), buffer_size=1 << 20), mode="r|") as tar:
            for member in tar:
                if member.name == name and (data := tar.extractfile(member)) is not None:
                    return dict(json.loads(data.read()))
        raise EngineError(f"`docker save` of {ref} holds no image config {name}; build it again.")

    @_wrap("Loading an image")
    def load(self, archive: bytes | IO[bytes]) -> None:
        """``docker load`` an archive, bytes or an open file (layers the engine holds may be named and left out)."""
        for event in self.client().api.load_image(archive):
            if isinstance(event, dict) and event.get("error"):
                raise EngineError(f"Loading an image failed: {event['error']}")

    @_wrap("Importing a root filesystem")
    def import_rootfs(self, tarball: Path, ref: str) -> str:
        """``docker import`` a root filesystem tarball as image ``ref``; return its ID."""
        repository, _, tag = ref.rpartition(":")
        self.client().api.import_image_from_file(str(tarball), repository=repository, tag=tag)
        return self.client().images.get(ref).id

    @_wrap("Removing an image")
    def remove_image(self, ref: str) -> None:
        """Remove a local image tag (no error when it is already gone)."""
        try:
            self.client().images.remove(ref, noprune=False)
        except _errors().ImageNotFound:
            pass

    @_wrap("Removing untagged images")
    def remove_untagged(self, project: str) -> int:
        """Remove the untagged images that rebuilds of ``project`` left (by label: never another project's)."""
        images = self.client().images.list(filters={"dangling": True, "label": f"builder.project={project}"})
        removed = 0
        for image in images:
            try:
                self.client().images.remove(image.id, noprune=False)
                removed += 1
            except _errors().APIError:
                pass  # used by a container, or removed meanwhile: left alone
        return removed

    @_wrap("Running a container")
    def run_once(
        self,
        image: str,
        command: Sequence[str] | None = None,
        *,
        entrypoint: Sequence[str] | None = None,
        environment: Mapping[str, str] | None = None,
        read_only: bool = False,
        tmpfs: Mapping[str, str] | None = None,
        user: str | None = None,
        network_disabled: bool = False,
    ) -> tuple[int, str]:
        """Run a container to completion; return its exit code and its output. Always removed."""
        container = self.client().containers.create(
            image,
            command=list(command) if command is not None else None,
            entrypoint=list(entrypoint) if entrypoint is not None else None,
            environment=dict(environment or {}),
            read_only=read_only,
            tmpfs=dict(tmpfs or {}),
            user=user,
            network_disabled=network_disabled,
        )
        try:
            container.start()
            status = container.wait(timeout=600)
            output = container.logs(stdout=True, stderr=True).decode("utf-8", "replace")
            return int(status.get("StatusCode", 1)), output
        finally:
            container.remove(force=True)

    @_wrap("Running a tool in a container")
    def run_tool(
        self,
        image: str,
        command: Sequence[str],
        *,
        mounts: Mapping[str, tuple[str, bool]],
        environment: Mapping[str, str],
        working_dir: str,
        timeout: float,
    ) -> str:
        """Run ``command`` in a container of ``image`` (its entrypoint replaced, as this machine's user,
        ``mounts`` host path -> (path inside, writable)); each line it prints goes to the progress log,
        as a command's does. Its output, or CommandFailed (``timed_out`` once killed after ``timeout``)."""
        container = self.client().containers.create(
            image,
            command=list(command[1:]),
            entrypoint=[command[0]],
            environment=dict(environment),
            working_dir=working_dir,
            user=f"{os.getuid()}:{os.getgid()}",
            volumes={host: {"bind": inside, "mode": "rw" if writable else "ro"} for host, (inside, writable) in mounts.items()},
        )
        killed = threading.Event()

        def kill() -> None:
            killed.set()
            with contextlib.suppress(_errors().DockerException):
                container.kill()

        timer = threading.Timer(timeout, kill)
        lines: list[str] = []
        try:
            container.start()
            timer.start()
            pending = b""
            for chunk in container.logs(stream=True, follow=True):
                pending += chunk
                *done, pending = pending.split(b"\n")
                for raw in done:
                    lines.append(raw.decode("utf-8", "replace"))
                    proc.progress.debug("  %s", lines[-1])
            if pending:
                lines.append(pending.decode("utf-8", "replace"))
            status = int(container.wait(timeout=60).get("StatusCode", 1))
        except _requests_error():  # silent for longer than the client waits: cut off, as the timer would
            killed.set()
            status = -1
        finally:
            timer.cancel()
            container.remove(force=True)  # also when interrupted: nothing left running
        if killed.is_set() or status != 0:
            raise CommandFailed(["docker run", image, *command], status, "\n".join(lines), timed_out=killed.is_set())
        return "\n".join(lines)

    def save(self, *refs: str) -> Iterator[bytes]:
        """Stream ``docker save`` of one or more images: one tar archive, each shared layer once."""
        api = self.client().api
        try:
            # The SDK saves one image per call; the engine's endpoint takes several names.
            response = api._get(api._url("/images/get"), params={"names": list(refs)}, stream=True)
            yield from api._stream_raw_result(response, 2 << 20, False)
        except _errors().NotFound as exc:
            raise EngineError(f"Saving {', '.join(refs)}: image not found ({exc.explanation}). Build it first.") from exc
        except _errors().DockerException as exc:
            raise EngineError(f"Saving {', '.join(refs)} failed: {exc}") from exc

    @_wrap("Starting a container")
    def start(self, spec: Any) -> Container:  # spec: local.sandbox.ContainerSpec
        """Start a detached container from a :class:`builder.local.sandbox.ContainerSpec`.

        A stopped container of the same name (left by a killed run) is removed first; a running
        one is somebody's `run` or warm container, so it is left alone and reported.
        """
        try:
            previous = self.client().containers.get(spec.name)
        except _errors().NotFound:
            previous = None
        if previous is not None and previous.status in ("running", "paused"):
            raise EngineError(
                f"A container named {spec.name} is already running (a `run`, or an `invoke --keep-warm`, of "
                "this function on this port). Reuse it with `invoke --keep-warm`, pick another --port, or "
                f"stop it with `docker rm -f {spec.name}`."
            )
        if previous is not None:
            previous.remove(force=True)
        try:
            container = self.client().containers.run(detach=True, **spec.docker_run_kwargs())
        except _errors().APIError as exc:
            with contextlib.suppress(_errors().DockerException):  # created but not started: not left behind
                self.client().containers.get(spec.name).remove(force=True)
            if "port is already allocated" in str(exc) or "address already in use" in str(exc):
                port = ", ".join(str(p) for p in spec.ports.values())
                raise ConfigError(f"Port {port} is in use on this machine; pick another with --port.") from exc
            raise
        return Container(container.id, spec.name, dict(spec.labels))

    @_wrap("Finding a container")
    def find_running(self, name: str) -> Container | None:
        """The running (or paused: frozen between invokes) container called ``name``, if any (for warm reuse)."""
        try:
            container = self.client().containers.get(name)
        except _errors().NotFound:
            return None
        labels = dict((container.attrs.get("Config") or {}).get("Labels") or {})
        if container.status not in ("running", "paused"):
            return None
        return Container(container.id, name, labels, paused=container.status == "paused")

    @_wrap("Finding a container")
    def container_exists(self, name: str) -> bool:
        """Whether a container called ``name`` exists, in any state."""
        try:
            self.client().containers.get(name)
        except _errors().NotFound:
            return False
        return True

    @_wrap("Freezing a container")
    def pause(self, container: Container) -> None:
        """Freeze every process of the container (the cgroup freezer), as Lambda does between invokes."""
        self.client().api.pause(container.id)

    @_wrap("Thawing a container")
    def unpause(self, container: Container) -> None:
        """Thaw a container frozen by :meth:`pause` (no error when it is not frozen)."""
        try:
            self.client().api.unpause(container.id)
        except _errors().APIError as exc:
            if "is not paused" not in str(exc):
                raise

    @_wrap("Reading container logs")
    def logs(self, container: Container, *, follow: bool = False, since: Any = None) -> Iterator[str]:
        """The container's output, line by line (``follow`` streams until it stops)."""
        kwargs: dict[str, Any] = {"stream": True, "follow": follow}
        if since is not None:
            kwargs["since"] = since
        buffer = b""
        for chunk in self.client().containers.get(container.id).logs(**kwargs):
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                yield line.decode("utf-8", "replace")
        if buffer:
            yield buffer.decode("utf-8", "replace")

    @_wrap("Reading container state")
    def exit_code(self, container: Container) -> int | None:
        """The exit code of a stopped container, None while it runs."""
        state = self.client().containers.get(container.id).attrs["State"]
        return None if state.get("Running") else int(state.get("ExitCode", 0))

    def remove(self, container: Container) -> None:
        """Stop and remove a container, frozen or not (no error when it is already gone)."""
        try:
            found = self.client().containers.get(container.id)
            if found.status == "paused":  # a frozen process cannot act on SIGKILL until thawed
                with contextlib.suppress(_errors().APIError):
                    found.unpause()
            found.remove(force=True)
        except _errors().NotFound:
            pass
        except _errors().DockerException as exc:
            raise EngineError(f"Removing container {container.name} failed: {exc}") from exc

    @_wrap("Tagging an image")
    def tag(self, source: str, target: str) -> None:
        """Give the local image ``source`` the additional reference ``target`` (repo:tag)."""
        repository, _, tag_ = target.rpartition(":")
        if not repository or "/" in tag_:
            repository, tag_ = target, "latest"
        self.client().images.get(source).tag(repository, tag_)

    def push(self, ref: str, *, auth_config: Mapping[str, str] | None = None) -> str:
        """Push ``ref`` (repo:tag) and return the manifest digest the registry reports (sha256:...).

        Without ``auth_config`` the engine uses the docker credential store. Progress goes to the log.
        """
        repository, _, tag_ = ref.rpartition(":")
        digest = ""
        try:
            stream = self.client().api.push(
                repository, tag=tag_, stream=True, decode=True, auth_config=dict(auth_config) if auth_config else None
            )
            for event in stream:
                if "error" in event:
                    raise RegistryError(
                        f"Pushing {ref} failed: {event['error']}. Check that the registry is reachable and "
                        "that you are logged in (docker login, or builder's ECR login)."
                    )
                if event.get("status"):
                    proc.progress.debug("%s", f"{event.get('id', '')} {event['status']}".strip())
                digest = (event.get("aux") or {}).get("Digest", digest)
        except _errors().DockerException as exc:
            raise RegistryError(f"Pushing {ref} failed: {exc}. Check the registry address and your credentials.") from exc
        if not digest:
            raise RegistryError(f"The registry accepted {ref} but reported no digest; push it again.")
        return digest

    @_wrap("Pulling an image")
    def pull(self, ref: str, *, auth_config: Mapping[str, str] | None = None) -> str:
        """Pull ``ref`` (by tag or by digest) and return the local image ID."""
        return self.client().images.pull(ref, auth_config=dict(auth_config) if auth_config else None).id
