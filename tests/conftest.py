import os

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci", max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Keep the compiled-database cache of every test out of the user's home."""
    cache = tmp_path_factory.mktemp("hs-cache")
    cache.chmod(0o700)
    monkeypatch.setenv("LLMWARD_CACHE_DIR", str(cache))
