#!/bin/sh
# Under Lambda (AWS_LAMBDA_RUNTIME_API set) the runtime interface client talks to Lambda itself; anywhere else AWS's
# Runtime Interface Emulator plays Lambda: it starts /opt/extensions/* (pscache) and the client, and takes invokes
# on port 8080 (RIE_ARGS: its options, e.g. other addresses).
if [ -n "${AWS_LAMBDA_RUNTIME_API:-}" ]; then
    exec /var/lang/bin/python3 -m awslambdaric "$@"
fi
# shellcheck disable=SC2086 # RIE_ARGS is a list of options
exec /usr/local/bin/aws-lambda-rie ${RIE_ARGS:-} /var/lang/bin/python3 -m awslambdaric "$@"
