#!/usr/bin/env bash
# Writes a CycloneDX 1.6 JSON SBOM of an installed Python environment (`make sbom`: .venv).
# Offline: the components come from the installed packages' metadata, the root component
# (llmward) from pyproject.toml; the result is checked against the bundled CycloneDX schema.
# Usage: scripts/sbom.sh PYTHON OUTPUT
set -euo pipefail
usage="usage: scripts/sbom.sh PYTHON OUTPUT"
python=${1:?$usage}
out=${2:?$usage}
root=$(cd "$(dirname "$0")/.." && pwd)

mkdir -p "$(dirname "$out")"
# --output-reproducible: no timestamp or random serial number, so unchanged environments give
# byte-identical SBOMs (SOURCE_DATE_EPOCH, when set, becomes the timestamp).
"$python" -m cyclonedx_py environment --pyproject "$root/pyproject.toml" --sv 1.6 \
  --output-reproducible --validate -o "$out" "$python"
echo "wrote $out"
