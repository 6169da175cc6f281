import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci", max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(scope="session")
def _session_cache(tmp_path_factory: pytest.TempPathFactory):
    cache = tmp_path_factory.mktemp("hs-cache")
    cache.chmod(0o700)
    return cache


@pytest.fixture(autouse=True)
def _private_cache(_session_cache, monkeypatch: pytest.MonkeyPatch):
    """Keep the compiled-database cache out of the user's home; shared by the
    session's tests, so the large default rule set compiles once."""
    monkeypatch.setenv("LLMWARD_CACHE_DIR", str(_session_cache))


@pytest.fixture(autouse=True)
def _private_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep llmward's state (verify cache, keys...) out of the user's home."""
    monkeypatch.setenv("LLMWARD_DATA_DIR", str(tmp_path / "data"))


@pytest.fixture
def model(tmp_path: Path) -> Path:
    """A small model directory (integrity_helpers.MODEL_FILES)."""
    from integrity_helpers import make_model_dir

    return make_model_dir(tmp_path / "model")


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """An ECDSA P-256 key pair in PEM files: (private, public)."""
    from integrity_helpers import write_ec_keypair

    return write_ec_keypair(tmp_path_factory.mktemp("keys"))
