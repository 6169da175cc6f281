import os

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
