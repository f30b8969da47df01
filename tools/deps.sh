#!/usr/bin/env bash
# Install the Debian packages streamrate needs to build, test and benchmark,
# skipping the ones already present. Used by example.sh, test.sh and CI.
set -euo pipefail
pkgs=(gcc clang meson ninja-build pkg-config liburing-dev liblmdb-dev
      libxxhash-dev libcriterion-dev tzdata python3 lmdb-utils
      libclang-rt-dev llvm e2fsprogs)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
		missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	sudo=""
	if [ "$(id -u)" -ne 0 ]; then
		sudo="sudo"
	fi
	export DEBIAN_FRONTEND=noninteractive
	$sudo apt-get update -qq
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
		--no-install-recommends "${missing[@]}"
fi
