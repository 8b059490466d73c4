"""Network engineering, the showcase domain pack: JunOS / IOS / FRR configuration, OSPF and
BGP troubleshooting, refusals of made-up commands.

    scoring.py    per-category scores (real verifiers, value facts, diagnosis, abstention)
    verifiers.py  the dialects' syntax checks (frr.py: FRR's vtysh; ios.py, junos.py: grammars)
    near.py       near-domain text: NX-OS / ASA / IOS-XR configs from an installed package
    pretrain.py   configurations without questions, for the tiny base's domain stage
    generate.py   the dataset generator (content tables in content/*.json), render.py its
                  per-dialect renderers

Selected by data.domain_pack=netops (conf/data/netops.yaml sets it).
"""
from __future__ import annotations

from netft.domains import Domain
from netft.domains import score as _score
from netft.domains.chat import eval_rows
from netft.domains.netops import near, pretrain, scoring


def _review_columns(row: dict) -> dict:
    meta = row.get("meta") or {}
    return {"dialect": meta.get("dialect", ""), "topic": meta.get("topic", "")}


DOMAIN = Domain(name="netops", eval_rows=eval_rows, score_item=scoring.score_item,
                aggregate=scoring.aggregate, format_table=scoring.format_table,
                details=scoring.syntax_errors_by_class, review_columns=_review_columns,
                preflight=scoring.preflight, near_domain=near.texts,
                pretrain_docs=pretrain.pretrain_docs, base_spec=pretrain.BASE_SPEC,
                report_columns=(("command_accuracy", "command acc"),
                                ("config_command_accuracy", "config cmd acc"),
                                ("translate_command_accuracy", "translate cmd acc"),
                                ("command_syntax", "valid syntax"),
                                ("command_value_facts", "value facts"),
                                ("format_compliance", "format"),
                                ("troubleshoot_accuracy", "troubleshoot acc"),
                                ("refusal_accuracy", "refusal acc")),
                workers=8)  # vtysh runs as a subprocess: threads overlap those waits


def score(rows: list[dict], predictions) -> dict:
    """netft.domains.score with this pack (what tests and notebooks call)."""
    return _score(DOMAIN, rows, predictions)
