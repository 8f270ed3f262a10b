"""Text for synthetic letters: real English sentences and words, letter furniture, names.

Sources, each with the licence read from its Debian ``copyright`` file at fetch time:

* WordNet 3.0 example sentences (Debian ``wordnet-base``; the WordNet 3.0 licence: use,
  copy, modify and distribute for any purpose, with Princeton's notice kept beside copies).
  About 48,000 short sentences of real usage; word frequencies are counted from them.
* The SCOWL British word list (Debian ``wbritish``; permission to use, copy, modify,
  distribute and sell, with its notice kept): rarer words, places and given names.
* Built-in phrases written for quire (dates, salutations, closings, addresses, sums of
  money, French words with accents).

``python -m training.synth.corpus fetch`` unpacks the two packages into a text cache
(``.quire/texts``, or ``QUIRE_TEXT_CACHE``); without it the corpus falls back to the same
files under ``/usr/share`` and, failing that, to the built-in phrases alone.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import tempfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from shared.textnorm import normalize_text
from training.synth.fonts import debian_license, unpack_debian, write_manifest

DEFAULT_TEXT_CACHE = Path(".quire/texts")
TEXT_CACHE_ENV = "QUIRE_TEXT_CACHE"
EXAMPLES_FILE = "wordnet-examples.txt"
WORDS_FILE = "words.txt"
WORDNET_DATA = ("data.noun", "data.verb", "data.adj", "data.adv")
SYSTEM_WORDNET = Path("/usr/share/wordnet")
SYSTEM_WORD_LISTS = (
    Path("/usr/share/dict/british-english"),
    Path("/usr/share/dict/american-english"),
)
# Licences a text source may carry; anything else is refused at fetch time.
ALLOWED_TEXT_LICENSES = frozenset({"WordNet3.0", "SCOWL", "public-domain"})
_SCOWL_GRANT = re.compile(r"permission to use, copy, modify, distribute and sell these word", re.I)

Rng = np.random.Generator

MONTHS = (
    "January", "February", "March", "April", "May", "June", "July", "August",
    "September", "October", "November", "December",
)  # fmt: skip
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
FIRST_NAMES = (
    "Alice", "Arthur", "Edith", "Albert", "Florence", "George", "Harriet", "Henry", "Ada",
    "James", "Margaret", "John", "Mary", "William", "Elizabeth", "Thomas", "Emily", "Charles",
    "Annie", "Frederick", "Clara", "Walter", "Ellen", "Robert", "Louisa", "Edward", "Martha",
    "Samuel", "Agnes", "Joseph", "Beatrice", "Ernest", "Dorothy", "Herbert", "Rose", "Alfred",
    "Lucy", "Francis", "Kate", "Hugh", "Ethel", "Percy", "Mabel", "Sidney", "Winifred",
    "Stanley", "Gladys", "Cecil", "Violet", "Leonard", "Hilda", "Reginald", "Nellie", "Amélie",
    "Zoë", "Hélène", "René", "Noël", "Léon", "Joséphine",
)  # fmt: skip
SURNAMES = (
    "Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies", "Robinson",
    "Wright", "Thompson", "Evans", "Walker", "White", "Roberts", "Green", "Hall", "Wood",
    "Jackson", "Clarke", "Hawkins", "Pemberton", "Ashworth", "Fairclough", "Whitaker", "Lister",
    "Haworth", "Crossley", "Pickering", "Marsden", "Ogden", "Holroyd", "Sutcliffe", "Barraclough",
    "Dawson", "Fletcher", "Mercer", "Thornton", "Kershaw", "Brennan", "O'Connor", "MacLeod",
    "Fitzgerald", "Lefèvre", "Dubois", "Müller", "Bérard", "Fenwick", "Gallagher", "Hargreaves",
)  # fmt: skip
TOWNS = (
    "London", "Bath", "York", "Leeds", "Bristol", "Halifax", "Norwich", "Chester", "Durham",
    "Exeter", "Lincoln", "Oxford", "Cambridge", "Brighton", "Whitby", "Harrogate", "Keswick",
    "Manchester", "Liverpool", "Edinburgh", "Glasgow", "Aberdeen", "Cardiff", "Swansea",
    "Dublin", "Belfast", "Plymouth", "Canterbury", "Salisbury", "Ipswich", "Huddersfield",
    "Scarborough", "Penzance", "Inverness", "Paris", "Rouen", "Lyon", "Genève", "Besançon",
)  # fmt: skip
STREET_KINDS = ("Street", "Road", "Lane", "Terrace", "Place", "Square", "Crescent", "Villas")
STREET_NAMES = (
    "Church", "Mill", "Park", "Station", "High", "King", "Queen", "Victoria", "Albert", "Oak",
    "Elm", "Grove", "Spring", "Bridge", "Castle", "Market", "Chapel", "Manor", "Orchard",
    "Moor", "Priory", "Abbey", "Belle Vue", "Clarence", "Nelson", "Waterloo", "Trafalgar",
)  # fmt: skip
HOUSE_NAMES = ("The Elms", "Rose Cottage", "Hill House", "The Laurels", "Ivy Lodge", "Fernbank")
TITLES = ("Mr", "Mrs", "Miss", "Dr", "Rev.", "Mr.", "Mrs.", "Capt.", "Prof.")
RELATIONS = (
    "Mother", "Father", "Sister", "Brother", "Aunt", "Uncle", "Cousin", "Friend", "Son",
    "Daughter",
)  # fmt: skip
SALUTATIONS = (
    "Dear Sir,", "Dear Madam,", "Dear Sir or Madam,", "Sir,", "Madam,", "Gentlemen,",
    "Dear {first},", "My dear {first},", "Dearest {first},", "Dear {title} {surname},",
    "My dear {relation},", "Dear {relation},", "Dearest {relation},", "Dear Friend,",
    "Dear Mr {surname},", "Dear Mrs {surname},", "Dear Miss {surname},", "Chère Madame,",
    "Cher Monsieur,", "Dear all,",
)  # fmt: skip
CLOSINGS = (
    "Yours faithfully,", "Yours sincerely,", "Yours truly,", "Yours very truly,",
    "Believe me, yours sincerely,", "With kind regards,", "With love,", "With much love,",
    "Your affectionate {relation},", "Your loving {relation},", "Ever yours,", "Yours ever,",
    "I remain, Sir, your obedient servant,", "Your friend,", "Affectionately,",
    "With best wishes,", "Bien à vous,", "Amitiés,",
)  # fmt: skip
# Sentences written for quire, in the register of private and business letters.
LETTER_SENTENCES = (
    "I received your letter of the {date} and was glad to hear that {first} is well.",
    "We arrived at {town} on {weekday} evening after a long and tiring journey.",
    "Please give my kind regards to {title} {surname} and the children.",
    "The weather has been very {weather} these last {small} days.",
    "I enclose a cheque for {money} in settlement of your account.",
    "Would you be so good as to send the parcel to {number} {street}?",
    "Mother asks me to tell you that the garden is looking splendid.",
    "I shall be in {town} on the {day_of_month} and hope to call upon you.",
    "Thank you so much for the {gift}; it arrived safely on {weekday}.",
    "We were all very sorry to hear of your illness, and hope you are better.",
    "The train leaves at {time}, so I shall meet you at the station.",
    "I have not heard from {first} since {month}, and I am getting anxious.",
    "Your order of the {date} has been received and will be attended to.",
    "The meeting is fixed for {weekday} next at {time} in the schoolroom.",
    "Do write soon and tell me all your news.",
    "I am sorry to have been so long in answering your kind letter.",
    "The children send their love and a great many kisses.",
    "We have taken rooms at {number} {street} for the summer.",
    "Enclosed please find the receipts for {month} and {month2}.",
    "It was a great pleasure to see you again after so many years.",
    "The doctor says I must rest for at least a fortnight.",
    "Father has bought a new horse, and we drive out every afternoon.",
    "I hope this finds you in good health, as it leaves me at present.",
    "There is little news here, except that it has rained every day.",
    "Please let me know by return of post whether the terms are agreeable.",
    "The sum of {money} is still owing on the account of {month}.",
    "{first} and I went to the concert on {weekday}; it was delightful.",
    "I have been reading the book you lent me, and like it very much.",
    "We expect to sail from {town} on the {day_of_month} of {month}.",
    "Nous avons passé une très belle journée à {town}.",
    "Le café était excellent et la crème fraîche aussi.",
    "Je vous écris de {town}, où il fait déjà très froid.",
    "Mon frère arrivera vendredi avec sa fiancée Hélène.",
    "Ma chère amie, je pense à vous très souvent.",
    "Merci beaucoup pour votre lettre si aimable.",
)  # fmt: skip
FRENCH_WORDS = (
    "café", "élève", "fenêtre", "où", "déjà", "très", "garçon", "crème", "naïve", "façade",
    "château", "Noël", "été", "hôtel", "forêt", "première", "père", "mère", "frère", "sœur",
    "ça", "côté", "âge", "bientôt", "rôle", "fiancée", "début", "détail", "théâtre", "élégant",
    "résumé", "menu", "prévu", "reçu", "leçon", "français", "Hélène", "Zoë", "Müller", "über",
)  # fmt: skip
WEATHER = ("wet", "cold", "fine", "warm", "stormy", "changeable", "dull", "bright", "mild")
GIFTS = ("book", "gloves", "photograph", "shawl", "cake", "flowers", "letter", "scarf", "pen")
ABBREVIATIONS = ("No.", "St.", "Co.", "Ltd.", "&", "etc.", "viz.", "i.e.", "e.g.", "p.m.")
PUNCTUATION_ENDS = (".", ".", ".", ".", ".", "!", "?", ";", ",", ":")


@dataclass(frozen=True)
class TextSource:
    """Where a piece of the corpus came from, and under which licence."""

    name: str
    package: str
    version: str
    license: str
    path: str


@dataclass
class Corpus:
    """Sentences, frequency-weighted words and letter furniture, sampled from an rng.

    Every method takes the numpy ``Generator`` to draw from, so a seed fixes the text.
    Outputs are already passed through ``normalize_text``.
    """

    sentences: tuple[str, ...]
    frequent_words: tuple[str, ...]
    word_weights: np.ndarray
    rare_words: tuple[str, ...]
    sources: tuple[TextSource, ...] = ()
    _cumulative: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        weights = np.asarray(self.word_weights, dtype=np.float64)
        self._cumulative = np.cumsum(weights / weights.sum()) if weights.size else weights

    # --- words ---------------------------------------------------------------------------

    def word(self, rng: Rng) -> str:
        """One real word: by frequency mostly, sometimes rare, sometimes French."""
        roll = rng.random()
        if roll < 0.04:
            return _pick(rng, FRENCH_WORDS)
        if roll < 0.16 and self.rare_words:
            return _pick(rng, self.rare_words)
        if not self.frequent_words:
            return _pick(rng, FRENCH_WORDS + GIFTS + WEATHER)
        index = int(np.searchsorted(self._cumulative, rng.random(), side="right"))
        return self.frequent_words[min(index, len(self.frequent_words) - 1)]

    def words_line(self, rng: Rng, count: int) -> str:
        """``count`` words with the odd capital, number and punctuation mark."""
        out = []
        for _ in range(count):
            word = self.word(rng) if rng.random() > 0.06 else _number(rng)
            if rng.random() < 0.12:
                word = word[:1].upper() + word[1:]
            if rng.random() < 0.08:
                word += _pick(rng, PUNCTUATION_ENDS)
            out.append(word)
        return normalize_text(" ".join(out))

    # --- sentences -----------------------------------------------------------------------

    def sentence(self, rng: Rng) -> str:
        """One sentence: a real one from the corpus or a letter phrase with its blanks filled."""
        if self.sentences and rng.random() < 0.65:
            text = ""
            for _ in range(4):  # WordNet has noun-phrase examples too: prefer longer ones
                text = _pick(rng, self.sentences)
                if len(text.split()) >= 6:
                    break
            text = _as_sentence(text, rng)
        else:
            text = self.fill(_pick(rng, LETTER_SENTENCES), rng)
        return normalize_text(text)

    def paragraph(self, rng: Rng, sentences: int) -> str:
        """``sentences`` sentences joined into one paragraph."""
        return normalize_text(" ".join(self.sentence(rng) for _ in range(sentences)))

    def fill(self, template: str, rng: Rng) -> str:
        """A template with its ``{slots}`` filled: names, dates, money, places, times."""
        slots = {
            "first": _pick(rng, FIRST_NAMES),
            "surname": _pick(rng, SURNAMES),
            "title": _pick(rng, TITLES),
            "relation": _pick(rng, RELATIONS),
            "town": _pick(rng, TOWNS),
            "weekday": _pick(rng, WEEKDAYS),
            "month": _pick(rng, MONTHS),
            "month2": _pick(rng, MONTHS),
            "date": self.date(rng, short=False),
            "day_of_month": _ordinal(int(rng.integers(1, 29))),
            "money": _money(rng),
            "time": _time(rng),
            "number": str(int(rng.integers(1, 240))),
            "street": _street(rng),
            "small": _pick(rng, ("two", "three", "four", "five", "ten", "few")),
            "weather": _pick(rng, WEATHER),
            "gift": _pick(rng, GIFTS),
        }
        return template.format(**slots)

    # --- letter furniture ----------------------------------------------------------------

    def date(self, rng: Rng, short: bool | None = None) -> str:
        """A date as letters write it: ``March 3rd 1887``, ``3 March 1887``, ``14/3/87``."""
        year = int(rng.integers(1840, 1990))
        month, day = int(rng.integers(1, 13)), int(rng.integers(1, 29))
        name = MONTHS[month - 1]
        forms = (
            f"{name} {_ordinal(day)} {year}",
            f"{name} {_ordinal(day)}, {year}",
            f"{day} {name} {year}",
            f"{_ordinal(day)} {name} {year}",
            f"{_ordinal(day)} {name[:3]}. {year}",
            f"{_pick(rng, WEEKDAYS)}, {day} {name}",
            f"{_pick(rng, WEEKDAYS)} {_ordinal(day)}",
            f"{day}/{month}/{year % 100:02d}",
            f"{day}.{month}.{year}",
            f"le {day} {_FRENCH_MONTHS[month - 1]} {year}",
        )
        choice = forms[-3:-1] if short else forms[:7] if short is False else forms
        return normalize_text(_pick(rng, choice))

    def place_date(self, rng: Rng) -> str:
        """``Bath, March 3rd 1887`` or just the date."""
        date = self.date(rng)
        return normalize_text(f"{_pick(rng, TOWNS)}, {date}" if rng.random() < 0.3 else date)

    def address(self, rng: Rng) -> list[str]:
        """Two or three address lines: house, street, town (and sometimes a county line)."""
        lines = [f"{int(rng.integers(1, 240))} {_street(rng)},", f"{_pick(rng, TOWNS)}."]
        if rng.random() < 0.35:
            lines.insert(0, f"{_pick(rng, HOUSE_NAMES)},")
        return [normalize_text(line) for line in lines]

    def salutation(self, rng: Rng) -> str:
        return normalize_text(self.fill(_pick(rng, SALUTATIONS), rng))

    def closing(self, rng: Rng) -> str:
        return normalize_text(self.fill(_pick(rng, CLOSINGS), rng))

    def signature(self, rng: Rng) -> str:
        """A name as people sign: ``Arthur``, ``A. Hawkins``, ``Edith M. Lister``."""
        first, surname = _pick(rng, FIRST_NAMES), _pick(rng, SURNAMES)
        forms = (
            first,
            f"{first[0]}. {surname}",
            f"{first} {surname}",
            f"{first} {_pick(rng, FIRST_NAMES)[0]}. {surname}",
            f"your {first}",
        )
        return normalize_text(_pick(rng, forms))

    def line(self, rng: Rng, max_words: int = 10) -> str:
        """A stand-alone text line for line images: any of the kinds above."""
        roll = rng.random()
        if roll < 0.08:
            return self.date(rng)
        if roll < 0.14:
            return self.salutation(rng)
        if roll < 0.19:
            return self.closing(rng)
        if roll < 0.24:
            return self.signature(rng)
        if roll < 0.29:
            return _pick(rng, self.address(rng))
        if roll < 0.42:
            return self.words_line(rng, int(rng.integers(1, max_words + 1)))
        words = self.sentence(rng).split()
        start = int(rng.integers(0, max(1, len(words) - 2)))
        return normalize_text(" ".join(words[start : start + int(rng.integers(2, max_words + 1))]))


_FRENCH_MONTHS = (
    "janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre",
    "octobre", "novembre", "décembre",
)  # fmt: skip


def _pick(rng: Rng, items: Sequence[str]) -> str:
    return items[int(rng.integers(0, len(items)))]


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _money(rng: Rng) -> str:
    pounds, shillings, pence = (
        int(rng.integers(1, 500)),
        int(rng.integers(0, 20)),
        int(rng.integers(0, 12)),
    )
    forms = (
        f"£{pounds} {shillings}s {pence}d",
        f"£{pounds}.{shillings}.{pence}",
        f"{pounds} pounds",
        f"${pounds}.{int(rng.integers(0, 100)):02d}",
        f"£{pounds}",
    )
    return _pick(rng, forms)


def _time(rng: Rng) -> str:
    hour, minute = int(rng.integers(1, 13)), int(rng.integers(0, 12)) * 5
    forms = (
        f"{hour}.{minute:02d}",
        f"{hour} o'clock",
        f"{hour}.{minute:02d} p.m.",
        f"half past {hour}",
        f"{hour}:{minute:02d}",
    )
    return _pick(rng, forms)


def _street(rng: Rng) -> str:
    return f"{_pick(rng, STREET_NAMES)} {_pick(rng, STREET_KINDS)}"


def _number(rng: Rng) -> str:
    forms = (
        str(int(rng.integers(0, 100))),
        str(int(rng.integers(100, 10000))),
        f"No. {int(rng.integers(1, 300))}",
        _pick(rng, ABBREVIATIONS),
        _money(rng),
    )
    return _pick(rng, forms)


def _as_sentence(text: str, rng: Rng) -> str:
    text = text.strip().rstrip(".;,")
    if not text:
        return text
    text = text[0].upper() + text[1:]
    if text[-1] in "?!":
        return text
    end = "?" if text.split()[0].lower() in _QUESTION_WORDS else "!" if rng.random() < 0.03 else "."
    return text + end


_QUESTION_WORDS = frozenset(
    {"how", "what", "why", "who", "where", "when", "is", "are", "do", "did"}
)


# --- loading ---------------------------------------------------------------------------------


def default_text_dir() -> Path:
    """``QUIRE_TEXT_CACHE`` when set, else ``.quire/texts``."""
    return Path(os.environ.get(TEXT_CACHE_ENV) or DEFAULT_TEXT_CACHE)


def wordnet_examples(folder: Path) -> list[str]:
    """The quoted example sentences of WordNet's ``data.*`` files, in file order."""
    examples: list[str] = []
    for name in WORDNET_DATA:
        path = folder / name
        if not path.exists():
            continue
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("  ") or "|" not in line:  # the licence header
                continue
            for example in re.findall(r'"([^"]+)"', line.split("|", 1)[1]):
                text = normalize_text(example.replace("`", "'"))  # WordNet quotes `like this'
                if len(text.split()) >= 3 and "..." not in text:
                    examples.append(text)
    return examples


def clean_word_list(lines: Sequence[str]) -> list[str]:
    """Words from a SCOWL list without possessives and acronyms."""
    return [
        w
        for w in (line.strip() for line in lines)
        if w and "'" not in w and not (len(w) > 1 and w.isupper())
    ]


def word_frequencies(sentences: Sequence[str]) -> Counter[str]:
    """Word counts over sentences (punctuation stripped, case kept for names)."""
    counts: Counter[str] = Counter()
    for sentence in sentences:
        counts.update(w for w in re.findall(r"[^\W\d_]+(?:['-][^\W\d_]+)*", sentence))
    return counts


def load_corpus(text_dir: Path | None = None, system: bool = True) -> Corpus:
    """The corpus from the text cache, else ``/usr/share``, else built-in phrases only.

    Args:
        text_dir: A folder ``fetch_texts`` filled; default ``default_text_dir()``.
        system: Fall back to WordNet and word lists installed under ``/usr/share``.
    """
    folder = text_dir or default_text_dir()
    manifest = _read_json(folder / "manifest.json")
    sources = tuple(TextSource(**s) for s in manifest.get("sources", []))
    if (folder / EXAMPLES_FILE).exists():
        text = (folder / EXAMPLES_FILE).read_text(encoding="utf-8").replace("`", "'")
        sentences = text.splitlines()
    else:
        sentences = wordnet_examples(SYSTEM_WORDNET) if system else []
        if sentences:
            sources += (
                TextSource(
                    "WordNet 3.0 examples",
                    "wordnet-base",
                    "system",
                    "WordNet3.0",
                    str(SYSTEM_WORDNET),
                ),
            )
    if (folder / WORDS_FILE).exists():
        rare = (folder / WORDS_FILE).read_text(encoding="utf-8").splitlines()
    else:
        found = next((p for p in SYSTEM_WORD_LISTS if system and p.exists()), None)
        rare = clean_word_list(found.read_text(encoding="utf-8").splitlines()) if found else []
        if found:
            sources += (TextSource("SCOWL word list", found.name, "system", "SCOWL", str(found)),)
    counts = word_frequencies(sentences or LETTER_SENTENCES)
    frequent = tuple(sorted(counts, key=lambda w: (-counts[w], w)))
    weights = np.array([counts[w] for w in frequent], dtype=np.float64) ** 0.85
    return Corpus(tuple(sentences), frequent, weights, tuple(rare), sources)


def _read_json(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    return dict(json.loads(path.read_text(encoding="utf-8")))


# --- fetching --------------------------------------------------------------------------------


def text_license(copyright_text: str) -> str | None:
    """The licence of a text package's ``copyright`` file (WordNet's DEP-5 id, SCOWL's grant)."""
    if _SCOWL_GRANT.search(" ".join(copyright_text.split())):
        return "SCOWL"
    return debian_license(copyright_text, "data.noun")


def fetch_texts(text_dir: Path) -> list[str]:
    """Unpack ``wordnet-base`` and ``wbritish``, keep their licences, write the text cache.

    Returns:
        Lines to print: what was written, or why a package was left out.
    """
    text_dir.mkdir(parents=True, exist_ok=True)
    have = _read_json(text_dir / "manifest.json").get("sources", [])
    if len(have) == 2 and all((text_dir / s["path"]).exists() for s in have):
        return [f"already cached: {s['package']} {s['version']} ({s['license']})" for s in have]
    report, sources = [], []
    for package, wanted in (
        ("wordnet-base", "usr/share/wordnet"),
        ("wbritish", "usr/share/dict/british-english"),
    ):
        with tempfile.TemporaryDirectory(prefix="quire-text-") as tmp:
            root = Path(tmp)
            try:
                version = unpack_debian(package, root)
            except RuntimeError as e:
                report.append(f"failed  {package}: {e}")
                continue
            copyright_file = root / "usr/share/doc" / package / "copyright"
            license_id = text_license(copyright_file.read_text(encoding="utf-8"))
            if license_id not in ALLOWED_TEXT_LICENSES:
                report.append(f"refused {package} {version}: licence {license_id}")
                continue
            shutil.copyfile(copyright_file, text_dir / f"{package}.copyright")
            out = _extract_text(package, root / wanted, text_dir)
            sources.append(TextSource(package, package, version, str(license_id), out).__dict__)
            report.append(f"kept    {package} {version} ({license_id}) -> {out}")
    if sources:
        write_manifest(text_dir, {"sources": sources})
    return report


def _extract_text(package: str, source: Path, text_dir: Path) -> str:
    if package == "wordnet-base":
        lines = wordnet_examples(source)
        name = EXAMPLES_FILE
    else:
        lines = clean_word_list(source.read_text(encoding="utf-8").splitlines())
        name = WORDS_FILE
    (text_dir / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return name


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m training.synth.corpus fetch|sample [--dir DIR]``."""
    parser = argparse.ArgumentParser(prog="python -m training.synth.corpus")
    parser.add_argument("action", choices=["fetch", "sample"])
    parser.add_argument("--dir", type=Path, default=None, help=f"default ${TEXT_CACHE_ENV}")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    folder = args.dir or default_text_dir()
    if args.action == "fetch":
        print("\n".join(fetch_texts(folder)))
        return 0
    corpus, rng = load_corpus(folder), np.random.default_rng(args.seed)
    for _ in range(12):
        print(corpus.line(rng))
    return 0


if __name__ == "__main__":
    sys.exit(main())
