"""Profile rules: what WeChat's userInfo means, and what it must not overwrite.

Since 2021 WeChat hands out an anonymous profile (nickname ``微信用户`` and a grey default
avatar) instead of the real one; since 2023 gender and region come back empty. Those
placeholders mean "no profile yet" and never replace what the user filled in.
"""

from __future__ import annotations

import unicodedata
from typing import Any

from wxauth.core.models import ProfileUpdate

ANONYMOUS_NICKNAME = "微信用户"
DEFAULT_AVATAR_MARK = (
    "POgEwh4mIHO4nibH0KlMECNjjGxQUq24ZEaGT4poC6icRiccVGKSyXwibcPq4BWmiaIGuG1icwxaQX6grC9VemZoJ8rg"
)
DEFAULT_AVATAR_URL = f"https://thirdwx.qlogo.cn/mmopen/vi_32/{DEFAULT_AVATAR_MARK}/132"
NICKNAME_MAX = 64
# Right-to-left text is welcome; these invisible overrides only serve to make a name display
# as something it is not (U+202A..U+202E embeddings and overrides, U+2066..U+2069 isolates).
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def is_default_avatar(url: str) -> bool:
    return DEFAULT_AVATAR_MARK in url


def bad_text_reason(value: str) -> str | None:
    """Why ``value`` is unfit as a profile text (control characters, NUL), or None."""
    for char in value:
        if unicodedata.category(char) in ("Cc", "Cs"):
            return "must not contain control characters"
        if char in BIDI_CONTROLS:
            return "must not contain bidirectional override characters"
    return None


def meaningful_changes(update: ProfileUpdate) -> dict[str, Any]:
    """The fields of ``update`` worth storing: placeholders and empty values dropped."""
    changes = update.changes()
    nickname = changes.get("nickname")
    if nickname is not None and (not nickname.strip() or nickname.strip() == ANONYMOUS_NICKNAME):
        del changes["nickname"]
    elif nickname is not None:
        changes["nickname"] = nickname.strip()
    avatar = changes.get("avatar_url")
    if avatar is not None and (not avatar or is_default_avatar(avatar)):
        del changes["avatar_url"]
    if changes.get("gender") == 0:  # "unknown", as WeChat now always says
        del changes["gender"]
    for name in ("country", "province", "city", "language"):
        if changes.get(name) == "":
            del changes[name]
    return changes


def from_wechat_user_info(info: dict[str, Any]) -> ProfileUpdate:
    """Read WeChat's userInfo (camelCase) into a ProfileUpdate, ignoring wrong types."""

    def text(key: str) -> str | None:
        value = info.get(key)
        return value if isinstance(value, str) else None

    gender = info.get("gender")
    return ProfileUpdate(
        nickname=text("nickName"),
        avatar_url=text("avatarUrl"),
        gender=gender if isinstance(gender, int) and gender in (0, 1, 2) else None,
        country=text("country"),
        province=text("province"),
        city=text("city"),
        language=text("language"),
    )


# Letters and symbols that render as nothing: Hangul fillers (U+3164 is the "blank name"
# trick), the Braille blank, Khmer inherent vowels, the Mongolian vowel separator, the
# combining grapheme joiner and the tag characters' space.
BLANK_GLYPHS = frozenset("\u115f\u1160\u3164\uffa0\u2800\u17b4\u17b5\u180e\u034f\U000e0020")


def shows_something(char: str) -> bool:
    """Whether ``char`` draws a visible mark: a letter, number, punctuation or symbol that
    is not one of the :data:`BLANK_GLYPHS`."""
    return unicodedata.category(char)[0] in "LNPS" and char not in BLANK_GLYPHS


def bad_nickname_reason(value: str) -> str | None:
    """Why ``value`` is unfit as a nickname, beyond :func:`bad_text_reason`, or None.

    Text-direction overrides make a name display as something else; a name of only spaces
    and invisible characters shows nothing. Emoji joiners (ZWJ) stay allowed.
    """
    if len(value) > NICKNAME_MAX:
        return f"must be at most {NICKNAME_MAX} characters"
    if not any(shows_something(char) for char in value):
        return "must contain a visible character"
    return bad_text_reason(value)
