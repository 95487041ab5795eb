#!/usr/bin/env bash
# Installs what the real-node test needs (packages/k8s/src/real-node.test.ts): Debian 12's
# containerd, runc, CNI plugins (only `loopback` is used) and catatonit (the pod sandbox image's
# process), at pinned versions, and builds the pinned kubelet (build-kubelet.sh). Needs root and
# apt. Safe to run again: what is installed is left alone. Starts nothing: the test starts
# containerd and the kubelet itself (src/testing/real-node.ts) and stops them when it ends.
set -euo pipefail

PACKAGES=(
  "containerd=1.6.20~ds1-1+deb12u3"
  "runc=1.1.5+ds1-1+deb12u1"
  "containernetworking-plugins=1.1.1+ds1-3+b5"
  "catatonit=0.1.7-1+b2"
)

if [[ $(id -u) -ne 0 ]]; then
  echo "install.sh: run as root (apt-get, and the node runs containers)" >&2
  exit 1
fi

missing=()
for pinned in "${PACKAGES[@]}"; do
  name=${pinned%%=*} version=${pinned#*=}
  installed=$(dpkg-query -W -f='${Status} ${Version}' "$name" 2>/dev/null || true)
  [[ $installed == "install ok installed $version" ]] || missing+=("$pinned")
done
if [[ ${#missing[@]} -gt 0 ]]; then
  echo "[sluice-k8s node] installing ${missing[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi
# The package may start its own containerd where systemd runs; the test uses its own socket and
# folders, so a system containerd does not get in its way.

bash "$(dirname "${BASH_SOURCE[0]}")/build-kubelet.sh"
