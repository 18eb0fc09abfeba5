"""``cordon init``: files readable by the owner only, refusal to run twice, CORDON_DATA_DIR, clear errors."""

from __future__ import annotations

import hashlib
import json
import stat

import pytest

from nodeproc import cordon

INIT = ("init", "--node-id", "MT", "--name", "Malta", "--url", "http://127.0.0.1:8701")


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def snapshot(directory):
    return {str(p.relative_to(directory)): (hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir",
                                            p.stat().st_mtime_ns, mode(p))
            for p in sorted(directory.rglob("*"))}


def test_init_creates_private_files_and_keys(tmp_path):
    data_dir = tmp_path / "node" / "mt"
    result = cordon(*INIT, data_dir=data_dir)
    assert "Initialised node MT (Malta)" in result.stdout and "fingerprint" in result.stdout
    assert mode(data_dir) == 0o700
    for name in ("cordon.toml", "cordon.db", "identity.json"):
        assert (data_dir / name).is_file() and mode(data_dir / name) == 0o600, name
    keys = list((data_dir / "keys").iterdir())
    assert mode(data_dir / "keys") == 0o700 and len(keys) == 2
    assert all(mode(k) == 0o600 for k in keys)
    for path in data_dir.rglob("*"):
        assert mode(path) & 0o077 == 0, f"{path} is readable by others"
    settings = (data_dir / "cordon.toml").read_text()
    assert 'node_id = "MT"' in settings and 'base_url = "http://127.0.0.1:8701"' in settings
    identity = json.loads((data_dir / "identity.json").read_text())
    assert "Ed25519" in json.dumps(identity) or "ed25519" in json.dumps(identity).lower()
    assert "X25519" in json.dumps(identity) or "x25519" in json.dumps(identity).lower()


def test_init_twice_refuses_and_changes_nothing(tmp_path):
    data_dir = tmp_path / "mt"
    cordon(*INIT, data_dir=data_dir)
    before = snapshot(data_dir)
    again = cordon("init", "--node-id", "DE", "--name", "Germany", "--url", "http://127.0.0.1:8702",
                   data_dir=data_dir, check=False)
    assert again.returncode == 1
    assert "already holds a Cordon node" in again.stderr and "nothing was changed" in again.stderr
    assert snapshot(data_dir) == before


def test_init_in_an_existing_empty_directory_and_a_foreign_file_is_kept(tmp_path):
    data_dir = tmp_path / "mt"
    data_dir.mkdir(mode=0o755)
    (data_dir / "README.txt").write_text("operator notes")
    cordon(*INIT, data_dir=data_dir)
    assert mode(data_dir) == 0o700 and (data_dir / "cordon.db").exists()
    assert (data_dir / "README.txt").read_text() == "operator notes"


def test_cordon_data_dir_is_honoured(tmp_path):
    data_dir = tmp_path / "from-env"
    result = cordon(*INIT, env={"CORDON_DATA_DIR": str(data_dir)})
    assert result.returncode == 0
    assert (data_dir / "cordon.toml").exists()
    assert not (tmp_path / "cordon-data").exists()
    listed = cordon("clients", "list", env={"CORDON_DATA_DIR": str(data_dir)})
    assert "no clients" in listed.stdout
    verify = cordon("audit", "verify", env={"CORDON_DATA_DIR": str(data_dir)})
    assert "audit log intact" in verify.stdout


def test_bad_node_id_and_url_are_clear_errors_and_create_nothing(tmp_path):
    cases = [
        (("--node-id", "malta!", "--url", "http://127.0.0.1:8701"), "--node-id"),  # named as typed
        (("--node-id", "M", "--url", "http://127.0.0.1:8701"), "--node-id"),
        (("--node-id", "XX", "--url", "http://127.0.0.1:8701"), "--node-id"),  # no state's code: no policy names it
        (("--node-id", "1MT", "--url", "http://127.0.0.1:8701"), "--node-id"),
        (("--node-id", "MT", "--url", "ftp://example.org"), "--url"),
        (("--node-id", "MT", "--url", "not a url"), "--url"),
    ]
    for args, field in cases:
        data_dir = tmp_path / f"case{field}-{len(list(tmp_path.iterdir()))}"
        result = cordon("init", "--name", "Malta", *args, data_dir=data_dir, check=False)
        assert result.returncode == 1, args
        assert f"{field}:" in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.stderr
        assert not data_dir.exists(), args


def test_commands_on_a_missing_data_directory_say_so(tmp_path):
    result = cordon("clients", "list", data_dir=tmp_path / "nowhere", check=False)
    assert result.returncode == 1
    assert "not an initialised Cordon data directory" in result.stderr and "cordon init" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_bad_setting_in_cordon_toml_is_named_when_a_command_reads_it(tmp_path):
    data_dir = tmp_path / "mt"
    cordon("init", "--node-id", "MT", "--name", "Malta", "--url", "http://127.0.0.1:8701", data_dir=data_dir)
    toml = data_dir / "cordon.toml"
    text = toml.read_text()
    assert "sync_batch_size = 500" in text
    toml.write_text(text.replace("sync_batch_size = 500", "sync_batch_size = 6000"))
    result = cordon("peers", "list", data_dir=data_dir, check=False)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "sync_batch_size:" in result.stderr and "1 to 5000" in result.stderr


@pytest.mark.parametrize("line, named", [
    ("push_interval_seconds = -5", "push_interval_seconds: must be a whole number from 1 to 3600"),
    ('peer_timeout_seconds = "5s"', "peer_timeout_seconds: must be a number from 0.5 to 300"),
    ("peer_timeout_seconds = nan", "peer_timeout_seconds: must be a number"),
    ('log_level = "LOUD"', "log_level: must be one of DEBUG, INFO, WARNING, ERROR"),
    ("sync_interval_seconds = 0", "sync_interval_seconds: must be a whole number from 5"),
    ("request_window_seconds = true", "request_window_seconds: must be a whole number"),
    ('listen = "8701"', "listen: must be host:port"),
    ('listen = "[::1]"', "listen: must be host:port"),
    ("review_years = 2.5", "review_years: must be a whole number"),
])
def test_every_setting_is_checked_before_a_command_uses_it(tmp_path, line, named):
    """A value a node could not run with (a negative interval spins the push worker, a timeout written as
    text fails the first exchange, an unknown log level stops the server with a traceback) is named at
    once, as the other settings are, and the command does nothing."""
    data_dir = tmp_path / "mt"
    cordon("init", "--node-id", "MT", "--name", "Malta", "--url", "http://127.0.0.1:8701", data_dir=data_dir)
    toml = data_dir / "cordon.toml"
    key = line.split(" = ")[0]
    toml.write_text("\n".join(line if entry.startswith(key + " ") else entry
                              for entry in toml.read_text().splitlines()) + "\n")
    assert line in toml.read_text()
    for command in (("peers", "list"), ("sync",)):
        result = cordon(*command, data_dir=data_dir, check=False)
        assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
        assert named in result.stderr, result.stderr


def test_a_node_set_up_before_the_member_id_rule_still_runs(tmp_path):
    """cordon init refuses a member id no sharing policy can name (UK, a typo for GB); a node whose
    settings already hold one (set up before that rule) keeps working, and an IPv6 listen address is taken."""
    data_dir = tmp_path / "gb"
    refused = cordon("init", "--node-id", "UK", "--name", "Britain", "--url", "http://127.0.0.1:8701",
                     data_dir=data_dir, check=False)
    assert refused.returncode == 1 and "did you mean 'GB'" in refused.stderr and not data_dir.exists()
    cordon("init", "--node-id", "GB", "--name", "Britain", "--url", "http://127.0.0.1:8701", data_dir=data_dir)
    toml = data_dir / "cordon.toml"
    toml.write_text(toml.read_text().replace('node_id = "GB"', 'node_id = "UK"').replace('listen = ""',
                                                                                        'listen = "[::1]:8701"'))
    listed = cordon("peers", "list", data_dir=data_dir)
    assert "no peers" in listed.stdout
    from node.config import read_settings
    assert read_settings(data_dir).listen_host == "::1"
