"""``cordon customs`` commands on a real data directory (click's runner, no server)."""

from __future__ import annotations

import json

from click.testing import CliRunner
from customs_support import NUMBER, customs_licence, mrn, today

from node.customs_cli import customs
from node.licences import LicenceRegistry
from node.runtime import NodeRuntime
from node.schema import migrate


def run(node_dir, *args):
    return CliRunner().invoke(customs, [*map(str, args), "--data-dir", str(node_dir)])


def test_check_reverse_history_and_mismatches(node_dir, tmp_path):
    runtime = NodeRuntime(node_dir)
    migrate(runtime.db())
    LicenceRegistry(runtime.db(), "MT").create(customs_licence(), actor="test")
    runtime.close()

    accepted = run(node_dir, "check", NUMBER, "--declaration-ref", mrn(1), "--line", 1, "--cn-code", "84581110",
                   "--quantity", "3", "--unit", "pcs", "--value", "90000", "--currency", "EUR",
                   "--destination", "TN", "--office", "MT000101")
    assert accepted.exit_code == 0, accepted.output
    assert "ACCEPTED" in accepted.output and "10 -> 7 pcs" in accepted.output
    # The same command again (a retry): the stored answer, written off once.
    repeated = run(node_dir, "check", NUMBER, "--declaration-ref", mrn(1), "--line", 1, "--cn-code", "84581110",
                   "--quantity", "3", "--unit", "pcs", "--value", "90000", "--currency", "EUR",
                   "--destination", "TN", "--office", "MT000101")
    assert repeated.exit_code == 0, repeated.output
    assert "(repeat: the stored answer)" in repeated.output and "10 -> 7 pcs" in repeated.output

    parties = tmp_path / "parties.json"
    parties.write_text(json.dumps([{"role": "consignee", "names": [{"text": "Sfax Industrial Components SARL"}],
                                    "country": "TN"}]))
    mismatch = run(node_dir, "check", NUMBER, "--declaration-ref", mrn(2), "--line", 1, "--cn-code", "84581110",
                   "--quantity", "1", "--unit", "kg", "--value", "1", "--currency", "EUR", "--destination", "TN",
                   "--office", "MT000202", "--parties", parties, "--json")
    assert mismatch.exit_code == 2, mismatch.output
    answer = json.loads(mismatch.output)
    assert answer["result"] == "mismatch" and answer["reasons"][0]["field"] == "unit"
    assert answer["parties_screened"] is True

    bad = run(node_dir, "check", NUMBER, "--declaration-ref", "12345", "--line", 1, "--cn-code", "84581110",
              "--quantity", "0", "--unit", "pcs", "--destination", "TN", "--office", "office 1")
    assert bad.exit_code == 1, bad.output
    # Named as the options typed, not as the API's fields.
    assert "\n  --declaration-ref: " in bad.output and "\n  --quantity: " in bad.output
    assert "\n  --office: " in bad.output and "customs_office" not in bad.output

    reversed_ = run(node_dir, "reverse", NUMBER, mrn(1), "--reason", "goods returned")
    assert reversed_.exit_code == 0 and "restored 3" in reversed_.output
    again = run(node_dir, "reverse", NUMBER, mrn(1), "--reason", "goods returned")
    assert again.exit_code == 1 and "already reversed" in again.output

    history = run(node_dir, "history", NUMBER)
    assert history.exit_code == 0
    assert "line 1: 0 of 10 pcs written off, 10 left; 0 accepted, 1 reversed, 1 refused" in history.output

    report = run(node_dir, "mismatches", "--from", today().isoformat(), "--json")
    assert report.exit_code == 0, report.output
    offices = {o["customs_office"]: o for o in json.loads(report.output)["offices"]}
    assert offices["MT000202"]["by_field"] == {"unit": 1} and offices["MT000101"]["mismatches"] == 0
    text = run(node_dir, "mismatches")
    assert "MT000202" in text.output and "unit 1" in text.output
