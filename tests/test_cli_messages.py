"""What the CLI tells a person about unknown peers and conflicting options (real data directory, click's runner)."""

from __future__ import annotations

from click.testing import CliRunner
from conftest import sample_denial

from node.cli import main
from node.denials import DenialRegistry
from node.runtime import NodeRuntime


def run(node_dir, *args):
    return CliRunner().invoke(main, [*map(str, args), "--data-dir", str(node_dir)])


def test_explain_and_disclosures_say_when_a_peer_is_unknown(node_dir):
    runtime = NodeRuntime(node_dir)
    try:
        DenialRegistry(runtime.db(), "MT").create(sample_denial("MT/DEN/2026/0900"), actor="test")
    finally:
        runtime.close()
    explained = run(node_dir, "policy", "explain", "--record", "MT/DEN/2026/0900", "--peer", "ZZ")
    assert explained.exit_code == 0, explained.output
    assert "note: ZZ is not a peer of this node" in explained.output
    assert "decision: withhold" in explained.output  # a new node shares nothing
    ledger = run(node_dir, "disclosures", "--peer", "zz")
    assert ledger.exit_code == 0, ledger.output
    assert ledger.output.strip() == "nothing was disclosed to ZZ (ZZ is not a peer of this node)"
    missing = run(node_dir, "policy", "explain", "--record", "MT/DEN/2026/9999", "--peer", "ZZ")
    assert missing.exit_code != 0 and "no denial of this node" in missing.output


def test_export_refuses_an_origin_together_with_all_origins(node_dir):
    both = run(node_dir, "denials", "export", "--origin", "DE", "--all-origins")
    assert both.exit_code == 1 and "give --origin or --all-origins, not both" in both.output
