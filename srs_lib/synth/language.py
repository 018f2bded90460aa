"""Words of the synthetic group chats: cue words per emoji, moods, topics and filler.

The right sticker is signalled by *what the conversation is about and how it feels*. Each
emoji gets a set of **cue words**:

* the words of its CLDR short name and of its aliases, from the ``emoji`` package
  (``face_with_tears_of_joy`` and ``joy`` give *tears*, *joy*), minus function words;
* a few hand-picked chat words for common emojis (😂: *lol*, *lmao*, *hilarious*);
* the words of its **mood** (laugh, love, sad, angry, agree, thanks, ...), shared by all
  emojis of that mood, so that a mood word narrows the choice without deciding it.

Cue words overlap between emojis (*heart* is in a dozen names, *cat* in nine), and some are
also ordinary chat words (*cool*, *ok*, *fire*), so no single word gives the answer away.

Chinese (``language="zh"``): the cue of an emoji is its CLDR Chinese name (one token, as a
word segmenter would keep it) plus Chinese mood words; the filler is a small list of
segmented Chinese chat phrases. It is a cheaper, coarser corpus than the English one.
"""
from __future__ import annotations

import re
from collections.abc import Iterable

import numpy as np

from srs_lib.synth.inventory import aliases, chinese_name, english_name

LANGUAGES = ("en", "zh")

#: Words of CLDR names that say nothing about the meaning.
STOPWORDS = frozenset(
    "a an and at button face for from in into is it of on or the to with without "
    "person symbol sign mark up down front facing".split()
)

#: Hand-picked chat words for common emojis (beyond their CLDR names).
EXTRA_EN: dict[str, str] = {
    "😂": "lol lmao haha hilarious dying", "🤣": "lmao rofl dead hilarious", "😀": "yay great nice",
    "😭": "crying sob noooo tragic", "😍": "gorgeous beautiful omg crush", "🤔": "hmm wondering doubt",
    "😊": "sweet thanks aww", "😎": "cool chill boss", "😡": "furious mad wtf", "😱": "omg shocked terrifying",
    "😴": "sleepy bedtime zzz", "🙄": "whatever ugh annoying", "😅": "oops awkward phew", "😢": "sad upset",
    "😘": "kisses mwah", "😳": "embarrassed blushing", "😏": "smirk sure", "😉": "wink hint",
    "😁": "grin happy", "🥺": "please pretty begging", "😤": "hmph triumph", "🤗": "hug hugs",
    "😋": "yummy delicious tasty", "😜": "kidding joking", "🤪": "crazy silly", "😇": "innocent angel",
    "🙃": "ironic upside", "😬": "yikes cringe", "🤯": "mindblown insane", "🥳": "party celebrate",
    "🤓": "nerd geek", "🤮": "gross disgusting", "🥶": "freezing", "🥵": "hot boiling",
    "😺": "meow kitty", "😸": "meow kitty", "😹": "meow lol", "😻": "adorable kitty", "😼": "sly",
    "😽": "smooch", "🙀": "shocked meow", "😿": "sad kitty", "😾": "grumpy", "🐱": "kitty meow",
    "🐈": "kitty", "🦁": "roar king", "🐯": "roar stripes",
    "❤️": "love", "💔": "heartbroken breakup dumped", "💕": "love cute", "💖": "love shiny",
    "💙": "blue", "💚": "green", "💛": "yellow", "💜": "purple", "🖤": "black emo", "🧡": "orange",
    "🤍": "white pure", "🤎": "brown", "💗": "crush", "💓": "heartbeat", "💞": "love", "💘": "cupid crush",
    "👍": "ok good agreed yes", "👎": "bad no dislike", "👌": "ok perfect fine", "🙏": "please thanks pray",
    "👏": "bravo congrats applause", "💪": "strong gym workout", "👋": "hi hello bye hey",
    "✌️": "peace victory", "🤞": "luck hope fingers", "🤝": "deal agreed partner", "🙌": "yay finally hooray",
    "👊": "bro respect punch", "✊": "power fight",
    "🐶": "puppy woof doggo", "🐷": "oink piggy", "🐸": "ribbit kermit", "🐼": "panda bamboo",
    "🐻": "bear teddy", "🐰": "bunny", "🦊": "fox sly", "🐵": "monkey", "🙈": "cant look embarrassed",
    "🙉": "not listening", "🙊": "oops secret", "🐔": "chicken", "🐧": "penguin",
    "🍕": "pizza slice", "🍔": "burger", "🍟": "fries", "🍜": "noodles ramen", "🍣": "sushi",
    "🍰": "cake dessert", "🍩": "donut", "🍪": "cookie", "🍫": "chocolate", "🍦": "icecream",
    "☕": "coffee espresso", "🍺": "beer cheers", "🍷": "wine",
    "☀️": "sunny sunshine", "🌧️": "rainy rain", "❄️": "snowing snow", "🌈": "rainbow",
    "⛈️": "storm thunder", "☁️": "cloudy", "🌙": "night moon", "⭐": "star", "🔥": "lit fire hot",
    "⚡": "lightning electric", "🌊": "waves sea beach",
    "🎉": "congrats congratulations celebrate", "🎊": "celebrate", "🎈": "balloons", "🎁": "gift present",
    "🎂": "birthday bday", "🏆": "champion winner won", "🥇": "first winner gold", "🎄": "xmas christmas",
    "🎃": "halloween spooky", "🎆": "fireworks newyear",
    "💻": "laptop coding code", "📱": "phone mobile", "🖥️": "pc desktop", "⌨️": "typing keyboard",
    "🖱️": "mouse click", "💾": "save backup", "📷": "photo pic", "📺": "tv show", "🔋": "battery charge",
    "🔌": "plug charger", "💡": "idea", "📡": "signal wifi", "🔒": "locked password", "🔑": "key",
    "💯": "100 exactly facts", "✅": "done yes", "❌": "no wrong", "❓": "what why question",
    "❗": "important attention", "💤": "sleep zzz", "💢": "annoyed angry", "💥": "boom crash",
    "💦": "sweat", "💬": "chat talk", "👀": "watching looking eyes", "🧠": "brain smart",
    "🚗": "car drive", "✈️": "flight plane trip", "🚀": "launch rocket moon", "🚲": "bike ride",
    "🚌": "bus", "🚕": "taxi cab", "🚑": "ambulance hospital", "🚓": "police",
    "⚽": "football match goal", "🏀": "basketball nba", "🏈": "football", "⚾": "baseball",
    "🎾": "tennis", "🏐": "volleyball", "🏉": "rugby", "🎱": "pool billiards", "🏓": "pingpong",
    "🏸": "badminton", "🥊": "boxing fight",
    "🤷": "dunno whatever idk", "🤦": "facepalm seriously", "🙋": "me here", "🙅": "no nope",
    "🙆": "ok fine", "💁": "info fyi", "🙇": "sorry apologies", "💃": "dance dancing",
    "🕺": "dance dancing", "👶": "baby", "👴": "old grandpa", "👵": "old grandma", "👻": "ghost boo",
    "🌸": "spring blossom", "🌻": "sunflower", "🌷": "tulip", "🌺": "flower", "🌼": "flower",
    "🥀": "wilted dead", "🌱": "growing seedling", "🌲": "forest", "🌳": "tree", "🌴": "palm vacation",
    "🌵": "desert cactus",
    "💰": "rich money", "💵": "cash money", "💸": "broke spending", "💳": "card payment",
    "💎": "diamond", "🪙": "coin crypto", "🛒": "shopping", "🏦": "bank", "📦": "package delivery",
    "🎫": "ticket",
}

#: Mood of an emoji: how the conversation feels when this sticker is sent.
MOOD_OF: dict[str, str] = {}
for _mood, _emojis in {
    "laugh": "😂 🤣 😹 😆 😸 😺 😜 🤪 😝 🤡",
    "happy": "😀 😁 😊 😃 😄 🙂 😇 🥳 🤗 😌 🌞 🌈 ☀️ 🌻 🌼",
    "love": "😍 😘 🥰 😻 😽 ❤️ 💕 💖 💗 💓 💞 💘 💝 💟 ❣️ 💋 💌 💐 🌹 🤟 🧡 💛 💚 💙 💜 🤍 🤎 🖤",
    "sad": "😭 😢 😿 💔 🥀 😞 😔 😟 🙁 😥 😓 😩 😫 🥺",
    "angry": "😡 😾 😤 🤬 💢 👿 😠 👊 🥊",
    "surprise": "😱 🙀 😳 😮 😲 🤯 😨 😰 ⁉️ ‼️ 💥",
    "tired": "😴 💤 🥱 😪 🛌",
    "cool": "😎 🆒 😏 😼 🕶️",
    "doubt": "🤔 🧐 🤨 ❓ 🙄 😒 😑 😐 🤷",
    "agree": "👍 👌 ✅ 💯 🤝 🙆 🆗 ✌️",
    "disagree": "👎 ❌ 🙅 ⛔ 🚫",
    "thanks": "🙏 🙇 💐",
    "greet": "👋 🙋 🤚",
    "cheer": "👏 🙌 🎉 🎊 🏆 🥇 🍾 🎆 🎇 💪 🔥",
    "embarrassed": "😅 🙈 🙊 🤦 😬 😶 🤭 🫣",
    "sick": "😷 🤢 🤮 🤒 🤕 🥵 🥶",
    "hungry": "😋 🤤 🍕 🍔 🍟 🍜 🍣 🍰 🍩 🍪 🍫 🍦",
}.items():
    for _e in _emojis.split():
        MOOD_OF.setdefault(_e, _mood)

MOOD_WORDS: dict[str, tuple[str, str]] = {
    # mood: (English words, Chinese words)
    "laugh": ("funny haha laughing joke", "哈哈 笑死 搞笑 好笑"),
    "happy": ("happy glad yay awesome", "开心 高兴 太好了 棒"),
    "love": ("love cute adorable sweet", "爱 可爱 喜欢 么么哒"),
    "sad": ("sad sorry miss unfortunately", "难过 伤心 可惜 唉"),
    "angry": ("angry annoying mad hate", "生气 烦 气死 讨厌"),
    "surprise": ("wow omg really whoa", "哇 天哪 真的 卧槽"),
    "tired": ("tired sleep exhausted bed", "累 困 睡觉 晚安"),
    "cool": ("cool nice chill", "酷 帅 厉害"),
    "doubt": ("hmm really sure why", "嗯 真的吗 为什么 怀疑"),
    "agree": ("yes ok sure agreed right", "好的 对 同意 没问题"),
    "disagree": ("no nope wrong never", "不 不行 错 不要"),
    "thanks": ("thanks thank appreciate grateful", "谢谢 感谢 多谢 辛苦"),
    "greet": ("hi hello morning bye", "你好 早上好 再见 嗨"),
    "cheer": ("congrats win great awesome", "恭喜 厉害 牛 加油"),
    "embarrassed": ("awkward oops embarrassing", "尴尬 糗 不好意思"),
    "sick": ("sick ill fever", "生病 难受 发烧"),
    "hungry": ("hungry eat lunch dinner", "饿 吃 午饭 晚饭"),
}

#: Topic words of a theme: what a chat about this kind of sticker talks about.
THEME_TOPICS: dict[str, tuple[str, str]] = {
    "faces": ("feel feeling mood today", "感觉 心情 今天"),
    "cats": ("cat cats pet vet", "猫 猫咪 宠物"),
    "hearts": ("love date girlfriend boyfriend", "恋爱 约会 女朋友 男朋友"),
    "hands": ("deal plan agree", "计划 约定 一起"),
    "animals": ("zoo pet animals cute", "动物园 宠物 动物"),
    "food": ("eat food lunch dinner restaurant", "吃 饭 午饭 晚饭 餐厅"),
    "weather": ("weather outside forecast today", "天气 外面 预报 今天"),
    "party": ("party weekend tonight celebrate", "聚会 周末 今晚 庆祝"),
    "tech": ("server update install bug config", "服务器 更新 安装 配置"),
    "reactions": ("message reply chat", "消息 回复 群"),
    "travel": ("trip travel vacation ticket", "旅行 出去 度假 机票"),
    "sports": ("game match team score", "比赛 球队 比分"),
    "people": ("people guy everyone", "人 大家 他们"),
    "plants": ("garden flowers spring", "花园 花 春天"),
    "money": ("money price pay buy", "钱 价格 付钱 买"),
}

#: Filler chat: short segmented phrases, joined into utterances.
FILLER_EN = """
did you see | what do you think | i think so | not sure | anyway | brb | wait what
| that makes sense | same here | me too | good point | no idea | let me check | one sec
| is it working now | try restarting it | it works for me | still broken | which version
| the new update | just installed it | the docs say | check the config | what error do you get
| can you send a screenshot | i will try later | how do i do that | is there a link
| someone asked this yesterday | read the pinned message | welcome to the group
| anyone here | good morning everyone | good night all | see you tomorrow | what time is it there
| i am at work | just got home | on my way | stuck in traffic | in a meeting
| this weekend | next week | last night | right now | later today | this morning
| my friend told me | my boss said | the teacher said | my mom | my brother
| did you watch it | the new episode | that movie | the game last night | the final score
| what are you doing | nothing much | just chilling | so bored | cant sleep
| too much homework | exam tomorrow | deadline is friday | almost done | finally finished
| how much is it | too expensive | on sale | just ordered one | shipping takes forever
| i dont know | maybe | probably | definitely | of course | not really | kind of | exactly
| you are right | thats true | fair enough | i guess | if you say so | no way | for real
| send me the file | check your inbox | i replied | read my message | scroll up
| the server is down | restart the router | clear the cache | update the app | reinstall it
| which one is better | depends on the price | i prefer the old one | both are fine
| it is raining here | so hot today | cold outside | nice weather
| lets go | count me in | i cant make it | maybe next time | sounds good to me
| what happened | tell me more | no way really | how did that happen | who said that
| hahaha | hehe | ok ok | yes yes | hmm | uh | oh | ah i see | right | well | so | and then
| the group chat | this channel | the admin | new members | the rules
| can someone help | i have a question | quick question | thanks in advance
| it depends | not today | long story | never mind | forget it | just kidding
| i will ask him | she said no | they are coming | we should try | you should see it
"""

FILLER_ZH = """
你 看 了 吗 | 我 觉得 是 | 不 知道 | 等 一下 | 是 吗 | 我 也 是 | 好 的 | 没 问题
| 怎么 弄 | 试试 重启 | 我 这边 可以 | 还是 不行 | 哪个 版本 | 新 版本 | 刚 装 好
| 看 文档 | 配置 一下 | 报 什么 错 | 发 个 截图 | 晚点 试试 | 有 链接 吗 | 群 公告
| 欢迎 新 人 | 有人 吗 | 大家 早 | 晚安 | 明天 见 | 在 上班 | 刚 到 家 | 在 路上 | 在 开会
| 这个 周末 | 下 周 | 昨天 晚上 | 现在 | 今天 下午 | 我 朋友 说 | 老板 说 | 我 妈
| 你 看 了 没 | 新 一 集 | 那个 电影 | 昨晚 的 比赛 | 在 干嘛 | 没 干嘛 | 好 无聊 | 睡 不 着
| 作业 好多 | 明天 考试 | 快 做 完 了 | 终于 搞定 | 多少 钱 | 太 贵 了 | 打折 | 刚 下单
| 可能 吧 | 当然 | 不 一定 | 你 说 得 对 | 确实 | 好 吧 | 不会 吧 | 真的 假的
| 发 给 我 | 看 私聊 | 往 上 翻 | 服务器 挂 了 | 重启 路由器 | 清 缓存 | 更新 一下
| 哪个 好 | 看 价格 | 都 行 | 这里 下雨 | 今天 好 热 | 外面 冷 | 走 吧 | 算 我 一个
| 去 不 了 | 下次 吧 | 怎么 了 | 说说 | 谁 说 的 | 呵呵 | 嗯嗯 | 哦 | 啊 | 原来 如此
| 管理员 | 新 成员 | 群规 | 求助 | 问 个 问题 | 先 谢 了 | 看 情况 | 说来话长 | 算了 | 开玩笑 的
"""

#: Share of filler words replaced by rare words (names, typos, jargon).
RARE_RATE = 0.05

CUE_FRAMES_EN = (
    "{w}", "{w}", "{w}", "so {w}", "{w} lol", "feeling {w}", "thats {w}", "such {w}",
    "totally {w}", "{w} again", "omg {w}", "kinda {w}", "the {w} one", "{w} {w}",
)
CUE_FRAMES_ZH = ("{w}", "{w}", "{w}", "好 {w}", "{w} 啊", "太 {w} 了", "有点 {w}", "{w} {w}")

_TOKEN = re.compile(r"^[a-z0-9+]+$")
_SYLLABLES = ("ka", "ro", "mi", "zu", "te", "lo", "pa", "xi", "an", "er", "ov", "da", "ne", "sh",
              "qu", "ty", "bo", "li", "mo", "ra", "ge", "fi", "ul", "om", "ix")


def _split_phrases(text: str) -> list[tuple[str, ...]]:
    return [tuple(p.split()) for p in text.split("|") if p.split()]


def name_words(emoji_char: str) -> list[str]:
    """Meaningful English words of an emoji's CLDR name and aliases, in order, no repeats."""
    words: list[str] = []
    for name in [english_name(emoji_char)] + aliases(emoji_char):
        for word in re.split(r"[_\-\s]+", name.lower()):
            if word and word not in STOPWORDS and len(word) > 1 and _TOKEN.match(word):
                if word not in words:
                    words.append(word)
    return words


class Lexicon:
    """The words of one synthetic corpus: cue words per emoji, filler and rare words.

    ``emojis``: the inventory (every emoji that can be a sticker's meaning); ``themes``:
    ``{theme: emojis}`` for topic words. ``rng`` draws the corpus's rare words (usernames,
    typos, jargon: the long tail of a real chat vocabulary).
    """

    def __init__(
        self,
        emojis: Iterable[str],
        themes: dict[str, list[str]] | None = None,
        language: str = "en",
        rng: np.random.Generator | None = None,
        n_rare: int = 3000,
    ) -> None:
        if language not in LANGUAGES:
            raise ValueError(f"language must be one of {LANGUAGES}, got {language!r}")
        self.language = language
        self.emojis = list(dict.fromkeys(emojis))
        self.theme_of: dict[str, str] = {}
        for theme, members in (themes or {}).items():
            for e in members:
                self.theme_of.setdefault(e, theme)
        zh = language == "zh"
        self.filler = _split_phrases(FILLER_ZH if zh else FILLER_EN)
        self.frames = CUE_FRAMES_ZH if zh else CUE_FRAMES_EN
        self._cues = {e: self._build_cues(e) for e in self.emojis}
        rng = rng if rng is not None else np.random.default_rng(0)
        taken = {w for phrase in self.filler for w in phrase}
        taken |= {w for e in self.emojis for w in self.cue_words(e)}
        taken |= {w for en, _ in MOOD_WORDS.values() for w in en.split()}
        self.rare = [] if zh else self._rare_words(rng, n_rare, exclude=taken)
        ranks = np.arange(1, len(self.rare) + 1, dtype=np.float64)
        self._rare_cdf = np.cumsum(1 / ranks) / np.sum(1 / ranks) if len(self.rare) else None

    # -- cue words ---------------------------------------------------------------------
    def _build_cues(self, e: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """(specific words, mood words) of an emoji."""
        mood = MOOD_OF.get(e)
        if self.language == "zh":
            name = chinese_name(e)
            specific = (name,) if name else ()
            moods = tuple(MOOD_WORDS[mood][1].split()) if mood else ()
        else:
            specific = tuple(dict.fromkeys(name_words(e) + EXTRA_EN.get(e, "").split()))
            moods = tuple(MOOD_WORDS[mood][0].split()) if mood else ()
        return specific, tuple(w for w in moods if w not in specific)

    def cue_words(self, e: str) -> frozenset[str]:
        """Every cue word of an emoji (specific and mood words)."""
        specific, moods = self._cues[e]
        return frozenset(specific) | frozenset(moods)

    def cue_table(self) -> dict[str, frozenset[str]]:
        """``{emoji: cue words}`` for the whole inventory."""
        return {e: self.cue_words(e) for e in self.emojis}

    def mood(self, e: str) -> str | None:
        """The emoji's mood, or None."""
        return MOOD_OF.get(e)

    def sample_cue(self, e: str, rng: np.random.Generator) -> list[str]:
        """A short phrase mentioning one cue word of ``e`` (a mood word 30% of the time)."""
        specific, moods = self._cues[e]
        pool = moods if (moods and (not specific or rng.random() < 0.3)) else specific
        if not pool:
            return []
        word = pool[int(rng.integers(len(pool)))]
        frame = self.frames[int(rng.integers(len(self.frames)))]
        return frame.format(w=word).split()

    def topic_words(self, theme: str) -> list[str]:
        """Words of a theme's usual topic."""
        en, zh = THEME_TOPICS.get(theme, ("", ""))
        return (zh if self.language == "zh" else en).split()

    # -- filler ------------------------------------------------------------------------
    def filler_words(self, n: int, rng: np.random.Generator) -> list[str]:
        """``n`` words of chat filler (whole phrases, the last one trimmed), some of them
        replaced by rare words (``RARE_RATE`` of them, Zipf-distributed)."""
        if n <= 0:
            return []
        words: list[str] = []
        for index in rng.integers(len(self.filler), size=n):  # phrases have >= 1 word
            words.extend(self.filler[int(index)])
            if len(words) >= n:
                break
        words = words[:n]
        if self.rare:
            positions = np.flatnonzero(rng.random(n) < RARE_RATE)
            if len(positions):
                picks = np.searchsorted(self._rare_cdf, rng.random(len(positions)), side="right")
                for position, pick in zip(positions, picks):
                    words[int(position)] = self.rare[min(int(pick), len(self.rare) - 1)]
        return words

    @staticmethod
    def _rare_words(rng: np.random.Generator, n: int, exclude: set[str]) -> list[str]:
        """``n`` distinct pseudo-words (2-4 syllables, sometimes with digits), none in ``exclude``."""
        out: list[str] = []
        seen: set[str] = set(exclude)
        while len(out) < n:
            k = int(rng.integers(2, 5))
            word = "".join(_SYLLABLES[int(i)] for i in rng.integers(len(_SYLLABLES), size=k))
            if rng.random() < 0.15:
                word += str(int(rng.integers(1, 100)))
            if word not in seen:
                seen.add(word)
                out.append(word)
        return out
