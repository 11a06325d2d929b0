"""The agent side of config.toml: agents, groups, rotas, routes, categories, agent_auth."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from maildesk.config import parse
from maildesk.config.desk import AgentAuthConfig, CategoryConfig, RouteConfig
from maildesk.errors import ConfigError

AGENTS = """
[[agents]]
name = "Ana Pérez"
addresses = ["Ana@uni.example", "aperez@uni.example"]
groups = ["secretaria"]

[[agents]]
name = "Luis"
addresses = ["luis@uni.example"]
groups = ["becas"]
coordinator = true
language = "en"
"""
QUEUE = '[[queues]]\nname = "info"\naddresses = ["info@*"]\n'


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as error:
        parse(text, path=Path("config.toml"), base_dir=Path("/srv"))
    return error.value.problems


def test_a_full_desk_builds() -> None:
    config = parse(
        QUEUE + 'groups = ["secretaria", "becas"]\nrota_mon = ["ana pérez", "luis@uni.example"]\n'
        'rotation = ["aperez@uni.example", "Luis"]\nrotation_start = "2026-01-05"\n'
        'notify_attachments = "list"\nduplicate_hours = 0\npending_days = 5\n'
        + AGENTS
        + '[[categories]]\nname = "becas"\nack_template = "ack_becas.txt.j2"\n'
        '[[routes]]\nsubject_keywords = ["beca"]\nsender_domains = ["@Uni.Example"]\n'
        'recipients = ["Becas@*"]\ncategory = "becas"\ngroup = "becas"\npriority = "high"\n'
        '[agent_auth]\nrequire = true\nauthserv_ids = ["MX.uni.example"]\n',
        path=None,
        base_dir=Path("/srv"),
    )
    [queue] = config.queues
    assert queue.groups == ("secretaria", "becas")
    assert queue.rota.days[0] == ("ana@uni.example", "luis@uni.example")
    assert queue.rota.rotation == ("ana@uni.example", "luis@uni.example")
    assert queue.rota.start == date(2026, 1, 5)
    assert (queue.notify_attachments, queue.pending_days, queue.duplicate_hours) == ("list", 5, 0)
    ana, luis = config.agents
    assert (ana.address, ana.addresses, ana.groups, ana.coordinator) == (
        "ana@uni.example",
        ("ana@uni.example", "aperez@uni.example"),
        ("secretaria",),
        False,
    )
    assert (luis.language, luis.coordinator) == ("en", True)
    assert config.categories == (CategoryConfig("becas", "ack_becas.txt.j2"),)
    assert config.routes == (
        RouteConfig(
            recipients=("becas@*",),
            sender_domains=("uni.example",),
            subject_keywords=("beca",),
            category="becas",
            group="becas",
            priority="high",
        ),
    )
    assert config.agent_auth == AgentAuthConfig(True, ("mx.uni.example",))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            QUEUE + 'rota_tue = ["nadie"]\n' + AGENTS,
            "config.toml:4: key 'queues.rota_tue': unknown agent 'nadie': no [[agents]] table",
        ),
        (
            QUEUE + 'rotation = ["Ana"]\n' + AGENTS,
            "config.toml:4: key 'queues.rotation': unknown agent 'Ana'",
        ),
        (
            QUEUE + 'rotation_start = "5/1/2026"\n' + AGENTS,
            "config.toml:4: key 'queues.rotation_start': expected YYYY-MM-DD",
        ),
        (
            QUEUE + 'groups = ["admisiones"]\n' + AGENTS,
            "config.toml:4: key 'queues.groups': no agent is in group 'admisiones'",
        ),
        (
            QUEUE + 'notify_attachments = "link"\n',
            "config.toml:4: key 'queues.notify_attachments': expected one of 'attach' | 'list'",
        ),
        (
            QUEUE + AGENTS + '[[agents]]\nname = "Otra"\naddresses = ["aperez@uni.example"]\n',
            "config.toml:18: key 'agents.addresses': 'aperez@uni.example' already belongs",
        ),
        (
            QUEUE
            + '[[agents]]\nname = "Ana"\naddresses = ["a@x.example"]\ngroups = ["Soporte TI"]\n',
            "config.toml:7: key 'agents.groups': expected lower-case letters",
        ),
        (
            QUEUE + '[[agents]]\nname = ""\naddresses = ["a@x.example"]\n',
            "config.toml:5: key 'agents.name': expected a name",
        ),
        (
            QUEUE + '[[categories]]\nname = "Becas y ayudas"\n',
            "config.toml:5: key 'categories.name': expected lower-case letters",
        ),
        (
            QUEUE + '[[categories]]\nname = "becas"\n[[categories]]\nname = "becas"\n',
            "config.toml:7: key 'categories.name': duplicate category 'becas'",
        ),
        (
            QUEUE + '[[categories]]\nname = "becas"\nack_template = "../../etc/passwd"\n',
            "config.toml:6: key 'categories.ack_template': expected a file name",
        ),
        (
            QUEUE + '[[routes]]\ncategory = "becas"\n',
            "config.toml:5: key 'routes.category': no [[categories]] table is named 'becas'",
        ),
        (
            QUEUE + '[[routes]]\ngroup = "becas"\n',
            "config.toml:5: key 'routes.group': no agent is in group 'becas'",
        ),
        (
            QUEUE + '[[routes]]\nsubject_keywords = ["beca"]\n',
            "config.toml:4: key 'routes.category': the rule sets nothing",
        ),
        (
            QUEUE + '[[routes]]\nqueue = "crm"\npriority = "high"\n',
            "config.toml:5: key 'routes.queue': no [[queues]] table is named 'crm'",
        ),
        (
            QUEUE + '[[routes]]\nsender_domains = ["not a domain"]\npriority = "high"\n',
            "config.toml:5: key 'routes.sender_domains': not a domain",
        ),
        (
            QUEUE + '[[routes]]\nrecipients = ["becas"]\npriority = "high"\n',
            "config.toml:5: key 'routes.recipients': not an address or local@* pattern",
        ),
        (
            QUEUE + '[[routes]]\npriority = "highest"\n',
            "config.toml:5: key 'routes.priority': expected one of",
        ),
        (
            QUEUE + '[[routes]]\npriority = "high"\nsegment = "V I P"\n',
            "config.toml:6: key 'routes.segment': expected lower-case letters",
        ),
        (
            "[agent_auth]\nrequire = true\n",
            "config.toml:1: key 'agent_auth.authserv_ids': require = true needs the authserv-id",
        ),
    ],
)
def test_each_problem_names_its_key_and_line(text: str, expected: str) -> None:
    found = problems(text)
    assert any(p.startswith(expected) for p in found), found
