#!/usr/bin/env bash
# Installs the Debian packages ironlb's tests and lab use: real network tools for the
# namespace tests (arping, ndisc6, ping, ip, sysctl) and a few helpers. Every program
# the code, the tests or the lab run (exec.Command, netlab.Run/Command, LookPath)
# must be listed here by binary name -> Debian package (dpkg -S); a fresh Debian
# (debian:*-slim) has none of iputils-ping, procps, arping, ndisc6 or iproute2. Idempotent: it only
# calls apt-get when something is missing. Needs root to install; without root it
# says what is missing and carries on (the namespace tests then skip).
set -euo pipefail

need=()
command -v arping >/dev/null 2>&1 || need+=(arping)
command -v ndisc6 >/dev/null 2>&1 || need+=(ndisc6)
command -v ip >/dev/null 2>&1 || need+=(iproute2)
command -v ping >/dev/null 2>&1 || need+=(iputils-ping) # test/netlab, test/lab, internal/l2
command -v sysctl >/dev/null 2>&1 || need+=(procps)     # test/netlab, test/lab
command -v git >/dev/null 2>&1 || need+=(git)           # go build's VCS stamping (make build, make lab)
command -v socat >/dev/null 2>&1 || need+=(socat)
command -v curl >/dev/null 2>&1 || need+=(curl)
command -v tcpdump >/dev/null 2>&1 || need+=(tcpdump)
command -v nft >/dev/null 2>&1 || need+=(nftables) # e2e: a deaf node drops liveness inside its namespace
# BGP test bed (test/bgplab): real routers run inside test namespaces only.
[[ -x /usr/lib/frr/bgpd ]] || need+=(frr)
command -v bird >/dev/null 2>&1 || need+=(bird2)
command -v gobgpd >/dev/null 2>&1 || need+=(gobgpd)
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
# frr, bird2 and gobgpd ship services; the tests run their own copies inside
# namespaces, so keep the packages from starting anything in the root namespace.
policy=/usr/sbin/policy-rc.d
own_policy=0
if [[ ! -e $policy ]]; then
	printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && own_policy=1
fi
apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null
if [[ $own_policy -eq 1 ]]; then rm -f "$policy"; fi
echo "install-deps: installed ${need[*]}" >&2
