"""Words of the corpus: verb forms, subjects, sentence templates, modifier and context phrases.

Action phrases are written once in the base form with a ``{poss}`` slot ("raise {poss}
eyebrows"); :func:`verb_form` makes the third-person ("raises"), gerund ("raising") and base
forms, so one phrase serves every template. Each template, modifier word, context and
background carries a ``split``: ``"train"`` items use only train entries, ``"val"`` items may
add val entries and ``"test"`` items test entries, so held-out wording never reaches training.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Split = Literal["train", "val", "test"]
Form = Literal["3s", "base", "ing"]

# --------------------------------------------------------------------------------------------
# Verb forms
# --------------------------------------------------------------------------------------------

_IRREGULAR: dict[str, tuple[str, str]] = {  # base -> (3rd person singular, gerund)
    "be": ("is", "being"), "have": ("has", "having"), "do": ("does", "doing"), "go": ("goes", "going"),
    "lie": ("lies", "lying"), "see": ("sees", "seeing"), "flee": ("flees", "fleeing"),
}  # fmt: skip
# Verbs whose final consonant doubles before -ing (stressed CVC endings); English has no rule
# a program can apply without a dictionary, so the corpus lists the ones it uses.
_DOUBLE = frozenset({
    "nod", "grin", "drop", "bob", "sob", "jut", "shut", "let", "get", "put", "sit", "pat", "stop",
    "tap", "wag", "snap", "flip", "dip", "hug", "chat", "run", "swivel", "slip", "stir", "pop", "bat",
    "grit", "knit", "hum", "scan", "shrug", "tip", "stab", "trim", "blur", "sip",
})  # fmt: skip


def verb_form(phrase: str, form: Form) -> str:
    """Inflect the first word of a base-form verb phrase: ``("raise x", "ing") -> "raising x"``."""
    verb, _, rest = phrase.partition(" ")
    if form == "base":
        word = verb
    elif verb in _IRREGULAR:
        word = _IRREGULAR[verb][0 if form == "3s" else 1]
    elif form == "3s":
        if verb.endswith(("s", "sh", "ch", "x", "z", "o")):
            word = verb + "es"
        elif verb.endswith("y") and verb[-2:-1] not in "aeiou":
            word = verb[:-1] + "ies"
        else:
            word = verb + "s"
    elif verb in _DOUBLE:
        word = verb + verb[-1] + "ing"
    elif verb.endswith("ie"):
        word = verb[:-2] + "ying"
    elif verb.endswith("e") and not verb.endswith(("ee", "ye", "oe")):
        word = verb[:-1] + "ing"
    else:
        word = verb + "ing"
    return f"{word} {rest}" if rest else word


# --------------------------------------------------------------------------------------------
# Subjects
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Subject:
    """Who acts: ``text`` as it opens a sentence, the possessive and the pronoun that agree.

    ``obj`` is the object form ("a clip of her"); ``plural`` makes verbs take the base form
    ("they smile"). A singular "they" still takes plural verbs, which :func:`pronoun_plural`
    tells the templates.
    """

    text: str
    poss: str
    pronoun: str
    plural: bool = False
    obj: str = ""

    @property
    def object_form(self) -> str:
        return self.obj or lower_subject(self)

    @property
    def pronoun_plural(self) -> bool:
        return self.pronoun == "they"


SUBJECTS: tuple[Subject, ...] = (
    Subject("A person", "their", "they"),
    Subject("Someone", "their", "they"),
    Subject("The person", "their", "they"),
    Subject("A man", "his", "he"),
    Subject("The man", "his", "he"),
    Subject("A woman", "her", "she"),
    Subject("The woman", "her", "she"),
    Subject("He", "his", "he", obj="him"),
    Subject("She", "her", "she", obj="her"),
    Subject("They", "their", "they", plural=True, obj="them"),
    Subject("The character", "their", "they"),
    Subject("The actor", "their", "they"),
    Subject("A girl", "her", "she"),
    Subject("A boy", "his", "he"),
    Subject("An old man", "his", "he"),
    Subject("A young woman", "her", "she"),
)


def lower_subject(subject: Subject) -> str:
    """The subject as it reads mid-sentence ("a person", but "he" and "they" too)."""
    return subject.text[0].lower() + subject.text[1:]


# --------------------------------------------------------------------------------------------
# Modifier words: intensity and manner
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Modifier:
    """An adverb that changes how an action is performed.

    ``level`` names the plan-side effect (see :data:`INTENSITY_LEVELS`, :data:`MANNERS`);
    ``position`` is where it goes: ``"pre"`` before the verb ("slightly smiles"), ``"post"``
    after the whole phrase ("smiles a little").
    """

    word: str
    level: str
    position: Literal["pre", "post"]
    split: Split = "train"


# Intensity multipliers applied to an action's typical AU intensities (then clipped to 1).
INTENSITY_LEVELS: dict[str, tuple[float, float]] = {
    "low": (0.3, 0.45),
    "mid": (0.6, 0.75),
    "high": (1.3, 1.5),
}
INTENSITY_WORDS: tuple[Modifier, ...] = (
    Modifier("slightly", "low", "pre"),
    Modifier("a little", "low", "post"),
    Modifier("subtly", "low", "pre"),
    Modifier("faintly", "low", "pre"),
    Modifier("barely", "low", "pre"),
    Modifier("ever so slightly", "low", "pre", "test"),
    Modifier("a tiny bit", "low", "post", "val"),
    Modifier("somewhat", "mid", "pre"),
    Modifier("moderately", "mid", "pre"),
    Modifier("halfway", "mid", "post", "test"),
    Modifier("strongly", "high", "post"),
    Modifier("intensely", "high", "post"),
    Modifier("a lot", "high", "post"),
    Modifier("really", "high", "pre"),
    Modifier("dramatically", "high", "post"),
    Modifier("exaggeratedly", "high", "pre"),
    Modifier("with great intensity", "high", "post", "val"),
    Modifier("forcefully", "high", "post", "test"),
)

# Manner classes: timing changes the plan applies (see studio.corpus.plan).
MANNERS = ("slow", "gradual", "fast", "sudden", "brief", "long", "repeat2", "repeat3", "repeat")
MANNER_WORDS: tuple[Modifier, ...] = (
    Modifier("slowly", "slow", "pre"),
    Modifier("slowly", "slow", "post"),
    Modifier("leisurely", "slow", "post", "test"),
    Modifier("gradually", "gradual", "pre"),
    Modifier("little by little", "gradual", "post", "val"),
    Modifier("quickly", "fast", "pre"),
    Modifier("quickly", "fast", "post"),
    Modifier("rapidly", "fast", "post"),
    Modifier("suddenly", "sudden", "pre"),
    Modifier("all of a sudden", "sudden", "post"),
    Modifier("abruptly", "sudden", "pre", "test"),
    Modifier("briefly", "brief", "pre"),
    Modifier("for a split second", "brief", "post", "test"),
    Modifier("for a long moment", "long", "post"),
    Modifier("for a while", "long", "post"),
    Modifier("twice", "repeat2", "post"),
    Modifier("two times", "repeat2", "post", "test"),
    Modifier("three times", "repeat3", "post"),
    Modifier("repeatedly", "repeat", "post"),
    Modifier("over and over", "repeat", "post"),
    Modifier("again and again", "repeat", "post", "val"),
    Modifier("a few times", "repeat", "post", "test"),
)


# --------------------------------------------------------------------------------------------
# Contexts ("as if hearing a funny joke") and script backgrounds
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Context:
    """A situation phrase; a non-neutral one tints the whole clip with its emotion's prototype."""

    text: str
    emotion: str  # one of studio.facs.EMOTIONS, or "neutral"
    split: Split = "train"


CONTEXTS: tuple[Context, ...] = (
    Context("as if hearing a funny joke", "happiness"),
    Context("as if greeting an old friend", "happiness"),
    Context("as if opening a long-awaited gift", "happiness"),
    Context("as if watching a comedy", "happiness"),
    Context("after winning a prize", "happiness"),
    Context("as if seeing a puppy", "happiness", "val"),
    Context("as if receiving good news", "happiness", "test"),
    Context("as if receiving bad news", "sadness"),
    Context("as if remembering a lost friend", "sadness"),
    Context("as if saying goodbye forever", "sadness"),
    Context("after a long disappointing day", "sadness"),
    Context("as if missing home", "sadness", "val"),
    Context("as if reading a sad letter", "sadness", "test"),
    Context("as if seeing a ghost", "fear"),
    Context("as if hearing a noise in the dark", "fear"),
    Context("as if standing at the edge of a cliff", "fear"),
    Context("as if a spider crawled onto {poss} arm", "fear"),
    Context("as if lost in a dark forest", "fear", "val"),
    Context("as if being chased", "fear", "test"),
    Context("as if a balloon popped nearby", "surprise"),
    Context("as if seeing an unexpected guest", "surprise"),
    Context("as if hearing shocking news", "surprise"),
    Context("as if the lights suddenly came on", "surprise"),
    Context("as if a door slammed behind {poss} back", "surprise", "val"),
    Context("as if finding money on the street", "surprise", "test"),
    Context("as if someone cut in line", "anger"),
    Context("as if being insulted", "anger"),
    Context("as if stuck in traffic", "anger"),
    Context("as if someone broke {poss} phone", "anger"),
    Context("as if being lied to", "anger", "val"),
    Context("as if arguing with a rude neighbour", "anger", "test"),
    Context("as if smelling something rotten", "disgust"),
    Context("as if tasting sour milk", "disgust"),
    Context("as if stepping in something nasty", "disgust"),
    Context("as if seeing a cockroach in {poss} food", "disgust"),
    Context("as if touching slime", "disgust", "val"),
    Context("as if smelling old garbage", "disgust", "test"),
    Context("during a meeting", "neutral"),
    Context("in a quiet room", "neutral"),
    Context("on a video call", "neutral"),
    Context("in front of the camera", "neutral"),
    Context("at a bus stop", "neutral", "val"),
    Context("at the office", "neutral", "test"),
)

# KeyframeFace-style scene backgrounds, one list per emotion.
BACKGROUNDS: dict[str, tuple[tuple[str, Split], ...]] = {
    "happiness": (
        ("The character opens a birthday present from a close friend.", "train"),
        ("The character hears that they got the job they wanted.", "train"),
        ("The character watches a child take their first steps.", "train"),
        ("The character's team scores the winning goal.", "train"),
        ("The character reunites with family at the airport.", "train"),
        ("The character finds a kind note on their desk.", "val"),
        ("The character is told a joke by a friend at dinner.", "test"),
    ),
    "sadness": (
        ("The character reads a letter about a friend who passed away.", "train"),
        ("The character watches the train leave without them.", "train"),
        ("The character looks at an old photo of a lost pet.", "train"),
        ("The character learns the trip has been cancelled.", "train"),
        ("The character sits alone after everyone has gone home.", "train"),
        ("The character hears their favourite shop is closing.", "val"),
        ("The character says goodbye to a friend moving abroad.", "test"),
    ),
    "fear": (
        ("The character hears footsteps behind them in an empty street.", "train"),
        ("The character sees a shadow move in a dark hallway.", "train"),
        ("The character stands on a shaking bridge over a canyon.", "train"),
        ("The character notices a snake next to their foot.", "train"),
        ("The character wakes up to a strange noise at night.", "train"),
        ("The character's car skids on an icy road.", "val"),
        ("The character is alone in a lift when the lights go out.", "test"),
    ),
    "surprise": (
        ("The character walks into a dark room and the lights suddenly come on.", "train"),
        ("The character opens the door to a surprise party.", "train"),
        ("The character sees an old friend in a foreign city.", "train"),
        ("The character finds a forgotten banknote in a coat pocket.", "train"),
        ("A magician pulls a coin from behind the character's ear.", "train"),
        ("The character's phone shows a message from a long-lost cousin.", "val"),
        ("The character wins a raffle they had forgotten about.", "test"),
    ),
    "anger": (
        ("Someone cuts in front of the character in a long queue.", "train"),
        ("The character finds their new car scratched.", "train"),
        ("A colleague takes credit for the character's work.", "train"),
        ("The character is put on hold for the fifth time.", "train"),
        ("The neighbour's music wakes the character at 3 a.m.", "train"),
        ("The character's order arrives wrong for the third time.", "val"),
        ("Someone insults the character's family.", "test"),
    ),
    "disgust": (
        ("The character opens a fridge full of rotten food.", "train"),
        ("The character steps on chewing gum barefoot.", "train"),
        ("The character finds a hair in their soup.", "train"),
        ("The character smells a blocked drain.", "train"),
        ("The character watches someone pick their nose at dinner.", "train"),
        ("The character tastes milk that has gone sour.", "val"),
        ("The character sees mould on the bread they just bit.", "test"),
    ),
}

# The "Emotion" field of a script (KeyframeFace writes a word like "Surprised").
EMOTION_WORDS: dict[str, tuple[str, ...]] = {
    "happiness": ("Happy", "Joyful", "Delighted"),
    "sadness": ("Sad", "Sorrowful", "Downcast"),
    "fear": ("Afraid", "Scared", "Frightened"),
    "surprise": ("Surprised", "Astonished", "Amazed"),
    "anger": ("Angry", "Annoyed", "Furious"),
    "disgust": ("Disgusted", "Repulsed", "Revolted"),
}


# --------------------------------------------------------------------------------------------
# Sentence templates
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Template:
    """A sentence frame. Slots: ``{S}`` subject, ``{s}`` subject mid-sentence, ``{P}`` pronoun,
    ``{o}`` subject as an object ("of her"), ``{A}``/``{B}``/``{C}`` verb phrases agreeing
    with the subject (or with ``{P}`` right before them), ``{A_ing}`` gerunds,
    ``{A_base}`` base forms, ``{ctx}``/``{Ctx}`` context, ``{parts}`` keyframe state parts.
    """

    id: str
    composition: str
    pattern: str
    split: Split = "train"

    @property
    def has_context(self) -> bool:
        return "{ctx}" in self.pattern or "{Ctx}" in self.pattern

    @property
    def imperative(self) -> bool:
        return "_base}" in self.pattern and "{S}" not in self.pattern and "{o}" not in self.pattern


TEMPLATES: tuple[Template, ...] = (
    # one action (also "repeat": the repetition word sits inside {A})
    Template("one.plain", "single", "{S} {A}."),
    Template("one.bare", "single", "{S} {A}"),
    Template("one.clip", "single", "A clip of {o} {A_ing}."),
    Template("one.video", "single", "Video of {o} {A_ing}."),
    Template("one.imperative", "single", "{A_base}."),
    Template("one.gerund", "single", "{A_ing}."),
    Template("one.here", "single", "Here {s} {A}."),
    Template("one.camera", "single", "Facing the camera, {s} {A}."),
    Template("one.val", "single", "In this clip, {s} {A}.", "val"),
    Template("one.see", "single", "We see {o} {A_base}.", "test"),
    Template("one.watch", "single", "Watch as {s} {A}.", "test"),
    # one action with a context phrase
    Template("ctx.end", "single", "{S} {A} {ctx}."),
    Template("ctx.front", "single", "{Ctx}, {s} {A}."),
    Template("ctx.gerund", "single", "{A_ing} {ctx}."),
    Template("ctx.val", "single", "{S} {A}, {ctx}.", "val"),
    Template("ctx.test", "single", "{S}, {ctx}, {A}.", "test"),
    # two actions in order
    Template("seq.then", "seq", "{S} {A} and then {B}."),
    Template("seq.comma", "seq", "{S} {A}, then {B}."),
    Template("seq.first", "seq", "First {s} {A}, then {P} {B}."),
    Template("seq.next", "seq", "{S} {A}. Next, {P} {B}."),
    Template("seq.imperative", "seq", "{A_base}, then {B_base}."),
    Template("seq.gerund", "seq", "{A_ing} and then {B_ing}."),
    Template("seq.before", "seq", "{S} {A} before {B_ing}."),
    Template("seq.ctx", "seq", "{S} {A} and then {B} {ctx}."),
    Template("seq.val", "seq", "{S} {A} and afterwards {B}.", "val"),
    Template("seq.ctx_val", "seq", "{Ctx}, {s} {A} and then {B}.", "val"),
    Template("seq.after", "seq", "After {A_ing}, {s} {B}.", "test"),
    Template("seq.starts", "seq", "{S} starts by {A_ing} and ends up {B_ing}.", "test"),
    Template("seq.ctx_test", "seq", "{S} {A}, then, {ctx}, {B}.", "test"),
    # three actions in order
    Template("seq3.finally", "seq3", "{S} {A}, then {B}, and finally {C}."),
    Template("seq3.and", "seq3", "{S} {A}, {B} and then {C}."),
    Template("seq3.first", "seq3", "First {s} {A}, next {P} {B}, and at the end {P} {C}."),
    Template("seq3.val", "seq3", "{S} {A}; then {P} {B}; then {P} {C}.", "val"),
    Template(
        "seq3.test", "seq3", "{S} begins by {A_ing}, moves on to {B_ing} and finishes by {C_ing}.", "test"
    ),
    # A on top of a longer background action B
    Template("while.while", "while", "{S} {A} while {B_ing}."),
    Template("while.lead", "while", "While {B_ing}, {s} {A}."),
    Template("while.as", "while", "{S} {A} as {P} {B}."),
    Template("while.gerund", "while", "{A_ing} while {B_ing}."),
    Template("while.val", "while", "{S} keeps {B_ing} and meanwhile {A}.", "val"),
    Template("while.test", "while", "{S} {A}, all the while {B_ing}.", "test"),
    # two actions together
    Template("simul.same", "simul", "{S} {A} and {B} at the same time."),
    Template("simul.and", "simul", "{S} {A} and {B}."),
    Template("simul.gerund", "simul", "{A_ing} and {B_ing} simultaneously."),
    Template("simul.val", "simul", "At the same time, {s} {A} and {B}.", "val"),
    Template("simul.test", "simul", "{S} {A} and, simultaneously, {B}.", "test"),
    # keyframe descriptions of a KeyframeFace-style script (one frame for all its keyframes)
    Template("key.parts", "script", "{Parts}."),
    Template("key.face", "script", "The face shows {parts}."),
    Template("key.with", "script", "{S} with {parts}."),
    Template("key.val", "script", "Now {parts}.", "val"),
    Template("key.test", "script", "Expression: {parts}.", "test"),
)
TEMPLATE_INDEX = {t.id: t for t in TEMPLATES}


def allowed(split_of_item: Split, split_of_entry: Split) -> bool:
    """May an item of ``split_of_item`` use an entry (template, word...) of ``split_of_entry``?"""
    return split_of_entry == "train" or split_of_entry == split_of_item


def capitalise(text: str) -> str:
    return text[:1].upper() + text[1:]
