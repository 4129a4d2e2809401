"""The two HTTP servers (the RIE's invoke endpoint, the Runtime API) and ``main``."""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import sys
import threading
import traceback
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from .environment import Config
from .invocations import MAX_PAYLOAD, MAX_RESPONSE, ApiError, Emulator

INVOKE_PATH = re.compile(r"^/2015-03-31/functions/[^/]+/invocations/?$")
INVOCATION_TYPES = ("RequestResponse", "Event", "DryRun")
REQUEST_ID_HEADER = "X-Builder-Request-Id"  # builder's front names the request it answered 202 for
TAIL_BYTES = 4096  # X-Amz-Log-Type: Tail returns the last 4 KB of the invocation's log
RUNTIME_PATH = re.compile(
    r"^/2018-06-01/runtime/(?:invocation/(?P<id>[^/]+)/(?P<kind>response|error)|(?P<op>invocation/next|init/error))$"
)


class _Handler(BaseHTTPRequestHandler):
    """Common plumbing: HTTP/1.1 keep-alive, body reading, JSON errors, no access log."""

    protocol_version = "HTTP/1.1"  # keep-alive for the runtime client, and Expect: 100-continue
    disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms delayed-ACK stall
    emulator: Emulator

    def log_message(self, format: str, *args: object) -> None:
        pass  # Lambda's logs carry no access log

    def read_body(self, limit: int = MAX_RESPONSE) -> tuple[bytes, int]:
        """Read the whole body; keep at most ``limit`` bytes and return them with the full size."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self.close_connection = True  # the unread body would be taken for the next request
            raise ApiError(411, "LengthRequired", "Send the body with a Content-Length header")
        kept, remaining = bytearray(), int(self.headers.get("Content-Length") or 0)
        size = remaining
        while remaining > 0:  # in chunks, so an oversized body is counted, not held
            chunk = self.rfile.read(min(remaining, 1 << 20))
            if not chunk:
                raise ConnectionError("the client closed the connection in the middle of the body")
            remaining -= len(chunk)
            kept += chunk[: max(0, limit - len(kept))]
        return bytes(kept), size

    def send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for key, value in (headers or {"Content-Type": "application/json"}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def send_error_json(self, status: int, error_type: str, message: str) -> None:
        self.send(status, json.dumps({"errorMessage": message, "errorType": error_type}).encode())

    def guarded(self, route) -> None:
        # Every failure ends as an HTTP answer, never a silent reset or a hung client.
        try:
            route()
        except ApiError as exc:
            self.send_error_json(exc.status, exc.error_type, exc.message)
        except (ConnectionError, TimeoutError):
            self.close_connection = True
        except Exception:
            traceback.print_exc()
            self.close_connection = True
            try:
                self.send_error_json(500, "InternalServerError", "Internal Server Error")
            except OSError:
                pass

    def do_GET(self) -> None:
        self.guarded(lambda: self.route("GET"))

    def do_POST(self) -> None:
        self.guarded(lambda: self.route("POST"))

    def route(self, method: str) -> None:
        raise NotImplementedError


class InvokeHandler(_Handler):
    """The RIE's invoke endpoint."""

    def route(self, method: str) -> None:
        if not INVOKE_PATH.match(self.path.split("?")[0]):
            raise ApiError(404, "ResourceNotFound", f"No route for {method} {self.path}")
        if method != "POST":
            raise ApiError(405, "MethodNotAllowed", "Invoke with POST")
        event, size = self.read_body()
        if size > MAX_PAYLOAD:
            message = f"Request must be smaller than {MAX_PAYLOAD} bytes for the InvokeFunction operation"
            raise ApiError(413, "RequestEntityTooLargeException", message)
        kind = self.headers.get("X-Amz-Invocation-Type") or "RequestResponse"
        if kind not in INVOCATION_TYPES:
            raise ApiError(400, "InvalidParameterValueException", f"1 validation error detected: Value '{kind}' at "
                           "'invocationType' failed to satisfy constraint: Member must satisfy enum value set: "
                           "[Event, RequestResponse, DryRun]")
        if event.strip():
            try:
                json.loads(event)
            except ValueError as exc:  # the Invoke API refuses it; the function never runs
                self.send(400, json.dumps({"Type": "User", "message": f"Could not parse request body into json: {exc}"})
                          .encode(), {"Content-Type": "application/json",
                                      "X-Amzn-ErrorType": "InvalidRequestContentException"})
                return
        client_context = _client_context(self.headers.get("X-Amz-Client-Context"))
        request_id = self.headers.get(REQUEST_ID_HEADER) or str(uuid.uuid4())
        if kind == "DryRun":  # permissions and parameters checked, the function not run
            self.send(204, b"", {"X-Amzn-RequestId": request_id})
            return
        if kind == "Event":  # queued, answered at once; the outcome goes to the logs only
            threading.Thread(target=self.emulator.invoke, args=(event if event.strip() else b"{}", client_context,
                                                                request_id), daemon=True).start()
            self.send(202, b"", {"X-Amzn-RequestId": request_id})
            return
        inv, outcome = self.emulator.invoke(event if event.strip() else b"{}", client_context, request_id)
        headers = {"Content-Type": outcome.content_type, "X-Amz-Executed-Version": "$LATEST",
                   "X-Amzn-RequestId": inv.id}
        if outcome.function_error:
            headers["X-Amz-Function-Error"] = "Unhandled"
        if (self.headers.get("X-Amz-Log-Type") or "").lower() == "tail":
            text = "".join(line + "\n" for line in inv.lines).encode()
            headers["X-Amz-Log-Result"] = base64.b64encode(text[-TAIL_BYTES:]).decode()
        self.send(200, outcome.body, headers)


def _client_context(header: str | None) -> str | None:
    # The invoke API takes it base64-encoded; the Runtime API hands the runtime the JSON.
    if not header:
        return None
    try:
        return base64.b64decode(header, validate=True).decode()
    except ValueError:
        return header


class RuntimeApiHandler(_Handler):
    """The Lambda Runtime API (2018-06-01) that the runtime client polls."""

    def route(self, method: str) -> None:
        match = RUNTIME_PATH.match(self.path.split("?")[0])
        if match is None:
            raise ApiError(404, "NotFound", f"No route for {method} {self.path}")
        op = match["op"]
        if (method == "GET") != (op == "invocation/next"):
            raise ApiError(405, "MethodNotAllowed", f"{method} is not allowed on {self.path}")
        if op == "invocation/next":
            self.read_body()
            found = self.emulator.next_invocation()
            if found is None:
                raise ApiError(410, "EnvironmentReset", "The execution environment was reset")
            inv, headers = found
            self.send(200, inv.event, headers)
            return
        body, size = self.read_body()
        error_type = self.headers.get("Lambda-Runtime-Function-Error-Type", "")
        if op == "init/error":
            self.emulator.init_error(body, error_type)
        else:
            content_type = self.headers.get("Content-Type", "application/json")
            self.emulator.complete(match["id"], match["kind"], body, size, content_type)
        self.send(202, b'{"status":"OK"}')


class _Server(ThreadingHTTPServer):
    request_queue_size = 128  # a burst of concurrent invokes must queue, not be refused


def _server(port: int, host: str, handler: type[_Handler], emulator: Emulator) -> _Server:
    return _Server((host, port), type(handler.__name__, (handler,), {"emulator": emulator}))


def _stop(signum: int, frame: object) -> None:
    raise SystemExit(0)


def main(argv: list[str] | None = None) -> int:
    """Serve both APIs until SIGTERM or SIGINT; returns the exit code."""
    try:
        config = Config.load(sys.argv[1:] if argv is None else argv, dict(os.environ))
    except ValueError as exc:
        print(f"emulator: {exc}", file=sys.stderr)
        return 2
    emulator = Emulator(config)
    runtime_api = _server(config.runtime_port, "127.0.0.1", RuntimeApiHandler, emulator)
    invoke_api = _server(config.invoke_port, "0.0.0.0", InvokeHandler, emulator)
    threading.Thread(target=runtime_api.serve_forever, daemon=True).start()
    signal.signal(signal.SIGTERM, _stop)  # as PID 1 in a container there is no default action
    signal.signal(signal.SIGINT, _stop)
    print(f"emulator: handler {config.handler}, invoke at http://0.0.0.0:{config.invoke_port}"
          "/2015-03-31/functions/function/invocations", file=sys.stderr, flush=True)
    try:
        invoke_api.serve_forever()
    finally:
        emulator.shutdown()
    return 0
