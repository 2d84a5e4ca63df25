"""Route a support ticket with a model, then answer it in the style of three examples.

``route`` is a :class:`HuggingFaceBranchOperator`: the model chooses ``billing``, ``bug`` or
``other`` (an enum in a JSON schema, so it cannot answer anything else) and only that branch runs;
the other two are skipped. Each branch answers with a chat task whose ``messages`` hold three
few-shot examples, earlier turns of a conversation that show the tone and the length wanted.
Trigger with ``{"ticket": "..."}`` to route a ticket of your own.

The model must understand images or not at all: this DAG sends text only. Any chat model works;
the default one routes well.
"""

from __future__ import annotations

from airflow.sdk import DAG, task

from airflow_provider_huggingface.operators.branch import HuggingFaceBranchOperator
from airflow_provider_huggingface.operators.huggingface import HuggingFaceChatOperator

TEAMS = {
    "billing": "payments, invoices, refunds, subscriptions",
    "bug": "crashes, errors, something that does not work as documented",
    "other": "anything else: questions, feedback, feature requests",
}

# Three examples per team: a ticket (user) and the answer wanted (assistant).
EXAMPLES = {
    "billing": [
        ("I was charged twice this month.", "Sorry about that: the second charge is refunded within 5 days."),
        ("How do I get an invoice?", "Invoices are under Settings > Billing, as PDF files."),
        ("Can I pay yearly?", "Yes: switch to yearly billing under Settings > Billing and save two months."),
    ],
    "bug": [
        ("The app crashes when I upload a photo.", "Thanks: which version and device? We are on it."),
        ("Export gives an empty file.", "Sorry: we reproduced it and a fix ships this week."),
        ("Login loops back to the start page.", "Please clear our cookies; if it persists, tell us."),
    ],
    "other": [
        ("Do you have a dark mode?", "Not yet: it is planned, and we have noted your vote."),
        ("Great product!", "Thank you, that made our day."),
        ("Can I use it offline?", "Partly: notes sync when you are back online."),
    ],
}


def few_shot(team: str) -> list[dict[str, str]]:
    """The examples as a conversation, ending with the ticket itself (a Handlebars template)."""
    turns = []
    for ticket, answer in EXAMPLES[team]:
        turns += [{"role": "user", "content": ticket}, {"role": "assistant", "content": answer}]
    return [*turns, {"role": "user", "content": "{{ticket.text}}"}]


with DAG(
    dag_id="example_huggingface_routing",
    schedule=None,
    catchup=False,
    # A fixed seed routes the same ticket the same way, where the server supports seeds.
    params={"ticket": "I paid for the Pro plan but my account still says Free.", "seed": 7},
    tags=["huggingface", "example"],
    doc_md=__doc__,
):

    @task
    def ticket(params: dict | None = None) -> dict:
        """The incoming ticket (from a queue or an API in a real DAG)."""
        return {"text": (params or {})["ticket"]}

    route = HuggingFaceBranchOperator(
        task_id="route",
        system_prompt="You route customer support tickets to the team that can answer them.",
        user_prompt="Ticket: {{ticket.text}}",
        choices=TEAMS,
        max_tokens=100,
        seed="{{ params.seed }}",
    )

    answers = [
        HuggingFaceChatOperator(
            task_id=team,
            system_prompt=f"You answer {team} tickets for the support team, in one or two sentences.",
            messages=few_shot(team),
            max_tokens=120,
        )
        for team in TEAMS
    ]

    ticket() >> route >> answers
