#!/usr/bin/env bash
# Installs the Debian packages the native build needs, only when missing; extra
# package names given as arguments (e.g. the benchmarks' b3sum) are added.
set -euo pipefail

packages=(pkg-config g++ libhyperscan-dev libssl-dev libicu-dev python3-venv "$@")
case "$(uname -m)" in
  x86_64|i686) ;;
  *) packages=("${packages[@]/libhyperscan-dev/libvectorscan-dev}") ;;  # Hyperscan is x86-only
esac

missing=()
for pkg in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
  echo "error: missing system packages (${missing[*]}) and no apt-get here; install their equivalents by hand." >&2
  exit 1
fi
if [ "$(id -u)" -eq 0 ]; then
  sudo=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  sudo=(sudo -n)
else
  echo "error: missing system packages: ${missing[*]}" >&2
  echo "       installing them needs root: run 'sudo apt-get install ${missing[*]}' and retry." >&2
  exit 1
fi
echo "installing system packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
