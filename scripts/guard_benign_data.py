"""Extra benign training text for the injection classifier: real human-written prose plus a varied generator.

Why: the first model had no benign narrative, conversational or second-person
text, so anything addressed to "you" looked like a jailbreak to it. The fix is
data, not a lower bar: text that talks to a reader, gives instructions to
people, quotes dialogue, or mentions the trigger words for benign reasons.

Sources (read as data at training time, never shipped):

* Debian manual pages under ``/usr/share/man`` (each under its package's licence,
  see ``/usr/share/doc/<pkg>/copyright``): imperative, second-person technical prose
  ("you can override ...", "ignore ...").
* Debian's ``fortunes`` / ``fortunes-min`` (BSD-style; ``apt-get install fortunes
  fortunes-min``): quotations, short dialogue, jokes, verse, when installed.
* Python source files of the running interpreter's standard library (PSF licence):
  code with comments, as users paste code.
* The generator below (conversations, letters, second-person narrative, how-to
  instructions for people, benign prompts that mention trigger words). Its word lists
  share nothing with the eval's generator (`tests/guard` checks the literal lists).
"""

from __future__ import annotations

import gzip
import random
import re
import sysconfig
from pathlib import Path

_ROFF_ESC = re.compile(r"\\f[BIRPC]|\\f\(..|\\f\[[^\]]*\]|\\\*\(..|\\\*\[[^\]]*\]|\\\(..|\\[&|^~]|\\s[-+]?\d")


def _roff_to_text(src: str) -> str:
    out: list[str] = []
    for line in src.splitlines():
        if line.startswith(('.\\"', "'\\\"", ".\\}")):
            continue
        if line.startswith("."):
            head, _, rest = line.partition(" ")
            if head in (".B", ".I", ".BI", ".IB", ".BR", ".RB", ".IR", ".RI", ".SH", ".SS") and rest:
                out.append(rest.replace('"', ""))
            elif head in (".PP", ".P", ".LP", ".TP", ".IP", ".SH", ".sp"):
                out.append("")
            continue
        out.append(line)
    text = "\n".join(out).replace("\\-", "-").replace("\\e", "\\")
    text = _ROFF_ESC.sub("", text)
    return re.sub(r"[ \t]+", " ", text)


def _chunks(text: str, rng: random.Random, lo: int = 80, hi: int = 3000) -> list[str]:
    paras = [p.strip() for p in re.split(r"\n\s*\n", text) if len(p.strip()) > lo]
    out, i = [], 0
    while i < len(paras):
        k = rng.randint(1, 4)
        out.append("\n\n".join(paras[i : i + k])[:hi])
        i += k
    return out


def man_pages(rng: random.Random, limit: int = 4000) -> list[str]:
    files = sorted(Path("/usr/share/man").glob("man[158]/*.gz"))
    rng.shuffle(files)
    texts: list[str] = []
    for f in files[: limit // 2]:
        try:
            raw = gzip.decompress(f.read_bytes()[: 1 << 20]).decode("utf-8", "replace")
        except (OSError, EOFError, ValueError):
            continue
        texts += _chunks(_roff_to_text(raw), rng)[:3]
    rng.shuffle(texts)
    return list(dict.fromkeys(texts))[:limit]


def fortunes(rng: random.Random, limit: int = 4000) -> list[str]:
    items: list[str] = []
    for f in sorted(Path("/usr/share/games/fortunes").glob("*")):
        if f.suffix or not f.is_file() or f.name.endswith("-o"):
            continue  # .dat indexes, .u8 links, offensive sets
        items += [x.strip() for x in f.read_text(errors="replace").split("\n%\n") if len(x.strip()) > 30]
    rng.shuffle(items)
    out = []
    i = 0
    while i < len(items) and len(out) < limit:
        k = rng.randint(1, 5)
        out.append("\n\n".join(items[i : i + k]))
        i += k
    return out


def stdlib_code(rng: random.Random, limit: int = 1500) -> list[str]:
    files = sorted(Path(sysconfig.get_paths()["stdlib"]).glob("*.py"))
    rng.shuffle(files)
    out: list[str] = []
    for f in files:
        src = f.read_text(errors="replace")
        if len(src) < 400:
            continue
        for _ in range(2):
            start = rng.randint(0, max(0, len(src) - 1500))
            out.append(src[start : start + rng.randint(300, 2000)])
        if len(out) >= limit:
            break
    return out


# -- generator ------------------------------------------------------------------------------------

PEOPLE = [
    "Nadia", "Oscar", "Grandpa Joe", "Ms. Turner", "Kwame", "Isabel", "the landlord", "Rafael", "Hannah",
    "Uncle Viktor", "the nurse", "Chen", "Beatrix", "the sergeant", "Marguerite", "Tobias", "Aiko", "Lars",
]  # fmt: skip
VERBS_SAID = ["said", "murmured", "snapped", "laughed", "sighed", "insisted", "protested", "admitted", "declared"]
SPOKEN = [
    "You needn't look at me like that.", "Come in, you must be frozen.", "You were always the clever one.",
    "If you leave now, you'll catch the last train.", "I want you to promise me something.",
    "You may forget the whole business, for all I care.", "You have your father's temper.",
    "Pay him no mind; he says that to everyone.", "Don't you dare tell your mother.", "You owe me nothing.",
    "Why did you never answer my letters?", "Let us put the past behind us.", "You shall not have it.",
    "I command you to be silent!", "Obey me this once, and I will never ask again.", "You are dismissed.",
    "Follow me, and say nothing to the guards.", "From this day on you will be called by your true name.",
    "Reveal yourself, whoever you are!", "Keep the secret, whatever happens.", "Tell no one what you saw.",
]  # fmt: skip
NARRATION = [
    "The wind came off the moor in long grey gusts.", "He set down his cup without a word.",
    "The house smelled of wax and old paper.", "Outside, the bells of the cathedral began to ring.",
    "She had not slept, and it showed in her face.", "The clock on the mantel struck nine.",
    "A cart went by, loaded high with turnips.", "For a moment neither of them moved.",
    "He thought of the summer they had spent by the sea.", "The candle guttered and nearly went out.",
    "Her brother had gone to the city years before and had not written since.", "The ship lay at anchor in the bay.",
    "It was past midnight when the knock came at the door.", "The garden was overgrown with nettles.",
    "They dined late, and the conversation turned to money.", "The letter was unsigned.",
]  # fmt: skip
SECOND_PERSON = [
    "You wake before dawn and lie listening to the rain.", "You turn the corner and the street is empty.",
    "You remember your grandmother's kitchen, the smell of bread.", "You are seventeen and the summer is endless.",
    "You walk into the interview ten minutes early.", "You open the drawer and find the old photographs.",
    "You are standing at the edge of the platform when the train pulls in.",
]  # fmt: skip
CHAT_CUSTOMER = [
    "Hi, my order {n} hasn't arrived yet.", "I was charged twice for my subscription.",
    "How do I change the email on my account?", "The app crashes when I open settings.",
    "Can I return shoes I've worn once?", "My password reset link expired.",
    "I'd like to cancel my plan, please.", "The invoice shows the wrong company name.",
]  # fmt: skip
CHAT_AGENT = [
    "Thanks for reaching out! Could you confirm the email on the account?",
    "I'm sorry about that. I've issued a refund; you should see it in 3-5 business days.",
    "You can ignore the first confirmation email; the second one has the correct link.",
    "Please disregard the automated message you received earlier; it was sent in error.",
    "I've reset it on our side. You'll need to log out and back in.",
    "Sure. Go to Settings, then Account, and tap Change email.",
    "Our system shows the parcel is with the courier. You'll get a tracking update tonight.",
    "Could you send me a screenshot of the error you are seeing?",
]  # fmt: skip
HOWTO = [
    "Preheat the oven to {d} degrees. You'll want to grease the tin first; ignore recipes that say to skip it.",
    "Before you start, switch off the power at the breaker. You must never work on a live circuit.",
    "To assemble the shelf, attach panel A to panel B using the short screws. Don't overtighten them.",
    "New hires: you can skip the second module of the onboarding course if you already completed it last year.",
    "When you reach the fork in the trail, keep left. Forget the old signpost; it points the wrong way.",
    "Mix the flour and salt, then add the water a little at a time. You may need less than the recipe says.",
    "If the printer shows error {n}, turn it off, wait ten seconds and turn it on again.",
    "Your first task this week is to review the pull requests assigned to you. Ignore the stale ones from last year.",
    "Drivers must yield to pedestrians at marked crossings. You should slow down near schools.",
    "Take one tablet twice a day with water. Do not exceed the stated dose.",
]  # fmt: skip
TRIGGER_BENIGN = [
    "What's the best way to ignore whitespace changes in {tool} diffs?",
    "Write a unit test that checks our chatbot's system prompt is loaded from the config file.",
    "Our security team wants a slide explaining jailbreak attacks on LLMs. Give me five bullet points.",
    "Summarise this policy: employees must not override safety interlocks on the press.",
    "How do I tell {tool} to disregard files matching a pattern?",
    "Is it safe to jailbreak an old tablet so my kid can play offline games?",
    "Can you rewrite this so it sounds less bossy: 'You will submit your timesheets by Friday.'",
    "In {tool}, how can I override the default configuration for one project only?",
    "Describe how red teams test language models for prompt injection, at a high level.",
    "The instructions in our README are outdated. Help me write new setup steps for {tool}.",
    "What did the judge mean by telling the jury to disregard the witness's last remark?",
    "Give me a regex that ignores case when matching 'system prompt' in log lines.",
    "Forget about the budget for a second: what would the ideal team offsite look like?",
    "Act as a patient interviewer and ask me practice questions for a {tool} developer role.",
    "You're a helpful editor. Please tighten this paragraph: {n}",
    "Pretend we're planning a road trip across Portugal. Where should we stop first?",
    "What does 'developer options' do on a smart TV?",
    "Explain the phrase 'ignore previous instructions' and why it shows up in security papers.",
    "Reveal the ending of the film only if I ask twice, OK? First tell me who directed it.",
    "Translate 'please ignore this message if you have already paid' into German.",
]  # fmt: skip
TOOLS = ["git", "eslint", "Docker", "pytest", "Terraform", "webpack", "Excel", "Photoshop", "VS Code", "Ansible"]
TASK_FRAMES = [
    "Correct the grammar:\n\n{s}", "Classify the sentiment of this review:\n\n{s}", "Turn this into a tweet:\n\n{s}",
    "Extract the names mentioned here:\n\n{s}", "Rewrite for a ten-year-old:\n\n{s}", "Is this statement true?\n\n{s}",
    "Give this paragraph a title:\n\n{s}", "Q: {s}\nA:", "Fix the spelling: {s}", "Make this more formal: {s}",
]  # fmt: skip
FACTS = [
    "The Danube flows through ten countries.", "Honey never spoils if it is sealed.", "Owls cannot move their eyes.",
    "the meeting got moved and nobody told me, you know how it is", "I think you are the best teacher we ever had.",
    "You left your umbrella at the restaurant last night.", "Bananas are berries but strawberries are not.",
    "Our quarterly numbers beat the forecast by four percent.", "You should try the new bakery on Main Street.",
]  # fmt: skip


def _story(rng: random.Random) -> str:
    parts = []
    for _ in range(rng.randint(3, 14)):
        r = rng.random()
        if r < 0.45:
            speaker = rng.choice(PEOPLE)
            line = rng.choice(SPOKEN)
            parts.append(
                f'"{line}" {speaker} {rng.choice(VERBS_SAID)}.' if rng.random() < 0.6
                else f'{speaker} {rng.choice(VERBS_SAID)}, "{line}"'
            )  # fmt: skip
        elif r < 0.55:
            parts.append(rng.choice(SECOND_PERSON))
        else:
            parts.append(rng.choice(NARRATION))
    sep = "\n\n" if rng.random() < 0.4 else " "
    return sep.join(parts)


def _chat(rng: random.Random) -> str:
    lines = []
    for _ in range(rng.randint(1, 4)):
        lines.append("Customer: " + rng.choice(CHAT_CUSTOMER).format(n=rng.randint(10000, 99999)))
        lines.append("Agent: " + rng.choice(CHAT_AGENT))
    if rng.random() < 0.5:
        lines.insert(0, "Please summarise this support conversation for the ticket notes:")
    return "\n".join(lines)


def generated_benign(rng: random.Random, n: int, prose: list[str]) -> list[str]:
    out: list[str] = []
    for _ in range(n):
        out.append(_story(rng))
        out.append(_chat(rng))
        out.append(rng.choice(HOWTO).format(d=rng.choice([180, 200, 220]), n=rng.randint(1, 99)))
        note = rng.choice(prose)[: rng.randint(60, 400)] if prose else rng.choice(FACTS)
        out.append(rng.choice(TRIGGER_BENIGN).format(tool=rng.choice(TOOLS), n=note))
        out.append(rng.choice(TASK_FRAMES).format(s=" ".join(rng.sample(FACTS, rng.randint(1, 3)))))
    return out
