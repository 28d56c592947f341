"""Messages rendered from Jinja2 templates, per kind and language (`services/notify/templates/<lang>/`).

Each kind has `<kind>.subject.j2` (one line), `<kind>.txt.j2` (plain text; also the Slack / Teams
form) and `<kind>.html.j2` (email HTML, autoescaped). Language: the advocate's exact tag if there
are templates for it, else its primary subtag ("fi-FI" -> "fi"), else English. Undefined names are
errors (StrictUndefined): a missing key raises TemplateDataError, never renders as blank.

The `data` keys each kind needs (besides these, every template gets `recipient_name`,
`unsubscribe_url` and `language`, filled here):

- thank_you: `points` (int, the window's total), `entries` (list of {`rule`: a rewards rule name such
  as "share", "click"; `points`: int; `content_title`: str, may be empty}), `reach` (int, people the
  shares reached), `clicks` (int).
- new_content: `title`, `summary` (may be empty), `url` (http(s)); `content_id` optional, not shown.
- leader_shared: `leader_name`, `title`, `url` (http(s)); `content_id` optional, not shown.
- digest: `period` ("daily" or "weekly"), `new_items` (list of {`title`, `url`}, may be empty),
  `points` (int, current balance), `rank` (int, or null when unranked), `reach` (int, the period's).

Filters: `number` (grouped per language: 12,345 / 12 345), `http_url` (refuses anything but http(s)).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from services.notify.app.ports import PermanentDeliveryError, RenderedMessage
from services.notify.domain.language import format_number, resolve_language
from services.notify.domain.notification import ChannelName, Kind, Notification

TEMPLATES_DIR = Path(__file__).resolve().parents[1] / "templates"


class TemplateDataError(PermanentDeliveryError):
    """The notification's data does not fit its template (a key missing, a bad URL): re-rendering the
    same notification can never succeed, so it is permanent."""


def escape_mrkdwn(value: Any) -> str:
    """Slack's three control characters as entities, so text can never become a link or a mention."""
    if isinstance(value, Markup):
        value = str(value)
    return str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@jinja2.pass_context
def _number(context: jinja2.runtime.Context, value: int | float) -> str:
    return format_number(value, context["language"])


def _http_url(value: str) -> str:
    if not isinstance(value, str) or not value.lower().startswith(("https://", "http://")):
        raise TemplateDataError(f"not an http(s) URL: {value!r}")
    return value


def _environment(loader: jinja2.BaseLoader, *, html: bool, mrkdwn: bool = False) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=loader,
        undefined=jinja2.StrictUndefined,
        autoescape=html,
        # Every {{ value }} of a Slack text goes through the escaper; the templates' own text is trusted.
        finalize=escape_mrkdwn if mrkdwn else None,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )
    env.filters["number"] = _number
    env.filters["http_url"] = _http_url
    return env


class JinjaRenderer:
    """The `Renderer` port over the template files."""

    def __init__(self, templates_dir: Path = TEMPLATES_DIR, default_language: str = "en") -> None:
        loader = jinja2.FileSystemLoader(str(templates_dir))
        self._text = _environment(loader, html=False)
        self._html = _environment(loader, html=True)
        self._mrkdwn = _environment(loader, html=False, mrkdwn=True)
        self.languages = frozenset(p.name for p in templates_dir.iterdir() if p.is_dir())
        if default_language not in self.languages:
            raise ValueError(f"no templates for the default language {default_language!r} in {templates_dir}")
        self._default = default_language
        for language in self.languages:  # fail at start-up, not at the first message of a kind
            for kind in Kind:
                for part in ("subject", "txt", "html"):
                    self._text.get_template(f"{language}/{kind.value}.{part}.j2")

    def language_for(self, tag: str) -> str:
        return resolve_language(tag, self.languages, self._default)

    def render(self, notification: Notification, channel: ChannelName, unsubscribe_url: str) -> RenderedMessage:
        language = self.language_for(notification.recipient.language)
        context: dict[str, Any] = {
            **notification.data,
            "recipient_name": notification.recipient.display_name,
            "unsubscribe_url": unsubscribe_url,
            "language": language,
        }
        name = f"{language}/{notification.kind.value}"
        subject = " ".join(self._render(self._text, f"{name}.subject.j2", context, notification).split())
        context["subject"] = subject
        text_env = self._mrkdwn if channel is ChannelName.SLACK else self._text
        text = self._render(text_env, f"{name}.txt.j2", context, notification)
        with_html = channel in (ChannelName.EMAIL, ChannelName.TOPIC)
        html = self._render(self._html, f"{name}.html.j2", context, notification) if with_html else ""
        return RenderedMessage(subject, text.strip() + "\n", html, unsubscribe_url, language)

    @staticmethod
    def _render(env: jinja2.Environment, template: str, context: Mapping[str, Any], n: Notification) -> str:
        try:
            return env.get_template(template).render(context)
        except jinja2.UndefinedError as exc:
            raise TemplateDataError(
                f"{template}: {exc.message} (notification {n.notification_id}, kind {n.kind.value}:"
                f" data keys given: {sorted(n.data)})"
            ) from exc
        except TemplateDataError as exc:
            raise TemplateDataError(f"{template}: {exc} (notification {n.notification_id})") from exc
