"""Reading review text in English and Russian: segments, stems, commands, paths and topic tags.

Everything here is a pure function of a string. The vocabulary names kinds of problems (lint,
docs, changelog, scope …), never a particular repository.
"""

from __future__ import annotations

import re


def _wordset(text: str) -> frozenset[str]:
    return frozenset(text.split())


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]|\[(?:\d+;)*\d*m")
_HTML_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_DETAILS = re.compile(r"<details>.*?</details>", re.DOTALL | re.IGNORECASE)
_CODE_SPAN = re.compile(r"`([^`\n]{1,200})`")
_FENCE = re.compile(r"```.*?```", re.DOTALL)
_MENTION = re.compile(r"(?<![\w@])@[A-Za-z0-9][\w-]*(?:\[bot\])?")
_URL = re.compile(r"https?://\S+")
_WORD = re.compile(r"[a-zа-яё0-9][a-zа-яё0-9_'’+-]*", re.IGNORECASE)
_ISSUE_REF = re.compile(r"(?<![\w/&])#(\d{1,7})\b")
_PATH = re.compile(
    r"(?<![\w@/.-])((?:[\w.-]+/)+[\w.-]*[\w-]|[\w-]+(?:\.[\w-]+)*\.(?:md|json|ya?ml|toml|py|ts|tsx|js|jsx|mjs|"
    r"go|rs|rb|java|kt|cs|php|vue|svelte|css|scss|html|lock|sum|mod|cfg|ini|txt|sh|Dockerfile))(?![\w/])"
)
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+(?=[\"«(*`A-ZА-ЯЁ0-9])")
_LIST_ITEM = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+")

STOPWORDS = _wordset(
    """
    a an the and or but if then else of to in on at by for with from into onto over under as
    is are was were be been being am do does did done doing have has had having it its it's
    this that these those there here i you he she we they me him her us them my your our
    their mine yours what which who whom whose when where why how all any both each few more
    most other some such no nor not only own same so than too very can will just should
    would could may might must shall also about after before again against between through
    during above below up down out off once further while until because ok okay yes yeah hi
    hello thanks thank please pls lgtm nit minor small one two now still already get got let
    lets let's use used using see via per e.g i.e etc like make made new also re it’s don’t
    dont don't can't cant isn't doesn't didn't won't wasn't и в во не что он на я с со как а
    то все она так его но да ты к у же вы за бы по только ее мне было вот от меня еще нет о
    из ему теперь когда даже ну вдруг ли если уже или ни быть был него до вас нибудь опять
    уж вам ведь там потом себя ничего ей может они тут где есть надо ней для мы тебя их чем
    была сам чтоб без будто чего раз тоже себе под будет ж тогда кто этот того потому этого
    какой совсем ним здесь этом один почти мой тем чтобы нее сейчас были куда зачем всех
    никогда можно при наконец два об другой хоть после над больше тот через эти нас про
    всего них какая много разве три эту моя впрочем хорошо свою этой перед иногда лучше чуть
    том нельзя такой им более всегда конечно всю между это эта эти спасибо пожалуйста
    """
)

# Words that make a review sentence a request about the work (not chit-chat).
_REQUEST = re.compile(
    r"(?i)\b(?:please|pls|should|must|need(?:s|ed)?|make sure|ensure|don'?t|do not|never|always|run|add|"
    r"revert|remove|use|missing|forgot|forget|instead|required?|requires|before (?:you )?(?:push|commit)|"
    r"has to|have to|red|fails?|failing|broke|breaks|not (?:updated|touched|run)|without|unrelated|"
    r"out of scope|not related|wrong|stale|again|hand-edited|by hand|manually)\b"
    r"|(?:пожалуйста|нужно|надо|должн|не забудь|добав|исправ|запуск|запуст|убер|откат|не трог|используй|"
    r"обнов|нет в|нету|не тронут|красн|пада|не запуска|перед коммит|перед пуш|обязательно|следует)"
    r"|\bwhere(?:'s| is| are) (?:the|your)\b"
    r"|\b(?:por favor|precisa\w*|devem?|deveria|nunca|sempre|falt\w+|esquec\w+|remov\w+|tira|"
    r"adicion\w+|evit\w+|não (?:mude|altere|mexa|toque|use)|necesit\w+|debe\w*|agreg\w+)\b"
)
# Words that say the same thing happened before.
REPEAT = re.compile(
    r"(?i)\b(?:again|once more|yet again|same (?:miss|mistake|problem|issue|thing|note|comment|failure|as)|"
    r"second (?:time|round)|third (?:time|red|round)|every time|each time|keeps?|repeatedly|as before|"
    r"like last time|(?:two|three|four) (?:times|rounds|pushes)|in a row)\b"
    r"|\b(?:de novo|mais uma vez|outra vez|novamente|mais um|mais uma|de nuevo|otra vez)\b"
    r"|(?:снова|опять|ещё раз|еще раз|повторн|второй (?:круг|раз)|третий раз|так и не|по-прежнему|"
    r"одни и те же|то же самое|те же самые|в который раз)"
)
# Replies that carry no request of their own.
_ACK = re.compile(
    r"(?i)^\s*(?:\+1|agreed?\.?|agree\.|good catch\.?|reproduced\.?|same on \w+\.?|thanks!?|lgtm!?|done\.?|"
    r"fixed\.?|ok\.?|👍|согласен\.?|спасибо!?)\s*$"
)
_GENERIC = _wordset(
    """
    address review comment comments fix fixes ci failure failures look take pr change
    changes thing things issue agent bot copilot claude codex devin openhands time bit lot
    way work job green check checks code line lines file files test tests ready merge
    approve approving approved right left
    """
)

# Concept tags: kinds of recurring problems, each a regex over lower-cased text (en + ru).
TAGS: dict[str, re.Pattern[str]] = {
    "lint": re.compile(
        r"\blint|eslint|ruff check|flake8|pylint|clippy|golangci|rubocop|stylelint|линт|линтер"
    ),
    "format": re.compile(
        r"prettier|\bformat(?:ting|ter)?\b|ruff format|\bblack\b|gofmt|rustfmt|cargo fmt|форматир"
    ),
    "typecheck": re.compile(r"typecheck|type check|\bmypy\b|pyright|\btsc\b|типизац"),
    "tests": re.compile(
        r"\btests?\b|pytest|unittest|vitest|\bjest\b|go test|cargo test|rspec|phpunit|\bтест"
    ),
    "changelog": re.compile(
        r"changelog|change log|news ?fragment|towncrier|changeset|release notes?|\bchanges/|ченджлог|журнал изменений"
    ),
    "docs": re.compile(
        r"\bdocs?\b|documentation|readme|\bdocs/|документац|\bдок(?:и|ах|ов)\b|руководств"
    ),
    "i18n": re.compile(
        r"i18n|l10n|locale|translation|translat|\b[a-z]{2}\.json\b|локал|перевод|локализ|ключ(?:и|ей)? в"
    ),
    "scope": re.compile(
        r"out of scope|unrelated|not related|scope|don'?t touch|do not touch|revert|separate (?:pr|issue)|"
        r"вне (?:рамок|задачи)|не относится|не трогай|не трогать|откат|лишн"
    ),
    "generated": re.compile(
        r"generated|codegen|do not edit|autogenerated|regenerat|сгенерир|генерац"
    ),
    # Versions changed that nobody asked to change (a library, a wrapper, a toolchain).
    "upgrades": re.compile(
        r"\bupgrad|\bbump(?:s|ed|ing)?\b|renovate|dependabot|version (?:upgrade|bump|change)s?|"
        r"(?:dependency|dependencies|library|package|gem|crate|plugin|sdk|toolchain|wrapper) "
        r"(?:version|upgrade|bump|change)s?|обнов\w* (?:зависимост|библиотек|верси|пакет)|"
        r"подня\w* верси|atualiza\w* (?:de )?(?:depend|vers|bibliotec)|actualiz\w* (?:de )?(?:depend|versi)"
    ),
    # A bug fixed without a test that reproduces it.
    "regression_test": re.compile(
        r"regression (?:test|spec)|(?:test|spec)s? (?:that|which) (?:fails?|goes red|reproduc|catch)|"
        r"(?:test|spec) (?:for|reproducing|covering) (?:the|this) (?:bug|issue|regression)|"
        r"(?:fails|goes red|red) (?:on|against) (?:main|master|develop|trunk)|would have caught|"
        r"where(?:'s| is) the (?:test|spec)|(?:missing|without) (?:a )?(?:regression )?(?:test|spec)\b|"
        r"no (?:regression )?(?:test|spec) (?:for|that|covering)|регрессионн\w* тест|"
        r"тест\w*,? (?:который|что) (?:падает|воспроизвод|лови)|без теста|нет теста|"
        r"teste de regress|teste que (?:falha|reproduz)|sem teste|prueba de regresi|sin prueba"
    ),
    "dependencies": re.compile(
        r"dependenc|\binstall|registry|lockfile|lock file|package\.json|go\.sum|зависимост|установ"
    ),
    "commit_format": re.compile(
        r"commit message|conventional commit|commit title|commitlint|gitlint|сообщени[ея] коммит|"
        r"(?:pr|pull request) title|title of the (?:pr|pull request)|semantic[- ](?:title|pull|pr)|"
        r"заголов\w* pr|título del pr|titulo do pr|título do pr|pr-titel|titel des (?:pr|pull)"
    ),
    "stage_labels": re.compile(r"\bstage|\blabels?\b|run:[\w-]+|этап|стади|метк"),
    "security": re.compile(r"secret|credential|token|password|\.env\b|секрет|токен|парол"),
    "ci_green": re.compile(
        r"ci (?:is )?green|green check|make sure ci|fix (?:it|the check)|зелён|зелен"
    ),
}

RUNNERS = _wordset(
    """
    npm pnpm yarn npx bun bunx uv uvx poetry pdm hatch pipenv python python3 pip pip3 pytest
    tox nox go cargo rustup make just gradle gradlew ./gradlew mvn ./mvnw dotnet bundle rake
    rails rspec ruby mix composer php phpunit deno node ruff black isort flake8 mypy pyright
    eslint prettier tsc vitest jest playwright cypress golangci-lint gofmt rustfmt clippy
    towncrier pre-commit docker terraform helm swift xcodebuild cmake ctest meson ninja git
    """
)
# Tools specific enough that two comments naming one talk about the same thing.
SPECIFIC_TOOLS = _wordset(
    """
    eslint prettier ruff black isort flake8 pylint mypy pyright pytest unittest vitest jest
    mocha playwright cypress tsc towncrier changesets reno golangci-lint gofmt goimports
    rustfmt clippy rubocop rspec phpunit stylelint markdownlint shellcheck hadolint biome
    pre-commit codegen
    """
)
_PREFIX_WRAPPERS = re.compile(r"^(?:(?:[A-Z_][A-Z0-9_]*=\S*\s+)+|(?:sudo|env|time|exec)\s+)")


def clean(text: str) -> str:
    """Text without ANSI colours, HTML comments and collapsed `<details>` blocks."""
    text = _ANSI.sub("", text)
    text = _HTML_COMMENT.sub(" ", text)
    return _DETAILS.sub(" ", text)


def segments(text: str) -> list[str]:
    """Split a comment into request-sized pieces: list items, paragraphs and sentences."""
    text = _FENCE.sub(" ", clean(text))
    pieces: list[str] = []
    for raw_line in text.split("\n"):
        line = _LIST_ITEM.sub("", raw_line).strip().lstrip(">").strip()
        if not line:
            continue
        for sentence in _SENTENCE_END.split(line):
            sentence = sentence.strip()
            if not sentence:
                continue
            if pieces and len(_WORD.findall(sentence)) < 3 and not _CODE_SPAN.search(sentence):
                pieces[-1] = f"{pieces[-1]} {sentence}"
            else:
                pieces.append(sentence)
    return pieces


def is_acknowledgement(text: str) -> bool:
    return bool(_ACK.match(text.strip()))


def has_request(text: str) -> bool:
    return bool(_REQUEST.search(text.lower()))


def has_repeat(text: str) -> bool:
    return bool(REPEAT.search(text.lower()))


def stem(word: str) -> str:
    """A light stemmer: strips common English and Russian endings, keeping at least four letters."""
    w = word.lower().replace("ё", "е").strip("'’-")
    if len(w) <= 4 or not w.isalpha():
        return w
    if "а" <= w[0] <= "я":
        for suffix in _RU_SUFFIXES:
            if w.endswith(suffix) and len(w) - len(suffix) >= 4:
                return w[: -len(suffix)]
        return w
    for suffix in _EN_SUFFIXES:
        if w.endswith(suffix) and len(w) - len(suffix) >= 4:
            return w[: -len(suffix)]
    return w


_EN_SUFFIXES = (
    "ations", "ation", "ments", "ment", "ingly", "ings", "ing", "edly", "ness", "ities", "ity", "ies", "ied",
    "ers", "er", "ed", "es", "ly", "s",
)  # fmt: skip
_RU_SUFFIXES = tuple(
    sorted(
        _wordset(
            """
    иями ями ами ого его ому ему ыми ими ать ять ить еть ешь ует уют ают ются ется ится ться
    ешься ение ения ении ений ением ания ание аний ов ев ом ем ам ям ах ях ой ей ый ий ая яя
    ое ее ые ие ую юю ет ит ут ют ат ят ла ли ло ть ы и а я о е у ю ь й
    """
        ),
        key=len,
        reverse=True,
    )
)


def words(text: str) -> list[str]:
    """Lower-cased words of prose (mentions, URLs and code spans removed)."""
    text = _URL.sub(" ", _MENTION.sub(" ", _CODE_SPAN.sub(" ", clean(text))))
    return [w.lower() for w in _WORD.findall(text)]


def content_stems(text: str) -> frozenset[str]:
    """Stems of the words that carry meaning: no stopwords, no review boilerplate."""
    out = set()
    for w in words(text):
        if w in STOPWORDS or w in _GENERIC or len(w) < 3 or w.isdigit():
            continue
        out.add(stem(w))
    return frozenset(out)


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    if not a or not b:
        return 0.0
    return len(a & b) / len(a | b)


def tags(text: str) -> frozenset[str]:
    low = clean(text).lower()
    return frozenset(name for name, pattern in TAGS.items() if pattern.search(low))


def tag_terms(text: str, only: frozenset[str]) -> frozenset[str]:
    """`docs:readm` for each topic word in the text (stemmed), for the tags in `only`."""
    low = clean(text).lower()
    out = set()
    for name in only:
        for m in TAGS[name].finditer(low):
            word = m.group(0).strip(" `/.")
            if word:
                out.add(f"{name}:{stem(word)}")
    return frozenset(out)


def code_spans(text: str) -> list[str]:
    return [m.group(1).strip() for m in _CODE_SPAN.finditer(text)]


def strip_shell(command: str) -> str:
    """The command a shell runs: no `bash -lc` wrapper, no `cd … &&`, no env assignments."""
    cmd = command.strip()
    for wrapper in ("bash -lc ", "bash -c ", "sh -c ", "/bin/bash -lc ", "/bin/sh -c ", "zsh -lc "):
        if cmd.startswith(wrapper):
            cmd = cmd[len(wrapper) :].strip().strip("'\"")
            break
    while True:
        m = re.match(r"^cd\s+\S+\s*(?:&&|;)\s*", cmd)
        if not m:
            break
        cmd = cmd[m.end() :]
    cmd = _PREFIX_WRAPPERS.sub("", cmd)
    return cmd.strip()


def looks_like_command(span: str) -> bool:
    tokens = strip_shell(span).split()
    if not tokens or len(span) > 160 or "\n" in span:
        return False
    return tokens[0] in RUNNERS and (len(tokens) >= 2 or tokens[0] in SPECIFIC_TOOLS)


def command_key(command: str) -> str:
    """A command reduced to what it runs: `npm run build -w x` -> `npm run build`, `uv run pytest -q` -> …

    Flags, paths and arguments are dropped, so two runs of one tool compare equal.
    """
    cmd = strip_shell(command).split("&&")[0].split("|")[0].split(";")[0]
    tokens = [t for t in cmd.split() if t]
    if not tokens:
        return ""
    head = tokens[0].lower()
    rest = [t.lower() for t in tokens[1:]]

    def plain(n: int) -> list[str]:
        kept = [head]
        for t in rest:
            if len(kept) >= n:
                break
            if t.startswith("-") or "/" in t or ("." in t.rstrip(":") and not t.startswith("test")):
                break
            kept.append(t)
        return kept

    if head in ("npm", "pnpm", "yarn", "bun") and rest[:1] == ["run"]:
        return " ".join(plain(3))
    if head in ("uv", "poetry", "pdm", "hatch", "pipenv") and rest[:1] == ["run"]:
        return " ".join(plain(3))
    if head in ("bundle",) and rest[:1] == ["exec"]:
        return " ".join(plain(3))
    if head in ("python", "python3") and rest[:1] == ["-m"] and len(rest) > 1:
        return f"{head} -m {rest[1]}"
    if head in ("npx", "bunx", "pnpx", "uvx"):
        return " ".join(plain(2))
    if (
        head in ("go", "cargo", "dotnet", "docker", "git")
        and rest[:1]
        and rest[0] in ("mod", "run", "tool", "compose")
    ):
        return " ".join(plain(3))
    return " ".join(plain(2))


def commands(text: str) -> list[str]:
    """Commands quoted in code spans (`pnpm lint`), in order."""
    return [strip_shell(s) for s in code_spans(text) if looks_like_command(s)]


def paths(text: str) -> list[str]:
    """File paths mentioned in the text, in code spans or not."""
    found: list[str] = []
    for m in _PATH.finditer(clean(_URL.sub(" ", text))):
        p = m.group(1).strip("./") if not m.group(1).startswith(".github") else m.group(1)
        if not p or p.startswith(("http", "www")) or len(p) > 200 or re.fullmatch(r"[\d.]+", p):
            continue
        # `ru/en` or `and/or` are words; a path has an extension, a trailing slash or depth
        if "." in p.rsplit("/", 1)[-1] or p.endswith("/") or p.count("/") >= 2:
            found.append(p)
    return found


def issue_refs(text: str) -> list[int]:
    return [int(m.group(1)) for m in _ISSUE_REF.finditer(_URL.sub(" ", text))]


_TOOL_WORD = re.compile(
    r"(?<![\w-])("
    + "|".join(re.escape(t) for t in sorted(SPECIFIC_TOOLS, key=len, reverse=True))
    + r")(?![\w-])"
)


def tools_in(text: str) -> frozenset[str]:
    return frozenset(_TOOL_WORD.findall(text.lower()))


def excerpt(text: str, limit: int = 300, around: str | None = None) -> str:
    """A short single-spaced excerpt, centred on `around` when it occurs in the text."""
    flat = " ".join(clean(text).split())
    if len(flat) <= limit:
        return flat
    start = 0
    if around:
        pos = flat.lower().find(" ".join(around.split()).lower()[:60])
        if pos > limit // 3:
            start = pos - limit // 3
    piece = flat[start : start + limit - 2]
    return ("…" if start else "") + piece.rstrip() + "…"


def normalise_error(line: str) -> str:
    """An error line with volatile parts (numbers, durations, hashes, temp paths) blanked."""
    low = clean(line).strip().lower()
    low = re.sub(r"\b[0-9a-f]{7,40}\b", "#", low)
    low = re.sub(r"\d+(?:\.\d+)?\s?(?:ms|s|m|h|sec|seconds|minutes)\b", "#", low)
    low = re.sub(r"\d+", "#", low)
    return " ".join(low.split())[:200]
