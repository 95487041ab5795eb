#!/usr/bin/env bash
# Builds the pinned Kubernetes testbed binaries (etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler, kubectl, kwok) from the Go module proxy into
#   ${SLUICE_K8S_CACHE:-~/.cache/sluice-k8s}/<versions>/bin
# and copies kwok's Stage configs beside them. A binary already there is not rebuilt, so CI pays
# the cold build (~16 min on a loaded 2-core machine) once per machine.
#
# `go install` refuses etcd and kube-apiserver because their go.mod files carry replace
# directives; each binary is therefore built inside a throwaway wrapper module that repeats
# those replaces against the published versions (see /work/shared/K8S-TESTBED.md).
#
# Prints the bin directory on its last line. Exits non-zero, naming the binary, when any build
# fails. Needs Go >= 1.25 (kubernetes 1.36's go.mod).
set -euo pipefail

# shellcheck source=versions.env
source "$(dirname "${BASH_SOURCE[0]}")/versions.env"
# kubernetes publishes its staging modules as k8s.io/<name> v0.<minor>.<patch>
STAGING_VERSION=v0${KUBE_VERSION#v1}

KEY="etcd-${ETCD_VERSION}_kube-${KUBE_VERSION}_kwok-${KWOK_VERSION}"
CACHE_ROOT=${SLUICE_K8S_CACHE:-$HOME/.cache/sluice-k8s}
DEST=$CACHE_ROOT/$KEY
BIN=$DEST/bin
mkdir -p "$BIN"

# Everything there already: nothing to build, and no Go needed.
all_there=true
for b in etcd kube-apiserver kube-controller-manager kube-scheduler kubectl kwok; do
  [[ -x $BIN/$b ]] || all_there=false
done
[[ -s $DEST/kwok-stages.yaml ]] || all_there=false
if $all_there; then
  echo "[sluice-k8s build] every binary is cached in $BIN" >&2
  echo "$BIN"
  exit 0
fi

# Go's own installer puts it here, not on PATH.
[[ -x /usr/local/go/bin/go ]] && PATH=$PATH:/usr/local/go/bin
if ! command -v go >/dev/null; then
  echo "build.sh: go is not on PATH; the testbed is built from source with Go >= 1.25" >&2
  exit 1
fi
export CGO_ENABLED=0 GOFLAGS=-buildvcs=false GOTOOLCHAIN=local

WORK=$(mktemp -d "${TMPDIR:-/tmp}/sluice-k8s-build.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

log() { printf '[sluice-k8s build %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

# wrapper DIR: a fresh throwaway module
wrapper() {
  rm -rf "$1" && mkdir -p "$1" && (cd "$1" && go mod init sluice.local/testbed >/dev/null 2>&1)
}

kube_wrapper() { # kube_wrapper DIR: wrapper requiring k8s.io/kubernetes with its staging replaces
  local dir=$1 gomod
  wrapper "$dir"
  (
    cd "$dir"
    go mod download -json "k8s.io/kubernetes@${KUBE_VERSION}" >"$WORK/kube-download.json"
    gomod=$(sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p' "$WORK/kube-download.json")
    if [[ -z $gomod || ! -f $gomod ]]; then
      echo "build.sh: could not find k8s.io/kubernetes@${KUBE_VERSION}'s go.mod in the module cache" >&2
      exit 1
    fi
    local replaces
    replaces=$(sed -n 's#^[[:space:]]*\(k8s\.io/[A-Za-z0-9._/-]*\) => \./staging/src/.*$#\1#p' "$gomod")
    if [[ -z $replaces ]]; then
      echo "build.sh: no staging replace directives found in $gomod" >&2
      exit 1
    fi
    local args=() name
    for name in $replaces; do args+=("-replace=${name}=${name}@${STAGING_VERSION}"); done
    go mod edit "${args[@]}" -require="k8s.io/kubernetes@${KUBE_VERSION}"
  )
}

build() { # build NAME DIR PACKAGE [LDFLAGS]
  local name=$1 dir=$2 pkg=$3 ldflags=${4:-} start=$SECONDS
  if [[ -x $BIN/$name ]]; then
    log "$name: cached at $BIN/$name"
    return 0
  fi
  log "$name: building $pkg"
  if ! (cd "$dir" && go get "$pkg" >"$WORK/$name-get.log" 2>&1 &&
        nice -n 10 go build -trimpath -ldflags "-s -w $ldflags" -o "$BIN/$name.partial" "${pkg%@*}" \
          >"$WORK/$name-build.log" 2>&1); then
    echo "build.sh: building $name ($pkg) failed:" >&2
    cat "$WORK/$name-get.log" "$WORK/$name-build.log" >&2 2>/dev/null || true
    exit 1
  fi
  mv "$BIN/$name.partial" "$BIN/$name"
  log "$name: built in $((SECONDS - start))s"
}

wrapper "$WORK/etcd"
build etcd "$WORK/etcd" "go.etcd.io/etcd/server/v3@${ETCD_VERSION}"

KUBE_LDFLAGS="-X k8s.io/component-base/version.gitVersion=${KUBE_VERSION}"
need_kube=false
for b in kube-apiserver kube-controller-manager kube-scheduler kubectl; do
  [[ -x $BIN/$b ]] || need_kube=true
done
if $need_kube; then
  kube_wrapper "$WORK/kube"
  for b in kube-apiserver kube-controller-manager kube-scheduler; do
    build "$b" "$WORK/kube" "k8s.io/kubernetes/cmd/${b}@${KUBE_VERSION}" "$KUBE_LDFLAGS"
  done
  build kubectl "$WORK/kube" "k8s.io/kubernetes/cmd/kubectl@${KUBE_VERSION}" "$KUBE_LDFLAGS"
fi

wrapper "$WORK/kwok"
build kwok "$WORK/kwok" "sigs.k8s.io/kwok/cmd/kwok@${KWOK_VERSION}"

# kwok's Stage objects (node and pod lifecycles) ship inside its module
STAGES=$DEST/kwok-stages.yaml
if [[ ! -s $STAGES ]]; then
  kwok_dir=$(cd "$WORK/kwok" && go list -m -f '{{.Dir}}' "sigs.k8s.io/kwok")
  {
    for f in "$kwok_dir/kustomize/stage/node/fast/"*.yaml \
             "$kwok_dir/kustomize/stage/node/heartbeat-with-lease/"*.yaml \
             "$kwok_dir/kustomize/stage/pod/fast/"*.yaml; do
      case $(basename "$f") in kustomization.yaml) continue ;; esac
      printf -- '---\n'
      cat "$f"
    done
  } >"$STAGES.partial"
  mv "$STAGES.partial" "$STAGES"
  log "kwok stages written to $STAGES"
fi

echo "$BIN"
