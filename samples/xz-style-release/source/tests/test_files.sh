#!/bin/sh
# Decompress the good test files; they must all decode.
for f in "$srcdir"/files/good-*.xz; do
  xz -t "$f" || exit 1
done
