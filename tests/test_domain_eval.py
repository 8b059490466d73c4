"""Domain scoring: references score 100 %, empty or wrong answers score low; the refusal
detector, troubleshooting matcher and the human-review round trip."""
import csv
import json
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from netft.domains.chat import is_abstention, reference
from netft.domains.netops import DOMAIN as NETOPS
from netft.domains.netops import score
from netft.domains.netops.scoring import format_table, names_command, score_item
from netft.eval.review import export_review, import_review, stratified_sample
from netft.domains.netops.verifiers import have_vtysh

DATA = Path(__file__).resolve().parents[1] / "netft" / "assets" / "data" / "netops"
ROWS = [json.loads(line) for split in ("train", "validation", "test")
        for line in open(DATA / f"{split}.jsonl", encoding="utf-8")]
BY_ID = {r["id"]: r for r in ROWS}
needs_vtysh = pytest.mark.skipif(not have_vtysh(), reason="needs FRR's vtysh (Debian package frr)")


@needs_vtysh
def test_references_score_100_in_every_category():
    res = score(ROWS, [reference(r) for r in ROWS])
    assert set(res["categories"]) == {"curated", "config", "translate", "troubleshoot",
                                      "explain", "refusal", "refusal_twin"}
    # Perfect is 1.0 for every score except the share of unverified config lines (0.0).
    def perfect(k, v):
        return v == (0.0 if k == "unverified" else 1.0)
    imperfect = [(it["id"], it["errors"]) for it in res["items"]
                 if not all(perfect(k, v) for k, v in it["scores"].items())]
    assert not imperfect, imperfect[:10]
    for name, c in res["categories"].items():
        assert all(perfect(k, v) for k, v in c.items() if k != "n"), (name, c)
    assert res["overall"]["unverified_line_share"] == 0.0
    assert res["overall"]["score"] == 1.0 and res["overall"]["refusal_accuracy"] == 1.0
    table = format_table(res)
    assert "troubleshoot" in table and "100.0" in table and "weak" in table
    assert len({len(line) for line in table.splitlines()[:10]}) == 1  # fixed width


@needs_vtysh
def test_empty_predictions_score_zero():
    res = score(ROWS, {})  # a dict with no entries: every prediction is missing
    for name, c in res["categories"].items():
        assert all(v == 0.0 for k, v in c.items() if k != "n"), (name, c)
    assert all(it["errors"][0] == "empty prediction" for it in res["items"])


@needs_vtysh
def test_wrong_rows_answers_score_low():
    """Each row gets the reference of the next row of its category; refusal rows get a
    twin's answer (an answer) and twins get a refusal's answer (an abstention)."""
    by_cat = defaultdict(list)
    for r in ROWS:
        by_cat[r["category"]].append(r)
    wrong = {}
    for rows in by_cat.values():
        for i, r in enumerate(rows):
            wrong[r["id"]] = reference(rows[(i + 1) % len(rows)])
    refusals, twins = by_cat["refusal"], by_cat["refusal_twin"]
    for i, r in enumerate(refusals):
        wrong[r["id"]] = reference(twins[i % len(twins)])
    for i, r in enumerate(twins):
        wrong[r["id"]] = reference(refusals[i % len(refusals)])
    res = score(ROWS, wrong)
    o, c = res["overall"], res["categories"]
    assert o["command_values"] < 0.02 and o["command_accuracy"] < 0.02
    # Neighbouring rows can share a fault and its generic next command, rarely.
    assert c["troubleshoot"]["accuracy"] < 0.1 and c["troubleshoot"]["diagnosis"] < 0.25
    assert o["refusal_accuracy"] == 0.0
    assert o["overlap_weak"] < 0.2
    assert o["score"] < 0.25


def _one(rid, pred):
    return score_item(BY_ID[rid], pred)


@needs_vtysh
def test_values_are_checked_not_just_syntax():
    ref = reference(BY_ID["config-5"])  # IOS OSPF: rid 10.255.1.32, area 12, cost 100
    wrong_rid = _one("config-5", ref.replace("10.255.1.32", "10.255.1.33"))
    assert wrong_rid["scores"]["syntax"] == 1.0 and wrong_rid["scores"]["values"] == 0.0
    assert wrong_rid["errors"] == ["value missing: router_id"]
    # An equivalent config written differently (fenced, short names, per-interface area).
    alt = ("```\ninterface Gi0/5\n ip ospf 100 area 12\n ip ospf cost 100\n"
           " ip ospf hello-interval 2\n ip ospf dead-interval 8\n!\ninterface Gi0/3\n"
           " ip ospf 100 area 12\n!\nrouter ospf 100\n router-id 10.255.1.32\n"
           " passive-interface Gi0/3\n```")
    assert _one("config-5", alt)["scores"]["accuracy"] == 1.0


def test_format_check_is_separate_from_syntax():
    row = next(r for r in ROWS if r["meta"].get("dialect") == "junos_brace"
               and r["meta"].get("router_id"))
    it = score_item(row, f"set routing-options router-id {row['meta']['router_id']}")
    # Valid JunOS in the other notation: a format problem only (counted once, by format).
    assert it["scores"]["format"] == 0.0 and it["scores"]["syntax"] == 1.0
    # Balanced but not JunOS: the structure is fine, the verifier is not.
    it = score_item(row, "routing-options {\n    router-identifier 1.1.1.1;\n}")
    assert it["scores"]["format"] == 1.0 and it["scores"]["syntax"] == 0.0


ABSTAIN = [
    "I don't know of such a command: IOS has no `bgp auto-heal`.",
    "`ip ospf turbo` does not exist on IOS, so I can't configure it.",
    "There is no `ospf fast-hello-mode` command in FRR.",
    "That's not a valid JunOS statement.",
    "Insufficient information: I need the prefix length and the next hop.",
    "I can't give an exact config: the OSPF area is missing.",
    "No such command exists in FRR; maybe you mean `show ip ospf neighbor detail`.",
    "I'm not sure which interface faces R2. Tell me the interface and the cost.",
]
ANSWERS = [
    "interface GigabitEthernet0/3\n ip ospf priority 255",
    "set protocols bgp group IBGP bfd-liveness-detection minimum-interval 300",
    "show ip bgp neighbors 10.0.0.1 advertised-routes\nIt lists what is sent to the peer.",
    "10.0.12.2/30: a /30 has exactly two usable host addresses.",
    "router bgp 65001\n neighbor 10.0.0.1 password S3cret\nexit\nThe peer must use the same "
    "password; if you don't know it, ask the peer's operator.",
    "The DR election is not pre-emptive, so set `ip ospf priority 255` and reset the adjacency.",
]


@pytest.mark.parametrize("text", ABSTAIN)
def test_refusal_detector_sees_abstentions(text):
    assert is_abstention(text)


@pytest.mark.parametrize("text", ANSWERS)
def test_refusal_detector_lets_answers_through(text):
    assert not is_abstention(text)


def test_troubleshoot_paraphrases_and_wrong_diagnoses():
    def first(fault, dialect=None):
        return next(r for r in ROWS if r["category"] == "troubleshoot"
                    and r["meta"]["fault"] == fault
                    and dialect in (None, r["meta"]["dialect"]))

    mtu = first("ospf_mtu_mismatch", "ios")
    cmd = mtu["meta"]["next_command"].split(" | ")[0]  # show interfaces GigabitEthernet0/N
    short = cmd.replace("show interfaces GigabitEthernet", "sh int Gi")
    good = f"Stuck in EXSTART: almost certainly an MTU mismatch. Compare `{short} | i MTU`."
    assert score_item(mtu, good)["scores"] == {"diagnosis": 1.0, "next_step": 1.0,
                                               "accuracy": 1.0}
    hedge = f"Could be MTU, area or hello interval mismatch. Run `{cmd}`."
    assert score_item(mtu, hedge)["scores"]["diagnosis"] == 0.0

    empty = first("ospf_no_neighbor")
    cmd = empty["meta"]["next_command"]
    assert score_item(empty, f"Can't tell from this alone; run `{cmd}`.")["scores"][
        "accuracy"] == 1.0
    assert score_item(empty, f"Area mismatch. Run `{cmd}`.")["scores"]["diagnosis"] == 0.0

    admin, phys = first("interface_admin_down", "ios"), first("interface_down", "ios")
    assert score_item(admin, reference(phys))["scores"]["diagnosis"] == 0.0
    assert score_item(phys, reference(admin))["scores"]["diagnosis"] == 0.0


def test_equivalent_next_commands():
    assert names_command("run `sh ip ospf nei`", "show ip ospf neighbor")
    assert names_command("`show bgp ipv4 unicast neighbors 10.0.0.1`",
                         "show ip bgp neighbors 10.0.0.1")
    assert names_command("check `ip link show eth3`", "ethtool eth3")
    assert names_command("`show ip ospf interface`", "show ip ospf interface GigabitEthernet0/2")
    assert names_command("`show run | section bgp`", "show running-config")
    assert not names_command("`show ip ospf`", "show ip ospf neighbor")
    assert not names_command("`show ip route 10.0.0.9`", "show ip route 10.0.0.1")


# --------------------------------------------------------------------------- human review

TEST_ROWS = [json.loads(line) for line in open(DATA / "test.jsonl", encoding="utf-8")]


def test_stratified_sample_counts(tmp_path):
    sizes = Counter(r["category"] for r in TEST_ROWS)
    out = export_review(TEST_ROWS, [reference(r) for r in TEST_ROWS], tmp_path,
                        n=40, seed=1, domain=NETOPS)
    counts = out["counts"]
    assert sum(counts.values()) == out["n"] == 40 and set(counts) == set(sizes)
    assert max(counts.values()) - min(counts.values()) <= 1
    # A category smaller than its share gives all it has; the others take the rest.
    out = export_review(TEST_ROWS, [reference(r) for r in TEST_ROWS], tmp_path,
                        n=90, domain=NETOPS)
    share = 90 // len(sizes)
    for cat, size in sizes.items():
        assert out["counts"][cat] >= min(size, share)
        if size < share:
            assert out["counts"][cat] == size
    assert sum(out["counts"].values()) == 90


def _read(path):
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.reader(fh))


def _write(path, table):
    with open(path, "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(table)


def test_review_round_trip(tmp_path):
    preds = {r["id"]: reference(r) for r in TEST_ROWS}
    victim = stratified_sample(TEST_ROWS, 30, seed=0)[0]["id"]
    preds[victim] = "<script>alert(1)</script>\nrouter ospf"
    out = export_review(TEST_ROWS, preds, tmp_path, n=30, seed=0, domain=NETOPS)
    page = Path(out["html"]).read_text()
    assert "&lt;script&gt;" in page and "<script>" not in page

    table = _read(out["csv"])
    head = table[0]
    assert head == ["id", "category", "prompt", "model_answer", "reference", "auto_scores",
                    "score_1_to_5", "correct_yes_no", "comment",
                    "dialect", "topic"]  # the netops pack's own columns come last
    assert "<title>netops review" in page
    col = {c: i for i, c in enumerate(head)}
    assert all(isinstance(json.loads(row[col["auto_scores"]]), dict) for row in table[1:])
    # Fill: config rows 4 and correct, troubleshoot 2 and wrong, the rest left blank,
    # one row with only a comment (not reviewed).
    expected = defaultdict(list)
    for row in table[1:]:
        cat = row[col["category"]]
        if cat == "config":
            row[col["score_1_to_5"]], row[col["correct_yes_no"]] = "4", "yes"
            expected[cat].append((4, True))
        elif cat == "troubleshoot":
            row[col["score_1_to_5"]], row[col["correct_yes_no"]] = "2", "No"
            expected[cat].append((2, False))
        elif cat == "explain":
            row[col["comment"]] = "skipped"
    _write(out["csv"], table)
    got = import_review(out["csv"])
    assert set(got["categories"]) == {"config", "troubleshoot"}
    assert got["categories"]["config"] == {"n_reviewed": len(expected["config"]),
                                           "mean_score": 4.0, "pct_correct": 100.0}
    assert got["categories"]["troubleshoot"]["pct_correct"] == 0.0
    n = len(expected["config"]) + len(expected["troubleshoot"])
    assert got["overall"]["n_reviewed"] == n


def test_review_bad_value_names_file_and_line(tmp_path):
    out = export_review(TEST_ROWS, [reference(r) for r in TEST_ROWS], tmp_path,
                        n=12, domain=NETOPS)
    table = _read(out["csv"])
    table[5][6] = "6"  # score_1_to_5 out of range
    _write(out["csv"], table)
    # Records hold multi-line text, so find the physical line where record 5 starts.
    text = Path(out["csv"]).read_text(encoding="utf-8")
    line = text[:text.index("\n" + table[5][0] + ",") + 1].count("\n") + 1
    with pytest.raises(ValueError, match=rf"review\.csv:{line}: score_1_to_5 must be"):
        import_review(out["csv"])
    table[5][6], table[5][7] = "3", "maybe"
    _write(out["csv"], table)
    with pytest.raises(ValueError, match=rf"review\.csv:{line}: correct_yes_no"):
        import_review(out["csv"])


@pytest.mark.skipif(not have_vtysh(), reason="needs FRR's vtysh (Debian package frr)")
def test_syntax_failures_are_reported_by_class():
    row = next(r for r in ROWS if r["id"] == "config-5")          # IOS OSPF, process 100
    frr_style = reference(row).replace("router ospf 100", "router ospf")
    res = score([row], {row["id"]: frr_style})
    assert res["items"][0]["syntax_classes"] == ["wrong dialect"]
    assert res["syntax_errors_by_class"] == {"config": {"wrong dialect": 1}}
    assert "syntax failures in config by class: wrong dialect 1" in format_table(res)
