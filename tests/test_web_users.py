"""Users who sign in to the web pages: the users CLI, signing in and out, server-side sessions,
the secret key, CSRF refusal, failed sign-ins and locks, idle timeout, disabling."""

from __future__ import annotations

import concurrent.futures
import hashlib
import re
import stat
import subprocess
import sys

from nodeproc import ROOT
from web_support import PASSWORD, add_user, csrf_of, page_problems, sign_in

from node.audit import AuditLog
from node.database import connect
from node.errors import Unauthenticated
from node.users import LOCK_MINUTES, MAX_FAILURES, UserRegistry
from node.web_sessions import IDLE_SECONDS, SECRET_NAME


def users_cli(data_dir, *args, password: str | None = None):
    command = [sys.executable, "-m", "node.users_cli", *map(str, args), "--data-dir", str(data_dir)]
    return subprocess.run(command, capture_output=True, text=True, cwd=ROOT,
                          input=None if password is None else password + "\n")


def audit_actions(runtime, action=None) -> list[dict]:
    return AuditLog(runtime.db()).entries(limit=10_000, action=action)


def test_users_cli_creates_lists_and_disables_with_hashed_passwords(node_dir, app):
    made = users_cli(node_dir, "create", "alice", "--role", "publish", "--password-stdin", password=PASSWORD)
    assert made.returncode == 0, made.stderr
    assert "created user alice with role publish" in made.stdout
    again = users_cli(node_dir, "create", "ALICE", "--role", "read", "--password-stdin", password=PASSWORD)
    assert again.returncode == 1 and "already exists" in again.stderr
    weak = users_cli(node_dir, "create", "bob", "--role", "read", "--password-stdin", password="short")
    assert weak.returncode == 1 and "password: use at least 10 characters" in weak.stderr
    wrong_role = users_cli(node_dir, "create", "bob", "--role", "owner", "--password-stdin", password=PASSWORD)
    assert wrong_role.returncode == 2 and "'owner' is not one of" in wrong_role.stderr

    asked = users_cli(node_dir, "create", "carol", "--role", "admin",
                      password=f"{PASSWORD}\nnot the same one\n{PASSWORD}\n{PASSWORD}")
    assert asked.returncode == 0 and "The two entered values do not match." in asked.stdout + asked.stderr
    assert "created user carol with role admin" in asked.stdout

    listed = users_cli(node_dir, "list")
    assert listed.returncode == 0 and "alice" in listed.stdout and "publish" in listed.stdout
    assert "bob" not in listed.stdout

    runtime = app.extensions["cordon"]
    stored = runtime.db().execute("SELECT password_hash FROM users WHERE name = 'alice'").fetchone()[0]
    assert stored.startswith("scrypt$") and PASSWORD not in stored

    disabled = users_cli(node_dir, "disable", "alice")
    assert disabled.returncode == 0 and "disabled user alice" in disabled.stdout
    assert "disabled" in users_cli(node_dir, "list").stdout
    created = audit_actions(runtime, "user.create")
    assert created[0]["target"] == "user:alice" and created[0]["actor"].startswith("cli:")
    assert audit_actions(runtime, "user.disable")[0]["target"] == "user:alice"

    reset = users_cli(node_dir, "password", "alice", "--password-stdin", password=PASSWORD + "-2")
    assert reset.returncode == 0 and "alice is still disabled; to let them sign in: cordon users enable alice" in reset.stdout
    enabled = users_cli(node_dir, "enable", "alice")
    assert enabled.returncode == 0 and "enabled user alice" in enabled.stdout, enabled.stderr
    assert re.search(r"^alice +publish +active ", users_cli(node_dir, "list").stdout, re.M)
    assert audit_actions(runtime, "user.enable")[0]["target"] == "user:alice"
    again = users_cli(node_dir, "enable", "alice")
    assert again.returncode == 1 and "is not disabled" in again.stderr
    nobody = users_cli(node_dir, "enable", "nobody")
    assert nobody.returncode == 1 and "no user 'nobody'" in nobody.stderr
    # Last: opening and closing the database file in this process drops the SQLite locks of its connections.
    assert PASSWORD.encode() not in (node_dir / "cordon.db").read_bytes()


def test_sign_in_gives_a_server_side_session_in_a_safe_cookie(app, client, node_dir):
    add_user(app.extensions["cordon"], "alice", "publish")
    login = client.get("/ui/login")
    assert login.status_code == 200 and not page_problems(login.get_data(as_text=True))
    before = client.get_cookie("cordon_mt_session")
    assert before is not None  # the sign-in form's own session, for its CSRF token

    response = sign_in(client, "alice")
    assert response.status_code == 302 and response.location == "/ui/"
    header = next(h for h in response.headers.getlist("Set-Cookie") if h.startswith("cordon_mt_session="))
    assert "HttpOnly" in header and "SameSite=Lax" in header and "Path=/" in header
    cookie = client.get_cookie("cordon_mt_session").value
    assert cookie != before.value, "the session id must change at sign-in"
    assert "alice" not in cookie and "publish" not in cookie

    secret = node_dir / SECRET_NAME
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600 and len(secret.read_text().strip()) == 64
    rows = app.extensions["cordon"].db().execute("SELECT sid_hash, user_name, data FROM web_sessions").fetchall()
    mine = [r for r in rows if r[1] == "alice"]
    assert len(mine) == 1 and mine[0][0] not in cookie and '"role":"publish"' in mine[0][2]

    home = client.get("/ui/")
    assert home.status_code == 200 and "Signed in as alice (publish)" in home.get_data(as_text=True)
    assert home.headers["Cache-Control"] == "no-store" and "frame-ancestors 'none'" in home.headers[
        "Content-Security-Policy"]
    assert [e["actor"] for e in audit_actions(app.extensions["cordon"], "user.login")] == ["user:alice"]


def test_a_session_cookie_from_another_key_or_forged_is_not_a_session(app, client):
    add_user(app.extensions["cordon"], "alice", "admin")
    assert sign_in(client, "alice").status_code == 302
    real = client.get_cookie("cordon_mt_session").value
    sid, _, signature = real.rpartition(".")
    client.set_cookie("cordon_mt_session", sid + "." + ("A" if signature[0] != "A" else "B") + signature[1:])
    assert client.get("/ui/denials").status_code == 302
    client.set_cookie("cordon_mt_session", real)
    assert client.get("/ui/denials").status_code == 200


def test_wrong_passwords_are_refused_counted_audited_and_lock_the_account(app, client):
    runtime = app.extensions["cordon"]
    add_user(runtime, "alice", "read")
    wrong = sign_in(client, "alice", "not the password")
    page = wrong.get_data(as_text=True)
    assert wrong.status_code == 401 and "Unknown user name or wrong password." in page
    assert 'value="alice"' in page and "not the password" not in page
    assert UserRegistry(runtime.db()).get("alice").failed_logins == 1

    unknown = sign_in(client, "mallory", "whatever-it-is")
    assert unknown.status_code == 401 and "Unknown user name or wrong password." in unknown.get_data(as_text=True)
    failures = audit_actions(runtime, "user.login_failed")
    assert failures[0]["actor"] == "user:alice" and failures[0]["detail"] == {"failures": 1, "reason": "wrong_password"}
    assert failures[1]["actor"] == "web" and failures[1]["detail"]["reason"] == "unknown_name"
    assert "mallory" not in str(failures[1]), "an unknown name (maybe a mistyped password) is kept only as a digest"
    digest = failures[1]["detail"]["name_digest"]
    assert len(digest) == 16 and digest != hashlib.sha256(b"mallory").hexdigest()[:16]  # keyed, not a plain hash

    for _ in range(MAX_FAILURES - 1):
        assert sign_in(client, "alice", "still wrong!!").status_code == 401
    locked = sign_in(client, "alice")  # the right password, but the account is locked now
    assert locked.status_code == 401
    # Said as for a wrong password or an unknown name (a lock would tell that the name exists); the page
    # says when an account locks.
    assert "Unknown user name or wrong password." in locked.get_data(as_text=True)
    assert f"locked for {LOCK_MINUTES} minutes" in locked.get_data(as_text=True)
    assert audit_actions(runtime, "user.locked")[0]["actor"] == "user:alice"
    assert audit_actions(runtime, "user.login_failed")[-1]["detail"] == {"reason": "locked"}
    assert client.get("/ui/denials").status_code == 302


def test_guesses_sent_at_once_get_no_more_passwords_checked_than_the_lock_allows(app):
    """Forty sign-ins for one account at the same time, each on its own connection, the right password
    among the last: at most MAX_FAILURES passwords are checked, the rest are refused as locked, and the
    right one does not get in."""
    runtime = app.extensions["cordon"]
    add_user(runtime, "bob", "read")
    guesses = [f"guess number {index:02d}" for index in range(39)] + [PASSWORD]

    def attempt(password):
        db = connect(runtime.db_path)
        try:
            return UserRegistry(db).authenticate("bob", password).name
        except Unauthenticated:
            return None
        finally:
            db.conn.close()

    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(attempt, guesses))
    failed = audit_actions(runtime, "user.login_failed")
    checked = [entry for entry in failed if entry["detail"].get("reason") == "wrong_password"]
    assert 1 <= len(checked) <= MAX_FAILURES
    assert len(checked) + sum(1 for entry in failed if entry["detail"]["reason"] == "locked") == len(guesses) - (
        1 if results[-1] == "bob" else 0)
    assert results[:-1] == [None] * 39
    if len(checked) == MAX_FAILURES:  # the lock came before the right password: it stays out
        assert results[-1] is None and UserRegistry(runtime.db()).get("bob").locked_until


def test_empty_sign_in_fields_are_named_next_to_the_fields(app, client):
    page = client.get("/ui/login").get_data(as_text=True)
    refused = client.post("/ui/login", data={"name": "alice", "password": "", "csrf_token": csrf_of(page)})
    html = refused.get_data(as_text=True)
    assert refused.status_code == 400
    assert 'id="password-error"' in html and 'id="name-error"' not in html and 'value="alice"' in html


def test_forms_without_the_session_csrf_token_are_refused(app, client):
    runtime = app.extensions["cordon"]
    add_user(runtime, "alice", "publish")
    no_token = client.post("/ui/login", data={"name": "alice", "password": PASSWORD})
    assert no_token.status_code == 400 and "not sent from this site" in no_token.get_data(as_text=True)
    assert client.get("/ui/denials").status_code == 302, "no session was opened"

    assert sign_in(client, "alice").status_code == 302
    token = csrf_of(client.get("/ui/denials/new").get_data(as_text=True))
    for data in ({"ref": "MT/DEN/X/1"}, {"ref": "MT/DEN/X/1", "csrf_token": "forged" + token},
                 {"ref": "MT/DEN/X/1", "csrf_token": ""}):
        refused = client.post("/ui/denials/new", data=data)
        assert refused.status_code == 400, data
        assert "The form could not be accepted" in refused.get_data(as_text=True)
        assert client.post("/ui/logout", data={k: v for k, v in data.items() if k != "ref"}).status_code == 400
    assert client.get("/ui/denials").status_code == 200, "still signed in: the sign-out form was refused too"
    assert not audit_actions(runtime, "denial.create")

    other = app.test_client()
    assert sign_in(other, "alice").status_code == 302
    stolen = other.post("/ui/logout", data={"csrf_token": token})
    assert stolen.status_code == 400, "a token is good for its own session only"
    assert client.post("/ui/logout", data={"csrf_token": token}).status_code == 302
    assert client.get("/ui/denials").status_code == 302 and other.get("/ui/denials").status_code == 200


def test_sign_out_ends_the_session(app, client):
    runtime = app.extensions["cordon"]
    add_user(runtime, "alice", "read")
    assert sign_in(client, "alice").status_code == 302
    page = client.get("/ui/").get_data(as_text=True)
    out = client.post("/ui/logout", data={"csrf_token": csrf_of(page)})
    assert out.status_code == 302 and out.location == "/ui/login"
    assert "You have signed out." in client.get("/ui/login").get_data(as_text=True)
    assert client.get("/ui/").status_code == 302
    assert [e["actor"] for e in audit_actions(runtime, "user.logout")] == ["user:alice"]
    users = runtime.db().execute("SELECT count(*) FROM web_sessions WHERE user_name = 'alice'").fetchone()[0]
    assert users == 0


def test_an_idle_session_ends(app, client):
    runtime = app.extensions["cordon"]
    add_user(runtime, "alice", "read")
    assert sign_in(client, "alice").status_code == 302
    assert client.get("/ui/denials").status_code == 200
    # As if the user had left the browser alone for longer than the idle timeout.
    runtime.db().execute("UPDATE web_sessions SET last_seen = last_seen - ? WHERE user_name = 'alice'",
                         [IDLE_SECONDS + 1])
    gone = client.get("/ui/denials")
    assert gone.status_code == 302 and gone.location.startswith("/ui/login")
    assert runtime.db().execute("SELECT count(*) FROM web_sessions WHERE user_name = 'alice'").fetchone()[0] == 0


def test_disabling_a_user_ends_their_sessions_at_once(app, client):
    runtime = app.extensions["cordon"]
    add_user(runtime, "alice", "publish")
    assert sign_in(client, "alice").status_code == 302
    assert client.get("/ui/denials").status_code == 200
    UserRegistry(runtime.db()).disable("alice", actor="test")
    assert client.get("/ui/denials").status_code == 302
    refused = sign_in(client, "alice")
    assert refused.status_code == 401
    assert audit_actions(runtime, "user.login_failed")[-1]["detail"] == {"reason": "disabled"}


def test_after_sign_in_only_local_paths_are_followed(app, client):
    add_user(app.extensions["cordon"], "alice", "read")
    asked = client.get("/ui/denials?status=active")
    assert asked.status_code == 302 and asked.location == "/ui/login?next=/ui/denials?status%3Dactive"
    assert sign_in(client, "alice", next_path="/ui/denials?status=active").location == "/ui/denials?status=active"
    client.post("/ui/logout", data={"csrf_token": csrf_of(client.get("/ui/").get_data(as_text=True))})
    for target in ("//evil.example/ui", "https://evil.example/", "/\\evil.example"):
        assert sign_in(client, "alice", next_path=target).location == "/ui/", target
        client.post("/ui/logout", data={"csrf_token": csrf_of(client.get("/ui/").get_data(as_text=True))})
