"""The embedded corpus generator: a synthetic corpus in the StickerChat release format,
from open emoji artwork to group-chat dialogs.

The StickerChat release (Gao et al., WWW 2020) is available on request only, so the book
runs on a synthetic corpus in exactly its format. Modules, one idea each:

``inventory``  themes of emojis, their Twemoji artwork and CLDR names
``character``  the character of a set: head, ears, framing, palette, drawn procedurally
``parts``      what stickers of a set differ in: expression, accent, prop; regions
``art``        set styles and the drawing of one sticker (character, pose, parts)
``sets``       sticker sets: ids, sizes, characters, vocabularies, parts, labels
``language``   cue words per emoji, moods, topics, filler chat
``dialogs``    group-chat contexts that end in a sticker
``presets``    corpus sizes (tiny, small, medium, paper)
``shapes``     a second, simple generator (``--style shapes``): a shape per set, a moving mark
``writer``     the corpus on disk (``generate_corpus``)
``cli``        ``python -m srs_lib synth``
"""
from srs_lib.synth.presets import PRESETS, Preset, get_preset
from srs_lib.synth.writer import SYNTH_VERSION, generate_corpus

__all__ = ["PRESETS", "Preset", "SYNTH_VERSION", "generate_corpus", "get_preset"]
