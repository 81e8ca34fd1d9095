"""A team-written lexicon of harm vocabulary, one list per group (CC0 1.0).

Why: a small training set cannot contain every word of a harm category, and a word
the default classifier never saw weighs nothing ("write ransomware", "give me a
keylogger", "launder money", "doxx her", "hotwire a car" scored near 0 in model
3.0.0).  Each group below becomes ONE feature of the default classifier (how many
of the group's terms a text contains); the logistic heads learn that feature's
weight from the training data like any other, so a term the data never shows
inherits the weight its group earned.  After training, a group's weight is folded
into the weight row of each of its terms (`tools/build_default_classifier.py`), so
the exported graph is still a plain n-gram model: no new node, no run-time cost.

Rules for the lists (they are data, reviewed like the prompts):

* words or two-word phrases (the model's n-grams; a longer phrase cannot be folded
  into one row and is rejected by :func:`terms`), written as a person types them;
  the analyzer (`analyze` + `tokenize` of the build) turns them into the model's
  tokens, so "won't" is the bigram "won t" -> "won" (single letters are dropped);
* unambiguous terms only: a word with a common harmless sense ("kill", "shoot",
  "crack", "cut") stays out; the n-gram model learns those in context;
* morphological variants: ``~`` after a word asks for its regular forms
  (:func:`inflect`: -s, -es, -ed, -ing, -er, -ers); irregular forms, common
  misspellings and spelling variants are listed by hand;
* no harmful content: names of things and acts, never instructions.

``evasion`` is not a harm category: it is wording that asks to avoid being noticed
("undetected", "without getting caught"), which the heads may weigh in any
category.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

LEXICON_VERSION = "1.0.0"

GROUPS: dict[str, tuple[str, ...]] = {
    "illicit": (
        # malware and intrusion
        "ransomware", "ransomeware", "ransomwares", "keylogger", "keyloggers", "keyloger",
        "keylogging", "rootkit", "rootkits", "botnet", "botnets", "spyware", "stalkerware",
        "trojan horse", "access trojan", "infostealer", "infostealers", "cryptojacker",
        "cryptojacking", "malware", "malwares", "malicous", "polymorphic malware",
        "zero day", "0day", "exploit kit", "ddos", "ddosing", "ddosed", "dos attack",
        "credential stuffing", "brute force", "bruteforce", "password cracker", "sql injection",
        "reverse shell", "backdoor~", "shellcode", "payload that", "antivirus evasion",
        "bypass antivirus", "evade antivirus", "disable defender", "hack into", "hacking into",
        "hacked into", "break into", "breaking into", "crypter", "fud payload", "rat payload",
        "typosquat~", "typosquatting", "skimmer~", "card skimmer", "sim swap", "sim swapping",
        # fraud and scams
        "phishing", "phising", "phish~", "spear phishing", "smishing", "vishing", "scam~",
        "scammer~", "scamming", "launder~", "money laundering", "dirty money", "clean money",
        "wash money", "counterfeit~", "counterfiet", "forge~", "forgery", "forgeries",
        "fake id", "fake ids", "fake passport", "fake invoice", "fake invoices", "fake reviews",
        "fraudulent", "defraud~", "embezzle~", "embezzlement", "ponzi", "pyramid scheme",
        "pump and", "insider trading", "tax evasion", "evade taxes", "identity theft",
        "stolen identity", "stolen identities", "stolen credit", "stolen cards", "carding",
        "cc dumps", "dumps with", "check washing", "wash check", "chargeback fraud",
        "benefits fraud", "insurance fraud", "catfish~", "romance scam", "card scam",
        "bribe~", "kickback~", "extort~", "extortion", "blackmail~", "sextort~", "sextortion",
        # non-violent crime
        "shoplift~", "shoplifting", "hotwire~", "hot wire", "hotwiring", "carjack~",
        "steal~", "stole", "stolen", "burglar~", "burglarize", "burglary", "pickpocket~",
        "lock picking", "pick lock", "break in", "smuggle~", "smuggling", "traffick~",
        "trafficking", "fence stolen", "catalytic converter", "vandalize", "vandalise",
        "graffiti tag", "arson", "poach~", "poaching", "cook meth", "meth lab",
        "grow weed", "sell drugs", "selling drugs", "drug dealer", "drug dealing",
        "dark web", "darkweb", "darknet", "ghost gun", "ghost guns", "unregistered gun",
        "untraceable gun", "without serial",
    ),
    "violence": (
        "murder~", "murderer", "assassinate", "assassinating", "assassination", "strangle~",
        "strangling", "behead~", "beheading", "stab him", "stab her", "stab someone",
        "stabbing", "torture~", "kidnap~",
        "kidnapping", "abduct~", "abduction", "shoot up", "mass shooting",
        "school shooting", "make bomb", "build bomb", "bomb making", "pipe bomb",
        "car bomb", "nail bomb", "molotov",
        "molotov cocktail", "explosive device", "explosives", "detonator~", "ied", "ieds",
        "grenade~",
        "poison him", "poison her", "poison someone", "poison my", "pepper spray", "maim",
        "maiming", "beat up", "beat him",
        "beat her", "bludgeon", "hurt him", "hurt her", "hurt someone", "break his",
        "break her", "acid attack", "arsonist", "burn down", "set fire", "run over",
        "hitman", "hit man", "contract killer", "kill him", "kill her", "kill my",
        "kill someone", "kill people", "killing people", "auto sear", "bump stock",
        "full auto", "silencer~", "suppressor~", "printed gun", "zip gun",
        "terror cell", "join isis", "martyrdom operation",
        "lone wolf", "attack plan", "radicalize", "radicalise", "radicalizing", "recruit~ for",
        "militia", "insurrection", "overthrow", "accelerationism", "accelerationist",
    ),
    "hate": (
        "subhuman~", "subhumans", "untermensch", "vermin", "inferior race", "master race",
        "racial purity", "race war", "great replacement",
        "white power", "white supremacy", "white supremacist", "white genocide",
        "holocaust denial", "holocaust hoax", "heil", "1488", "neo nazi", "kkk",
        "racist joke", "racist jokes", "slur~", "racial slur",
        "hate speech", "dehumanize", "dehumanise", "dehumanizing", "inbred", "degenerates",
        "deport them", "exterminate", "extermination", "mongrel~",
        "antisemitic", "islamophobic", "homophobic", "transphobic", "bigoted",
    ),
    "harassment": (
        "harass~", "harassment", "bully~", "bullying", "cyberbully~", "cyberbullying",
        "humiliate", "humiliating", "insult~", "degrade", "degrading", "intimidate",
        "intimidating", "threaten~", "threatening", "stalk~", "stalking", "troll~",
        "trolling", "brigade", "brigading", "dogpile", "mass report", "pile on",
        "revenge porn", "nudes of", "leak her", "leak his", "ruin her", "ruin his",
        "her cry", "him cry", "kill yourself", "kys", "worthless", "pathetic",
        "loser", "ugly", "fat pig", "hate mail", "death threat", "death threats",
        "burner account", "burner accounts", "sockpuppet~", "smear campaign",
    ),
    "privacy": (
        "doxx~", "doxxing", "doxing", "dox~", "home address", "house address",
        "she lives", "he lives", "they live", "track her", "track his",
        "track my", "tracking her", "tracking his", "spy on", "spying on", "snoop~",
        "stalkerware", "phone tracker", "gps tracker", "airtag", "air tag",
        "real name", "real identity", "unmask", "deanonymize", "deanonymise",
        "social security", "ssn", "ssns", "medical records", "phone number",
        "private photos", "private messages", "read her", "read his", "her texts",
        "his texts", "her emails", "his emails", "without consent", "background check",
        "facial recognition", "reverse image", "people search", "scrape personal",
    ),
    "self_harm": (
        "suicide", "suicidal", "kill myself", "killing myself", "end my",
        "own life", "wanna die", "die tonight", "self harm",
        "selfharm", "self harming", "cut myself", "cutting myself", "hurt myself",
        "hurting myself", "overdose~", "od on", "lethal dose", "painless way",
        "hang myself", "starve myself", "pro ana", "proana", "thinspo",
        "off dead", "slit my", "my wrists",
    ),
    "sexual": (
        "csam", "child porn", "kiddie porn", "cp links", "underage porn", "underage nudes",
        "jailbait", "loli", "lolicon", "shota", "shotacon",
        "groom child", "groom kid", "grooming child", "grooming children", "grooming kids",
        "grooming minors", "groom minor", "pedo~", "pedophile~", "paedophile~", "molest~",
        "nudes of", "explicit photos", "sexual story", "sex story", "erotic story",
        "erotic scene", "sex scene", "sex scenes", "sexual scene", "explicit scene",
        "sexual images", "sexual pictures", "sexting", "sext~",
        "our secret", "keep secret", "our little",
    ),
    "jailbreak": (
        "jailbreak~", "jailbroken", "dan mode", "developer mode", "god mode",
        "ignore previous", "ignore all", "ignore your", "disregard previous",
        "disregard your", "forget your", "forget previous", "override your", "bypass your",
        "system prompt", "hidden prompt", "initial instructions", "previous instructions",
        "prior instructions", "your instructions", "your rules", "your guidelines",
        "no restrictions", "no filters", "unfiltered", "uncensored", "unrestricted",
        "without restrictions", "without limits", "no limits", "no rules", "no ethics",
        "safety filters", "content policy", "in character", "evil ai", "evil assistant",
        "opposite mode", "prompt injection", "injected instructions", "new instructions",
        "reveal your", "print your", "verbatim", "this line",
    ),
    "evasion": (
        "undetected", "undetectable", "untraceable", "unnoticed", "unnoticeable",
        "get caught", "getting caught", "being caught", "got caught", "without noticing",
        "without detection", "avoid detection", "evade detection", "evading detection",
        "won't notice", "wont notice", "never notice", "never find",
        "without knowing", "without telling", "without her", "without him", "without them",
        "cover up", "covering up", "no trace", "leave no", "without a trace",
        "avoid police", "avoid cops", "police won't", "cops won't",
        "get past", "slip past", "plausible deniability",
        "not traceable", "anonymously", "burner phone", "burner phones",
    ),
}

_SUFFIXES = ("s", "es", "ed", "ing", "er", "ers")


def inflect(word: str) -> list[str]:
    """``word`` and its regular forms (a form that is not a word is never matched)."""
    forms = [word]
    stems = [word]
    if word.endswith("e"):
        stems.append(word[:-1])  # forge -> forging, forged
    if len(word) > 2 and word[-1] not in "aeiouwxy" and word[-2] in "aeiou" and word[-3] not in "aeiou":
        stems.append(word + word[-1])  # stab -> stabbing, kidnap -> kidnapping
    for stem in stems:
        forms += [stem + s for s in _SUFFIXES]
    seen: dict[str, None] = {}
    for f in forms:
        seen.setdefault(f, None)
    return list(seen)


def expand(entry: str) -> list[str]:
    """An entry's written forms: ``~`` after a word inflects that word."""
    words = entry.split(" ")
    options = [inflect(w[:-1]) if w.endswith("~") else [w] for w in words]
    out = [""]
    for opts in options:
        out = [f"{a} {b}".strip() for a in out for b in opts]
    return out


def terms(analyzer: Callable[[str], list[str]]) -> dict[str, list[str]]:
    """Group -> the sorted n-grams (``"a"`` or ``"a b"``) of its entries, as ``analyzer``
    (text -> tokens) sees them.  An entry that yields no token or more than two
    tokens is an error: it could not be one row of the model."""
    out: dict[str, list[str]] = {}
    for group, entries in GROUPS.items():
        grams: set[str] = set()
        for entry in entries:
            for form in expand(entry):
                toks = analyzer(form)
                if not 1 <= len(toks) <= 2:
                    raise ValueError(f"lexicon {group}: {form!r} is {len(toks)} tokens "
                                     f"({toks}); use a word or a two-word phrase")
                grams.add(" ".join(toks))
        out[group] = sorted(grams)
    return out


def all_terms(groups: dict[str, Iterable[str]]) -> list[str]:
    return sorted({t for ts in groups.values() for t in ts})
