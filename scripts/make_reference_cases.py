"""Regenerates reference_cases.json: texts run through the reference tokenizer with every
intermediate result, for ReferenceCasesTests.

The reference is open_clip 2.22.0's `SimpleTokenizer` with ftfy 6.3.1 and the `regex` module
(what the DynamiCrafter goldens were made with). open_clip's tokenizer.py only needs torch for
its `tokenize` helper, so this script loads that one file with torch stubbed out:

    pip install ftfy==6.3.1 regex
    # tokenizer.py and bpe_simple_vocab_16e6.txt.gz from open_clip 2.22.0 (src/open_clip/)
    python3 make_reference_cases.py path/to/open_clip/tokenizer.py 7 300 > reference_cases.json

Arguments: tokenizer.py, random seed, number of texts. The texts are random mixtures of words,
HTML entities, mojibake made by decoding UTF-8 as the single-byte encodings ftfy knows,
full-width forms, ligatures, quotes, control characters, combining marks, emoji and scripts.
"""
import html
import importlib.util
import json
import random
import sys
import types

import ftfy
import regex

assert ftfy.__version__ == "6.3.1", ftfy.__version__

sys.modules.setdefault("torch", types.SimpleNamespace(Tensor=None, LongTensor=None))
spec = importlib.util.spec_from_file_location("oc_tokenizer", sys.argv[1])
oc = importlib.util.module_from_spec(spec)
spec.loader.exec_module(oc)
T = oc.SimpleTokenizer()


def tokenize(text, n=77):
    ids = [49406] + T.encode(text) + [49407]
    if len(ids) > n:
        ids = ids[:n]
        ids[-1] = 49407
    return ids


def record(text):
    normalized = oc.whitespace_clean(oc.basic_clean(text)).lower()
    return {
        "text": text,
        "fixed": ftfy.fix_text(text),
        "normalized": normalized,
        "pieces": regex.findall(T.pat, normalized),
        "ids": tokenize(text),  # without padding
    }


WORDS = ("café naïve résumé crème brûlée über straße smörgåsbord año niño façade jalapeño Ελληνικά "
         "русский язык 日本語 中文 한국어 ﬁne ﬂow oﬀice eﬃcient baﬄe ﬆ the quick brown fox jumps over "
         "lazy dog It's don't I'M we'LL").split()
POOL = (list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,;:!?'\"()[]{}<>&#%/\\-_+=*@^~`|$\t\n\r")
        + list("àáâãäåæçèéêëìíîïðñòóôõöøùúûüýþÿ¡¢£¤¥¦§¨©ª«¬\xad®¯°±²³´µ¶·¸¹º»¼½¾¿×÷ÀÁÂÃÄÅÆÇÈÉ")
        + list("€‚ƒ„…†‡ˆ‰Š‹ŒŽ‘’“”•–—˜™š›œžŸ")
        + ["\u00a0", "\u200b", "\u200d", "\ufe0f", "\u0301", "\u0308", "\u2028", "\u0085", "\x1b", "\x00",
           "\x07", "\x7f", "\ufeff", "\u3000", "\uff21", "\uff41", "\uff10", "\uff01", "\uff5e", "\uff76",
           "\uffe0", "\uffe3", "ſ", "Σ", "İ", "ǅ", "Ĳ", "ŉ", "\u02bc", "\u201b", "\u201f", "🎉", "👩", "❤",
           "½", "²", "Ⅻ", "٣", "𝟘", "ﬀ", "\ufffd", "\x1a"])
ENTITIES = ["&amp;", "&amp;amp;", "&amp;amp;amp;", "&lt;", "&gt;", "&quot;", "&#39;", "&#x27;", "&#128512;",
            "&#x1F600;", "&nbsp;", "&eacute;", "&EACUTE;", "&Eacute;", "&hellip;", "&not", "&notit;", "&ampx",
            "&copy", "&#0;", "&#13;", "&#128;", "&#x85;", "&#xD800;", "&#1114112;", "&#99999999999999;",
            "&#xffff;", "&#65", "&#x41", "&#x;", "&#;", "&;", "&bogus;", "&SZLIG;", "&Kappa;", "&\u212aappa;",
            "&NotNestedLessLess;", "&lt", "&LT", "&LT;", "&AMP;", "&ltimes;", "&LTIMES;", "&#20x6;", "&#65x;"]
EXTRA = ["ΣΟΦΟΣ Σ ΑΣ.", "'ſ ſtraße", "İstanbul", "ǅemal", "a\u00adb", "\x1b[1mbold\x1b[0m",
         "line1\r\nline2\rline3", "tab\tsep\x0cff", "\u00c3 la mode", "voil\u00c3 le travail",
         "\u00c3\u00a0 quelle", "caf\u00c3\u0192\u00c2\u00a9", "\u00e2\u20ac\u0153quoted\u00e2\u20ac\ufffd",
         "\u00e2\u20ac? lost", "\u00c3? lost", "\u00ed\u00a0\u00bd\u00ed\u00b8\u0080 cesu", "\u00c0\u0080 null",
         "\u0080\u0081\u008d\u0090\u009d c1", "\u00e3\u0081\u0082 hira",
         "\u00d0\u00bf\u00d1\u0080\u00d0\u00b8\u00d0\u00b2\u00d0\u00b5\u00d1\u0082", "\u201a\u00c4\u00f4 mac",
         "\u00e2\u0153\u201d ok", "<b>&amp;</b>", "a &lt; b\n&amp; c", "x\u00a0\u00a0y", "\u3000\u3000",
         "\uff76\uff9e\uff97", "\uffe0\uffe3", "Ｈｅｌｌｏ，　Ｗｏｒｌｄ！", "𝐁𝐨𝐥𝐝 𝟏𝟐𝟑", "① ② ⅷ", "x²³ ¼", "٣٤ ۵",
         "\u0301start", "e\u0301\u0327"]
DECODINGS = ["latin-1", "windows-1252", "windows-1251", "windows-1250", "windows-1253", "windows-1254",
             "windows-1257", "iso-8859-2", "mac_roman", "cp437"]


def mojibake(s, dec):
    try:
        return s.encode("utf-8").decode(dec)
    except UnicodeDecodeError:
        return None


def random_text(rng):
    kind = rng.randrange(7)
    if kind == 0:
        return "".join(rng.choice(POOL) for _ in range(rng.randrange(1, 40)))
    if kind == 1:
        parts = []
        for _ in range(rng.randrange(1, 8)):
            r = rng.random()
            if r < 0.4:
                parts.append(rng.choice(WORDS))
            elif r < 0.7:
                parts.append(rng.choice(ENTITIES))
            else:
                parts.append("".join(rng.choice(POOL) for _ in range(rng.randrange(1, 5))))
        return rng.choice(["", " ", "  "]).join(parts) if rng.random() < 0.3 else " ".join(parts)
    if kind in (2, 3):
        s = " ".join(rng.choice(WORDS) for _ in range(rng.randrange(1, 8)))
        s += rng.choice(["", " “quoted”", " ‘x’", " — dash", " …", " 😀👍🏽", " ½ price", " 20€", " © 2024",
                         " naïve\u00a0café"])
        for _ in range(rng.randrange(1, 3)):
            s = mojibake(s, rng.choice(DECODINGS)) or s
        if rng.random() < 0.3:
            s = s.replace("\u00a0", " ")
        if rng.random() < 0.2:
            s = s.replace("\u00c2", "")
        return s
    if kind == 4:
        w = rng.choice(WORDS) + " " + rng.choice(WORDS)
        m = mojibake(w, rng.choice(["latin-1", "windows-1252"])) or w
        return (rng.choice(WORDS) + " " + m + " " + rng.choice(WORDS)
                + rng.choice(["", "\n", "\nline2 " + rng.choice(ENTITIES),
                              " <b> " + rng.choice(ENTITIES) + "\n" + rng.choice(ENTITIES)]))
    if kind == 5:
        return " ".join(rng.choice(WORDS + ENTITIES) for _ in range(rng.randrange(30, 90)))
    return " ".join(rng.choice(EXTRA) for _ in range(rng.randrange(1, 4)))


def main():
    rng = random.Random(int(sys.argv[2]))
    texts = [random_text(rng) for _ in range(int(sys.argv[3]))]
    # Swift strings cannot hold unpaired surrogates.
    texts = [t for t in texts if not any(0xD800 <= ord(c) <= 0xDFFF for c in t)]
    json.dump([record(t) for t in texts], sys.stdout, ensure_ascii=True, separators=(",", ":"))


main()
