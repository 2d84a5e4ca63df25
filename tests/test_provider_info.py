from __future__ import annotations

import subprocess
import sys
from importlib import metadata
from importlib.metadata import version

from huggingface_hub.inference._providers import PROVIDERS
from packaging.specifiers import SpecifierSet

from airflow_provider_huggingface import get_provider_info
from airflow_provider_huggingface._internal.hub_compat import provider_needs
from airflow_provider_huggingface.provider_info import CHAT_PROVIDERS
from tests.airflow_internals import FORM_FROM_PROVIDER_INFO, listed_hook_name


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
    # "openai" is left out: it takes an OpenAI key, not a Hugging Face token. The form keeps listing
    # providers newer than the installed release; choosing one fails with the release it needs.
    known = {name for name, tasks in PROVIDERS.items() if "conversational" in tasks} - {"openai"}
    newer = {name for name in CHAT_PROVIDERS if provider_needs(name)}
    assert set(CHAT_PROVIDERS) - {"auto"} <= known | newer
    if int(version("huggingface_hub").split(".")[0]) >= 2:
        assert set(CHAT_PROVIDERS) == known | {"auto"}
    else:
        # 1.x also routes to providers that 2.x dropped (clarifai, hyperbolic, nebius, nvidia, sambanova
        # at 1.18.0): the form offers those that both lines know.
        assert known - set(CHAT_PROVIDERS) <= {"clarifai", "hyperbolic", "nebius", "nvidia", "sambanova"}


def test_airflow_sees_the_provider_and_its_connection_type():
    from airflow.providers_manager import ProvidersManager

    manager = ProvidersManager()
    assert "airflow-provider-huggingface" in manager.providers
    assert listed_hook_name("huggingface") == "Hugging Face"
    if FORM_FROM_PROVIDER_INFO:
        assert manager.field_behaviours["huggingface"]["relabeling"]["password"] == "API token"
        assert "extra__huggingface__timeout" in manager.connection_form_widgets
    else:
        # Airflow 3.0 and 3.1 build a form only from hook methods and only with the FAB provider: the
        # type is listed with Airflow's standard fields, and the settings go in Extra (README).
        assert "huggingface" not in manager.field_behaviours


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


def test_the_version_is_written_once_and_read_everywhere():
    import airflow_provider_huggingface

    installed = metadata.version("airflow-provider-huggingface")
    assert installed == airflow_provider_huggingface.__version__
    assert get_provider_info()["versions"] == [installed]


def test_published_metadata_has_no_test_extras_and_claims_the_python_it_runs_on():
    import tomllib
    from pathlib import Path

    meta = metadata.metadata("airflow-provider-huggingface")
    # Test tools are dependency groups, never extras; the one extra is what embeddings on the router need.
    assert set(meta.get_all("Provides-Extra") or ()) <= {"embeddings"}
    project = tomllib.loads((Path(__file__).parent.parent / "pyproject.toml").read_text())["project"]
    assert project["optional-dependencies"] == {"embeddings": ["numpy>=1.26"]}
    running = f"{sys.version_info.major}.{sys.version_info.minor}"
    assert f"Programming Language :: Python :: {running}" in meta.get_all("Classifier")
    assert SpecifierSet(meta["Requires-Python"]).contains(running)
    urls = {entry.split(",", 1)[0] for entry in meta.get_all("Project-URL")}
    assert {"Homepage", "Source", "Changelog", "Issues"} <= urls


def test_the_form_says_which_providers_need_a_newer_huggingface_hub():
    description = connection_type()["conn-fields"]["provider"]["description"]
    assert "baseten needs huggingface_hub 1.26.1 or newer." in description
