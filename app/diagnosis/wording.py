"""The words of an action item (title, problem, proposal, rule) in English and Russian.

Wording is chosen by the kind of problem and filled only with facts the detectors measured
(commands, checks, counts, paths) — never with text copied from untrusted comments.
"""

from __future__ import annotations

from dataclasses import dataclass

Locale = str


@dataclass(frozen=True)
class Facts:
    """What the merged findings of one problem say, in a shape the templates can use."""

    topic: str
    command: str = ""
    wrong_command: str = ""
    check: str = ""
    ci_failures: int = 0
    feedback_rounds: int = 0
    feedback_comments: int = 0
    loops: tuple[tuple[str, int], ...] = ()
    tool: str = ""
    host: str = ""
    tools: tuple[str, ...] = ()
    tool_hits: int = 0
    labels: tuple[str, ...] = ()
    episodes: int = 0
    episode_labels: tuple[str, ...] = ()  # "run:dev + run:qa" per overlap
    paths: tuple[str, ...] = ()
    quote: str = ""
    wrong_runs: int = 0
    convention: str = ""  # "AGENTS.md:12" when the rule is already written down
    default_branch: str = "main"
    base_branch: str = ""  # the branch maintainers moved the agent's PRs to ("" when several)
    retargeted: int = 0  # the agent's PRs whose base a maintainer changed
    merged_default: int = 0  # the agent's PRs it updated by merging the default branch
    force_pushes: int = 0  # the agent's force-pushes to PRs already reviewed
    stage_prefix: str = "run:"
    flaky_note: str = ""


@dataclass(frozen=True)
class Wording:
    title: str
    problem: str
    proposal: str
    rule: str


def _code(x: str) -> str:
    return f"`{x}`" if x else ""


def _paths(paths: tuple[str, ...], limit: int = 3) -> str:
    return ", ".join(f"`{p}`" for p in paths[:limit])


def word(facts: Facts, target: str, locale: Locale, *, dockerfile: bool = False) -> Wording:
    ru = locale == "ru"
    title, rule = (_ru if ru else _en)(facts, dockerfile)
    problem = _problem(facts, ru)
    if ru:
        proposal = f"Добавить в `{target}` правило: {rule}"
        if facts.convention:
            proposal += f" (правило уже есть в {facts.convention}, но агент ему не следует — нужен явный шаг)."
    else:
        proposal = f"Add to `{target}`: {rule}"
        if facts.convention:
            proposal += f" ({facts.convention} already says so, but the agent does not act on it; make it an explicit step.)"
    return Wording(
        title=title[:200], problem=problem[:2000], proposal=proposal[:2000], rule=rule[:500]
    )


def _en(f: Facts, dockerfile: bool) -> tuple[str, str]:
    cmd = _code(f.command)
    match f.topic:
        case "tool_gap":
            if dockerfile and f.tool and not f.host:
                return f"Install `{f.tool}` in the agent image", install_line(f.tool, *f.tools)
            if f.host:
                tools = f" (so {', '.join(_code(t) for t in f.tools[:4])} work)" if f.tools else ""
                return (
                    f"Let the agent's environment reach `{f.host}`",
                    f"The agent's sandbox cannot reach `{f.host}`: install dependencies in the setup steps that "
                    f"run before the firewall starts, or allowlist `{f.host}`{tools}.",
                )
            return (
                f"Give the agent `{f.tool}`",
                f"Make `{f.tool}` available in the agent's environment (setup steps or image); if it is still "
                "missing, say so in the PR instead of skipping the check.",
            )
        case "loop":
            return (
                "Stop retrying the same failing command",
                "If a command fails the same way twice, stop and re-read the error: look for the root cause "
                "(stale generated code, missing setup step, wrong assumption) and change the approach; after "
                "three identical failures, report the blocker instead of retrying.",
            )
        case "stage_labels":
            return (
                "One stage label at a time",
                f"Keep exactly one `{f.stage_prefix}*` stage label on an issue: remove the current one (or wait "
                "for its run to finish) before adding the next.",
            )
        case "base_branch":
            default = _code(f.default_branch)
            if f.base_branch:
                base = _code(f.base_branch)
                return (
                    f"Branch from and open PRs against {base}, not {default}",
                    f"Create every branch from {base} and open its PR against {base}, not {default}; "
                    f"to bring a branch up to date, rebase on or merge {base}, never {default}.",
                )
            return (
                "Open PRs against the branch the repository works on",
                "Before opening a PR, find the base branch the repository's contributing guide names "
                f"(it is not always {default}); branch from it, target it, and update the branch only from it.",
            )
        case "force_push":
            return (
                "Push review fixes as new commits; never force-push a reviewed PR",
                "Once a PR has been reviewed, push every change as a new commit on top: do not amend, "
                "rebase or force-push its branch, so reviewers can see what changed since their review "
                "(history is tidied when the PR is merged).",
            )
        case "wrong_command":
            return (
                f"Run the tests with {cmd}",
                f"Run the tests with {cmd}, not {_code(f.wrong_command)}; if the documented command fails, "
                "report its output instead of saying the tests cannot run.",
            )
        case "generated":
            where = f" ({_paths(f.paths)})" if f.paths else ""
            regen = f" and regenerate with {cmd}" if f.command else " and run the code generator"
            return (
                "Regenerate, never hand-edit generated files",
                f"Never edit generated files{where}; change the source (schema) instead{regen} right after "
                "every source change.",
            )
        case "upgrades":
            return (
                "Change no dependency versions the task did not ask for",
                "Leave dependency and build-tool versions as they are (manifests, lockfiles, version "
                "catalogs, wrappers) unless the issue asks for an upgrade; upgrades come in their own PRs. If "
                "the change really needs a newer version, stop and say so in the PR instead of upgrading.",
            )
        case "regression_test":
            return (
                "Add a regression test with every bug fix",
                "Every bug fix comes with a test that reproduces the bug: it fails on "
                f"`{f.default_branch}` and passes with the fix. Write it first, in the same PR, before "
                "asking for review.",
            )
        case "scope":
            return (
                "Leave unrelated and flaky tests alone",
                "Change only what the issue asks for: when a check fails in code you did not touch, check "
                f"whether it also fails on `{f.default_branch}` or is a known flaky test, report it in the PR, "
                "and never modify, skip or weaken unrelated tests.",
            )
        case "docs":
            where = f" ({_paths(f.paths)})" if f.paths else ""
            return (
                "Update the docs with every behaviour change",
                "When user-visible behaviour changes (buttons, settings, formats), update the documentation "
                f"in the same PR, in every language it exists in{where}.",
            )
        case "i18n":
            check = f" and run {cmd} before committing" if f.command else ""
            return (
                "Keep all locale files in sync",
                f"Add every new or changed translation key to all locale files at once{check}.",
            )
        case "changelog":
            check = f" and check it with {cmd} before pushing" if f.command else ""
            return (
                "Add the changelog fragment to every PR",
                f"Every user-facing change needs the changelog/news fragment the repository requires; add it in "
                f"the same PR{check}.",
            )
        case "commit_format":
            check = f" Check with {cmd} before pushing." if f.command else ""
            where = f" ({f.convention})" if f.convention else ""
            return (
                "Write commit messages and PR titles in the required format",
                "Write every commit message and PR title in the format the repository requires (for example "
                f'Conventional Commits: `type(scope): summary`){where}; never push messages like "Update" or '
                f'"fix stuff".{check}',
            )
        case "check":
            what = cmd or _code(f.check)
            return (
                f"Run {what} before pushing",
                f"Before every push, run {what} and fix everything it reports; do not leave it for CI to find.",
            )
    quote = f.quote.replace("\n", " ")
    return (
        "Recurring review request",
        f"Reviewers asked for this more than once: “{quote}” — do it before asking for review.",
    )


def _ru(f: Facts, dockerfile: bool) -> tuple[str, str]:
    cmd = _code(f.command)
    match f.topic:
        case "tool_gap":
            if dockerfile and f.tool and not f.host:
                return f"Установить `{f.tool}` в образ агента", install_line(f.tool, *f.tools)
            if f.host:
                tools = (
                    f" (чтобы работали {', '.join(_code(t) for t in f.tools[:4])})"
                    if f.tools
                    else ""
                )
                return (
                    f"Дать окружению агента доступ к `{f.host}`",
                    f"Песочница агента не видит `{f.host}`: ставьте зависимости в шагах подготовки до включения "
                    f"файрвола или добавьте `{f.host}` в список разрешённых{tools}.",
                )
            return (
                f"Дать агенту `{f.tool}`",
                f"Сделайте `{f.tool}` доступным в окружении агента (шаги подготовки или образ); если его нет, "
                "пишите об этом в PR, а не пропускайте проверку.",
            )
        case "loop":
            return (
                "Не повторять одну и ту же падающую команду",
                "Если команда дважды падает одинаково, остановитесь и перечитайте ошибку: ищите причину "
                "(устаревший сгенерированный код, пропущенный шаг подготовки, неверное предположение) и меняйте "
                "подход; после трёх одинаковых падений сообщите о блокере вместо новых попыток.",
            )
        case "stage_labels":
            return (
                "Одна метка этапа за раз",
                f"На issue должна быть ровно одна метка этапа `{f.stage_prefix}*`: снимите текущую (или дождитесь "
                "конца её запуска), прежде чем ставить следующую.",
            )
        case "base_branch":
            default = _code(f.default_branch)
            if f.base_branch:
                base = _code(f.base_branch)
                return (
                    f"Ветки от {base} и PR в {base}, а не в {default}",
                    f"Создавайте каждую ветку от {base} и открывайте PR в {base}, а не в {default}; "
                    f"обновляйте ветку ребейзом на {base} или слиянием {base}, никогда не из {default}.",
                )
            return (
                "Открывать PR в ту ветку, в которой ведётся работа",
                "Прежде чем открыть PR, найдите базовую ветку, которую называет руководство для "
                f"участников (это не всегда {default}); ответвляйтесь от неё, открывайте PR в неё и "
                "обновляйте ветку только из неё.",
            )
        case "force_push":
            return (
                "Правки после ревью — новыми коммитами, без force-push",
                "Когда у PR уже есть ревью, пушьте каждое изменение новым коммитом поверх: не делайте "
                "amend, rebase и force-push его ветки, чтобы ревьюеры видели, что изменилось с их ревью "
                "(историю приводят в порядок при слиянии).",
            )
        case "wrong_command":
            return (
                f"Запускать тесты через {cmd}",
                f"Запускайте тесты командой {cmd}, а не {_code(f.wrong_command)}; если документированная команда "
                "падает, приложите её вывод, а не пишите, что тесты запустить нельзя.",
            )
        case "generated":
            where = f" ({_paths(f.paths)})" if f.paths else ""
            regen = (
                f" и перегенерируйте через {cmd}" if f.command else " и запустите генератор кода"
            )
            return (
                "Перегенерировать, а не править сгенерированные файлы",
                f"Никогда не правьте сгенерированные файлы{where} вручную; меняйте исходник (схему){regen} сразу "
                "после каждого изменения исходника.",
            )
        case "upgrades":
            return (
                "Не менять версии зависимостей, о которых не просили",
                "Не трогайте версии зависимостей и инструментов сборки (манифесты, lock-файлы, каталоги "
                "версий, обёртки), если issue не просит обновления; обновления идут отдельными PR. Если "
                "изменению действительно нужна новая версия, остановитесь и напишите об этом в PR.",
            )
        case "regression_test":
            return (
                "Добавлять регрессионный тест к каждому исправлению",
                "Каждое исправление ошибки приходит с тестом, который её воспроизводит: он падает на "
                f"`{f.default_branch}` и проходит с исправлением. Пишите его первым, в том же PR, до "
                "запроса ревью.",
            )
        case "scope":
            return (
                "Не трогать посторонние и нестабильные тесты",
                "Меняйте только то, что просит issue: если проверка падает в коде, который вы не трогали, "
                f"проверьте, падает ли она на `{f.default_branch}` и нет ли её среди известных нестабильных тестов, "
                "сообщите об этом в PR и никогда не меняйте, не отключайте и не ослабляйте посторонние тесты.",
            )
        case "docs":
            where = f" ({_paths(f.paths)})" if f.paths else ""
            return (
                "Обновлять документацию вместе с поведением",
                "Если меняется поведение, видимое пользователю (кнопки, настройки, форматы), обновляйте "
                f"документацию в том же PR на всех языках, на которых она есть{where}.",
            )
        case "i18n":
            check = f" и запускайте {cmd} перед коммитом" if f.command else ""
            return (
                "Держать файлы локализации синхронными",
                f"Добавляйте каждый новый или изменённый ключ перевода сразу во все файлы локалей{check}.",
            )
        case "changelog":
            check = f" и проверяйте его через {cmd} перед пушем" if f.command else ""
            return (
                "Добавлять фрагмент changelog в каждый PR",
                f"Каждое заметное пользователю изменение требует фрагмента changelog, который требует "
                f"репозиторий; добавляйте его в том же PR{check}.",
            )
        case "commit_format":
            check = f" Проверяйте через {cmd} перед пушем." if f.command else ""
            return (
                "Писать сообщения коммитов и заголовки PR в принятом формате",
                "Пишите каждое сообщение коммита и заголовок PR в формате, который требует репозиторий (например, Conventional "
                f"Commits: `тип(область): суть`); не пушьте сообщения вроде «Update» или «fix stuff».{check}",
            )
        case "check":
            what = cmd or _code(f.check)
            return (
                f"Запускать {what} перед пушем",
                f"Перед каждым пушем запускайте {what} и исправляйте всё, что она находит; не оставляйте это CI.",
            )
    quote = f.quote.replace("\n", " ")
    return (
        "Повторяющееся замечание ревью",
        f"Ревьюеры просили об этом не раз: «{quote}» — делайте это до запроса ревью.",
    )


def _problem(f: Facts, ru: bool) -> str:
    parts: list[str] = []
    if f.ci_failures:
        what = _code(f.check)
        parts.append(
            f"CI {what} падал на {f.ci_failures} пушах агента"
            if ru
            else f"CI {what} failed on {f.ci_failures} of the agent's pushes"
        )
    for cmd, n in f.loops:
        parts.append(
            f"агент {n} раз подряд запускал {_code(cmd)} с той же ошибкой"
            if ru
            else f"the agent ran {_code(cmd)} {n} times with the same failure"
        )
    if f.wrong_command:
        parts.append(
            f"агент запускал {_code(f.wrong_command)} ({f.wrong_runs} запуск(а/ов)), команда падала, хотя репозиторий "
            f"документирует {_code(f.command)}"
            if ru
            else f"the agent ran {_code(f.wrong_command)} in {f.wrong_runs} run(s) and it failed, although the "
            f"repository documents {_code(f.command)}"
        )
    if f.topic == "tool_gap":
        if f.host:
            parts.append(
                f"`{f.host}` недоступен из окружения агента ({f.tool_hits} упоминаний в его выводе)"
                if ru
                else f"`{f.host}` was unreachable from the agent's environment ({f.tool_hits} times in its output)"
            )
        else:
            parts.append(
                f"в окружении агента нет `{f.tool}` ({f.tool_hits} раз в его выводе)"
                if ru
                else f"`{f.tool}` was missing in the agent's environment ({f.tool_hits} times in its output)"
            )
        if f.host and f.tools:
            parts.append(
                f"из-за этого не было {', '.join(_code(t) for t in f.tools[:4])}"
                if ru
                else f"so {', '.join(_code(t) for t in f.tools[:4])} could not run"
            )
    if f.episodes:
        labels = "; ".join(
            " + ".join(_code(lb) for lb in ep.split(" + ")) for ep in f.episode_labels
        ) or " + ".join(_code(lb) for lb in f.labels)
        parts.append(
            f"{f.episodes} раз(а) на issue одновременно стояли метки этапов ({labels})"
            if ru
            else f"{f.episodes} time(s) two stage labels were on the issue at once ({labels})"
        )
    if f.retargeted or f.merged_default:
        default, base = (
            _code(f.default_branch),
            _code(f.base_branch) or ("другую ветку" if ru else "another branch"),
        )
        if f.retargeted:
            parts.append(
                f"мейнтейнеры вручную перевели {f.retargeted} PR агента с {default} на {base}"
                if ru
                else f"maintainers moved {f.retargeted} of the agent's PRs from {default} to {base} by hand"
            )
        if f.merged_default:
            parts.append(
                f"в {f.merged_default} PR агент влил {default}, и в diff попали чужие изменения"
                if ru
                else f"the agent merged {default} into {f.merged_default} PR(s), pulling unrelated "
                "changes into the diff"
            )
    if f.force_pushes:
        parts.append(
            f"агент {f.force_pushes} раз(а) делал force-push в PR после ревью, и ревьюеры на это жаловались"
            if ru
            else f"the agent force-pushed over a review {f.force_pushes} times and reviewers objected"
        )
    if f.feedback_rounds:
        parts.append(
            f"ревьюеры поднимали это в {f.feedback_rounds} раундах ({f.feedback_comments} комментариев)"
            if ru
            else f"reviewers raised it in {f.feedback_rounds} rounds ({f.feedback_comments} comments)"
        )
    if f.flaky_note:
        parts.append(f.flaky_note)
    text = (
        "; ".join(parts) if parts else ("повторяющаяся проблема" if ru else "a recurring problem")
    )
    return text[:1].upper() + text[1:] + ("." if not text.endswith(".") else "")


_PYTHON_TOOLS = frozenset(
    [
        "ruff",
        "black",
        "isort",
        "flake8",
        "mypy",
        "pyright",
        "pytest",
        "tox",
        "nox",
        "uv",
        "poetry",
        "pre-commit",
        "towncrier",
    ]
)
_NODE_TOOLS = frozenset(
    ["pnpm", "yarn", "eslint", "prettier", "typescript", "tsc", "vitest", "jest", "playwright"]
)
_RUST_COMPONENTS: dict[str, str] = {
    "rustfmt": "rustfmt",
    "cargo-fmt": "rustfmt",
    "fmt": "rustfmt",
    "clippy": "clippy",
    "cargo-clippy": "clippy",
    "clippy-driver": "clippy",
}


def _ecosystem(tool: str) -> str:
    if tool in _RUST_COMPONENTS:
        return "rust"
    if tool in _PYTHON_TOOLS:
        return "python"
    if tool in _NODE_TOOLS:
        return "node"
    return "apt"


def install_line(*tools: str) -> str:
    """One Dockerfile line that puts the tools into the agent image (those of the first tool's ecosystem)."""
    kind = _ecosystem(tools[0])
    same = list(dict.fromkeys(t for t in tools if _ecosystem(t) == kind))
    if kind == "rust":
        return "RUN rustup component add " + " ".join(
            dict.fromkeys(_RUST_COMPONENTS[t] for t in same)
        )
    if kind == "python":
        return "RUN pip install --no-cache-dir " + " ".join(same)
    if kind == "node":
        return "RUN npm install -g " + " ".join("typescript" if t == "tsc" else t for t in same)
    names = " ".join(same)
    return f"RUN apt-get update && apt-get install -y --no-install-recommends {names} && rm -rf /var/lib/apt/lists/*"
