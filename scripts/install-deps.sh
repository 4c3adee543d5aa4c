#!/usr/bin/env bash
# Installs the Debian 12 packages DynamiCrafter for Linux builds and tests against.
# Swift itself (6.x) is expected on PATH; see README.md.
set -euo pipefail
packages=(
  pkg-config
  libopenblas-dev   # portable compute backend (cblas_sgemm)
  libdnnl-dev       # oneDNN 2.6: fast matmul/convolution backend
  libdbus-1-dev     # the daemon's D-Bus service
  zlib1g-dev        # the tokenizer's compressed BPE vocabulary
  libgif-dev        # GIF output (framing and LZW)
  dbus              # dbus-daemon for the integration tests
  python3           # fixture generators (not needed to run)
  libgstreamer1.0-dev                # media I/O: GStreamer core (appsrc/appsink)
  libgstreamer-plugins-base1.0-dev   # gstreamer-app / gstreamer-video
  gstreamer1.0-tools                 # gst-launch-1.0 / gst-inspect-1.0
  gstreamer1.0-plugins-base          # decodebin, videoconvert, pngdec/jpegdec helpers
  gstreamer1.0-plugins-good          # pngenc, jpegdec, vp8enc, webmmux, mp4mux
  gstreamer1.0-plugins-ugly          # x264enc
  gstreamer1.0-plugins-bad           # extra decoders (WebP)
  gstreamer1.0-libav                 # more decoders
  ffmpeg                             # ffprobe, to check written videos in the tests
  systemd                            # systemd-analyze/-sysusers/-tmpfiles: the packaging tests
  make gcc binutils                  # the GStreamer plugin (C, plugins/Makefile)
  python3-gi gir1.2-gstreamer-1.0    # the plugin tests drive pipelines from Python
  gir1.2-gst-plugins-base-1.0
  libglib2.0-bin                     # gdbus
  python3-dbus                       # a Python D-Bus client in the daemon tests
  dbus-user-session                  # the user bus (the user unit is Type=dbus)
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all packages present"
  exit 0
fi
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
