#!/bin/sh
# Assembles the root file system of the service image from what this host has, for deploy/Containerfile (FROM
# scratch): no base image and no registry needed. It holds the host's node binary with the shared libraries it links,
# the system CA certificates, this checkout's tracked files and its node_modules, under /opt/flightctl.
#   deploy/assemble-rootfs.sh <dir>/rootfs        then   podman build -f deploy/Containerfile <dir>
set -eu
out=${1:?usage: assemble-rootfs.sh <rootfs-dir>}
repo=$(cd "$(dirname "$0")/.." && pwd)
node=$(command -v node)
# The data dir is a sibling of the root file system: the Containerfile copies it owned by the service user (a directory
# already in the image would keep root as its owner, and so would a volume mounted there).
mkdir -p "$out/usr/bin" "$out/opt/flightctl" "$out/tmp" "$out/etc/ssl/certs" "$out/var/lib" "$(dirname "$out")/data"
chmod 1777 "$out/tmp"
cp -L "$node" "$out/usr/bin/node"
# The dynamic loader and every library node links (ldd prints "name => path (addr)" or "path (addr)").
for lib in $(ldd "$node" | awk '/=>/ { print $3 } !/=>/ && $1 ~ /^\// { print $1 }'); do
  mkdir -p "$out$(dirname "$lib")"
  cp -L "$lib" "$out$lib"
done
cp -L /etc/ssl/certs/ca-certificates.crt "$out/etc/ssl/certs/" 2>/dev/null || true
printf 'root:x:0:0:root:/root:/bin/sh\nflightctl:x:1001:1001::/var/lib/flightctl:/sbin/nologin\n' > "$out/etc/passwd"
printf 'root:x:0:\nflightctl:x:1001:\n' > "$out/etc/group"
# Tracked files only (no .data, no local secrets), then the dependencies.
(cd "$repo" && git ls-files -z | xargs -0 cp --parents -t "$out/opt/flightctl")
cp -rL "$repo/node_modules" "$out/opt/flightctl/node_modules"
