"""`make sbom` (scripts/sbom.sh): a valid CycloneDX JSON SBOM of the running environment that
names llmward and its key dependencies, produced offline."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "sbom.sh"
# Runtime dependencies of the package and of the `server` and `interop` extras
KEY_DEPENDENCIES = {"cryptography", "jinja2", "aiohttp", "redis", "llama-cpp-python",
                    "model-signing"}

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("cyclonedx_py") is None,
    reason="cyclonedx-bom is not installed (it comes with the dev extra)")


def _normalized(name: str) -> str:
    return name.lower().replace("_", "-")


def test_sbom_is_valid_cyclonedx_naming_key_dependencies(tmp_path):
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    out = tmp_path / "sbom" / "sbom.cdx.json"
    subprocess.run([str(SCRIPT), sys.executable, str(out)], check=True, capture_output=True,
                   timeout=300)
    text = out.read_text(encoding="utf-8")
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(text) is None
    bom = json.loads(text)
    assert (bom["bomFormat"], bom["specVersion"]) == ("CycloneDX", "1.6")
    assert bom["metadata"]["component"]["name"] == "llmward"
    components = {_normalized(c["name"]): c for c in bom["components"]}
    assert KEY_DEPENDENCIES <= components.keys()
    for name in KEY_DEPENDENCIES:
        component = components[name]
        assert component["version"]
        assert component["purl"].startswith("pkg:pypi/")
