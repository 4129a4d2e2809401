"""Run function images locally: start the sandboxed container, invoke it, collect its logs.

Strings together :mod:`builder.local` (the plan of the sandbox and the HTTP
client) and :mod:`builder.engine` (the containers). Never prints.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from types import MappingProxyType

from ..core.errors import ConfigError
from ..engine import Container
from ..engine.docker_engine import DockerEngine
from ..project.model import Config
from . import sandbox as local
from . import scratch

notices = logging.getLogger("builder.output")

START_TIMEOUT = 30.0  # seconds for the emulator to answer HTTP after the container starts
LOG_WAIT = 3.0  # seconds to wait for the REPORT line after the response


@dataclass(frozen=True)
class Result:
    """One local invocation: the emulator's answer and the container's log lines for it."""

    invocation: local.Invocation
    logs: tuple[str, ...]
    reused: bool  # a warm container answered


def spec_for(
    engine: DockerEngine,
    config: Config,
    function: str,
    *,
    tag: str = "latest",
    port: int = 9000,
    memory_mb: int = 128,
    timeout_s: int = 3,
    tmp_mb: int = 512,
    env: dict[str, str] | None = None,
    sandbox: bool = True,
) -> local.ContainerSpec:
    """The container a function's image runs in (its settings checked before the engine is asked),
    checking that the image exists."""
    fn = config.function(function)
    image = config.image(function, tag)
    spec = local.sandbox_spec(
        image, function, config.command(fn.name), port=port, memory_mb=memory_mb, timeout_s=timeout_s, tmp_mb=tmp_mb,
        env=env or {}, sandbox=sandbox,
    )
    if not engine.image_exists(image):
        raise ConfigError(
            f"Image {image} does not exist. Build it first: "
            f"`python -m builder --project {config.root} build --function {function} --tag {tag}`."
        )
    identity = {local.PROJECT_LABEL: config.name, local.IMAGE_LABEL: engine.image_info(image).id}
    return replace(spec, labels=MappingProxyType({**spec.labels, **identity}))


def start(engine: DockerEngine, spec: local.ContainerSpec) -> Container:
    """Start the container and wait until its invoke endpoint answers; removed again on failure.

    In the sandbox its /tmp is a file system of its own size (:mod:`scratch`) where one can be
    made, so /tmp does not count as memory; else a tmpfs, with a notice.
    """
    if engine.find_running(spec.name) is None:  # else the engine says whose container it is
        local.check_port(spec.ports[local.CONTAINER_PORT])
    scratch.sweep(engine.container_exists)  # what killed runs and removed warm containers left
    spec = _with_scratch(spec)
    try:
        container = engine.start(spec)
    except BaseException:
        scratch.remove(spec.name)
        raise
    try:
        local.wait_ready(spec.ports[local.CONTAINER_PORT], START_TIMEOUT)
    except BaseException:
        stop(engine, container)
        raise
    return container


def _with_scratch(spec: local.ContainerSpec) -> local.ContainerSpec:
    if "/tmp" not in spec.tmpfs:
        return spec  # no sandbox: /tmp is the container's own
    why_not = scratch.available()
    if why_not is not None:
        notices.warning("note: /tmp is a tmpfs, so what a function writes there counts against its memory (%s).",
                        why_not)
        return spec
    folder = scratch.create(spec.name, spec.tmp_mb)
    return replace(spec, tmpfs=MappingProxyType({}), mounts=MappingProxyType({**spec.mounts, str(folder): "/tmp"}))


def stop(engine: DockerEngine, container: Container) -> None:
    """Remove a function's container and its /tmp."""
    try:
        engine.remove(container)
    finally:
        scratch.remove(container.name)


def invoke(engine: DockerEngine, spec: local.ContainerSpec, event: bytes, *, keep_warm: bool = False,
           freeze: bool = True, on_result: Callable[[Result], None] | None = None) -> Result:
    """Send ``event`` to the function; reuse a warm container with ``keep_warm`` (and keep it).

    A kept container is frozen between invokes (``freeze``), as Lambda freezes an idle
    environment: nothing in it runs until the next invoke thaws it. ``on_result`` gets the
    result as soon as it is known, before the container is removed or frozen.
    """
    port = spec.ports[local.CONTAINER_PORT]
    container = engine.find_running(spec.name) if keep_warm else None
    if container is not None and not local.same_warm_container(container.labels, spec):
        if container.labels.get(local.PROJECT_LABEL) != spec.labels.get(local.PROJECT_LABEL):
            raise ConfigError(
                f"{container.name} is a warm container of another project "
                f"({container.labels.get(local.PROJECT_LABEL) or 'not builder'}) on port {port}. Pick another "
                f"--port, or stop it with `docker rm -f {container.name}`."
            )
        stop(engine, container)  # this function's warm container of an image built before: replaced
        container = None
    reused = container is not None
    if container is None:
        container = start(engine, spec)
    elif container.paused:
        engine.unpause(container)
    since = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    try:
        answer = local.invoke(port, event, timeout=client_timeout(spec))
        lines = _logs_until_report(engine, container, answer.request_id, since if reused else None)
        result = Result(answer, lines, reused)
        if on_result is not None:
            on_result(result)
    finally:
        if not keep_warm:
            stop(engine, container)
        elif freeze:
            engine.pause(container)
    return result


def client_timeout(spec: local.ContainerSpec) -> float:
    """How long to wait for an answer: the function's timeout, and init's 10 s, and some slack."""
    return float(spec.environment["AWS_LAMBDA_FUNCTION_TIMEOUT"]) + 15.0


def _logs_until_report(engine: DockerEngine, container: Container, request_id: str | None, since) -> tuple[str, ...]:
    """The log lines of this invocation; the REPORT line may trail the response a little."""
    deadline = time.monotonic() + LOG_WAIT
    while True:
        lines = tuple(engine.logs(container, since=since))
        done = any(_is_record(line, "REPORT", "platform.report") and (request_id is None or request_id in line)
                   for line in lines)
        if done or time.monotonic() > deadline:
            if since is not None and request_id:  # keep this invocation's lines only
                start = next((i for i, line in enumerate(lines)
                              if _is_record(line, "START", "platform.start") and request_id in line), 0)
                lines = lines[start:]
            return lines
        time.sleep(0.05)


def _is_record(line: str, text: str, json_type: str) -> bool:
    """Whether ``line`` is the platform's START or REPORT line, as text or as a JSON record."""
    return line.startswith(text) or (line.startswith("{") and f'"type": "{json_type}"' in line)
