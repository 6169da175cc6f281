import subprocess
import sys
from importlib import resources
from pathlib import Path

ALLOWLIST = Path(__file__).with_name("stubtest-allowlist.txt")


def test_typing_files_ship_with_the_package():
    package = resources.files("llmward")
    assert package.joinpath("py.typed").is_file()
    assert package.joinpath("_core.pyi").is_file()


def test_stubs_match_the_native_module():
    result = subprocess.run(
        [sys.executable, "-m", "mypy.stubtest", "llmward._core", "--allowlist", str(ALLOWLIST)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
