#!/usr/bin/env bash
# Installs the Debian packages zim-unfriend needs to build, test and demo.
# Idempotent; runs apt-get only when something is missing.
set -euo pipefail
pkgs=(build-essential cmake pkg-config clang libclang-rt-14-dev clang-format valgrind
      librdkafka-dev libcurl4-openssl-dev libssl-dev libjansson-dev libconfig-dev
      libmicrohttpd-dev libavro-dev kcat python3 python3-jsonschema python3-confluent-kafka
      python3-avro curl openssl util-linux prometheus python3-yaml systemd dpkg-dev man-db)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "installing: ${missing[*]}" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
