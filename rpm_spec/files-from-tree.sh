#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Prints the rpm %files list of an installed tree, so that the package holds
# exactly what `make install` put there:
#   files-from-tree.sh BUILDROOT PKGLIBDIR MANDIR SYSCONFDIR
# Every file and symlink; the package's own directories (PKGLIBDIR and below)
# as %dir, not the shared ones (/usr/bin, the man and completion directories);
# man pages as PATH* because rpmbuild compresses them after %install
# (brp-compress); files under SYSCONFDIR as %config(noreplace).
set -eu
[ $# -eq 4 ] || { echo "usage: $0 BUILDROOT PKGLIBDIR MANDIR SYSCONFDIR" >&2; exit 2; }
root=$1 pkglibdir=$2 mandir=$3 sysconfdir=$4
cd "$root"
find . -mindepth 1 -printf '%y /%P\n' | LC_ALL=C sort -k2 | while read -r type path; do
  case $path in
    *[[:space:]\"\*\?\[]*) echo "$0: cannot list $path in %files (blank or glob character)" >&2; exit 1 ;;
  esac
  if [ "$type" = d ]; then
    case $path in "$pkglibdir" | "$pkglibdir"/*) printf '%%dir %s\n' "$path" ;; esac
    continue
  fi
  case $path in
    "$mandir"/*) printf '%s*\n' "$path" ;;
    "$sysconfdir"/*) printf '%%config(noreplace) %s\n' "$path" ;;
    *) printf '%s\n' "$path" ;;
  esac
done
