#!/usr/bin/env bash
# Build, without any image registry, the images `sam local invoke` and the end-to-end tests need:
#
#   public.ecr.aws/lambda/python:3.13-x86_64  a stand-in for the official Lambda base image:
#       Debian trixie (Python 3.13) + awslambdaric + boto3, /var/runtime/bootstrap
#   eksguard-local-aws:latest                 moto server behind scripts/local_aws_front.py
#       (answers ssm:DescribeSessions) and the Slack webhook stand-in (tests/slack_standin.py)
#
# Machines that can pull from public.ecr.aws do not need the first image: SAM pulls the official
# one. Idempotent: an existing image is kept unless FORCE=1.
#
#   scripts/build_local_image.sh            # build what is missing
#   FORCE=1 scripts/build_local_image.sh    # rebuild both
#
# Needs: a running Docker engine, debootstrap, pip (host Python 3.11 is fine), a Debian mirror.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BASE_IMAGE="${BASE_IMAGE:-public.ecr.aws/lambda/python:3.13-x86_64}"
RAPID_IMAGE="${BASE_IMAGE%-x86_64}"
RAPID_IMAGE="${RAPID_IMAGE/:3.13/:3.13-rapid}-x86_64"
LOCAL_AWS_IMAGE="${LOCAL_AWS_IMAGE:-eksguard-local-aws:latest}"
# The Debian mirror this machine's apt already uses, unless DEBIAN_MIRROR says otherwise.
apt_mirror() {
  local uri=""
  if compgen -G "/etc/apt/sources.list.d/*.sources" > /dev/null; then
    uri="$(sed -n 's/^URIs:[[:space:]]*//p' /etc/apt/sources.list.d/*.sources | grep -v -- '-security' | head -n 1)"
  fi
  if [ -z "$uri" ] && [ -f /etc/apt/sources.list ]; then
    uri="$(awk '$1 == "deb" && $2 !~ /security/ { print $2; exit }' /etc/apt/sources.list)"
  fi
  printf '%s' "${uri%% *}"
}
DEBIAN_MIRROR="${DEBIAN_MIRROR:-$(apt_mirror)}"
if [ -z "$DEBIAN_MIRROR" ]; then
  echo "no Debian mirror found in the apt sources: set DEBIAN_MIRROR" >&2
  exit 1
fi
PIP="${PIP:-$ROOT/.venv/bin/python -m pip}"
FORCE="${FORCE:-0}"
WORK="$(mktemp -d /tmp/eksguard-image.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT

# Runtime packages for the Lambda stand-in; boto3 pinned like the layer.
BOTO3_VERSION="$(sed -n 's/^boto3==//p' "$ROOT/layers/eksguard/requirements.txt")"
AWSLAMBDARIC_VERSION="${AWSLAMBDARIC_VERSION:-4.2.2}"
MOTO_SPEC="$(grep '^moto\[' "$ROOT/requirements-dev.txt")"

log() { printf '[local-image] %s\n' "$*"; }
image_exists() { docker image inspect "$1" > /dev/null 2>&1; }
pip_target() {  # pip_target DIR PACKAGE...: wheels for CPython 3.13 manylinux x86_64 (any host Python)
  local target="$1"
  shift
  $PIP install --quiet --disable-pip-version-check --no-compile --target "$target" \
    --python-version 3.13 --implementation cp --platform manylinux2014_x86_64 --only-binary=:all: "$@"
}

build_base() {
  log "building $BASE_IMAGE from a Debian trixie rootfs ($DEBIAN_MIRROR)"
  local rootfs="$WORK/rootfs"
  debootstrap --variant=minbase --include=python3,ca-certificates trixie "$rootfs" "$DEBIAN_MIRROR" \
    > "$WORK/debootstrap.log" 2>&1 || { tail -20 "$WORK/debootstrap.log"; exit 1; }
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  mkdir -p "$rootfs/var/runtime" "$rootfs/var/task" "$rootfs/opt" "$rootfs/var/lang/lib"
  pip_target "$rootfs/var/runtime" "awslambdaric==$AWSLAMBDARIC_VERSION" "boto3==$BOTO3_VERSION"
  cat > "$rootfs/var/runtime/bootstrap" << 'EOF'
#!/bin/sh
# Started by the runtime interface emulator with _HANDLER and AWS_LAMBDA_RUNTIME_API set.
# sys.path order as on Lambda: function code, layers, then the runtime's own packages.
export PYTHONPATH="${LAMBDA_TASK_ROOT:-/var/task}:/opt/python/lib/python3.13/site-packages:/opt/python:/var/runtime${PYTHONPATH:+:$PYTHONPATH}"
cd "${LAMBDA_TASK_ROOT:-/var/task}"
exec /usr/bin/python3 -m awslambdaric "$_HANDLER"
EOF
  chmod 0755 "$rootfs/var/runtime/bootstrap"
  tar -C "$rootfs" -c . | docker import \
    --change 'ENV LANG=en_US.UTF-8' \
    --change 'ENV TZ=:/etc/localtime' \
    --change 'ENV PATH=/var/lang/bin:/usr/local/bin:/usr/bin:/bin:/opt/bin' \
    --change 'ENV LAMBDA_TASK_ROOT=/var/task' \
    --change 'ENV LAMBDA_RUNTIME_DIR=/var/runtime' \
    --change 'WORKDIR /var/task' \
    --change 'ENTRYPOINT ["/var/runtime/bootstrap"]' \
    - "$BASE_IMAGE" > /dev/null
  # SAM derives its invoke image from the base once and caches it: drop the stale copy.
  docker image rm -f "$RAPID_IMAGE" > /dev/null 2>&1 || true
  docker images --format '{{.Repository}}:{{.Tag}}' | grep -F "${BASE_IMAGE%%:*}:3.13-rapid" \
    | xargs -r docker image rm -f > /dev/null 2>&1 || true
  # With layers, SAM also caches samcli/lambda-python:3.13-x86_64-<layer hash> built on the old base.
  docker images --format '{{.Repository}}:{{.Tag}}' | grep -E '^samcli/lambda-python:3\.13-' \
    | xargs -r docker image rm -f > /dev/null 2>&1 || true
}

build_local_aws() {
  log "building $LOCAL_AWS_IMAGE (moto + DescribeSessions front + Slack stand-in) FROM $BASE_IMAGE"
  local context="$WORK/local-aws"
  mkdir -p "$context/app/tests" "$context/python"
  pip_target "$context/python" "$MOTO_SPEC"
  cp "$ROOT/scripts/local_aws_front.py" "$ROOT/scripts/local_eks_api.py" "$ROOT/scripts/kube_standin.py" "$context/app/"
  cp "$ROOT/tests/slack_standin.py" "$context/app/tests/"
  : > "$context/app/tests/__init__.py"
  cat > "$context/app/slack_standin_server.py" << 'EOF'
"""Run tests/slack_standin.py reachable from other containers (it binds loopback by default)."""
import sys

import tests.slack_standin as standin

standin.HOST = "0.0.0.0"
sys.exit(standin.main(sys.argv[1:]))
EOF
  cat > "$context/Dockerfile" << EOF
FROM $BASE_IMAGE
COPY python /opt/local-aws
COPY app /app
ENV PYTHONPATH=/app:/opt/local-aws PYTHONUNBUFFERED=1
WORKDIR /app
EXPOSE 5000 6443 8765
ENTRYPOINT ["/usr/bin/python3"]
CMD ["/app/local_aws_front.py", "--host", "0.0.0.0", "--port", "5000", "--start-moto", "5001"]
EOF
  DOCKER_BUILDKIT=0 docker build --quiet --label "eksguard.inputs=$(local_aws_inputs)" -t "$LOCAL_AWS_IMAGE" "$context" > /dev/null
}

# What the local AWS image is built from: a change to any of it rebuilds the image.
local_aws_inputs() {
  { echo "$MOTO_SPEC $BASE_IMAGE"; cat "$ROOT/scripts/local_aws_front.py" "$ROOT/scripts/local_eks_api.py" \
      "$ROOT/scripts/kube_standin.py" "$ROOT/tests/slack_standin.py"; } | sha256sum | cut -d' ' -f1
}

local_aws_current() {
  [[ "$(docker image inspect -f '{{index .Config.Labels "eksguard.inputs"}}' "$LOCAL_AWS_IMAGE" 2> /dev/null)" \
    == "$(local_aws_inputs)" ]]
}

command -v docker > /dev/null || { echo "docker CLI not found" >&2; exit 1; }
docker info > /dev/null 2>&1 || { echo "no Docker engine answers (start dockerd first)" >&2; exit 1; }

start=$SECONDS
rebuilt_base=0
if [[ "$FORCE" == "1" ]] || ! image_exists "$BASE_IMAGE"; then
  command -v debootstrap > /dev/null || { echo "debootstrap not found (apt-get install debootstrap)" >&2; exit 1; }
  build_base
  rebuilt_base=1
else
  log "$BASE_IMAGE exists (FORCE=1 rebuilds it)"
fi
if [[ "$FORCE" == "1" || "$rebuilt_base" == "1" ]] || ! local_aws_current; then
  build_local_aws
else
  log "$LOCAL_AWS_IMAGE is up to date with its inputs (FORCE=1 rebuilds it)"
fi
log "done in $((SECONDS - start))s"
