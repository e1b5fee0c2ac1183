"""The guardrail vocabulary: modal words, exceptions, bypasses, section names and risky shapes, in en and ru.

Phrases are written over normalised text (lower case, `ё` as `е`, words separated by single spaces).
A word ending in `*` matches any word with that stem, which is how Russian inflection is covered.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final, Literal

Modality = Literal["prohibit", "oblige", "recommend", "discourage", "permit", "release"]

# fmt: off
# How binding a statement is: a plain imperative is an order, "must"/"never" make it a hard rule,
# "should"/"avoid" a recommendation, "may"/"no need to" a permission.
FORCE: Final[dict[Modality, int]] = {
    "prohibit": 3,
    "oblige": 3,
    "recommend": 1,
    "discourage": 1,
    "permit": 0,
    "release": 0,
}
PLAIN_FORCE: Final = 2
NEGATIVE: Final[frozenset[Modality]] = frozenset({"prohibit", "discourage"})


def phrase_pattern(phrases: Iterable[str]) -> re.Pattern[str]:
    """One boundary-anchored alternation of word phrases, longest first so "do not need to" beats "do not"."""
    alternatives = []
    for phrase in sorted(set(phrases), key=len, reverse=True):
        words = [
            re.escape(w[:-1]) + r"\S*" if w.endswith("*") and len(w) > 1 else re.escape(w)
            for w in phrase.split()
        ]
        alternatives.append(r"\s+".join(words))
    return re.compile(r"(?<!\S)(?:" + "|".join(alternatives) + r")(?!\S)")


MODAL_PHRASES: Final[dict[Modality, tuple[str, ...]]] = {
    "prohibit": (
        "never", "must not", "mustn't", "must never", "shall not", "shan't", "may not", "cannot",
        "can not", "can't", "do not", "don't", "is not allowed", "are not allowed", "not allowed",
        "not permitted", "forbidden", "prohibited", "disallowed", "banned",
        "under no circumstances", "at no time", "no one may", "nobody may", "is not to",
        "are not to", "refrain from", "never ever", "not under any circumstances", "никогда",
        "нельзя", "запрещ*", "не допускается", "не разрешается", "не разрешено", "не долж*",
        "ни в коем случае", "не смей*", "не позволяется", "недопустимо", "не вправе",
        "не допустимо", "не может", "не могут", "не можете", "not acceptable", "unacceptable",
        "is not ok", "not ok", "not okay", "is not fine", "instead of", "rather than",
        "недопустим*", "неприемлем*", "вместо",
    ),
    "oblige": (
        "must", "must always", "always", "shall", "required", "is required", "are required",
        "mandatory", "need to", "needs to", "have to", "has to", "only", "at all times",
        "without exception", "make sure", "ensure", "be sure to", "strictly",
        "under all circumstances", "needs", "requires", "in all cases", "every time",
        "is obligatory", "obligatory", "обязательно", "обязательн*", "обязан*", "долж*", "всегда",
        "необходимо", "требуется", "только", "строго", "непременно", "нужно", "надо", "убедитесь",
        "в любом случае", "без исключений",
    ),
    "recommend": (
        "should", "ought to", "prefer", "preferably", "preferred", "try to", "try and",
        "attempt to", "aim to", "strive to", "consider", "recommended", "is recommended",
        "we recommend", "encouraged", "suggested", "advisable", "is advised", "best to",
        "it's best", "ideally", "where possible", "whenever possible", "when possible",
        "if possible", "as much as possible", "as far as possible", "where practical",
        "where practicable", "when practical", "if practical", "where feasible", "when feasible",
        "if feasible", "when you can", "if you can", "where you can", "generally", "usually",
        "typically", "normally", "in general", "in most cases", "as a rule", "mostly",
        "most of the time", "it is a good idea", "a good idea", "good practice", "when convenient",
        "if convenient", "nice to have", "try", "should always", "whenever you can",
        "if time permits", "следует", "рекомендуется", "рекоменду*", "желательно", "по возможности",
        "старайтесь", "постарайтесь", "стоит", "лучше", "предпочтительно", "предпочитайте",
        "как правило", "обычно", "в идеале", "при возможности", "если возможно",
        "по мере возможности", "в основном", "в большинстве случаев", "если получится",
        "по мере сил", "желательн*",
    ),
    "discourage": (
        "avoid", "should not", "shouldn't", "ought not", "try not to", "try to avoid",
        "not recommended", "discouraged", "is discouraged", "better not", "prefer not to", "rarely",
        "should never", "best not to", "preferably not", "ideally not", "не рекомендуется",
        "не рекоменду*", "нежелательно", "нежелательн*", "не желательно", "не стоит", "лучше не",
        "старайтесь не", "постарайтесь не", "избегайте", "избегать", "по возможности не",
        "не следует", "редко",
    ),
    "permit": (
        "may", "can", "could", "allowed", "is allowed", "are allowed", "permitted", "free to",
        "feel free", "fine to", "is fine", "ok to", "okay to", "is ok", "is okay", "acceptable",
        "it is acceptable", "are fine", "are ok", "are okay", "is alright", "are alright",
        "optional", "optionally", "up to you", "you're allowed", "welcome to",
        "is permitted", "are permitted", "allowed to", "it's fine", "it's ok", "it's okay", "можно",
        "разрешено", "разрешается", "разрешен*", "допускается", "допустимо", "вправе", "можете",
        "может", "могут", "по желанию", "при желании",
    ),
    "release": (
        "no need to", "not necessary", "not needed", "not required", "needn't", "need not",
        "don't need to", "do not need to", "don't have to", "do not have to", "does not need to",
        "doesn't need to", "not mandatory", "not obligatory", "is optional", "are optional",
        "can skip", "may skip", "can be skipped", "may be skipped", "can be ignored",
        "may be ignored", "not have to", "no longer required", "no longer need to", "need no",
        "no longer block*", "not blocking", "does not block", "doesn't block",
        "больше не блокиру*",
        "needs no", "requires no", "require no", "no approval needed", "not needed for", "не нужно",
        "не обязательно", "необязательно", "необязательн*", "не требуется", "не надо", "можно не",
        "не обязаны", "не обязан*", "можно пропустить", "можно пропускать", "больше не нужно",
    ),
}
MODAL_PATTERNS: Final[dict[Modality, re.Pattern[str]]] = {
    modality: phrase_pattern(phrases) for modality, phrases in MODAL_PHRASES.items()
}
# «Не меняйте», «не использовать»: a Russian negated imperative or infinitive is a prohibition.
RU_NEGATED_VERB: Final = re.compile(r"(?<!\S)не\s+\S+(?:йте|ите|ьте|ть|ться|чь)(?!\S)")
RU_IMPERATIVE: Final = re.compile(r"^\S+(?:йте|ите|ьте)(?!\S)")
RU_INFINITIVE: Final = re.compile(r"^\S+(?:ть|ться|чь)(?!\S)")

# Verbs an English instruction starts with; a sentence opening with one is an order even without "must".
EN_VERBS: Final[frozenset[str]] = frozenset(
    [
        "add", "allow", "apply", "ask", "assign", "attach", "avoid", "branch", "build", "bump",
        "call", "check", "clean", "close", "comment", "commit", "compile", "configure", "confirm",
        "copy", "create", "delete", "deploy", "describe", "disable", "document", "do",
        "double-check", "edit", "enable", "ensure", "escalate", "explain", "export", "fetch",
        "file", "fill", "fix", "flag", "follow", "format", "generate", "give", "go", "handle",
        "include", "inform", "install", "investigate", "keep", "label", "leave", "limit", "link",
        "lint", "list", "log", "look", "make", "mark", "mention", "merge", "migrate", "mock",
        "move", "name", "note", "notify", "open", "pin", "ping", "post", "prefer", "prepare",
        "print", "push", "put", "read", "rebase", "record", "reference", "refuse", "release",
        "remove", "rename", "reply", "report", "request", "require", "reset", "respect", "restart",
        "restrict", "retry", "return", "reuse", "review", "revert", "rotate", "run", "save", "scan",
        "search", "see", "send", "set", "ship", "sign", "skip", "split", "squash", "start", "stay",
        "stop", "store", "submit", "switch", "sync", "tag", "take", "tell", "test", "treat",
        "trigger", "try", "type", "update", "upgrade", "upload", "use", "validate", "verify",
        "wait", "watch", "wrap", "write", "start", "escalate", "paste", "publish", "share",
        "expose", "leak", "hardcode", "embed", "store", "print", "disclose", "copy", "upload",
        "execute", "install", "pipe", "open", "approve", "land", "rewrite", "force",
    ]
)

# A Markdown heading that binds what is under it; a heading of the other list no longer binds.
POLICY_HEADING: Final = phrase_pattern(
    (
        "secur*", "safety", "safe", "polic*", "forbid*", "prohibit*", "restrict*", "secret*",
        "credential*", "rule*", "limit*", "guardrail*", "constraint*", "requirement*", "mandatory",
        "must", "never", "don't", "don'ts", "do not", "complian*", "privacy", "permission*",
        "access", "allowed", "boundar*", "red line*", "non-negotiable", "critical", "important",
        "protect*", "review*", "approval*", "merging", "tokens", "безопасн*", "запрещ*", "запрет*",
        "политик*", "правил*", "ограничен*", "секрет*", "обязательн*", "требован*", "разреш*",
        "доступ*", "конфиденциальн*", "приватн*", "нельзя", "критичн*", "важн*", "защит*", "ревью",
        "одобрен*",
    )
)
NONBINDING_HEADING: Final = phrase_pattern(
    (
        "optional*", "example*", "deprecated", "legacy", "archiv*", "histor*", "outdated",
        "obsolete", "old", "draft*", "note*", "tip*", "idea*", "suggest*", "recommend*",
        "nice to have", "faq", "misc*", "background", "soft", "ignore*", "unused", "disabled",
        "informational", "advisory", "guidance", "guideline*", "hint*", "preference*", "wishlist",
        "wish*", "proposal*", "proposed", "for reference", "experimental", "not enforced",
        "no longer", "previous", "former", "non-binding", "fyi", "trivia", "consider*",
        "optionally", "if time permits", "необязательн*", "пример*", "устар*", "архив*", "истори*",
        "черновик*", "заметк*", "совет*", "иде*", "пожелан*", "рекомендац*", "разное", "справочн*",
        "нежелательн*", "предложен*", "прежн*", "старые", "старое", "экспериментальн*", "подсказк*",
        "на заметку",
    )
)
# Hedges that turn a hard rule into a default ("generally", «как правило»).
HEDGE: Final = phrase_pattern(
    (
        "generally", "usually", "typically", "normally", "in most cases", "where possible",
        "whenever possible", "when possible", "if possible", "as much as possible", "ideally",
        "preferably", "mostly", "as a rule", "when you can", "if you can", "where practical",
        "where feasible", "if feasible", "if time permits", "most of the time", "in general",
        "по возможности", "как правило", "обычно", "в основном", "в большинстве случаев",
        "желательно", "в идеале", "если получится", "по мере возможности", "при возможности",
    )
)
# A heading or lead-in under which bare items are things not to do («## Запрещено»).
FORBID_CONTEXT: Final = phrase_pattern(
    (
        "forbid*", "prohibit*", "never", "don't", "don'ts", "do not", "must not", "not allowed",
        "banned", "never do", "запрещ*", "запрет*", "нельзя", "не делайте", "недопустим*",
    )
)
# Words of a heading or lead-in that make the list under it a list of prohibitions or of permissions.
DENY_CONTEXT: Final = phrase_pattern(
    (
        "forbid*", "prohibit*", "never", "don't", "don'ts", "do not", "must not", "not allowed",
        "banned", "off-limits", "off limits", "protected", "read-only", "go through a human",
        "requires approval", "require approval", "need approval", "needs approval", "hard limits",
        "needs a maintainer", "need a maintainer", "needs a human", "need a human",
        "through a maintainer", "only maintainers", "maintainers only", "ask a maintainer",
        "needs review", "need review", "requires review", "запрещ*", "запрет*", "нельзя",
        "не делайте", "не меняйте", "не трогайте", "защищ*", "только для чтения",
    )
)
ALLOW_CONTEXT: Final = phrase_pattern(
    (
        "allowed", "allow*", "permitted", "may", "can", "whitelist*", "allowlist*", "only these",
        "writable", "you can edit", "you may edit", "may edit", "may change", "may touch",
        "разреш*", "можно", "допуска*", "только", "вправе",
    )
)
# Lead-ins of a counter-example ("Bad:", "Never do this:") under which forbidden text is an example.
COUNTER_EXAMPLE: Final = phrase_pattern(
    (
        "bad", "wrong", "incorrect", "don't", "do not", "never", "avoid", "not this",
        "anti-pattern", "forbidden", "неправильно", "плохо", "нельзя", "не делайте", "неверно",
        "запрещ*",
    )
)

# A carve-out added to a rule.
EXCEPTION: Final = phrase_pattern(
    (
        "unless", "except", "excepting", "except for", "except when", "except if",
        "with the exception", "excluding", "other than", "apart from", "aside from", "if needed",
        "if necessary", "when necessary", "where necessary", "as necessary", "when needed",
        "if required", "when required", "in urgent cases", "in an emergency", "in emergencies",
        "in exceptional cases", "in rare cases", "if urgent", "when urgent", "for hotfixes",
        "for a hotfix", "for urgent", "if you are sure", "if you're sure", "if you are confident",
        "if you're confident", "if in a hurry", "when in a hurry", "if time is short",
        "when short on time", "if blocked", "when blocked", "does not apply", "doesn't apply",
        "do not apply", "don't apply", "exempt*", "exception", "exceptions", "carve-out", "waived",
        "can be waived", "not apply", "if it is slow", "if it's slow", "when it is slow",
        "if the deadline", "without a good reason", "without good reason",
        "without a strong reason", "without a valid reason", "unless there is", "unless it is",
        "without approval", "without permission", "without asking", "без согласования",
        "без одобрения", "без разрешения",
        "unless it's", "кроме", "за исключением", "если только", "исключени*", "разве что",
        "если нужно", "если необходимо", "при необходимости", "в случае необходимости",
        "по необходимости", "в срочных случаях", "в экстренных случаях", "в исключительных случаях",
        "если срочно", "когда срочно", "не распространяется", "не действует", "не применяется",
        "если уверены", "в виде исключения", "при крайней необходимости", "в крайнем случае",
        "без веской причины", "без особой необходимости", "без необходимости", "без причины",
    )
)
# A clause opening with one of these, added to a rule, narrows when the rule applies.
CONDITION_OPENER: Final = phrase_pattern(
    (
        "if", "when", "whenever", "while", "during", "as long as", "provided", "provided that",
        "in case", "once", "only if", "only when", "only for", "only in", "for non-trivial", "если",
        "когда", "пока", "при", "в случае", "во время", "только если", "только когда", "только для",
        "только в",
    )
)
STRENGTHENER: Final = phrase_pattern(
    (
        "even if", "even when", "even though", "including", "in all cases", "regardless",
        "даже если", "даже когда", "в том числе", "включая", "в любом случае", "независимо",
    )
)
# Words that narrow a rule to some of its cases ("a large dependency", "in production").
NARROWING: Final = phrase_pattern(
    (
        "large", "big", "major", "significant", "non-trivial", "nontrivial", "substantial", "risky",
        "breaking", "critical", "sensitive", "in production", "in prod", "on main", "to main",
        "on the main branch", "to the main branch", "to production", "for production",
        "on release branches", "in public", "public", "external", "крупн*", "больш*", "существенн*",
        "значительн*", "серьезн*", "нетривиальн*", "важн*", "критичн*", "в продакшен*", "в прод",
        "в main", "в основной ветке", "публичн*", "внешн*",
    )
)
# "Use your judgement": a concrete rule handed over to the agent's discretion.
JUDGEMENT: Final = phrase_pattern(
    (
        "use your judgement", "use your judgment", "use your best judgement",
        "use your best judgment", "use good judgement", "use good judgment", "use common sense",
        "use good sense", "at your discretion", "at your own discretion", "as you see fit",
        "as you think best", "if you think it is appropriate", "if you think it's appropriate",
        "when appropriate", "as appropriate", "where appropriate", "if appropriate",
        "where it makes sense", "if it makes sense", "when it makes sense", "case by case",
        "case-by-case", "up to you", "your call", "decide for yourself", "you decide",
        "whatever works", "as needed", "if reasonable", "when reasonable", "within reason",
        "be sensible", "be reasonable", "use discretion", "depending on the situation",
        "depending on context", "judgement", "judgment", "discretion", "if you see fit",
        "when you see fit", "as you prefer", "на свое усмотрение", "по своему усмотрению",
        "на ваше усмотрение", "по вашему усмотрению", "по ситуации", "по обстоятельствам",
        "если сочтете нужным", "если считаете нужным", "решайте сами", "здравого смысла",
        "здравым смыслом", "здравый смысл", "на ваш выбор", "как считаете нужным",
        "как сочтете нужным", "по вашему выбору", "когда уместно", "если уместно", "усмотрени*",
        "на свой вкус",
    )
)

# Bypass: what the agent must not get around, and the verbs of getting around it.
GUARD_OBJECTS: Final = phrase_pattern(
    (
        "step", "steps",
        "test*", "e2e", "end-to-end", "suite", "spec", "specs", "ci", "pipeline*", "check*",
        "hook*", "pre-commit", "husky", "lint*", "eslint", "typecheck*", "type-check*",
        "type check*", "tsc", "mypy", "ruff", "review*", "reviewer*", "approval*", "verification",
        "protection", "branch protection", "signing", "signature*", "scan*", "audit*", "coverage",
        "qa", "gate*", "status check*", "build*", "rules", "policy", "guardrail*", "safeguard*",
        "pnpm e2e", "pnpm test", "npm test", "pytest", "тест*", "провер*", "хук*", "линтер*",
        "ревью", "одобрен*", "сборк*", "ci", "пайплайн*", "конвейер*", "покрыти*", "подпис*",
        "аудит*", "правил*", "ограничени*", "согласовани*",
    )
)
BYPASS_VERBS: Final = phrase_pattern(
    (
        "skip*", "bypass*", "disable*", "deactivate*", "ignore*", "turn off", "switch off",
        "comment out", "silence", "suppress*", "mute", "circumvent*", "override*", "work around",
        "get around", "xfail", "quarantine", "omit*", "leave out", "drop the", "relax*",
        "пропуска*", "пропуст*", "обход*", "обойд*", "отключ*", "выключ*", "игнорир*",
        "закомментир*", "не запуска*", "не прогоня*", "не выполня*", "опуска*", "опусти*",
    )
)
BYPASS_PHRASES: Final = phrase_pattern(
    (
        "merge your own", "merge it yourself", "merge them yourself", "merge yourself",
        "push* directly to", "push* straight to", "commit* directly to", "without a pull request",
        "without opening a pull request", "report success", "report it as passed",
        "mark it green", "as green", "без pr", "без пулл-реквеста", "напрямую в",
        "self-merge", "self merge", "approve your own", "approve it yourself", "merge without",
        "push directly to main", "push directly to master", "push straight to main",
        "commit directly to main", "push to main directly", "without review", "without a review",
        "without approval", "without an approval", "without waiting for", "without running",
        "without tests", "without testing", "without ci", "before ci finishes", "even if ci",
        "even if the tests", "even if tests", "even if lint", "even when ci", "even when tests",
        "regardless of ci", "regardless of test", "regardless of the tests",
        "regardless of failing", "report the pull request as passed", "mark it as passed",
        "mark the pull request as passed", "as passed anyway", "retry until", "re-run until",
        "rerun until", "until it passes", "until they pass", "until green", "delete failing",
        "remove failing", "delete the failing", "remove the failing", "delete flaky",
        "remove flaky", "mark as flaky", "сливайте сам*", "сливайте свои", "сливать свои",
        "слейте сам*", "слейте свои", "вливайте сам*", "мержите сам*", "без ревью", "без одобрения",
        "без проверки", "без тестов", "без согласования", "без ожидания", "не дожидаясь",
        "даже если тесты", "даже если ci", "даже если проверки", "до зеленого", "пока не пройдет",
        "пока не станет зеленым", "пушьте напрямую", "напрямую в main", "напрямую в master",
    )
)
# Merging or approving one's own work: the verb and the "yourself" may stand apart («слейте PR сами»).
SELF_MERGE_VERBS: Final = phrase_pattern(
    (
        "merge*", "self-merge*", "land", "approve*", "слей*", "слив*", "влей*", "влив*", "мерж*",
        "смерж*", "одобр*", "апрув*",
    )
)
SELF_WORDS: Final = phrase_pattern(
    (
        "yourself", "your own", "on your own", "сам", "сами", "самостоятельно", "свои", "свой",
        "своих",
    )
)
# Failing checks a new instruction tells the agent to go ahead despite ("even if CI is red").
DESPITE: Final = phrase_pattern(
    ("even if", "even when", "even though", "regardless of", "despite", "даже если", "даже когда",
     "несмотря на", "независимо от")
)
FAILURE_WORDS: Final = phrase_pattern(
    ("fail*", "red", "broken", "error*", "flaky", "not pass*", "пада*", "упал*", "красн*",
     "не прош*", "не проход*", "ошибк*", "сломан*")
)
# Verbs of editing, which a new permission over a path ("you may also edit `infra/`") widens.
EDIT_VERBS: Final = phrase_pattern(
    ("edit*", "chang*", "modif*", "touch*", "writ*", "commit*", "push*", "delet*", "updat*",
     "rewrit*", "менять", "меняйте", "изменя*", "измени*", "редактир*", "прав*", "трога*",
     "коммит*", "удаля*")
)
# Instructions that let text from issues, comments or web pages steer the agent.
UNTRUSTED_SOURCES: Final = phrase_pattern(
    (
        "issue*", "comment*", "pull request description*", "pr description*", "pr body", "ticket*",
        "user content", "web page*", "webpage*", "readme*", "commit message*", "задач*",
        "комментари*", "описани*", "тикет*", "issue",
    )
)
UNTRUSTED_VERBS: Final = phrase_pattern(
    (
        "follow", "obey", "execute", "carry out", "do what", "act on", "comply with", "treat",
        "trust", "are instructions", "is instructions", "as instructions", "as commands",
        "следуйте", "выполняйте", "исполняйте", "подчиняйтесь", "доверяйте", "считайте",
        "являются инструкциями", "как инструкци*", "как команд*",
    )
)
INSTRUCTION_WORDS: Final = phrase_pattern(
    (
        "instruction*", "command*", "request*", "direction*", "orders", "whatever", "says", "asks",
        "инструкци*", "указани*", "команд*", "просьб*", "требовани*",
    )
)
# Literal switches that get around a hook, a check or a sandbox.
BYPASS_FLAGS: Final = re.compile(
    r"(--no-verify\b|--no-gpg-sign\b|\bgit\s+commit\s+(?:\S+\s+)*-n\b|\bHUSKY=0|HUSKY_SKIP_HOOKS|"
    r"\bSKIP=\S|\[skip ci\]|\[ci skip\]|\[no ci\]|\[skip actions\]|skip-checks:\s*true|\*\*\*NO_CI\*\*\*|"
    r"\bgh\s+pr\s+merge\b[^\n]*--admin|--admin\b|-DskipTests|maven\.test\.skip|--skip-tests?\b|"
    r"--passWithNoTests|\|\|\s*true\b|continue-on-error:\s*true|eslint-disable|@ts-ignore|"
    r"@ts-nocheck|#\s*type:\s*ignore|#\s*noqa|//\s*nolint|pytest\.mark\.skip|\bxfail\b|"
    r"\b(?:it|test|describe)\.skip\b|--dangerously-skip-permissions|"
    r"--dangerously-bypass-approvals-and-sandbox|danger-full-access|bypassPermissions|--yolo\b|"
    r"\bgit\s+push\b[^\n]*(?:--force(?!-with-lease)\b|\s-f\b)|\bforce[- ]push|"
    r"\bset\s+\+e\b|--no-audit\b|--ignore-scripts=false)",
    re.IGNORECASE,
)

# Counting a rule's numbers: a bound whose number grows looser, or shrinks looser.
UPPER_BOUND: Final = phrase_pattern(
    (
        "at most", "max", "maximum", "no more than", "not more than", "up to", "under", "below",
        "less than", "fewer than", "within", "limit*", "limited to", "cap", "capped", "retry",
        "retries", "retried", "timeout", "lines", "changed lines", "files", "attempts", "tries",
        "max-warnings", "--max-warnings", "не более", "не больше", "максимум", "до", "не чаще",
        "не дольше", "в пределах", "меньше", "не выше", "лимит*", "не превыша*", "повтор*",
        "попыт*", "строк",
    )
)
LOWER_BOUND: Final = phrase_pattern(
    (
        "at least", "min", "minimum", "no less than", "not less than", "no fewer than", "above",
        "over", "more than", "coverage", "approval*", "approve*", "reviewer*", "reviews", "review",
        "maintainers", "signatures", "sign-offs", "or newer", "or later", "required", "не менее",
        "не меньше", "минимум", "хотя бы", "как минимум", "не ниже", "выше", "одобрени*",
        "ревьюер*", "покрыти*", "аппрув*", "согласовани*", "подтверждени*",
    )
)
NUMBER_WORDS: Final[dict[str, float]] = {
    "zero": 0,
    "one": 1,
    "once": 1,
    "single": 1,
    "two": 2,
    "twice": 2,
    "three": 3,
    "thrice": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "twenty": 20,
    "fifty": 50,
    "hundred": 100,
    "ноль": 0,
    "один": 1,
    "одна": 1,
    "одно": 1,
    "одного": 1,
    "одной": 1,
    "одним": 1,
    "однажды": 1,
    "единожды": 1,
    "два": 2,
    "две": 2,
    "двух": 2,
    "дважды": 2,
    "три": 3,
    "трех": 3,
    "трижды": 3,
    "четыре": 4,
    "пять": 5,
    "десять": 10,
}

# Words swapped for their opposite turn a rule around.
ANTONYMS: Final[tuple[tuple[str, str], ...]] = (
    ("before", "after"), ("allow*", "den*"), ("allow*", "block*"), ("enabl*", "disabl*"),
    ("includ*", "exclud*"), ("privat*", "public*"), ("accept*", "reject*"), ("pass*", "fail*"),
    ("permit*", "forbid*"), ("keep", "drop"), ("keep", "remove"), ("trusted", "untrusted"),
    ("more", "less"), ("more", "fewer"), ("increase", "decrease"), ("above", "below"),
    ("minimum", "maximum"), ("min", "max"), ("on", "off"), ("true", "false"), ("yes", "no"),
    ("accept", "reject"), ("safe", "unsafe"), ("secure", "insecure"), ("data", "instructions"),
    ("required", "optional"), ("blocking", "non-blocking"), ("strict", "lenient"),
    ("strict", "loose"), ("internal", "external"), ("first", "last"), ("always", "never"),
    ("all", "none"), ("до", "после"), ("включ*", "выключ*"), ("включ*", "отключ*"),
    ("разреш*", "запрещ*"), ("данн*", "инструкц*"), ("закрыт*", "открыт*"),
    ("приватн*", "публичн*"), ("доверенн*", "недоверенн*"), ("больше", "меньше"), ("выше", "ниже"),
    ("минимум", "максимум"), ("обязательн*", "необязательн*"), ("всегда", "никогда"),
    ("внутренн*", "внешн*"),
)
# Words that widen an allow-list to everything ("any file", «любые файлы»).
EVERYTHING: Final = phrase_pattern(
    (
        "any", "all", "every", "everything", "anywhere", "whole", "entire", "any file", "любые",
        "любой", "любых", "все", "всё", "весь", "всего", "везде", "любом",
    )
)
# Access words: a rule that swaps these grants more.
ACCESS_WIDER: Final[tuple[tuple[str, str], ...]] = (
    ("read", "write"), ("read-only", "read-write"), ("read", "admin"), ("write", "admin"),
    ("read-only", "write"), ("none", "read"), ("none", "write"), ("чтени*", "запис*"),
)
ACCESS_CONTEXT: Final = phrase_pattern(
    ("token*", "permission*", "scope*", "access", "pat", "role*", "права", "доступ*", "токен*")
)

# Required checks and the flags that make a step strict; removing them weakens the gate.
CHECK_WORDS: Final = phrase_pattern(
    (
        "test*", "e2e", "end-to-end", "lint*", "eslint", "ruff", "flake8", "pylint", "mypy", "tsc",
        "typecheck*", "type-check*", "check", "checks", "ci", "verify", "verification", "scan*",
        "audit*", "coverage", "review*", "approval*", "sign-off", "signed", "signing", "signature*",
        "hook*", "pre-commit", "pytest", "jest", "vitest", "playwright", "cypress", "qa", "codeql",
        "trivy", "snyk", "sha256sum", "checksum*", "gpg", "fmt", "clippy", "vet", "тест*",
        "провер*", "линтер*", "ревью", "одобрен*", "покрыти*", "аудит*", "подпис*", "хук*",
    )
)
STRICT_FLAGS: Final = phrase_pattern(
    (
        "--frozen-lockfile", "--immutable", "--ci", "npm ci", "--require-hashes", "--strict",
        "set -e", "set -eu", "set -euo", "pipefail", "-werror", "--check", "--verify", "--locked",
        "--frozen", "sha256sum -c", "gpg --verify", "--no-install-recommends",
    )
)

# Shell and container shapes that make an agent image or a command unsafe.
PIPE_TO_SHELL: Final = re.compile(
    r"\b(?:curl|wget|iwr|invoke-webrequest|irm|invoke-restmethod|fetch)\b[^|\n]*\|\s*(?:sudo\s+)?"
    r"(?:-\w+\s+)*(?:ba|z|k|da|fi)?sh\b|"
    r"\b(?:curl|wget)\b[^|\n]*\|\s*(?:sudo\s+)?(?:python3?|node|perl|ruby|iex|pwsh|powershell)\b|"
    r"\b(?:ba|z)?sh\s+(?:-c\s+)?[\"']?\$\(\s*(?:curl|wget)\b|"
    r"\b(?:ba|z)?sh\s+<\(\s*(?:curl|wget)\b|\bsource\s+<\(\s*(?:curl|wget)\b|"
    r"\beval\s+[\"']?\$\(\s*(?:curl|wget)\b|"
    r"\biex\s*\(\s*(?:iwr|irm|invoke-webrequest|invoke-restmethod|new-object)\b|"
    r"^\s*ADD\s+(?!--checksum)(?:--\S+\s+)*https?://\S+\.(?:sh|bash|py|ps1)\b",
    re.IGNORECASE,
)
DOWNLOAD_THEN_RUN: Final = re.compile(
    r"\b(?:curl|wget)\b[^\n]*?(?:-o|-O|>)\s*(\S+\.(?:sh|bash|py|ps1))\b[^\n]*?&&[^\n]*?"
    r"(?:\b(?:ba|z)?sh|python3?|chmod\s+\+x)\s+\S*\1",
    re.IGNORECASE,
)
CHECKSUM: Final = re.compile(r"sha256sum|sha512sum|shasum|gpg\s+--verify|cosign\s+verify", re.I)
WORLD_WRITABLE: Final = re.compile(
    r"\bchmod\s+(?:-R\s+)?(?:0?777|0?666|a\+rwx|ugo\+rwx|o\+w|a\+w|go\+w)\b", re.IGNORECASE
)
PRIVILEGED: Final = re.compile(
    r"(--privileged\b|privileged:\s*true|--cap-add[= ](?:all|sys_admin)\b|cap_add:\s*\[?\s*all|"
    r"seccomp[=:]\s*unconfined|apparmor[=:]\s*unconfined|--pid[= ]host\b|--userns[= ]host\b|"
    r"--network[= ]host\b|network_mode:\s*[\"']?host|/var/run/docker\.sock|docker\.sock|"
    r"allowPrivilegeEscalation:\s*true|runAsNonRoot:\s*false|runAsUser:\s*0\b|NOPASSWD|"
    r"usermod\s+(?:-a\s+)?-a?G\s+(?:sudo|wheel|docker|root|admin)\b|"
    r"adduser\s+\S+\s+(?:sudo|wheel|docker)\b|gpasswd\s+-a\s+\S+\s+(?:sudo|docker|wheel)\b|"
    r"no-new-privileges[:=]false|--security-opt[= ]\S*unconfined|cap_add:[^\n]*(?:sys_admin|all\b|net_admin)|"
    r"--cap-add[= ]net_admin\b|hostNetwork:\s*true|hostPID:\s*true|hostIPC:\s*true|"
    r"read_only:\s*false)",
    re.IGNORECASE,
)
TLS_OFF: Final = re.compile(
    r"(\bcurl\b[^\n|]*\s(?:-k|--insecure)\b|--no-check-certificate|"
    r"ssl_?verify\s*[=:]?\s*[\"']?(?:false|0|no)\b|http\.sslverify\s+[\"']?false|GIT_SSL_NO_VERIFY|"
    r"NODE_TLS_REJECT_UNAUTHORIZED\s*[=:]?\s*[\"']?0|strict-ssl\s*[= ]\s*false|--trusted-host\b|"
    r"PYTHONHTTPSVERIFY\s*=\s*0|verify\s*=\s*False|--allow-unauthenticated|\[trusted=yes\]|"
    r"AllowInsecureRepositories|--no-verify-ssl|gpgcheck\s*=\s*0|--nogpgcheck|"
    r"DOCKER_CONTENT_TRUST=0|--insecure-registry|--skip-tls-verify|--tls-verify=false|"
    r"insecure-skip-tls-verify|--disable-tls|\bADD\s+http://|\b(?:curl|wget)\s+[^\n]*http://\S+[^\n]*\|)",
    re.IGNORECASE,
)
RUN_AS_ROOT: Final = re.compile(
    r"(--user[= ](?:root|0)\b|\s-u\s*(?:root|0)\b|\bas root\b|\buser:\s*[\"']?(?:root|0)\b|"
    r"\bот имени root\b|\bот root\b|\bпод root\b)",
    re.IGNORECASE,
)
DOCKER_USER: Final = re.compile(r"^\s*USER\s+(\S+)", re.IGNORECASE)
DOCKER_FROM: Final = re.compile(r"^\s*FROM\s+(?:--platform=\S+\s+)?(\S+)", re.IGNORECASE)
CREDENTIAL_COPY: Final = re.compile(
    r"^\s*(?:COPY|ADD)\b[^\n]*(?:\.ssh\b|id_rsa|id_ed25519|id_ecdsa|\.npmrc|\.pypirc|\.netrc|"
    r"\.env\b|credentials|\.pem\b|\.p12\b|\.pfx\b|\.aws\b|\.docker/config\.json|\.git-credentials)",
    re.IGNORECASE,
)
# Token permissions of a workflow or an app that grant write access.
WIDE_PERMISSION: Final = re.compile(
    r"(permissions:\s*write-all|permissions:\s*[\"']?write\b|"
    r"\b(?:contents|pull-requests|issues|actions|checks|deployments|packages|security-events|"
    r"statuses|workflows|administration|id-token|pages|repository-projects|discussions|members|"
    r"organization_administration|secrets|environments)\s*:\s*[\"']?(?:write|admin)\b|"
    r"--scopes?[= ][^\n]*\b(?:repo|admin:\w+|delete_repo|write:\w+|workflow)\b|"
    r"\"(?:Bash|Write|Edit)\(\*\)\"|\"Bash\([^)]*(?:push|rm|curl|sudo)[^)]*\)\")",
    re.IGNORECASE,
)
ENGLISH_STOPWORDS: Final[frozenset[str]] = frozenset(
    [
        "the", "a", "an", "and", "or", "of", "to", "in", "on", "for", "with", "by", "from", "at",
        "as", "is", "are", "be", "been", "this", "that", "these", "those", "it", "its", "your",
        "you", "we", "our", "they", "their", "them", "not", "no", "any", "all", "each", "every",
        "into", "than", "then", "when", "if", "so", "do", "does", "did", "has", "have", "had",
        "will", "would", "can", "could", "may", "might", "must", "should", "shall", "there", "here",
        "what", "which", "who", "whom", "about", "over", "under", "only", "also", "just", "such",
        "other", "same", "own", "more", "most", "some",
    ]
)
RUSSIAN_STOPWORDS: Final[frozenset[str]] = frozenset(
    [
        "и", "в", "во", "на", "с", "со", "по", "к", "ко", "из", "за", "от", "до", "для", "о", "об",
        "а", "но", "или", "что", "это", "как", "при", "не", "ни", "же", "ли", "бы", "то", "так",
        "его", "ее", "их", "все", "всё", "вы", "мы", "он", "она", "они", "этот", "эта", "эти",
        "свой", "свои", "ваш", "ваши",
    ]
)

# fmt: on


@dataclass(frozen=True)
class Match:
    """A phrase found in normalised text: what kind it is and where."""

    kind: str
    start: int
    end: int
    text: str


def find_all(pattern: re.Pattern[str], text: str, kind: str = "") -> tuple[Match, ...]:
    return tuple(Match(kind, m.start(), m.end(), m.group(0)) for m in pattern.finditer(text))


def modal_markers(key: str) -> tuple[Match, ...]:
    """The modal phrases of a normalised statement, longest first where they overlap, in text order."""
    found: list[Match] = []
    for modality, pattern in MODAL_PATTERNS.items():
        found.extend(find_all(pattern, key, modality))
    found.sort(key=lambda m: (-(m.end - m.start), m.start))
    # «не …йте» comes last: «старайтесь не придумывать» is a soft phrase before it is a negated verb.
    found.extend(find_all(RU_NEGATED_VERB, key, "prohibit"))
    chosen: list[Match] = []
    for match in found:
        if all(match.end <= c.start or match.start >= c.end for c in chosen):
            chosen.append(match)
    return tuple(sorted(chosen, key=lambda m: m.start))
