#!/usr/bin/env bash
# Installs the Debian packages amber builds and tests with, when any is missing.
# Idempotent: prints nothing and touches nothing when everything is already there.
set -euo pipefail

packages=(
  cmake g++ make pkg-config
  libcaf-dev
  libboost-serialization-dev
  liblmdb-dev
  libfmt-dev
  libssl-dev
  openssl
  iproute2
  doctest-dev
  libcli11-dev
  libtomlplusplus-dev
  nlohmann-json3-dev
  libbenchmark-dev
  libpq-dev
  clang libclang-rt-14-dev
  postgresql
  doxygen
  libcpp-httplib-dev
  chromium
  chromium-driver
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
echo "amber: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq >/dev/null
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
