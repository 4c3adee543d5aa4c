#!/usr/bin/env bash
# Installs (or, with --uninstall, removes) DynamiCrafter for Linux: the two programs, the
# GStreamer plugin when it was built, the D-Bus interface, activation files and policy, the
# systemd units, and the sysusers/tmpfiles snippets of the system service.
#
#   scripts/install.sh [--no-build] [--build-dir DIR] [--uninstall]
#
# Environment:
#   PREFIX          where to install (default /usr/local); written into the units as @bindir@
#   DESTDIR         staging root prepended to every path written (packaging); not in @bindir@
#   MULTIARCH       Debian multiarch triplet for the plugin folder (default: detected)
#   DBUS_POLICY_DIR where the system-bus policy goes (default: /usr/share/dbus-1/system.d for
#                   PREFIX=/usr, /etc/dbus-1/system.d for /usr/local, else under PREFIX)
#
# Running it twice installs the same files again; --uninstall removes exactly that set.
set -euo pipefail

usage() {
  sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'
}

root=$(cd "$(dirname "$0")/.." && pwd)
build=1
uninstall=0
build_dir=""
explicit_build_dir=""
while [ $# -gt 0 ]; do
  case "$1" in
    --no-build) build=0 ;;
    --uninstall) uninstall=1; build=0 ;;
    --build-dir) [ $# -ge 2 ] || { echo "install.sh: --build-dir needs a folder" >&2; exit 2; }
                 build_dir=$2; explicit_build_dir=1; shift ;;
    --build-dir=*) build_dir=${1#--build-dir=}; explicit_build_dir=1 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "install.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done

PREFIX=${PREFIX:-/usr/local}
PREFIX=${PREFIX%/}
DESTDIR=${DESTDIR:-}
DESTDIR=${DESTDIR%/}
case "$PREFIX" in
  /*) ;;
  *) echo "install.sh: PREFIX must be an absolute path, got '$PREFIX'" >&2; exit 2 ;;
esac
bindir=$PREFIX/bin
# The same path, safe inside the replacement part of a sed s||| command.
bindir_in_sed=$(printf '%s' "$bindir" | sed 's/[&|\\]/\\&/g')

# The plugin goes where Debian's GStreamer keeps its own: lib/<multiarch>/gstreamer-1.0.
detect_multiarch() {
  local m
  m=$(gcc -print-multiarch 2>/dev/null || true)
  [ -n "$m" ] || m=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || true)
  [ -n "$m" ] || m="$(uname -m)-linux-gnu"
  echo "$m"
}
MULTIARCH=${MULTIARCH:-$(detect_multiarch)}

# dbus-daemon reads system-bus policies from /usr/share/dbus-1/system.d and /etc/dbus-1/system.d
# only. A /usr install uses the former (the packaged place), a /usr/local install the latter
# (else the system service could not own its name); any other prefix keeps the policy under
# itself, for staging or for a private bus.
policy_dir() {
  case "$PREFIX" in
    /usr) echo /usr/share/dbus-1/system.d ;;
    /usr/local) echo /etc/dbus-1/system.d ;;
    *) echo "$PREFIX/share/dbus-1/system.d" ;;
  esac
}
DBUS_POLICY_DIR=${DBUS_POLICY_DIR:-$(policy_dir)}

if [ "$build" -eq 1 ]; then
  echo "install.sh: building the release configuration (swift build -c release)"
  (cd "$root" && swift build -c release)
  echo "install.sh: building the GStreamer plugin (make -C plugins)"
  make -C "$root/plugins"
  [ -n "$build_dir" ] || build_dir=$(cd "$root" && swift build -c release --show-bin-path)
fi
[ -n "$build_dir" ] || build_dir=$root/.build/release

# The plugin comes from the build folder given with --build-dir, else from plugins/'s own build
# (`make -C plugins`, which this script runs unless --no-build).
plugin_source=""
if [ -n "$explicit_build_dir" ]; then
  plugin_candidates=("$build_dir/libgstdynamicrafter.so")
else
  plugin_candidates=("$build_dir/libgstdynamicrafter.so" "$root/plugins/build/libgstdynamicrafter.so")
fi
for candidate in "${plugin_candidates[@]}"; do
  if [ -f "$candidate" ]; then plugin_source=$candidate; break; fi
done

# Every installed file: mode, source, destination (without DESTDIR), whether @…@ is replaced.
entries=()
add() { entries+=("$1|$2|$3|$4"); }
add 0755 "$build_dir/dynamicrafter" "$bindir/dynamicrafter" no
add 0755 "$build_dir/dynamicrafterd" "$bindir/dynamicrafterd" no
add 0644 "$plugin_source" "$PREFIX/lib/$MULTIARCH/gstreamer-1.0/libgstdynamicrafter.so" optional
add 0644 "$root/dbus/org.dynamicrafter.Animator1.xml" "$PREFIX/share/dbus-1/interfaces/org.dynamicrafter.Animator1.xml" no
add 0644 "$root/dbus/org.dynamicrafter.Animator1.service.in" "$PREFIX/share/dbus-1/services/org.dynamicrafter.Animator1.service" yes
add 0644 "$root/dbus/system-services/org.dynamicrafter.Animator1.service.in" "$PREFIX/share/dbus-1/system-services/org.dynamicrafter.Animator1.service" yes
add 0644 "$root/dbus/org.dynamicrafter.Animator1.conf" "$DBUS_POLICY_DIR/org.dynamicrafter.Animator1.conf" no
add 0644 "$root/packaging/user/dynamicrafterd.service.in" "$PREFIX/lib/systemd/user/dynamicrafterd.service" yes
add 0644 "$root/packaging/system/dynamicrafterd.service.in" "$PREFIX/lib/systemd/system/dynamicrafterd.service" yes
add 0644 "$root/packaging/dynamicrafter.sysusers" "$PREFIX/lib/sysusers.d/dynamicrafter.conf" no
add 0644 "$root/packaging/dynamicrafter.tmpfiles" "$PREFIX/lib/tmpfiles.d/dynamicrafter.conf" no

if [ "$uninstall" -eq 1 ]; then
  for entry in "${entries[@]}"; do
    IFS='|' read -r _ _ destination _ <<<"$entry"
    target=$DESTDIR$destination
    if [ -e "$target" ] || [ -L "$target" ]; then
      rm -f "$target"
      echo "removed   $target"
    fi
  done
  exit 0
fi

# Check every source before writing anything, so a failed run leaves no half installation.
for entry in "${entries[@]}"; do
  IFS='|' read -r _ source _ substitute <<<"$entry"
  [ "$substitute" = optional ] && continue
  if [ ! -f "$source" ]; then
    case "$source" in
      "$build_dir"/*) echo "install.sh: $source is missing: build first (drop --no-build) or pass --build-dir" >&2 ;;
      *) echo "install.sh: $source is missing from the source tree" >&2 ;;
    esac
    exit 1
  fi
done

staging=$(mktemp -d)
trap 'rm -rf "$staging"' EXIT
for entry in "${entries[@]}"; do
  IFS='|' read -r mode source destination substitute <<<"$entry"
  if [ "$substitute" = optional ]; then
    [ -n "$source" ] || continue
    substitute=no
  fi
  file=$source
  if [ "$substitute" = yes ]; then
    file=$staging/$(basename "$destination")
    sed -e "s|@bindir@|$bindir_in_sed|g" "$source" >"$file"
    if leftover=$(grep -o '@[A-Za-z_]*@' "$file" | sort -u | tr '\n' ' ') && [ -n "$leftover" ]; then
      echo "install.sh: $source has placeholders this script does not know: $leftover" >&2
      exit 1
    fi
  fi
  target=$DESTDIR$destination
  mkdir -p "$(dirname "$target")"
  # Copy beside the target, then rename over it: a running dynamicrafterd keeps its old file.
  install -m "$mode" "$file" "$target.new.$$"
  mv -f "$target.new.$$" "$target"
  echo "installed $target"
done

if [ -z "$plugin_source" ]; then
  echo "install.sh: no libgstdynamicrafter.so was built; the GStreamer plugin is not installed"
fi
if [ -z "$DESTDIR" ]; then
  cat <<EOF

Next steps:
  user service:   systemctl --user daemon-reload   (D-Bus activation then starts it on first use)
  system service: systemd-sysusers && systemd-tmpfiles --create dynamicrafter.conf \\
                  && systemctl daemon-reload && systemctl reload dbus
                  then add callers to the group: adduser NAME dynamicrafter
EOF
  case "$PREFIX" in
    /usr) ;;
    *) echo "  GStreamer looks in $PREFIX/lib/$MULTIARCH/gstreamer-1.0 only with GST_PLUGIN_PATH set to it" ;;
  esac
fi
