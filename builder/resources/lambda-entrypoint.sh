#!/bin/sh
# Entrypoint of builder's function images, like AWS's /lambda-entrypoint.sh.
#
# In Lambda (AWS_LAMBDA_RUNTIME_API is set) the runtime client talks to the real Runtime API.
# Anywhere else (`docker run -p 9000:8080 IMAGE`) builder's emulator (the package folder
# /opt/builder/emulator, run by path; BUILDER_EMULATOR names another) serves the invoke endpoint
# on port 8080 and runs the same runtime client under it.
# Usage: lambda-entrypoint.sh HANDLER   (e.g. functions/health/ping.handler)
set -eu

if [ "$#" -ne 1 ]; then
    echo "lambda-entrypoint.sh: the handler (e.g. app.handler) must be the one argument" >&2
    exit 142
fi
export _HANDLER="$1"

if [ -n "${AWS_LAMBDA_RUNTIME_API:-}" ]; then
    exec python3 -m awslambdaric "$@"
fi
exec python3 "${BUILDER_EMULATOR:-/opt/builder/emulator}" "$@"
