"""The catalogue pages from the user's side: /services and /services/<id> over HTTP, as a
visitor and as residents of two communes, in German and French."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from catalogue import registry
from tests.conftest import login


class _Outline(HTMLParser):
    """Headings and the text of each card, enough to read the page as a person would."""

    def __init__(self) -> None:
        super().__init__()
        self.headings: list[tuple[str, str]] = []
        self.cards: list[str] = []
        self._heading: str | None = None
        self._text = ""
        self._card_depth = 0
        self._depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("h1", "h2", "h3", "h4"):
            self._heading, self._text = tag, ""
        if tag == "li":
            self._depth += 1
            if ("class", "card") in attrs:
                self._card_depth = self._depth
                self.cards.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == self._heading:
            self.headings.append((tag, " ".join(self._text.split())))
            self._heading = None
        if tag == "li":
            if self._depth == self._card_depth:
                self.cards[-1] = " ".join(self.cards[-1].split())
                self._card_depth = 0
            self._depth -= 1

    def handle_data(self, data: str) -> None:
        if self._heading:
            self._text += data
        if self._card_depth:
            self.cards[-1] += " " + data


def outline(html: str) -> _Outline:
    parser = _Outline()
    parser.feed(html)
    return parser


def card(html: str, title: str) -> str:
    return next(c for c in outline(html).cards if c.startswith(title + " "))


@pytest.fixture
def demo_portal(demo: dict[str, Any]) -> dict[str, Any]:
    return demo


def test_a_visitor_sees_every_service_grouped_by_topic_and_level(
    client: FlaskClient, demo_portal: dict[str, Any]
) -> None:
    page = client.get("/services")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    parsed = outline(html)
    services = registry.default().all()
    assert len(parsed.cards) == len(services)
    # h2 topic, h3 level, h4 service: the outline of a grouped catalogue.
    kinds = [level for level, _ in parsed.headings]
    assert kinds[0] == "h1" and kinds[1] == "h2" and "h3" in kinds
    assert ("h4", "Wohnsitzbestätigung") in parsed.headings
    # The list of topics at the top leads to each topic's section.
    anchors = re.findall(r'href="#(topic-[a-z]+)"', html)
    assert anchors and anchors == re.findall(r'<h2 id="(topic-[a-z]+)"', html)
    english = outline(client.get("/services?lang=en").get_data(as_text=True)).headings
    assert ("h2", "Living and residence") in english
    assert {text for level, text in english if level == "h3"} <= {
        "Commune",
        "Canton",
        "Confederation",
    }
    # A visitor is told what the office depends on, and what it costs.
    html = client.get("/services?lang=en").get_data(as_text=True)
    certificate = card(html, "Certificate of residence")
    assert "CHF 20.00" in certificate
    assert "Depends on your commune" in certificate
    assert 'href="/services/wohnsitzbestaetigung"' in html
    # A fixed office is the same for everyone, so a visitor sees it too.
    fixed = [s for s in services if s.responsible.rule == "office"]
    for service in fixed:
        assert "Depends on" not in card(html, service.title.en), service.id


def test_a_resident_sees_the_office_of_their_own_commune(
    app: Flask, demo_portal: dict[str, Any]
) -> None:
    anna, beat = app.test_client(), app.test_client()
    login(anna, demo_portal["resident"])  # lives in Luzern
    login(beat, demo_portal["other_resident"])  # lives in Emmen
    html = anna.get("/services").get_data(as_text=True)
    assert "Stadt Luzern, Einwohnerdienste" in card(html, "Wohnsitzbestätigung")
    html = beat.get("/services").get_data(as_text=True)
    assert "Gemeinde Emmen, Einwohnerdienste" in card(html, "Wohnsitzbestätigung")
    detail = beat.get("/services/wohnsitzbestaetigung").get_data(as_text=True)
    assert "Gemeinde Emmen, Einwohnerdienste" in detail
    assert 'href="/services/wohnsitzbestaetigung/order"' in detail
    # The navigation marks the catalogue as the current place.
    assert '<a href="/services" aria-current="page">' in detail


def test_search_in_the_users_language(client: FlaskClient, demo_portal: dict[str, Any]) -> None:
    german = client.get("/services?q=wohnsitzbestatigung").get_data(as_text=True)
    assert [h for h in outline(german).headings if h[0] == "h4"] == [("h4", "Wohnsitzbestätigung")]
    french = client.get("/services?q=domicile&lang=fr").get_data(as_text=True)
    assert ("h4", "Attestation de domicile") in outline(french).headings
    assert '<html lang="fr">' in french
    # The German word finds nothing in French; the page says so and offers the whole list.
    nothing = client.get("/services?q=zzzz-nichts").get_data(as_text=True)
    assert outline(nothing).cards == []
    assert 'href="/services"' in nothing
    # Markup in the query is text, never markup.
    hostile = client.get("/services?q=<script>alert(1)</script>").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in hostile
    assert client.get("/services?q=" + "x" * 5000).status_code == 200


def test_the_detail_page_and_unknown_services(
    client: FlaskClient, demo_portal: dict[str, Any]
) -> None:
    page = client.get("/services/wohnsitzbestaetigung")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    headings = outline(html).headings
    assert headings[0] == ("h1", "Wohnsitzbestätigung")
    assert "CHF 20.00" in html
    assert 'href="/services/wohnsitzbestaetigung/order"' in html
    for path in ("/services/gibt-es-nicht", "/services/..%2F..%2Fetc", "/services/" + "a" * 300):
        assert client.get(path).status_code == 404
    # Every shipped service has a page that renders, in every language.
    for service in registry.default().all():
        for lang in ("de", "fr", "it", "en"):
            response = client.get(f"/services/{service.id}?lang={lang}")
            assert response.status_code == 200, (service.id, lang)
            assert service.title.get(lang).replace("'", "&#39;") in response.get_data(as_text=True)


def test_steps_with_an_office_of_their_own_name_it_for_the_resident(
    app: Flask, demo_portal: dict[str, Any]
) -> None:
    move = registry.default().get("umzug-melden")
    if move is None:
        pytest.skip("umzug-melden is not declared")
    beat = app.test_client()
    login(beat, demo_portal["other_resident"])  # lives in Emmen
    html = beat.get("/services/umzug-melden?lang=en").get_data(as_text=True)
    # The arrival commune is named in the form; the departure commune is Beat's own.
    assert "Depends on the commune you name in the form" in html
    assert "Gemeinde Emmen, Einwohnerdienste" in html
    assert "Strassenverkehrsamt des Kantons Luzern" in html
    visitor = app.test_client().get("/services/umzug-melden?lang=en").get_data(as_text=True)
    assert "Depends on the commune you name in the form" in visitor
    assert "Gemeinde Emmen" not in visitor
