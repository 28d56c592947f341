"""Choosing a template language for an advocate's BCP 47 tag, and formatting numbers in it."""

from __future__ import annotations

from collections.abc import Collection

DEFAULT_LANGUAGE = "en"
# Digit group separators: Finnish (and Swedish, French...) group with a space, English with a comma.
# A no-break space, so a number never wraps in the middle.
_GROUP = {"en": ",", "fi": "\u00a0"}
_DECIMAL = {"en": ".", "fi": ","}


def resolve_language(tag: str, available: Collection[str], default: str = DEFAULT_LANGUAGE) -> str:
    """The exact tag if templates exist for it, else its primary subtag ("fi-FI" -> "fi"), else `default`."""
    wanted = tag.strip().replace("_", "-").lower()
    known = {a.lower(): a for a in available}
    if wanted in known:
        return known[wanted]
    primary = wanted.split("-", 1)[0]
    return known.get(primary, default)


def format_number(value: int | float, language: str) -> str:
    """Grouped thousands and a decimal mark as the language writes them: 12,345.5 / 12 345,5."""
    primary = language.split("-", 1)[0].lower()
    group, decimal = _GROUP.get(primary, ","), _DECIMAL.get(primary, ".")
    if isinstance(value, float) and not value.is_integer():
        text = f"{value:,.1f}"
    else:
        text = f"{int(value):,}"
    return text.replace(",", "\0").replace(".", decimal).replace("\0", group)
