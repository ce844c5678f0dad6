"""``BatchSettings``: the runtime's settings plus the batch's, from ``config``,
``BATCH_*`` variables and ``.env``, whichever way the engine is given them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from paths import EXAMPLES

from batch.engine import BatchEngine
from batch.exceptions import ConfigurationError
from batch.settings import BatchSettings, load_settings, settings_over
from runtime.run_context import RunContext
from runtime.settings import load_settings as load_runtime_settings


@pytest.fixture
def clean_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in list(os.environ):
        if name.startswith("BATCH_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_env_and_dotenv_fill_both_halves(clean_cwd: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (clean_cwd / ".env").write_text("BATCH_CHUNK_SIZE=10\nBATCH_HEADLESS=false\n")
    monkeypatch.setenv("BATCH_MAX_RETRIES", "4")
    monkeypatch.setenv("BATCH_FLOW", "flow.yaml")

    settings = load_settings({"trace": "off"})

    assert (settings.chunk_size, settings.headless, settings.max_retries) == (10, False, 4)
    assert (settings.flow, settings.trace) == ("flow.yaml", "off")


def test_an_unknown_key_in_dotenv_is_still_an_error(clean_cwd: Path) -> None:
    (clean_cwd / ".env").write_text("BATCH_CHUNK_SIZ=10\n")

    with pytest.raises(ConfigurationError, match="unknown setting 'batch_chunk_siz'"):
        load_settings()
    assert load_runtime_settings().headless, "the runtime alone ignores the batch's keys"


def test_an_unknown_key_in_config_is_an_error_naming_it(clean_cwd: Path) -> None:
    with pytest.raises(ConfigurationError, match="unknown setting 'max_retry'"):
        BatchEngine(RunContext(), config={"max_retry": 3})


def test_run_context_without_batch_options_gets_them_from_the_environment(
    clean_cwd: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BATCH_CHUNK_SIZE", "7")
    monkeypatch.setenv("BATCH_STEP_TIMEOUT_S", "5")
    runtime_only = RunContext(settings=load_runtime_settings({"step_timeout_s": 2}))

    engine = BatchEngine(runtime_only, config={"max_retries": 0})

    assert isinstance(engine.settings, BatchSettings)
    assert engine.settings.chunk_size == 7, "from the environment"
    assert engine.settings.step_timeout_s == 2, "the context's value beats the environment"
    assert engine.settings.max_retries == 0, "config beats both"
    assert engine.context.run_id == runtime_only.run_id
    engine.close()


def test_run_context_holding_batch_settings_is_used_as_is(
    clean_cwd: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    given = load_settings({"chunk_size": 3}, read_env=False)
    monkeypatch.setenv("BATCH_CHUNK_SIZE", "9")

    assert settings_over(given) is given
    assert settings_over(given, {"max_retries": 1}).chunk_size == 3, "env is not read again"


def test_flow_setting_takes_a_path(clean_cwd: Path) -> None:
    assert load_settings({"flow": EXAMPLES / "add_customer.yaml"}).flow == str(
        EXAMPLES / "add_customer.yaml"
    )
