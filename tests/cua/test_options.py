"""The shared CLI options, the generation settings, the policy-name registry and memory's lifetime.

- every option declared in ``cua.cli.options`` has the same flag, type and help in every command
  that offers it (the test walks the whole ``cua`` typer app);
- every field of ``GenerationSettings`` (and ``ModelOptions``) carries a docstring, and the
  option help is read from them;
- the policy registry names the baselines once and refuses unknown names with a UsageError;
- the memory ``--memory`` opens is closed by its context manager.
"""

from __future__ import annotations

import inspect
from dataclasses import fields
from pathlib import Path
from typing import Any, get_args

import pytest
import typer

import cua.cli.options as options
from cua.cli.options import MEMORY_MODES, ModelOptions, check_memory_mode
from cua.errors import UsageError
from cua.models.config import GenerationSettings, field_docs, with_overrides
from cua.policies.baselines import NoopPolicy, RandomPolicy
from cua.policies.registry import (
    BASELINES,
    MODEL,
    POLICY_NAMES,
    SharedPolicy,
    check_policy_name,
    make_baseline,
    policy_factory,
)
from cua.policies.scripted import ScriptedPolicy
from cua.store import TrajectoryStore
from sandbox.fake import FakeSandbox


def _aliases() -> dict[str, Any]:
    """Every typer option alias ``cua.cli.options`` declares, by name."""
    out = {}
    for name in options.__all__:
        value = getattr(options, name)
        args = get_args(value)
        if len(args) == 2 and isinstance(args[1], typer.models.OptionInfo):
            out[name] = value
    return out


def _reference(alias: Any) -> Any:
    """The click option typer builds from ``alias`` (as any command declaring it gets)."""

    def command(value: Any = None) -> None:
        """Reference."""

    param = inspect.Parameter(
        "value", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None, annotation=alias
    )
    command.__signature__ = inspect.Signature([param])  # type: ignore[attr-defined]
    command.__annotations__ = {"value": alias, "return": None}
    built = typer.main.get_command(_app(command))
    (option,) = [p for p in built.params if _is_option(p)]
    return option


def _is_option(param: Any) -> bool:
    return bool(param.param_type_name == "option")


def _app(command: Any) -> typer.Typer:
    app = typer.Typer(add_completion=False)
    app.command()(command)
    return app


def _signature(option: Any) -> tuple[Any, ...]:
    return (
        tuple(sorted(option.opts)),
        option.help,
        option.type_descriptor.annotation,
        option.is_flag,
        option.multiple,
    )


def _commands() -> list[tuple[str, Any]]:
    from cua.cli import app

    out = []

    def walk(prefix: str, cmd: Any) -> None:
        if hasattr(cmd, "commands"):  # a group (typer vendors its own click)
            for name, sub in cmd.commands.items():
                walk(f"{prefix} {name}".strip(), sub)
        else:
            out.append((prefix, cmd))

    walk("", typer.main.get_command(app))
    return out


REFERENCES = {name: _signature(_reference(alias)) for name, alias in _aliases().items()}


def test_the_aliases_cover_the_options_the_brief_names() -> None:
    flags = {flag for sig in REFERENCES.values() for flag in sig[0]}
    wanted = (
        "--data-dir --model --endpoint --model-name --api-key-env --format --history-screenshots"
        " --temperature --min-pixels --max-pixels --memory --encoder --key-screenshots --app --parallel"
        " --json --seed --policy"
    )
    for flag in wanted.split():
        assert flag in flags, flag


@pytest.mark.parametrize("path", [p for p, _ in _commands()])
def test_every_command_declares_shared_options_through_the_aliases(path: str) -> None:
    command = dict(_commands())[path]
    by_flag: dict[str, list[tuple[str, tuple[Any, ...]]]] = {}
    for name, sig in REFERENCES.items():
        by_flag.setdefault(sig[0][-1], []).append((name, sig))
    for param in command.params:
        if not _is_option(param):
            continue
        for flag in param.opts:
            if flag in by_flag:
                assert _signature(param) in [sig for _, sig in by_flag[flag]], (
                    f"`cua {path}` declares {flag} itself; use one of "
                    f"{[name for name, _ in by_flag[flag]]} from cua.cli.options"
                )


def test_data_dir_has_one_help_and_type_everywhere_it_is_offered() -> None:
    seen = {
        _signature(p)
        for _, cmd in _commands()
        for p in cmd.params
        if _is_option(p) and "--data-dir" in p.opts
    }
    assert seen == {REFERENCES["DataDir"]}


def test_every_generation_setting_and_model_option_has_a_docstring() -> None:
    for cls in (GenerationSettings, ModelOptions):
        docs = field_docs(cls)
        for f in fields(cls):
            assert docs.get(f.name), f"{cls.__name__}.{f.name} has no docstring"
    assert REFERENCES["Temperature"][1] == field_docs(GenerationSettings)["temperature"]


def test_generation_settings_map_onto_the_openai_wire_and_back() -> None:
    settings = GenerationSettings(max_new_tokens=64, temperature=0.5, top_p=0.9, seed=3)
    assert settings.to_openai() == {"max_tokens": 64, "temperature": 0.5, "top_p": 0.9, "seed": 3}
    assert GenerationSettings.from_openai(settings.to_openai()) == settings
    assert GenerationSettings.from_openai({"max_tokens": 5, "max_completion_tokens": 7}).max_new_tokens == 7
    nulls = {"temperature": None, "top_p": None, "seed": None}
    assert GenerationSettings.from_openai(nulls, default_max_new_tokens=9) == GenerationSettings(9)
    assert settings.for_step(4).seed == 7 and settings.for_step(4).temperature == 0.5
    assert with_overrides(settings, seed=None, top_p=0.5) == GenerationSettings(64, 0.5, 0.5, 3)
    for bad in ({"max_new_tokens": 0}, {"temperature": -1.0}, {"top_p": 0.0}):
        with pytest.raises(ValueError):
            GenerationSettings(**bad)  # type: ignore[arg-type]


def test_model_options_become_make_policy_arguments(tmp_path: Path) -> None:
    opts = ModelOptions.of(endpoint="http://x/v1", model_name="m", temperature=0.7, seed=2)
    kwargs = opts.policy_kwargs()
    assert kwargs["generation"] == GenerationSettings(temperature=0.7, seed=2)
    assert kwargs["endpoint"] == "http://x/v1" and kwargs["format_name"] == options.DEFAULT_FORMAT
    assert opts.given and not ModelOptions.of().given
    from cua.models.registry import make_policy

    assert set(kwargs) <= set(inspect.signature(make_policy).parameters)
    with pytest.raises(UsageError, match="temperature"):
        ModelOptions.of(temperature=-1.0)
    # No model given: the bundled policy (the shipped checkpoint when the registry has none).
    assert ModelOptions.of().make_policy(tmp_path).name == "bundled"


def test_memory_has_one_vocabulary() -> None:
    assert MEMORY_MODES == ("auto", "on", "off")
    for mode in MEMORY_MODES:
        assert check_memory_mode(mode) == mode
    with pytest.raises(UsageError, match="on, off or auto"):
        check_memory_mode("yes")


def test_policy_names_are_kept_once() -> None:
    from cua.eval.judge import RECORD_POLICIES

    assert BASELINES == ("oracle", "noop", "random", "match") and MODEL == "model"
    assert POLICY_NAMES == ("oracle", "noop", "random", "match", "bundled", "model")
    assert set(RECORD_POLICIES) <= set(BASELINES)


def test_baselines_are_built_by_name_and_unknown_names_are_usage_errors() -> None:
    from cua.tasks import builtin_families

    task = builtin_families()[0].tasks()[0]
    sandbox = FakeSandbox()
    assert isinstance(make_baseline("noop", task, sandbox, 0), NoopPolicy)
    random = make_baseline("random", task, sandbox, 5)
    assert isinstance(random, RandomPolicy) and random.seed == 5
    assert make_baseline("oracle", task, sandbox, 0).name.startswith("oracle:")
    assert isinstance(policy_factory("noop")(task, sandbox, 0), NoopPolicy)
    for bad in ("gpt", "model"):
        with pytest.raises(UsageError, match="choose one of oracle, noop, random"):
            make_baseline(bad, task, sandbox, 0)
    with pytest.raises(UsageError, match="choose one of oracle, noop, random, match, bundled, model"):
        check_policy_name("Oracle")
    with pytest.raises(UsageError, match="needs a model"):
        policy_factory("model")
    with pytest.raises(UsageError, match="go with --policy model"):
        policy_factory("noop", ScriptedPolicy(["x"]))


def test_the_model_policy_is_one_instance_shared_by_the_episodes() -> None:
    from cua.tasks import builtin_families

    task = builtin_families()[0].tasks()[0]
    model = ScriptedPolicy(["a"], then="repeat", name="scripted")
    factory = policy_factory("model", model)
    first, second = factory(task, FakeSandbox(), 0), factory(task, FakeSandbox(), 1)
    assert first is second and isinstance(first, SharedPolicy) and first.name == "scripted"


def test_record_runs_refuses_a_non_baseline_before_recording(tmp_path: Path) -> None:
    from cua.eval.judge import record_runs

    with (
        TrajectoryStore(tmp_path / "data") as store,
        pytest.raises(UsageError, match="unknown policy 'model'"),
    ):
        record_runs(store, [], policies=["noop", "model"])


def test_open_memory_hands_back_a_factory_that_closes_its_index(tmp_path: Path) -> None:
    import cua.memory.session
    from cua.cli.memory import MemoryFactory, memory_hooks, open_memory
    from cua.memory import ExperienceIndex, admit
    from cua.memory.errors import MemoryIndexError
    from cua.models.embed import StaticEncoder
    from tests.cua.memory.test_memory import record

    assert memory_hooks is cua.memory.session.memory_hooks  # one copy, re-exported by the CLI
    with TrajectoryStore(tmp_path / "data") as store:
        with memory_hooks("auto", store) as off:
            assert off is None  # no index yet: quietly off
        record(store, "press OK in the dialog")
        with ExperienceIndex.beside(store.data_dir) as index:
            admit(store, index, StaticEncoder())
        with memory_hooks("on", store, key_screenshots=1) as factory:
            assert isinstance(factory, MemoryFactory)
            hook = factory("fake", "fake.press-ok/0")
            assert hook.config.key_screenshots == 1 and factory.index.count() == 1
        with pytest.raises(MemoryIndexError, match="closed"):  # closed when the block ended
            factory.index.count()
        opened = open_memory("auto", store)  # the older way: the caller closes it
        assert opened is not None
        opened.close()
        with pytest.raises(MemoryIndexError, match="closed"):
            opened.index.count()
