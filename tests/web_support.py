"""Test support for the web pages: users, signing in through the form, CSRF tokens, and the
accessibility basics every page must meet.

Public API::

    PASSWORD                                   # the password test users get
    add_user(runtime, name, role) -> User       # through UserRegistry, as `cordon users create` does
    csrf_of(html) -> str                        # the CSRF token of the first form on a page
    sign_in(client, name, password=PASSWORD)    # GET the login form, POST it with its token; returns the response
    page_problems(html) -> list[str]            # lang, title, one h1, heading order, a label for every field
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

from node.users import UserRegistry

PASSWORD = "correct horse battery staple"
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def add_user(runtime, name: str, role: str, password: str = PASSWORD):
    return UserRegistry(runtime.db()).create(name, role, password, actor="test")


def csrf_of(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "the page has no form with a CSRF token"
    return match.group(1)


def sign_in(client, name: str, password: str = PASSWORD, next_path: str | None = None):
    page = client.get("/ui/login")
    data = {"name": name, "password": password, "csrf_token": csrf_of(page.get_data(as_text=True))}
    if next_path:
        data["next"] = next_path
    return client.post("/ui/login", data=data)


class PageOutline(HTMLParser):
    """Collects what the accessibility checks need from one HTML page."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.lang = None
        self.title = ""
        self.in_title = False
        self.headings: list[int] = []
        self.fields: list[dict] = []
        self.label_for: set[str] = set()
        self.open_labels = 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "html":
            self.lang = attrs.get("lang")
        elif tag == "title":
            self.in_title = True
        elif re.fullmatch(r"h[1-6]", tag):
            self.headings.append(int(tag[1]))
        elif tag == "label":
            self.open_labels += 1
            if attrs.get("for"):
                self.label_for.add(attrs["for"])
        elif tag in ("input", "select", "textarea"):
            kind = attrs.get("type", "text")
            if tag == "input" and kind in ("hidden", "submit", "button", "reset", "image"):
                return
            self.fields.append({"tag": tag, "id": attrs.get("id"), "name": attrs.get("name"),
                                "aria": attrs.get("aria-label") or attrs.get("aria-labelledby"),
                                "wrapped": self.open_labels > 0})

    def handle_endtag(self, tag):
        if tag == "title":
            self.in_title = False
        elif tag == "label":
            self.open_labels = max(0, self.open_labels - 1)

    def handle_data(self, data):
        if self.in_title:
            self.title += data


def page_problems(html: str) -> list[str]:
    outline = PageOutline()
    outline.feed(html)
    problems = []
    if not outline.lang:
        problems.append("<html> has no lang attribute")
    if not outline.title.strip():
        problems.append("the page has no title")
    if outline.headings.count(1) != 1:
        problems.append(f"{outline.headings.count(1)} h1 headings (want exactly one)")
    if outline.headings and outline.headings[0] != 1:
        problems.append("the first heading is not the h1")
    for before, after in zip(outline.headings, outline.headings[1:]):
        if after > before + 1:
            problems.append(f"heading level jumps from h{before} to h{after}")
    for field in outline.fields:
        if not (field["aria"] or field["wrapped"] or (field["id"] and field["id"] in outline.label_for)):
            problems.append(f"{field['tag']} {field['name']!r} has no label")
    return problems
