#!/usr/bin/env bash
# Builds everything and runs every test. The default run stays small (tiny models, small
# shapes) so it fits CI on 2 cores; heavy suites are opt-in through environment variables.
set -euo pipefail
cd "$(dirname "$0")/.."
# Debian's OpenBLAS 0.3.21 misdetects recent AMD CPUs; these machines pin the Haswell kernels.
export OPENBLAS_CORETYPE="${OPENBLAS_CORETYPE:-Haswell}"
# OpenMP (oneDNN) threads must not spin while OpenBLAS or our own workers run.
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-passive}"
swift build
# The end-to-end tests run the command-line tool as users do: optimised. (Debug builds of the
# numeric kernels are ~30× slower, which would turn seconds of sampling into minutes.)
swift build -c release --product dynamicrafter
swift build -c release --product dynamicrafterd
export DYNAMICRAFTER_BIN="${DYNAMICRAFTER_BIN:-$PWD/.build/release/dynamicrafter}"
export DYNAMICRAFTERD_BIN="${DYNAMICRAFTERD_BIN:-$PWD/.build/release/dynamicrafterd}"
# The GStreamer plugin is plain C (no Swift runtime in GStreamer processes).
make -C plugins
# One test at a time: on two cores, parallel tests gain little (the numeric tests use both cores
# themselves), and CPU-bound tests occupying both cooperative threads starve the D-Bus, daemon
# and pipeline tests' async continuations for tens of seconds, turning timeouts into flakes.
export SWT_EXPERIMENTAL_MAXIMUM_PARALLELIZATION_WIDTH="${SWT_EXPERIMENTAL_MAXIMUM_PARALLELIZATION_WIDTH:-1}"
swift test "$@"
