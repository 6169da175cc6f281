"""Starts `llmward serve` as a subprocess on a free loopback port, for the server tests:
the real CLI, the default model, a private data directory; stopped with SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

STARTUP_SECONDS = 120


class LiveServer:
    def __init__(self, directory: Path, *args: str, guard_config: str | None = None) -> None:
        self.directory = directory
        self.data_dir = directory / "data"
        command = [sys.executable, "-m", "llmward.cli", "serve", "--port", "0",
                   "--data-dir", str(self.data_dir), *args]
        if guard_config is not None:
            config = directory / "guard.toml"
            config.write_text(guard_config)
            command += ["--guard-config", str(config)]
        env = {**os.environ, "LLMWARD_CACHE_DIR": str(directory / "cache")}
        self.log = (directory / "server.log").open("w+")
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=self.log,
                                        text=True, env=env)
        self.url, self.admin_key = self._wait_until_serving()

    def _wait_until_serving(self) -> tuple[str, str]:
        assert self.process.stdout is not None
        deadline = time.monotonic() + STARTUP_SECONDS
        url = None
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                self.log.seek(0)
                raise RuntimeError(f"llmward serve exited: {self.log.read()[-3000:]}")
            if line.startswith("llmward: serving on "):
                url = line.split()[-1]
            elif line.startswith("lw_") and url is not None:
                return url, line.strip()
        raise RuntimeError("llmward serve did not start in time")

    def request(self, method: str, path: str, body: Any = None, key: str | None = None,
                headers: dict[str, str] | None = None,
                raw: bytes | None = None) -> tuple[int, dict[str, str], bytes]:
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        request = urllib.request.Request(self.url + path, data=data, method=method)  # noqa: S310 -- our own loopback URL
        request.add_header("Content-Type", "application/json")
        if key is not None:
            request.add_header("Authorization", f"Bearer {key}")
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        try:
            with urllib.request.urlopen(request, timeout=120) as response:  # noqa: S310
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers), error.read()

    def create_key(self, user: str, role: str) -> str:
        status, _, body = self.request("POST", "/v1/admin/keys", {"user": user, "role": role},
                                       key=self.admin_key)
        assert status == 201, body
        return str(json.loads(body)["key"])

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()
