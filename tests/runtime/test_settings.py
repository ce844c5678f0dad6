"""``RuntimeSettings``: a runtime host's options, read from the same ``BATCH_*``
variables and ``.env`` as the batch side, without knowing the batch's options."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from runtime.errors import ConfigurationError
from runtime.run_context import RunContext
from runtime.settings import RuntimeSettings, load_settings


@pytest.fixture
def clean_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in list(os.environ):
        if name.startswith("BATCH_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_a_dotenv_with_batch_options_loads_the_runtime_part(clean_cwd: Path) -> None:
    (clean_cwd / ".env").write_text(
        "BATCH_HEADLESS=false\nBATCH_CHUNK_SIZE=10\nBATCH_FLOW=flow.yaml\nBATCH_MAX_RETRIES=4\n"
    )

    settings = RunContext().settings

    assert type(settings) is RuntimeSettings
    assert settings.headless is False
    assert not hasattr(settings, "chunk_size")


def test_environment_beats_dotenv_and_config_beats_both(
    clean_cwd: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (clean_cwd / ".env").write_text("BATCH_STEP_TIMEOUT_S=3\nBATCH_JOB_TIMEOUT_S=7\n")
    monkeypatch.setenv("BATCH_JOB_TIMEOUT_S", "9")

    settings = load_settings({"step_timeout_s": 4})

    assert (settings.step_timeout_s, settings.job_timeout_s) == (4, 9)


def test_a_batch_option_in_runtime_config_is_an_error_naming_it(clean_cwd: Path) -> None:
    with pytest.raises(ConfigurationError, match="unknown setting 'chunk_size'"):
        RunContext.create({"chunk_size": 10})


def test_invalid_value_names_the_setting(clean_cwd: Path) -> None:
    with pytest.raises(ConfigurationError, match="setting 'isolation' = 'shared'"):
        load_settings({"isolation": "shared"})


def test_with_overrides_keeps_values_given_as_none(clean_cwd: Path) -> None:
    settings = load_settings({"base_url": "http://example.test/"})

    changed = settings.with_overrides(base_url=None, headless=False)

    assert (changed.base_url, changed.headless) == ("http://example.test", False)


def test_the_runtime_never_imports_batch() -> None:
    """Every runtime module imported in a fresh interpreter leaves ``batch`` unloaded."""
    code = (
        "import pkgutil, importlib, sys, runtime\n"
        "for m in pkgutil.walk_packages(runtime.__path__, 'runtime.'):\n"
        "    importlib.import_module(m.name)\n"
        "print(sorted(n for n in sys.modules if n == 'batch' or n.startswith('batch.')))\n"
    )
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert shown.stdout.strip() == "[]"
