#!/usr/bin/env bash
# Installs the Debian packages that the test suite runs for real, when they are missing:
# Node (reference clients and servers), Chromium (the chat page in a real browser) and
# redis-server (the Redis adapter and --workers tests start their own on a free port) and
# HAProxy (the round-robin load balancer of the --advertise cluster tests).
# Needs root (or sudo); CI runs as root. Does nothing when everything is already there.
set -euo pipefail
need=()
command -v node >/dev/null 2>&1 || need+=(nodejs npm)
[ -x /usr/bin/chromium ] || need+=(chromium fonts-liberation)
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ] || need+=(haproxy)
if [ ${#need[@]} -eq 0 ]; then exit 0; fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}"
