from __future__ import annotations

import subprocess
import sys

from huggingface_hub.inference._providers import PROVIDERS

from airflow_provider_huggingface import get_provider_info
from airflow_provider_huggingface.provider_info import CHAT_PROVIDERS


def connection_type():
    (conn,) = get_provider_info()["connection-types"]
    return conn


def test_connection_type_declares_the_form():
    conn = connection_type()
    assert conn["connection-type"] == "huggingface"
    assert conn["hook-name"] == "Hugging Face"
    behaviour = conn["ui-field-behaviour"]
    assert set(behaviour["hidden-fields"]) == {"login", "schema", "port"}
    assert behaviour["relabeling"] == {"password": "API token", "host": "Endpoint URL (optional)"}
    assert behaviour["placeholders"]["password"] == "hf_..."
    fields = conn["conn-fields"]
    assert set(fields) == {"provider", "default_model", "timeout", "max_retries", "bill_to"}
    assert all(field["label"] and len(field["description"]) > 40 for field in fields.values())
    assert fields["timeout"]["schema"]["default"] == 120
    assert fields["max_retries"]["schema"]["default"] == 3
    assert fields["default_model"]["schema"]["default"] == "mistralai/Mistral-7B-Instruct-v0.3"
    assert fields["provider"]["schema"]["enum"][0] == "auto"


def test_provider_choices_are_the_chat_providers_huggingface_hub_knows():
    # "openai" is left out: it takes an OpenAI key, not a Hugging Face token.
    known = {name for name, tasks in PROVIDERS.items() if "conversational" in tasks} - {"openai"}
    assert set(CHAT_PROVIDERS) == known | {"auto"}


def test_airflow_sees_the_provider_and_its_connection_type():
    from airflow.providers_manager import ProvidersManager

    manager = ProvidersManager()
    assert "airflow-provider-huggingface" in manager.providers
    ui = {meta.connection_type: meta for meta in manager.iter_connection_type_hook_ui_metadata()}
    assert ui["huggingface"].hook_name == "Hugging Face"
    assert manager.field_behaviours["huggingface"]["relabeling"]["password"] == "API token"
    assert "extra__huggingface__timeout" in manager.connection_form_widgets


def test_cli_adds_a_connection_of_this_type_without_a_warning(airflow_db):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "airflow",
            "connections",
            "add",
            "hf_cli",
            "--conn-type",
            "huggingface",
            "--conn-password",
            "hf_clitokenvalue123",
            "--conn-extra",
            '{"timeout": 30}',
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "Successfully added" in result.stdout
    assert "not a valid" not in (result.stdout + result.stderr).lower()
