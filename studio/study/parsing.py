"""Reading study configs: YAML/JSON text or a mapping -> a validated :class:`StudyDefinition`.

Every problem is collected with where it is (``models[2].name``), so one :class:`DefinitionError`
lists them all. This module touches no files except :func:`load_definition`, which reads the one
config file.
"""

from __future__ import annotations

import difflib
import json
import math
import os
import re
import unicodedata
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from studio.models.base import MAX_SEED, MODEL_NAME
from studio.models.prompts import is_non_text
from studio.study.definition import (
    DEFAULT_CONSENT,
    DEFAULT_INSTRUCTIONS,
    DEFAULT_QUESTIONS,
    FORMAT_VERSION,
    INSTRUCTION_TEXTS,
    MAX_ATTENTION_CHECKS,
    MAX_PAIR_MODELS,
    MAX_PROMPT_CHARS,
    MAX_PROMPTS,
    MAX_RANK_MODELS,
    MAX_TEXT_CHARS,
    MAX_TRIALS_PER_PARTICIPANT,
    TRIAL_TYPES,
    AttentionCheck,
    DefinitionError,
    ExclusionRules,
    MismatchControl,
    ModelRef,
    Prompt,
    StimulusSettings,
    StudyDefinition,
)

_TOP_KEYS = (
    "format",
    "name",
    "description",
    "trial_type",
    "question",
    "consent",
    "instructions",
    "prompts",
    "models",
    "raters_per_item",
    "items_per_participant",
    "seed",
    "stimulus",
    "attention_checks",
    "exclusion",
    "prompt_mismatch_control",
    "completion_code",
)

CONFIG_SUFFIXES = (".yaml", ".yml", ".json")
_PROMPT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class _Problems:
    """Collects located problems so one error reports all of them."""

    def __init__(self) -> None:
        self.items: list[tuple[str, str]] = []

    def add(self, where: str, problem: str) -> None:
        self.items.append((where, problem))

    def keys(self, data: Mapping[str, Any], allowed: Sequence[str], where: str) -> None:
        for key in data:
            if key not in allowed:
                hint = _suggest(str(key), allowed)
                suggestion = f"; did you mean {hint[0]!r}?" if hint else f"; allowed: {', '.join(allowed)}"
                self.add(_join(where, str(key)), f"unknown key{suggestion}")


def _suggest(word: str, options: Sequence[str]) -> list[str]:
    """The likely intended option: a close spelling, else one that starts with the word."""
    close = difflib.get_close_matches(word, options, n=1)
    return close or [o for o in options if len(word) >= 3 and o.startswith(word.lower())][:1]


def _join(where: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{where}[{key}]"
    return f"{where}.{key}" if where else key


def _text(
    value: Any, where: str, problems: _Problems, *, max_chars: int = MAX_TEXT_CHARS, allow_empty: bool = False
) -> str | None:
    """NFC, whitespace collapsed; control/bidi characters and overlong text are errors, not cut."""
    if not isinstance(value, str):
        problems.add(where, f"must be text, got {type(value).__name__}")
        return None
    text = unicodedata.normalize("NFC", value)
    if any(is_non_text(ch) for ch in text):  # the prompt-cleaning rule, refused here instead of dropped
        problems.add(where, "contains control or invisible formatting characters")
        return None
    text = " ".join(text.split())
    if not text and not allow_empty:
        problems.add(where, "must not be empty")
        return None
    if len(text) > max_chars:
        problems.add(where, f"is {len(text)} characters long (limit {max_chars})")
        return None
    return text


def _int(value: Any, where: str, problems: _Problems, low: int, high: int) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int):
        problems.add(where, f"must be an integer, got {value!r}")
        return None
    if not low <= value <= high:
        problems.add(where, f"must be in [{low}, {high}], got {value}")
        return None
    return value


def _float(value: Any, where: str, problems: _Problems, low: float, high: float) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        problems.add(where, f"must be a number, got {value!r}")
        return None
    if not low <= value <= high:
        problems.add(where, f"must be in [{low:g}, {high:g}], got {value!r}")
        return None
    return float(value)


def _mapping(value: Any, where: str, problems: _Problems) -> Mapping[str, Any] | None:
    if not isinstance(value, Mapping):
        problems.add(where, f"must be a mapping, got {type(value).__name__}")
        return None
    return value


def _prompt_key(text: str) -> str:
    return text.casefold()


def parse_definition(
    data: Any,
    *,
    source: str | Path = "<study config>",
    base_dir: str | Path | None = None,
    known_models: Collection[str] | None = None,
) -> StudyDefinition:
    """Validate a config mapping into a :class:`StudyDefinition`; raises :class:`DefinitionError`.

    ``base_dir`` resolves relative ``results`` folders (None: they must be absolute);
    ``known_models`` is the models config's names (None: named models are not checked).
    """
    problems = _Problems()
    if not isinstance(data, Mapping):
        raise DefinitionError(
            source, [("", f"must hold a mapping at the top level, got {type(data).__name__}")]
        )
    problems.keys(data, _TOP_KEYS, "")
    fmt = data.get("format", FORMAT_VERSION)
    if fmt != FORMAT_VERSION:
        problems.add("format", f"this studio reads format {FORMAT_VERSION}, got {fmt!r}")

    name = _text(data.get("name"), "name", problems, max_chars=200) if "name" in data else None
    if "name" not in data:
        problems.add("name", "is required")
    description = _text(data.get("description", ""), "description", problems, allow_empty=True)
    trial_type = data.get("trial_type")
    if trial_type not in TRIAL_TYPES:
        hint = _suggest(str(trial_type), TRIAL_TYPES)
        extra = f"; did you mean {hint[0]!r}?" if hint else ""
        problems.add("trial_type", f"must be one of {', '.join(TRIAL_TYPES)}, got {trial_type!r}{extra}")
        trial_type = None
    question = None
    if "question" in data or trial_type is not None:
        question = _text(data.get("question", DEFAULT_QUESTIONS.get(str(trial_type))), "question", problems)
    consent = _text(data.get("consent", DEFAULT_CONSENT), "consent", problems)
    instructions = _text(data.get("instructions", DEFAULT_INSTRUCTIONS), "instructions", problems)

    prompts = _parse_prompts(data.get("prompts"), problems)
    models = _parse_models(data.get("models"), trial_type, problems, base_dir, known_models)
    prompt_texts = {_prompt_key(p.text) for p in prompts}
    model_names = [m.name for m in models]

    n_items = None
    if prompts and models and trial_type is not None:
        n_items = len(prompts) * (1 if trial_type == "rank" else len(models) * (len(models) - 1) // 2)
    raters = _int(data.get("raters_per_item", 1), "raters_per_item", problems, 1, 10_000)
    per = data.get("items_per_participant")
    if per is None:
        per = n_items  # everyone rates every item (EmoAva's design)
        if per is not None and per > MAX_TRIALS_PER_PARTICIPANT:
            problems.add(
                "items_per_participant", f"is required: the study has {per} items, too many for one person"
            )
    else:
        high = min(n_items, MAX_TRIALS_PER_PARTICIPANT) if n_items else MAX_TRIALS_PER_PARTICIPANT
        per = _int(per, "items_per_participant", problems, 1, high)
    seed = _int(data.get("seed"), "seed", problems, 0, MAX_SEED) if "seed" in data else None
    if "seed" not in data:
        problems.add("seed", "is required (it fixes the assignment of trials to participants)")

    stimulus = _parse_stimulus(data.get("stimulus", {}), problems)
    checks = _parse_checks(data.get("attention_checks", []), trial_type, model_names, prompt_texts, problems)
    exclusion = _parse_exclusion(data.get("exclusion", {}), len(checks), problems)
    control = _parse_control(data.get("prompt_mismatch_control"), len(prompts), len(models), problems)
    code = data.get("completion_code")
    if code is not None and not (isinstance(code, str) and re.fullmatch(r"[A-Za-z0-9_-]{1,64}", code)):
        problems.add(
            "completion_code", "must be 1-64 letters, digits, '-' or '_' (the code Prolific gave you)"
        )
    if per is not None and checks is not None and control is not None:
        total = per + len(checks) + control.per_participant
        if total > MAX_TRIALS_PER_PARTICIPANT:
            problems.add("", f"{total} trials per participant (limit {MAX_TRIALS_PER_PARTICIPANT})")

    if problems.items:
        raise DefinitionError(source, problems.items)
    return StudyDefinition(
        name=name,
        trial_type=trial_type,
        question=question,
        prompts=tuple(prompts),
        models=tuple(models),
        raters_per_item=raters,
        items_per_participant=per,
        seed=seed,
        description=description or "",
        consent=consent,
        instructions=instructions,
        stimulus=stimulus,
        attention_checks=tuple(checks),
        exclusion=exclusion,
        mismatch_control=None if control is None or control.per_participant == 0 else control,
        completion_code=code,
    )


def _parse_prompts(raw: Any, problems: _Problems) -> list[Prompt]:
    if not isinstance(raw, list) or not raw:
        problems.add("prompts", "must be a non-empty list of texts or {id, text} mappings")
        return []
    if len(raw) > MAX_PROMPTS:
        problems.add("prompts", f"has {len(raw)} entries (limit {MAX_PROMPTS})")
        return []
    prompts: list[Prompt] = []
    seen_text: dict[str, int] = {}
    seen_id: dict[str, int] = {}
    for index, entry in enumerate(raw):
        where = _join("prompts", index)
        if isinstance(entry, Mapping):
            problems.keys(entry, ("id", "text"), where)
            pid, text = entry.get("id"), entry.get("text")
            if not (isinstance(pid, str) and _PROMPT_ID.match(pid)):
                problems.add(_join(where, "id"), "must be 1-64 letters, digits, '_', '.' or '-'")
                pid = None
        else:
            pid, text = f"p{index + 1:03d}", entry
        text_where = _join(where, "text") if isinstance(entry, Mapping) else where
        text = _text(text, text_where, problems, max_chars=MAX_PROMPT_CHARS)
        if text is None or pid is None:
            continue
        key = _prompt_key(text)
        if key in seen_text:
            problems.add(
                where, f"repeats prompts[{seen_text[key]}] (prompts match ignoring case and spacing)"
            )
            continue
        if pid in seen_id:
            problems.add(where, f"id {pid!r} is already used by prompts[{seen_id[pid]}]")
            continue
        seen_text[key], seen_id[pid] = index, index
        prompts.append(Prompt(pid, text))
    return prompts


def _parse_models(
    raw: Any,
    trial_type: str | None,
    problems: _Problems,
    base_dir: str | Path | None,
    known: Collection[str] | None,
) -> list[ModelRef]:
    limit = MAX_RANK_MODELS if trial_type == "rank" else MAX_PAIR_MODELS
    if not isinstance(raw, list) or len(raw) < 2:
        problems.add(
            "models", "must list at least two models (names from the models config or results folders)"
        )
        return []
    if len(raw) > limit:
        problems.add("models", f"has {len(raw)} entries; a {trial_type} study takes at most {limit}")
        return []
    models: list[ModelRef] = []
    seen: dict[str, int] = {}
    for index, entry in enumerate(raw):
        where = _join("models", index)
        results = None
        if isinstance(entry, str):
            name = entry
        elif isinstance(entry, Mapping):
            problems.keys(entry, ("name", "results"), where)
            results_raw = entry.get("results")
            name = entry.get("name")
            if results_raw is not None:
                if not isinstance(results_raw, str) or not results_raw.strip():
                    problems.add(_join(where, "results"), "must be a folder path")
                    continue
                if not os.path.isabs(results_raw) and base_dir is None:
                    problems.add(
                        _join(where, "results"),
                        "must be an absolute path here (no config folder to resolve it)",
                    )
                    continue
                # normpath, not resolve(): validation stays pure (no filesystem access)
                results = os.path.normpath(os.path.join(str(base_dir or ""), results_raw))
                if name is None:
                    name = os.path.basename(results).lower()
        else:
            problems.add(where, "must be a model name or a {name, results} mapping")
            continue
        if not (isinstance(name, str) and MODEL_NAME.match(name)):
            problems.add(where, f"name {name!r} must be lowercase letters, digits, '-', '_' or '.' (max 64)")
            continue
        if results is None and known is not None and name not in known:
            hint = _suggest(name, sorted(known))
            extra = (
                f"; did you mean {hint[0]!r}?" if hint else f"; known: {', '.join(sorted(known)) or 'none'}"
            )
            problems.add(where, f"model {name!r} is not in the models config{extra}")
            continue
        if name in seen:
            problems.add(where, f"model {name!r} is already models[{seen[name]}]")
            continue
        seen[name] = index
        models.append(ModelRef(name, results))
    return models


def _parse_stimulus(raw: Any, problems: _Problems) -> StimulusSettings | None:
    data = _mapping(raw, "stimulus", problems)
    if data is None:
        return None
    problems.keys(data, ("seed", "duration_s", "fps"), "stimulus")
    default = StimulusSettings()
    seed = _int(data.get("seed", default.seed), "stimulus.seed", problems, 0, MAX_SEED)
    duration = _float(data.get("duration_s", default.duration_s), "stimulus.duration_s", problems, 0.5, 30.0)
    fps = _int(data.get("fps", default.fps), "stimulus.fps", problems, 10, 120)
    if seed is None or duration is None or fps is None:
        return None
    return StimulusSettings(seed, duration, fps)


def _parse_checks(
    raw: Any, trial_type: str | None, models: Sequence[str], prompts: Collection[str], problems: _Problems
) -> list[AttentionCheck]:
    if not isinstance(raw, list):
        problems.add("attention_checks", "must be a list")
        return []
    if len(raw) > MAX_ATTENTION_CHECKS:
        problems.add("attention_checks", f"has {len(raw)} entries (limit {MAX_ATTENTION_CHECKS})")
        return []
    checks: list[AttentionCheck] = []
    for index, entry in enumerate(raw):
        where = _join("attention_checks", index)
        data = _mapping(entry, where, problems)
        if data is None:
            continue
        kind = data.get("kind")
        if kind == "contradiction":
            problems.keys(data, ("kind", "prompt", "model", "decoy_prompt"), where)
            prompt = _text(data.get("prompt"), _join(where, "prompt"), problems, max_chars=MAX_PROMPT_CHARS)
            decoy = _text(
                data.get("decoy_prompt"), _join(where, "decoy_prompt"), problems, max_chars=MAX_PROMPT_CHARS
            )
            model = data.get("model")
            if model not in models:
                problems.add(
                    _join(where, "model"),
                    f"must be one of the study's models ({', '.join(models)}), got {model!r}",
                )
                model = None
            if prompt and decoy and _prompt_key(prompt) == _prompt_key(decoy):
                problems.add(
                    _join(where, "decoy_prompt"), "must differ from prompt (the decoy has to contradict it)"
                )
                continue
            if prompt and _prompt_key(prompt) in prompts:
                # a check on a study prompt would show the participant a study clip twice
                problems.add(_join(where, "prompt"), "must not be one of the study prompts")
                continue
            if prompt and decoy and model:
                checks.append(AttentionCheck("contradiction", prompt, model=model, decoy_prompt=decoy))
        elif kind == "instruction":
            problems.keys(data, ("kind", "prompt", "side", "text"), where)
            prompt = _text(data.get("prompt"), _join(where, "prompt"), problems, max_chars=MAX_PROMPT_CHARS)
            side = data.get("side", "alternate")
            if side not in ("left", "right", "alternate"):
                problems.add(_join(where, "side"), f"must be left, right or alternate, got {side!r}")
                side = None
            default_text = INSTRUCTION_TEXTS.get(str(trial_type), "{side}")
            text = _text(data.get("text", default_text), _join(where, "text"), problems)
            if text is not None and side == "alternate" and "{side}" not in text:
                problems.add(_join(where, "text"), "must contain '{side}' when side is alternate")
                text = None
            if text is not None and set(re.findall(r"\{([^}]*)\}", text)) - {"side"}:
                problems.add(_join(where, "text"), "may only use the placeholder {side}")
                text = None
            if prompt and side and text:
                checks.append(AttentionCheck("instruction", prompt, side=side, text=text))
        else:
            problems.add(_join(where, "kind"), f"must be contradiction or instruction, got {kind!r}")
    return checks


def _parse_exclusion(raw: Any, n_checks: int, problems: _Problems) -> ExclusionRules | None:
    data = _mapping(raw, "exclusion", problems)
    if data is None:
        return None
    allowed = ("failed_attention_checks_at_least", "median_dwell_below_s")
    problems.keys(data, allowed, "exclusion")
    failed = data.get(allowed[0])
    if failed is not None:
        failed = _int(failed, f"exclusion.{allowed[0]}", problems, 1, MAX_ATTENTION_CHECKS)
        if failed is not None and failed > n_checks:
            problems.add(
                f"exclusion.{allowed[0]}", f"is {failed} but the study has only {n_checks} attention checks"
            )
    dwell = data.get(allowed[1])
    if dwell is not None:
        dwell = _float(dwell, f"exclusion.{allowed[1]}", problems, 0.0, 600.0)
    return ExclusionRules(failed, dwell)


def _parse_control(raw: Any, n_prompts: int, n_models: int, problems: _Problems) -> MismatchControl | None:
    if raw is None:
        return MismatchControl(0)
    data = _mapping(raw, "prompt_mismatch_control", problems)
    if data is None:
        return None
    problems.keys(data, ("per_participant",), "prompt_mismatch_control")
    if n_prompts and n_prompts < 2:
        problems.add(
            "prompt_mismatch_control", "needs at least two prompts (the wrong prompt is another study prompt)"
        )
        return None
    high = max(1, min(n_prompts * n_models, 50)) if n_prompts and n_models else 50
    per = _int(data.get("per_participant", 1), "prompt_mismatch_control.per_participant", problems, 0, high)
    return None if per is None else MismatchControl(per)


def load_definition(path: str | Path, *, known_models: Collection[str] | None = None) -> StudyDefinition:
    """Read a study config (``.yaml``/``.yml`` or ``.json``); relative results folders resolve
    against the config's folder. Raises :class:`DefinitionError` (a :class:`FormatError`)."""
    path = Path(path)
    if path.suffix.lower() not in CONFIG_SUFFIXES:
        raise DefinitionError(path, [("", "a study config must end in .yaml, .yml or .json")])
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DefinitionError(path, [("", f"cannot read: {exc}")]) from None
    return parse_config_text(
        text,
        path,
        base_dir=path.parent.resolve(),
        known_models=known_models,
        strict_json=path.suffix.lower() == ".json",
    )


def parse_config_text(
    text: str,
    source: str | Path,
    *,
    base_dir: str | Path | None = None,
    known_models: Collection[str] | None = None,
    strict_json: bool = False,
) -> StudyDefinition:
    """Validate config text: YAML (JSON is YAML too), or JSON only with ``strict_json``. Without a
    ``base_dir`` relative results folders are refused. Raises :class:`DefinitionError`."""
    if strict_json:
        try:
            data = json.loads(text, parse_constant=no_json_constant)
        except json.JSONDecodeError as exc:
            raise DefinitionError(
                source, [(f"line {exc.lineno}, column {exc.colno}", f"not valid JSON: {exc.msg}")]
            ) from None
        except ValueError as exc:
            raise DefinitionError(source, [("", f"not valid JSON: {exc}")]) from None
    else:
        try:
            data = yaml.safe_load(text)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            where = "" if mark is None else f"line {mark.line + 1}, column {mark.column + 1}"
            problem = f"not valid YAML: {exc.problem or exc.context}"
            raise DefinitionError(source, [(where, problem)]) from None
        except yaml.YAMLError as exc:
            raise DefinitionError(source, [("", f"not valid YAML: {exc}")]) from None
    return parse_definition(data, source=source, base_dir=base_dir, known_models=known_models)


def no_json_constant(name: str) -> Any:
    """``parse_constant`` for :func:`json.loads`: NaN and Infinity are not JSON, refuse them."""
    raise ValueError(f"{name} is not JSON")


def definition_from_canonical_json(text: str) -> StudyDefinition:
    """Rebuild a definition from its stored canonical JSON (what storage keeps)."""
    return parse_definition(json.loads(text), source="<stored study>")
