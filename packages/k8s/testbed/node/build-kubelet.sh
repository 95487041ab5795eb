#!/usr/bin/env bash
# Builds the pinned kubelet (KUBE_VERSION of ../versions.env) from the Go module proxy into the
# testbed's bin folder, beside the control plane build.sh makes:
#   ${SLUICE_K8S_CACHE:-~/.cache/sluice-k8s}/<versions>/bin/kubelet
# The same wrapper-module recipe as build.sh (kubernetes' go.mod carries replace directives that
# `go install` refuses). A kubelet already there is not rebuilt. Prints the binary's path last.
set -euo pipefail

# shellcheck source=../versions.env
source "$(dirname "${BASH_SOURCE[0]}")/../versions.env"
STAGING_VERSION=v0${KUBE_VERSION#v1}
KEY="etcd-${ETCD_VERSION}_kube-${KUBE_VERSION}_kwok-${KWOK_VERSION}"
BIN=${SLUICE_K8S_CACHE:-$HOME/.cache/sluice-k8s}/$KEY/bin
mkdir -p "$BIN"
if [[ -x $BIN/kubelet ]]; then
  echo "$BIN/kubelet"
  exit 0
fi

[[ -x /usr/local/go/bin/go ]] && PATH=$PATH:/usr/local/go/bin
if ! command -v go >/dev/null; then
  echo "build-kubelet.sh: go is not on PATH; the kubelet is built from source with Go >= 1.25" >&2
  exit 1
fi
export CGO_ENABLED=0 GOFLAGS=-buildvcs=false GOTOOLCHAIN=local
WORK=$(mktemp -d "${TMPDIR:-/tmp}/sluice-kubelet-build.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
start=$SECONDS
(
  cd "$WORK"
  go mod init sluice.local/kubelet >/dev/null 2>&1
  go mod download -json "k8s.io/kubernetes@${KUBE_VERSION}" >download.json
  gomod=$(sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p' download.json)
  [[ -f $gomod ]] || { echo "build-kubelet.sh: k8s.io/kubernetes@${KUBE_VERSION}'s go.mod not found" >&2; exit 1; }
  args=()
  for name in $(sed -n 's#^[[:space:]]*\(k8s\.io/[A-Za-z0-9._/-]*\) => \./staging/src/.*$#\1#p' "$gomod"); do
    args+=("-replace=${name}=${name}@${STAGING_VERSION}")
  done
  [[ ${#args[@]} -gt 0 ]] || { echo "build-kubelet.sh: no staging replaces in $gomod" >&2; exit 1; }
  go mod edit "${args[@]}" -require="k8s.io/kubernetes@${KUBE_VERSION}"
  go get "k8s.io/kubernetes/cmd/kubelet@${KUBE_VERSION}" >get.log 2>&1 || { cat get.log >&2; exit 1; }
  nice -n 10 go build -trimpath \
    -ldflags "-s -w -X k8s.io/component-base/version.gitVersion=${KUBE_VERSION}" \
    -o "$BIN/kubelet.partial" k8s.io/kubernetes/cmd/kubelet >build.log 2>&1 || {
    echo "build-kubelet.sh: building kubelet ${KUBE_VERSION} failed:" >&2
    cat build.log >&2
    exit 1
  }
)
mv "$BIN/kubelet.partial" "$BIN/kubelet"
echo "[sluice-k8s build] kubelet built in $((SECONDS - start))s" >&2
echo "$BIN/kubelet"
