#!/usr/bin/env bash
# Debian tools the tests drive for real. Installs only what is missing; needs root for apt-get.
set -euo pipefail
pkgs=(libarchive13 git zstd xz-utils lzip bzip2 cpio binutils gcc
      skopeo docker-registry apache2-utils openssl pax-utils gnupg gpgv rpm graphviz iproute2
      bubblewrap m4 autoconf autoconf2.69 automake libtool gettext autopoint debian-archive-keyring xxd
      groff ghostscript texinfo po4a mandoc gperf swig gawk bison flex byacc
      xsltproc docbook-xsl docbook-xml itstool asciidoctor
      locales
      chromium)
need=()
for pkg in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
done
# The package tests pack a real npm package (`npm pack`); any node install that has npm will do.
command -v npm >/dev/null 2>&1 || need+=(nodejs npm)
# Tests fetch real upstream release tarballs and signatures with `apt-get source --download-only`.
src=/etc/apt/sources.list.d/debian.sources
srcs_missing=0
if [ -f "$src" ] && ! grep -q "^Types:.*deb-src" "$src"; then srcs_missing=1; fi
if [ ${#need[@]} -gt 0 ] || [ $srcs_missing = 1 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "system-deps: please install: ${need[*]}" >&2; exit 1
  fi
  if [ $srcs_missing = 1 ]; then
    echo "system-deps: enabling deb-src in $src" >&2
    sed -i 's/^Types: deb$/Types: deb deb-src/' "$src"
  fi
  apt-get update -qq
  if [ ${#need[@]} -gt 0 ]; then
    echo "system-deps: installing ${need[*]}" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  fi
fi
# gawk is there for rules that name it (strace's gen_bpf_attr_m4.sh); `awk` stays Debian's default, mawk,
# which installing gawk would otherwise replace (the test-data emulator is checked against mawk)
if [ "$(id -u)" = 0 ] && [ -x /usr/bin/mawk ] && [ "$(readlink -f /usr/bin/awk)" != /usr/bin/mawk ]; then
  update-alternatives --quiet --set awk /usr/bin/mawk
fi
