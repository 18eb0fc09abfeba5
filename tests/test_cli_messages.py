"""What the CLI tells a person about unknown peers and conflicting options (real data directory, click's runner)."""

from __future__ import annotations

from click.testing import CliRunner
from conftest import sample_denial, sample_licence

from node.cli import main
from node.denials import DenialRegistry
from node.licences import LicenceRegistry
from node.runtime import NodeRuntime


def run(node_dir, *args):
    return CliRunner().invoke(main, [*map(str, args), "--data-dir", str(node_dir)])


def create(node_dir, registry, doc) -> None:
    """Store one record of this node (MT) through its registry, as the API would."""
    runtime = NodeRuntime(node_dir)
    try:
        registry(runtime.db(), "MT").create(doc, actor="test")
    finally:
        runtime.close()


def test_explain_and_disclosures_say_when_a_peer_is_unknown(node_dir):
    create(node_dir, DenialRegistry, sample_denial("MT/DEN/2026/0900"))
    explained = run(node_dir, "policy", "explain", "--record", "MT/DEN/2026/0900", "--peer", "ZZ")
    assert explained.exit_code == 0, explained.output
    assert "note: ZZ is not a peer of this node" in explained.output
    assert "decision: withhold" in explained.output  # a new node shares nothing
    ledger = run(node_dir, "disclosures", "--peer", "zz")
    assert ledger.exit_code == 1, ledger.output
    assert ledger.output.strip() == "error: ZZ is not a peer of this node, and nothing was ever disclosed to it"
    missing = run(node_dir, "policy", "explain", "--record", "MT/DEN/2026/9999", "--peer", "ZZ")
    assert missing.exit_code != 0 and "no denial or licence of this node" in missing.output


def test_export_refuses_an_origin_together_with_all_origins(node_dir):
    both = run(node_dir, "denials", "export", "--origin", "DE", "--all-origins")
    assert both.exit_code == 1 and "give --origin or --all-origins, not both" in both.output


def test_a_bad_now_and_a_poll_on_a_member_name_the_option(node_dir):
    bad = run(node_dir, "jobs", "run", "expire-denials", "--now", "yesterday")
    assert bad.exit_code == 2 and "Invalid value for '--now': 'yesterday': use an ISO-8601 date" in bad.output, \
        bad.output
    poll = run(node_dir, "health", "--poll")
    assert poll.exit_code == 1 and "--poll: this node is a member, not a coordinator" in poll.output, poll.output


def test_a_consultation_on_a_reference_this_node_does_not_hold_is_named(node_dir, tmp_path):
    transaction = tmp_path / "tx.json"
    transaction.write_text('{"destination_country": "AE"}', encoding="utf-8")
    refused = run(node_dir, "consult", "open", "--denial", "DE/DEN/NOPE", "--transaction", transaction)
    assert refused.exit_code == 1
    assert "--denial DE/DEN/NOPE: this node holds no denial with that reference, and it is not a uid" in refused.output


def test_errors_of_subcommands_name_the_options_typed(node_dir):
    scope = run(node_dir, "clients", "create", "ops", "--scope", "bogus")
    assert scope.exit_code == 1 and "\n  --scope: unknown scope bogus" in scope.output, scope.output


def test_a_consultation_from_a_licence_this_node_does_not_hold_is_named(node_dir):
    refused = run(node_dir, "consult", "open", "--licence", "MT/LIC/NOPE")
    assert refused.exit_code == 1
    assert "--licence MT/LIC/NOPE: this node holds no licence of that number" in refused.output, refused.output


def test_policy_check_of_a_bad_file_counts_its_problems_without_speaking_of_a_node(node_dir, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\ncolour: red\n", encoding="utf-8")
    checked = CliRunner().invoke(main, ["policy", "check", str(bad)])
    assert checked.exit_code == 1 and f"{bad}: 1 problem(s)" in checked.output, checked.output
    assert "policy in force" not in checked.output
    applied = run(node_dir, "policy", "apply", bad)
    assert applied.exit_code == 1 and "1 problem(s); the policy in force is unchanged" in applied.output


def test_policy_explain_shows_what_a_peer_would_learn_of_a_licence(node_dir):
    create(node_dir, LicenceRegistry, sample_licence("MT/LIC/2026/0042"))
    explained = run(node_dir, "policy", "explain", "--record", "MT/LIC/2026/0042", "--peer", "DE")
    assert explained.exit_code == 0, explained.output
    assert "decision: withhold" in explained.output  # a new node verifies no licence for anyone
    missing = run(node_dir, "policy", "explain", "--record", "MT/LIC/NOPE", "--peer", "DE")
    assert missing.exit_code == 1 and "no denial or licence of this node" in missing.output


def test_disclosures_take_a_limit_from_one(node_dir):
    """--limit 0 said nothing was ever disclosed, and a negative limit listed everything."""
    for limit in ("0", "-3"):
        result = run(node_dir, "disclosures", "--peer", "DE", "--limit", limit)
        assert result.exit_code == 2 and "--limit" in result.output and "1<=x<=10000" in result.output
