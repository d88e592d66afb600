#!/usr/bin/env bash
# Installs the Debian packages ironlb's tests and lab use: real network tools for the
# namespace tests (arping, ndisc6, iproute2) and a few helpers. Idempotent: it only
# calls apt-get when something is missing. Needs root to install; without root it
# says what is missing and carries on (the namespace tests then skip).
set -euo pipefail

need=()
command -v arping >/dev/null 2>&1 || need+=(arping)
command -v ndisc6 >/dev/null 2>&1 || need+=(ndisc6)
command -v ip >/dev/null 2>&1 || need+=(iproute2)
command -v socat >/dev/null 2>&1 || need+=(socat)
command -v curl >/dev/null 2>&1 || need+=(curl)
command -v tcpdump >/dev/null 2>&1 || need+=(tcpdump)
# promtool: the alert rules are unit-tested with `promtool test rules` (test/monitoring).
command -v promtool >/dev/null 2>&1 || need+=(prometheus)

if [[ ${#need[@]} -eq 0 ]]; then
	exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
	echo "install-deps: missing ${need[*]}; run as root (sudo make test) to install them with apt-get" >&2
	exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null
echo "install-deps: installed ${need[*]}" >&2
