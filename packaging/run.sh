#!/usr/bin/env bash
# Installs what is missing, builds a Release build in build/, and launches QuantFit.
# Arguments are passed to the app (e.g. packaging/run.sh model.gguf).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$root/packaging/deps.sh"

build="$root/build"
if [[ ! -f "$build/build.ninja" ]]; then
    cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DQUANTFIT_BUILD_TESTS=OFF
fi
cmake --build "$build" -j "$(nproc)"
exec "$build/app/quantfit" "$@"
