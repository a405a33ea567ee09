#!/usr/bin/env bash
# Debian tools the tests drive for real. Installs only what is missing; needs root for apt-get.
set -euo pipefail
pkgs=(libarchive13 git zstd xz-utils lzip bzip2 cpio binutils gcc
      skopeo docker-registry apache2-utils openssl pax-utils gnupg gpgv)
need=()
for pkg in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "system-deps: please install: ${need[*]}" >&2; exit 1
  fi
  echo "system-deps: installing ${need[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
