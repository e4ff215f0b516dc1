"""Hand-written signals of instruction override, role hijack, exfiltration and fake chat markup.

They are not a verdict on their own (benign prompts say "ignore the noise" or
"what is a jailbreak?"): each hit becomes one feature of the classifier, which
learnt from data how much each is worth, and its name becomes a value-free
reason in the verdict.
"""

from __future__ import annotations

import re

_F = re.IGNORECASE | re.DOTALL

PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (name, re.compile(rx, _F))
    for name, rx in (
        (
            "ignore_instructions",
            r"\b(ignore|disregard|forget|override|overrule|bypass|skip|drop|abandon|neglect)\b[^.\n]{0,40}?"
            r"\b(previous|prior|above|earlier|preceding|foregoing|initial|original|system|all|any|your|the|these)\b"
            r"[^.\n]{0,30}?\b(instructions?|prompts?|rules|directions?|directives?|guidelines|guardrails|context|"
            r"messages|commands?|constraints|programming|policies|restrictions)\b",
        ),
        (
            "new_instructions",
            r"\b(new|updated|real|actual|true|secret|hidden|revised)\s+(instructions?|rules|task|"
            r"objective|directives?|orders)\s*(are|is)?\s*[:\-]",
        ),
        (
            "role_override",
            r"\b(you are now|you're now|you are no longer|from now on,? you|you will now act|"
            r"pretend (that )?you are|act as (a|an|my)?\s*\w*\s*(ai|assistant|model|bot|chatbot)?\s*"
            r"(without|with no|that has no|free from))\b",
        ),
        (
            "persona_jailbreak",
            r"\b(DAN|do anything now|developer mode|dev mode|jailbr[eo]a?k(en|ed|ing)?|god ?mode|"
            r"unfiltered|uncensored|evil (ai|confidant|bot)|no moral|amoral|unrestricted ai|"
            r"STAN|DUDE|AIM|anti-?gpt|BetterDAN|Machiavellian)\b",
        ),
        (
            "no_restrictions",
            r"\b(without|no|free (of|from)|not bound by|ignore|break|remove|disable)\s+"
            r"(any\s+|all\s+|the\s+|your\s+)?(ethical\s+|moral\s+|safety\s+|content\s+)?"
            r"(restrictions|filters|filtering|limitations|censorship|guidelines|polic(y|ies)|"
            r"safeguards|guardrails|ethics|morals)\b",
        ),
        (
            "prompt_exfiltration",
            r"\b(reveal|print|show|repeat|output|leak|tell me|display|dump|share|spell|"
            r"recite|echo|write out|translate)\b[^\n]{0,50}?\b(system prompt|system message|"
            r"initial prompt|hidden prompt|original prompt|prompt above|your instructions|"
            r"initiali[sz]ation|pre-?prompt|the words above|instructions above|"
            r"everything above|text above)\b",
        ),
        (
            "fake_delimiter",
            r"(<\|im_(start|end)\|>|<\|(system|assistant|user|endoftext)\|>|\[/?INST\]|<</?SYS>>|"
            r"^\s*#{2,}\s*(system|instruction|new task)|^\s*(system|assistant)\s*:|"
            r"\bEND OF (USER )?(INPUT|PROMPT|CONTEXT)\b|-{3,}\s*(end|begin)\b)",
        ),
        (
            "addressed_to_ai",
            r"\b(note|message|instructions?|attention|important)\s+(to|for)\s+(the\s+|any\s+)?"
            r"(ai|assistant|language model|llm|chatbot|agent|model|gpt|copilot|bot)\b|"
            r"\b(ai|assistant|llm|agent|chatbot)s?\s*(reading|processing|summari[sz]ing)\s+this\b|"
            r"\bif you are an? (ai|language model|llm|assistant|agent)\b",
        ),
        (
            "tool_hijack",
            r"\b(call|invoke|execute|run|use)\s+(the\s+)?(tool|function|plugin|api|command)\b[^\n]{0,60}?"
            r"\b(send|post|email|forward|upload|delete|transfer)\b",
        ),
        (
            "exfil_link",
            r"!\[[^\]]*\]\(\s*https?://[^)\s]*[?&][^)\s]*=|\bhttps?://[^\s)]*[?&](q|data|d|secret|"
            r"token|prompt|msg|info|p)=\{?",
        ),
        (
            "hypothetical_frame",
            r"\b(hypothetical(ly)?|fictional|in a story|role-?play|simulat(e|ion))\b[^.\n]{0,60}?"
            r"\b(no (rules|limits|restrictions)|anything|illegal|unethical|without)\b",
        ),
        (
            "refusal_suppression",
            r"\b(never|do not|don't|must not|cannot)\s+(refuse|decline|say (no|sorry|"
            r"you can'?t)|apologi[sz]e|warn|include (any )?(disclaimers?|warnings?))\b",
        ),
        (
            "do_not_tell_user",
            r"\b(do not|don't|never)\s+(tell|inform|mention|reveal|let)\s+(this\s+to\s+)?"
            r"(the\s+)?(user|human|them)\b",
        ),
        ("stop_everything", r"\b(stop everything|nevermind|never mind)\b[^\n]{0,40}\b(print|say|instead|ignore)\b"),
    )
)

NAMES: tuple[str, ...] = tuple(name for name, _ in PATTERNS)


def hits(text: str) -> list[str]:
    """Names of the heuristics that fire on `text` (already normalised)."""
    return [name for name, rx in PATTERNS if rx.search(text)]
