"""Provider metadata read by Airflow's ProvidersManager and the Connections page of the UI.

The Airflow 3 UI builds the connection form from this dictionary alone; hook methods such
as ``get_ui_field_behaviour`` are ignored there.
"""

from __future__ import annotations

from typing import Any

DEFAULT_MODEL = "mistralai/Mistral-7B-Instruct-v0.3"
# The embedding model of tasks that name none on the router: a sentence-transformers model that
# hf-inference serves (384 values a vector, unit length, texts up to 256 word pieces).
DEFAULT_EMBEDDING_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
DEFAULT_TIMEOUT = 120.0
DEFAULT_MAX_RETRIES = 3

# Inference providers that huggingface_hub can route a chat completion to; "auto" lets the
# Hugging Face router pick. Kept literal so reading provider info imports nothing heavy;
# a test checks it against huggingface_hub's own table.
CHAT_PROVIDERS = (
    "auto",
    "baseten",
    "cerebras",
    "cohere",
    "deepinfra",
    "featherless-ai",
    "fireworks-ai",
    "groq",
    "hf-inference",
    "novita",
    "nscale",
    "ovhcloud",
    "publicai",
    "scaleway",
    "together",
    "zai-org",
)

_HOOK = "airflow_provider_huggingface.hooks.huggingface.HuggingFaceHook"


def get_provider_info() -> dict[str, Any]:
    from airflow_provider_huggingface import __version__  # the one place the version is written
    from airflow_provider_huggingface._internal.hub_compat import PROVIDER_SINCE

    return {
        "package-name": "airflow-provider-huggingface",
        "name": "Hugging Face",
        "description": "Hugging Face text generation and embeddings (Inference Providers, Inference "
        "Endpoints, TGI, TEI, vLLM, llama.cpp and any OpenAI-compatible server).",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": "Hugging Face",
                "external-doc-url": "https://huggingface.co/docs/inference-providers",
                "tags": ["ai"],
            }
        ],
        "hooks": [
            {
                "integration-name": "Hugging Face",
                "python-modules": ["airflow_provider_huggingface.hooks.huggingface"],
            }
        ],
        "operators": [
            {
                "integration-name": "Hugging Face",
                "python-modules": [
                    "airflow_provider_huggingface.operators.huggingface",
                    "airflow_provider_huggingface.operators.batch",
                    "airflow_provider_huggingface.operators.branch",
                    "airflow_provider_huggingface.operators.agent",
                    "airflow_provider_huggingface.operators.embedding",
                ],
            }
        ],
        "task-decorators": [
            {
                "class-name": "airflow_provider_huggingface.decorators.huggingface.huggingface_chat_task",
                "name": "huggingface_chat",
            },
            {
                "class-name": "airflow_provider_huggingface.decorators.huggingface.huggingface_branch_task",
                "name": "huggingface_branch",
            },
            {
                "class-name": "airflow_provider_huggingface.decorators.huggingface.huggingface_agent_task",
                "name": "huggingface_agent",
            },
        ],
        "triggers": [
            {
                "integration-name": "Hugging Face",
                "python-modules": ["airflow_provider_huggingface.triggers.huggingface"],
            }
        ],
        # Airflow 3.3 shows an operator's links from its serialized DAG (name and XCom key) without this
        # entry (tests/ui/test_extra_links.py); it lists the link for `airflow providers links`.
        "extra-links": ["airflow_provider_huggingface.links.huggingface.HuggingFaceModelLink"],
        "connection-types": [
            {
                "hook-class-name": _HOOK,
                "hook-name": "Hugging Face",
                "connection-type": "huggingface",
                "ui-field-behaviour": {
                    "hidden-fields": ["login", "schema", "port"],
                    "relabeling": {
                        "password": "API token",
                        "host": "Endpoint URL (optional)",
                    },
                    "placeholders": {
                        "password": "hf_...",
                        "host": "empty = Hugging Face router; or https://xyz.endpoints.huggingface.cloud",
                    },
                },
                "conn-fields": {
                    "provider": {
                        "label": "Inference provider",
                        "description": "Who serves the model when no endpoint URL is set. 'auto' lets "
                        "the Hugging Face router pick the first provider enabled in your "
                        "account settings that serves the model. "
                        + "; ".join(
                            f"{name} needs huggingface_hub {v} or newer" for name, v in PROVIDER_SINCE.items()
                        )
                        + ".",
                        "schema": {
                            "type": ["string", "null"],
                            "default": "auto",
                            "enum": list(CHAT_PROVIDERS),
                        },
                    },
                    "default_model": {
                        "label": "Default model",
                        "description": "Model id (owner/name) used by tasks that name none, e.g. "
                        f"{DEFAULT_MODEL} (works for everyone), meta-llama/Llama-3.1-8B-Instruct "
                        "or Qwen/Qwen2.5-72B-Instruct.",
                        "schema": {"type": ["string", "null"], "default": DEFAULT_MODEL},
                    },
                    "timeout": {
                        "label": "Timeout (seconds)",
                        "description": "How long one request may take before it is retried. "
                        "A loading model can need a minute or more.",
                        "schema": {
                            "type": ["number", "null"],
                            "default": DEFAULT_TIMEOUT,
                            "exclusiveMinimum": 0,
                        },
                    },
                    "max_retries": {
                        "label": "Max retries",
                        "description": "Retries after a rate limit (429), a loading or unavailable "
                        "model (503), a server error or a timeout, with exponential backoff. "
                        "Bad requests, bad tokens and missing models are never retried.",
                        "schema": {
                            "type": ["integer", "null"],
                            "default": DEFAULT_MAX_RETRIES,
                            "minimum": 0,
                            "maximum": 20,
                        },
                    },
                    "bill_to": {
                        "label": "Bill to organization",
                        "description": "Optional: the Hugging Face organization billed for the calls "
                        "(sent as X-HF-Bill-To). Leave empty to bill your own account.",
                        "schema": {"type": ["string", "null"]},
                    },
                },
            }
        ],
    }
