"""The page frame (base.html, _macros.html) rendered by a throwaway Flask app.

The project's app factory is not used on purpose: this checks the templates alone, with the same
extensions they rely on (Flask-Babel, Flask-Login, Flask-WTF's CSRF token).
"""

from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import pytest
from flask import Blueprint, Flask, flash, render_template_string, request
from flask_babel import Babel, get_locale
from flask_login import LoginManager, UserMixin
from flask_wtf.csrf import CSRFProtect

APP_DIR = Path(__file__).resolve().parents[3] / "app"

PAGE = """{% extends "base.html" %}
{% import "_macros.html" as m %}
{% block title %}{{ _('Mailbox') }}{% endblock %}
{% block nav %}
  {{ m.nav_item('/mailbox', _('Mailbox'), true) }}
  {{ m.nav_item('/services', _('Services')) }}
{% endblock %}
{% block content %}
  <h1>{{ _('Mailbox') }}</h1>
  {{ m.error_summary({'email': ['Enter an email address.']}) }}
  <form method="post" action="/reply" enctype="multipart/form-data" novalidate>
    {{ m.field('email', 'Email address', type='email', errors=['Enter an email address.'],
               help='We send notices to it.', required=True,
               attrs={'autocomplete': 'email', 'readonly': false, 'spellcheck': 'false'}) }}
    {{ m.field('password', 'Password', type='password', value='secret') }}
    {{ m.field('ahvn13', 'AHV number', value='756.9217.0769.85', attrs={'inputmode': 'numeric'}) }}
    {{ m.select('commune', 'Commune', [('', 'Please choose'), (1061, 'Luzern'), (1054, 'Kriens')],
                selected='1054', errors='Choose a commune.') }}
    {{ m.textarea('body', 'Your reply', value='<b>hello</b>') }}
    {{ m.file_field('attachment', 'Attachment', accept='application/pdf,.pdf',
                    help='PDF, at most 20 MB.') }}
    {{ m.checkbox('consent', 'I accept electronic delivery', checked=true) }}
    <div class="actions">{{ m.submit('Send') }} {{ m.submit('Withdraw', kind='danger') }}</div>
  </form>
  {{ m.status_badge('Opened', 'opened') }}
  {{ m.status_badge('Deemed delivered', 'deemed_delivered') }}
  {{ m.timeline(entries) }}
  {{ m.description_list([('Case number', 'LU-2024-0001'), ('Deadline', none)]) }}
  {% call m.empty_state('No messages yet.') %}<a href="/services">Order a service</a>{% endcall %}
{% endblock %}
{% block footer %}<li><a href="/privacy">{{ _('Privacy') }}</a></li>{% endblock %}
"""

BARE_PAGE = """{% extends "base.html" %}
{% block title %}{{ _('Start') }}{% endblock %}
{% block content %}<p>{{ _('Welcome') }}</p>{% endblock %}
"""


@dataclass
class User(UserMixin):
    id: str
    display_name: str


class Collector(HTMLParser):
    """Every start tag with its attributes, and the text inside each element that has an id."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.open_ids: list[tuple[str, str, int]] = []
        self.text_by_id: dict[str, str] = {}
        self.depth = 0

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        self.tags.append((tag, attributes))
        if tag in {"input", "meta", "link", "br", "img"}:
            return
        self.depth += 1
        if attributes.get("id"):
            self.open_ids.append((attributes["id"], tag, self.depth))
            self.text_by_id.setdefault(attributes["id"], "")

    def handle_endtag(self, tag):
        while self.open_ids and self.open_ids[-1][2] >= self.depth:
            self.open_ids.pop()
        self.depth -= 1

    def handle_data(self, data):
        for element_id, _tag, _depth in self.open_ids:
            self.text_by_id[element_id] += data

    def find(self, tag=None, **wanted):
        return [
            attrs
            for name, attrs in self.tags
            if (tag is None or name == tag)
            and all(attrs.get(key.replace("_", "-")) == value for key, value in wanted.items())
        ]

    def classes(self, attrs):
        return (attrs.get("class") or "").split()


@pytest.fixture
def app():
    app = Flask(
        __name__,
        template_folder=str(APP_DIR / "templates"),
        static_folder=str(APP_DIR / "static"),
    )
    app.config.update(SECRET_KEY="frame-test", TESTING=True)
    Babel(app, locale_selector=lambda: request.args.get("lang", "de"))
    CSRFProtect(app)

    login = LoginManager(app)  # its anonymous user is AnonymousUserMixin

    @login.request_loader
    def load_from_header(req):
        name = req.headers.get("X-Test-User")
        return User(id="1", display_name=name) if name else None

    auth = Blueprint("auth", __name__)

    @auth.post("/logout")
    def logout():
        return "", 204

    app.register_blueprint(auth)

    @app.context_processor
    def locale():
        return {"current_locale": get_locale()}

    entries = [
        {
            "when": "3 March 2025, 09:12",
            "who": "Steueramt Luzern",
            "what": "Decision delivered",
            "iso": "2025-03-03T09:12:00+01:00",
        },
        {"when": "4 March 2025, 18:40", "who": "Anna Muster", "what": "Decision opened"},
    ]

    @app.get("/page")
    def page():
        for category, message in [
            ("success", "Reply sent."),
            ("error", "Upload failed."),
            ("message", "Plain flash."),
        ]:
            flash(message, category)
        return render_template_string(PAGE, entries=entries)

    @app.get("/bare")
    def bare():
        return render_template_string(BARE_PAGE)

    return app


def render(app, path="/page", **headers):
    response = app.test_client().get(path, headers=headers)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    collector = Collector()
    collector.feed(html)
    collector.close()
    return html, collector


def test_document_language_title_and_skip_link(app):
    html, page = render(app)
    assert html.startswith("<!doctype html>")
    assert page.find("html", lang="de")
    assert "<title>Mailbox – Resident portal Lucerne</title>" in html
    skip = page.find("a", href="#main")
    assert skip and "skip-link" in page.classes(skip[0])
    assert page.find("main", id="main")
    assert page.find("link", rel="stylesheet", href="/static/portal.css")


def test_ids_are_unique(app):
    _html, page = render(app)
    ids = [attrs["id"] for _tag, attrs in page.tags if attrs.get("id")]
    assert len(ids) == len(set(ids))


def test_every_control_has_a_label_tied_by_for_and_id(app):
    _html, page = render(app)
    controls = {
        attrs["id"]: tag
        for tag, attrs in page.tags
        if tag in {"input", "select", "textarea"} and attrs.get("type") not in {"hidden", "submit"}
    }
    labels = [attrs["for"] for attrs in page.find("label")]
    assert sorted(labels) == sorted(controls)
    assert controls == {
        "field-email": "input",
        "field-password": "input",
        "field-ahvn13": "input",
        "field-commune": "select",
        "field-body": "textarea",
        "field-attachment": "input",
        "field-consent": "input",
    }


def test_errored_field_is_invalid_and_described_by_its_error_and_help(app):
    _html, page = render(app)
    (email,) = page.find("input", id="field-email")
    assert email["aria-invalid"] == "true"
    assert email["aria-describedby"] == "field-email-help field-email-error"
    assert email["required"] is None  # a boolean attribute, present
    assert email["autocomplete"] == "email"
    assert "readonly" not in email  # false leaves the attribute out
    (error,) = page.find(id="field-email-error")
    assert "field-error" in page.classes(error)
    assert "Enter an email address." in page.text_by_id["field-email-error"]
    assert page.text_by_id["field-email-help"] == "We send notices to it."
    # The summary links to the field.
    assert page.find("a", href="#field-email")

    (commune,) = page.find("select", id="field-commune")
    assert commune["aria-invalid"] == "true"
    assert "Choose a commune." in page.text_by_id["field-commune-error"]

    (ahvn13,) = page.find("input", id="field-ahvn13")
    assert "aria-invalid" not in ahvn13 and "aria-describedby" not in ahvn13


def test_values_are_kept_escaped_and_passwords_never_echoed(app):
    html, page = render(app)
    assert page.find("input", id="field-ahvn13", value="756.9217.0769.85")
    assert "value" not in page.find("input", id="field-password")[0]
    assert "secret" not in html
    assert "&lt;b&gt;hello&lt;/b&gt;</textarea>" in html
    assert page.find("option", value="1054")[0].get("selected", "absent") is None
    assert "selected" not in page.find("option", value="1061")[0]
    assert "checked" in page.find("input", id="field-consent")[0]


def test_language_links_mark_the_current_language(app):
    _html, page = render(app, "/page?lang=fr")
    assert page.find("html", lang="fr")
    links = {attrs["href"]: attrs for attrs in page.find("a") if attrs["href"].startswith("?lang=")}
    assert list(links) == ["?lang=de", "?lang=fr", "?lang=it", "?lang=en"]
    assert links["?lang=fr"].get("aria-current") == "true"
    assert all("aria-current" not in links[h] for h in ("?lang=de", "?lang=it", "?lang=en"))
    assert links["?lang=it"]["lang"] == "it"


def test_flashed_messages_use_status_for_news_and_alert_for_errors(app):
    html, page = render(app)
    roles = {
        " ".join(page.classes(attrs)): attrs.get("role")
        for attrs in page.find("p")
        if "flash" in page.classes(attrs)
    }
    assert roles == {
        "flash flash-success": "status",
        "flash flash-error": "alert",
        "flash flash-info": "status",
    }
    assert "Upload failed." in html


def test_anonymous_visitor_sees_no_account_and_no_logout(app):
    html, page = render(app)
    assert not page.find("form", action="/logout")
    assert "Logged in as" not in html


def test_logged_in_user_sees_name_and_a_logout_form_with_csrf_token(app):
    html, page = render(app, **{"X-Test-User": "Anna Muster"})
    assert "Anna Muster" in html
    (logout,) = page.find("form", action="/logout")
    assert logout["method"] == "post"
    (token,) = page.find("input", name="csrf_token")
    assert token["type"] == "hidden" and len(token["value"]) > 20


def test_navigation_and_footer_only_when_a_page_fills_them(app):
    _html, page = render(app)
    assert page.find("nav", aria_label="Main navigation")
    assert page.find("a", href="/mailbox", aria_current="page")
    assert page.find("a", href="/privacy")

    html, bare = render(app, "/bare")
    assert not bare.find("nav", aria_label="Main navigation")
    assert not bare.find("ul", **{"class": "footer-links"})
    assert bare.find("nav", aria_label="Language")
    assert "Canton of Lucerne" in html


def test_display_macros(app):
    html, page = render(app)
    assert page.find("span", **{"class": "badge badge-opened"})
    assert page.find("span", **{"class": "badge badge-deemed-delivered"})
    assert len(page.find("ol", **{"class": "timeline"})) == 1
    assert len(page.find("li", **{"class": "timeline-item"})) == 2
    assert page.find("time", datetime="2025-03-03T09:12:00+01:00")
    assert "Steueramt Luzern" in html and "Decision opened" in html
    assert "LU-2024-0001" in html and "Not specified" in html
    assert page.find("a", href="/services")  # the empty state's caller block
