"""The CLI documents itself: a help text on every option of every subcommand, the exit codes
from pipeline.errors in --help, --version, and choices where the values are a closed set."""

from __future__ import annotations

import argparse

import pytest

from pipeline import __version__, errors
from pipeline.cli import build_parser, main
from pipeline.modules import all_targets
from pipeline.optimizers import OPTIMIZERS


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    raise AssertionError("no subcommands")


def test_every_option_of_every_subcommand_has_help() -> None:
    parser = build_parser()
    missing = []
    for name, command in [("(top level)", parser), *_subcommands(parser).items()]:
        for action in command._actions:
            if isinstance(action, argparse._SubParsersAction):
                continue
            if not action.help or action.help == argparse.SUPPRESS or not action.help.strip():
                missing.append(f"{name}: {'/'.join(action.option_strings) or action.dest}")
    assert not missing, f"options without help: {missing}"


def test_the_walk_would_catch_an_option_without_help() -> None:
    parser = build_parser()
    sub = _subcommands(parser)["harvest"]
    sub.add_argument("--undocumented")
    assert any(a.help is None for a in sub._actions)  # what the test above fails on


def test_help_lists_every_exit_code_from_the_error_classes(capsys) -> None:
    assert main(["--help"]) == 0
    text = capsys.readouterr().out
    meanings = errors.exit_code_meanings()
    codes = {cls.exit_code for cls in errors.error_classes()}
    assert set(meanings) == codes  # every code a class can exit with has a meaning
    epilog = text[text.index("exit codes:"):]
    for code, meaning in meanings.items():
        assert f"  {code:<4} {meaning.split()[0]}" in epilog, code
    assert "9    Kubernetes API server unreachable [transient" in epilog
    assert "10   the workflow ended Failed or Error" in epilog
    assert main(["train", "--help"]) == 0
    assert "exit codes:" in capsys.readouterr().out


def test_two_classes_cannot_give_one_code_two_meanings(monkeypatch) -> None:
    class Other:
        exit_code = 7
        meaning = "something else"

    real = errors.error_classes()
    monkeypatch.setattr(errors, "error_classes", lambda: [*real, Other])
    with pytest.raises(TypeError, match="exit code 7 has two meanings"):
        errors.exit_code_meanings()


def test_version(capsys) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"cogniverse-optimize {__version__}"


def test_targets_and_optimizers_are_choices(capsys) -> None:
    parser = build_parser()
    commands = _subcommands(parser)
    target = next(a for a in commands["train"]._actions if "--target" in a.option_strings)
    assert list(target.choices) == all_targets() and "routing" in target.choices and "modality-video" in target.choices
    optimizer = next(a for a in commands["train"]._actions if "--optimizer" in a.option_strings)
    assert list(optimizer.choices) == ["auto", "adaptive", *OPTIMIZERS]
    assert main(["evaluate", "--tenant", "acme", "--run-id", "r1", "--target", "modality-smell"]) == 2
    assert "invalid choice: 'modality-smell'" in capsys.readouterr().err
    # Still any case, as before: the type normalises, then the choice is checked.
    args = parser.parse_args(["train", "--tenant", "a", "--run-id", "r", "--target", "routing", "--optimizer", "simba"])
    assert args.optimizer == "SIMBA"
