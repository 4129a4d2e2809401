"""A local AWS Lambda emulator that runs inside function images (Python 3.11, stdlib only).

It stands in for AWS's Runtime Interface Emulator (RIE) when ``AWS_LAMBDA_RUNTIME_API`` is
unset. Two HTTP servers share one execution environment:

* the Lambda Runtime API on 127.0.0.1 (``BUILDER_RUNTIME_API_PORT``, default 9001), which the
  real runtime client (``python3 -m awslambdaric HANDLER``) polls, with the real API's status
  codes and error bodies;
* the RIE's invoke endpoint on 0.0.0.0 (``BUILDER_EMULATOR_PORT``, default 8080):
  ``POST /2015-03-31/functions/function/invocations``.

Like Lambda: the runtime starts on the first invoke (cold start); invokes run one at a time,
queued in arrival order; a timeout or a crash answers an error body with
``X-Amz-Function-Error: Unhandled`` and resets the environment (the next invoke is cold); the
logs carry START, END and REPORT lines with measured durations and memory.

Usage: ``python3 /opt/builder/emulator HANDLER`` (this folder; or ``python3 -m
builder.resources.emulator HANDLER``). ``BUILDER_RUNTIME_COMMAND`` replaces the runtime's
``python3 -m awslambdaric`` prefix; the handler is appended.

Modules: ``environment`` (the settings, the runtime process, platform log lines),
``invocations`` (the state machine of invokes), ``servers`` (the two HTTP servers, ``main``).
"""
