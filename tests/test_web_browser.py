"""The web pages in a real browser (Debian's Chromium, headless, driven by Playwright) against a
real federation: three member nodes (MT, DE, TN) and a coordinator, each a ``cordon serve`` process.

An officer signs in at MT and publishes a denial through the form; an analyst at DE screens for
the party and sees the explained hit, and the live answers of MT and TN; DE consults MT about the
denial and MT's officer answers in the thread; the coordinator watches the members and sees TN go
down when it stops. Every page is checked for the accessibility basics (lang, title, one h1 and
headings in order, a label for every field; text contrast on the node's own pages) and kept as a
screenshot under ``test-artifacts/web/``.

The browser is never downloaded: the test uses ``/usr/bin/chromium`` (installed by the test
set-up, ``.ci/browser.py``) and is skipped when it is absent.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import requests
from customs_support import check_url, customs_licence, declaration
from federation_support import Federation, identity_file, peer, update_settings, wait_for
from nodeproc import ROOT, NodeProcess

from node.screening import DEFAULT_THRESHOLD

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts" / "web"
PASSWORD = "a long browser test password"
COORDINATOR = "OSCE-CPC"
LAUNCH_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run"]

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(),
                                reason="Debian's Chromium is not installed at /usr/bin/chromium "
                                       "(run .ci/browser.py as root to install it)")

BASICS_JS = """() => {
  const out = [];
  if (!document.documentElement.lang) out.push('no lang attribute');
  if (!document.title.trim()) out.push('no title');
  const h1 = document.querySelectorAll('h1').length;
  if (h1 !== 1) out.push(h1 + ' h1 elements');
  const levels = [...document.querySelectorAll('h1,h2,h3,h4,h5,h6')].map(h => +h.tagName[1]);
  for (let i = 1; i < levels.length; i++)
    if (levels[i] > levels[i - 1] + 1) out.push('heading jumps from h' + levels[i - 1] + ' to h' + levels[i]);
  for (const f of document.querySelectorAll('input, select, textarea')) {
    if (['hidden', 'submit', 'button', 'reset', 'image'].includes(f.type)) continue;
    const labelled = [...(f.labels || [])].some(l => l.textContent.trim())
      || f.getAttribute('aria-label') || f.getAttribute('aria-labelledby');
    if (!labelled) out.push(f.tagName.toLowerCase() + ' ' + (f.name || f.id) + ' has no label');
  }
  return out;
}"""

CONTRAST_JS = """() => {
  const parse = c => { const m = c.match(/rgba?\\(([^)]+)\\)/); if (!m) return null;
    const p = m[1].split(',').map(parseFloat); return {r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1}; };
  const lum = c => { const f = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(c.r) + 0.7152 * f(c.g) + 0.0722 * f(c.b); };
  const background = el => { for (; el; el = el.parentElement) { const c = parse(getComputedStyle(el).backgroundColor);
    if (c && c.a > 0.99) return c; } return {r: 255, g: 255, b: 255, a: 1}; };
  const out = [], seen = new Set();
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const text = walker.currentNode.textContent.trim(), el = walker.currentNode.parentElement;
    if (!text || seen.has(el)) continue;
    seen.add(el);
    const style = getComputedStyle(el), box = el.getBoundingClientRect();
    if (style.visibility === 'hidden' || box.width < 2 || box.height < 2 || box.right < 0) continue;
    const a = lum(parse(style.color)), b = lum(background(el));
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    const size = parseFloat(style.fontSize), bold = parseInt(style.fontWeight) >= 700;
    const need = (size >= 24 || (bold && size >= 18.66)) ? 3 : 4.5;
    if (ratio < need) out.push(el.tagName + ' "' + text.slice(0, 30) + '": ' + ratio.toFixed(2) + ' < ' + need);
  }
  return out;
}"""


def users_cli(node: NodeProcess, name: str, role: str) -> None:
    result = subprocess.run([sys.executable, "-m", "node.users_cli", "create", name, "--role", role,
                             "--password-stdin", "--data-dir", str(node.data_dir)],
                            input=PASSWORD + "\n", capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr


def settle(node: NodeProcess, timeout: float = 300.0) -> None:
    """Wait until the node has loaded its name data (its first screening), however slow the machine is."""
    session = node.session("read")
    deadline = time.monotonic() + timeout
    while True:
        try:
            response = session.post(node.url + "/api/v1/screen", json={"name": "Settling Trading Ltd"},
                                    timeout=timeout)
            assert response.status_code == 200, response.text
            return
        except requests.RequestException:
            if time.monotonic() > deadline:
                raise


@pytest.fixture(scope="module")
def fed(tmp_path_factory):
    root = tmp_path_factory.mktemp("web")
    federation = Federation(root, ("MT", "DE", "TN")).init().peer_all()
    coordinator = NodeProcess(root / "osce", COORDINATOR, "OSCE Conflict Prevention Centre", role="coordinator")
    federation.coordinator = coordinator
    try:
        update_settings(coordinator.data_dir, peer_timeout_seconds=30.0)
        coordinator_doc = identity_file(coordinator)
        for member in federation.ids:
            peer(federation[member], coordinator, coordinator_doc)
            peer(coordinator, federation[member])
        federation.start()
        coordinator.start()
        for node in (*federation.nodes.values(), coordinator):
            settle(node)
        users_cli(federation["MT"], "maria", "publish")
        users_cli(federation["MT"], "ada", "admin")
        users_cli(federation["DE"], "dieter", "read")
        users_cli(coordinator, "chris", "coordinator")
        yield federation
    finally:
        coordinator.stop()
        federation.close()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB")
    tab = context.new_page()
    tab.set_default_timeout(90_000)
    try:
        yield tab
    finally:
        context.close()


def check_and_keep(page, name: str, *, own_page: bool = True) -> None:
    """Accessibility basics of the page in the browser, then a full-page screenshot as a test artifact."""
    problems = page.evaluate(BASICS_JS)
    if own_page:
        problems += page.evaluate(CONTRAST_JS)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    assert not problems, (name, problems)


def sign_in(page, node: NodeProcess, name: str, shot: str | None = None) -> None:
    page.goto(node.url + "/ui/login")
    if not page.url.startswith(node.url + "/ui/login"):  # someone is signed in at this node already
        page.get_by_role("button", name="Sign out").click()
        assert page.get_by_role("status").inner_text().strip() == "You have signed out."
    if shot:
        check_and_keep(page, shot)
    page.get_by_label("User name").fill(name)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(node.url + "/ui/")
    assert page.locator("header").get_by_text(f"Signed in as {name}").is_visible()


def nav(page, name: str):
    return page.get_by_role("navigation", name="Main").get_by_role("link", name=name, exact=True)


def row(table, first_cell: str):
    """The body row of ``table`` whose first cell is exactly ``first_cell``."""
    return table.locator("tbody tr").filter(has=table.page.get_by_role("cell", name=first_cell, exact=True))


def test_publish_at_one_node_and_screen_for_the_party_at_another(fed, page):
    mt, de = fed["MT"], fed["DE"]
    ref = f"MT/DEN/UI/{uuid.uuid4().hex[:8]}"
    sign_in(page, mt, "maria", shot="01-login")
    page.keyboard.press("Tab")
    focus = page.evaluate("() => { const s = getComputedStyle(document.activeElement);"
                          " return [document.activeElement.textContent, s.outlineStyle, s.outlineWidth]; }")
    assert focus[0] == "Skip to main content" and focus[1] != "none" and focus[2] != "0px", focus
    check_and_keep(page, "02-home")

    nav(page, "Publish").click()
    page.get_by_label("National reference").fill(ref)
    page.get_by_label("Issuing authority").fill("Malta Trade Services, Export Control Unit")
    page.get_by_label("Denied on").fill("2026-03-02")
    page.get_by_role("checkbox", name="NSG").check()
    page.get_by_role("checkbox", name="wmd_risk").check()
    page.get_by_label("Control list entries").fill("NSG 2B201")
    page.get_by_label("Item description").fill("Five-axis machine tools with positioning accuracy below 6 µm")
    page.locator("#party-0-role").select_option("end_user")
    page.locator("#party-0-names").fill("ООО Зенитприбор\nZenitpribor LLC")
    page.locator("#party-0-country").fill("RU")
    check_and_keep(page, "03-publish-form")
    page.get_by_role("button", name="Publish the denial").click()

    # No destination: refused, the reason next to the field, everything typed still there.
    error = page.locator("#destination_country-error")
    assert error.inner_text().endswith("required")
    assert page.locator(".error-summary a[href='#destination_country']").is_visible()
    assert page.get_by_label("National reference").input_value() == ref
    assert page.locator("#party-0-names").input_value() == "ООО Зенитприбор\nZenitpribor LLC"
    assert page.get_by_role("checkbox", name="NSG").is_checked()
    check_and_keep(page, "04-publish-form-errors")

    page.get_by_label("Destination country").fill("RU")
    page.get_by_role("button", name="Publish the denial").click()
    page.wait_for_url(re.compile(re.escape(mt.url) + r"/ui/denials/[0-9a-f-]{36}$"))
    assert page.get_by_role("status").inner_text().strip() == f"Denial {ref} was published (version 1)."
    uid = page.url.rsplit("/", 1)[1]
    check_and_keep(page, "05-denial-detail")
    fed.wait_visible("DE", uid, timeout=120)

    sign_in(page, de, "dieter")
    nav(page, "Denials").click()
    assert page.get_by_role("link", name=ref).is_visible()
    check_and_keep(page, "06-denial-list-at-de")
    nav(page, "Screening").click()
    check_and_keep(page, "07-screening-form")

    def screened():
        page.get_by_label("Party names").fill("Zenitpribor Limited")
        page.locator("#country").fill("RU")
        page.get_by_label("Also ask every peer now").check()
        page.get_by_role("button", name="Screen").click()
        page.wait_for_selector("text=Peers asked live")
        return page.locator(".hit", has_text=ref).count() == 1

    wait_for(screened, timeout=120, what="the hit at DE", interval=1.0)
    hit = page.locator(".hit", has_text=ref)
    assert hit.locator("h3").inner_text() == f"Denial {ref} from MT"
    assert hit.locator(".matched-name").inner_text() in ("ООО Зенитприбор", "Zenitpribor LLC")
    score = re.search(r"(\d\.\d\d) against the threshold (\d\.\d\d)", hit.inner_text())
    assert score and float(score.group(1)) >= float(score.group(2)) == DEFAULT_THRESHOLD
    assert hit.get_by_role("table", name="Signals: why this is a hit").locator("tbody tr").count() >= 1
    live = page.get_by_role("table", name=re.compile("Answers from peers"))
    mt_row, tn_row = row(live, "MT"), row(live, "TN")
    assert "answered" in mt_row.inner_text() and ref in mt_row.inner_text()
    assert "answered" in tn_row.inner_text() and "no hit" in tn_row.inner_text()
    check_and_keep(page, "08-screening-hit-at-de")

    nav(page, "Peers").click()
    for member in ("MT", "TN", COORDINATOR):
        assert page.locator("td", has_text=member).count() >= 1
    check_and_keep(page, "09-peers-at-de")


def test_consultation_between_two_nodes_in_the_thread_view(fed, page):
    mt, de = fed["MT"], fed["DE"]
    denial = fed.publish("MT", parties=[{"role": "end_user", "names": [{"text": "Kestrel Avionics FZE"}],
                                         "country": "AE"}], destination_country="AE")
    fed.wait_visible("DE", denial["uid"], timeout=120)
    opened = fed.api("DE").post(de.url + "/api/v1/consultations", timeout=300, json={
        "denial_uids": [denial["uid"]], "text": "Licence application DE/APP/2026/17: please advise.",
        "transaction": {"parties": [{"role": "end_user", "names": [{"text": "Kestrel Avionics"}], "country": "AE"}],
                        "destination_country": "AE", "item_description": "Five-axis machine tools"}})
    assert opened.status_code == 201, opened.text
    uid = opened.json()["uid"]

    sign_in(page, mt, "maria")
    nav(page, "Consultations").click()
    page.get_by_role("link", name=re.compile(r"\d{4}-\d\d-\d\d")).first.click()
    assert page.url.endswith(f"/ui/consultations/{uid}")
    assert page.get_by_text("Licence application DE/APP/2026/17: please advise.").is_visible()
    check_and_keep(page, "10-consultation-inbox-thread")
    page.get_by_label("Position").select_option("maintain_objection")
    page.get_by_role("button", name="Send the reply").click()
    assert "required" in page.locator("#text-error").inner_text()
    assert page.get_by_label("Position").input_value() == "maintain_objection"
    page.get_by_label("Message").fill("Same end user as our denial; we maintain the objection.")
    page.get_by_role("button", name="Send the reply").click()
    page.wait_for_url(mt.url + f"/ui/consultations/{uid}")
    assert page.get_by_role("heading", name="MT: maintain objection").is_visible()

    sign_in(page, de, "dieter")
    page.goto(de.url + f"/ui/consultations/{uid}")

    def reply_arrived():
        page.reload()
        return page.get_by_role("heading", name="MT: maintain objection").count() == 1

    wait_for(reply_arrived, timeout=60, what="MT's reply at DE", interval=1.0)
    assert page.get_by_text("Same end user as our denial; we maintain the objection.").is_visible()
    check_and_keep(page, "11-consultation-thread-at-de")


def test_licence_write_offs_and_the_audit_trail(fed, page):
    mt = fed["MT"]
    licence = fed.api("MT").post(mt.url + "/api/v1/licences", json=customs_licence(), timeout=30)
    assert licence.status_code == 201, licence.text
    checked = mt.session("customs").post(mt.url + check_url(), json=declaration(7), timeout=60)
    assert checked.status_code == 201, checked.text
    sign_in(page, mt, "maria")
    nav(page, "Licences").click()
    check_and_keep(page, "12-licences")
    page.get_by_role("link", name=licence.json()["number"]).click()
    assert page.get_by_role("cell", name=declaration(7)["declaration_ref"]).is_visible()
    check_and_keep(page, "13-licence-write-offs")

    sign_in(page, mt, "ada")
    nav(page, "Audit trail").click()
    page.get_by_label("Action").fill("user.login")  # maria signed in above: written by this test itself
    page.get_by_role("button", name="Filter").click()
    assert page.get_by_role("cell", name="user:maria").count() >= 1
    assert page.get_by_role("cell", name="user.login").count() == page.locator("tbody tr").count()
    page.get_by_role("link", name="Verify the chain").click()
    assert "The chain verifies" in page.get_by_role("status").inner_text()
    check_and_keep(page, "14-audit-trail")


def test_coordinator_dashboard_shows_a_stopped_member_down(fed, page):
    coordinator = fed.coordinator

    def poll() -> None:
        coordinator.cli("jobs", "run", "poll-members")

    def statuses() -> dict[str, str]:
        page.goto(coordinator.url + "/coordinator")
        return {m: page.locator(f"#member-{m} [data-status]").get_attribute("data-status") for m in fed.ids}

    sign_in(page, coordinator, "chris")
    nav(page, "Federation health").click()
    assert page.url == coordinator.url + "/coordinator"
    poll()
    assert statuses() == {"MT": "up", "DE": "up", "TN": "up"}
    check_and_keep(page, "15-coordinator-all-up", own_page=False)
    fed.stop("TN")
    poll()
    assert statuses()["TN"] == "down"
    assert page.locator("#member-TN").inner_text().count("down") >= 1
    check_and_keep(page, "16-coordinator-tn-down", own_page=False)
