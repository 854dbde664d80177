"""Sphinx extension: the ``cli-reference`` directive documents an argparse command line.

Usage (MyST)::

    ```{cli-reference} nwb_dicpop.cli:build_parser
    ```

The argument is ``module:function``, a function returning the :class:`argparse.ArgumentParser`.
The directive writes the program's description, then one section per subcommand with its help,
usage line, positional arguments and options (flags, metavar, choices, default and help), read
from the parser itself, so the reference cannot drift from the command line.
"""

from __future__ import annotations

import argparse
import importlib
from typing import Any

from docutils import nodes
from docutils.parsers.rst import Directive

ANCHOR_PREFIX = "cli-"


def _load(target: str) -> argparse.ArgumentParser:
    module_name, _, function_name = target.partition(":")
    if not function_name:
        msg = f"cli-reference: expected 'module:function', got {target!r}"
        raise ValueError(msg)
    return getattr(importlib.import_module(module_name), function_name)()


def _subcommands(parser: argparse.ArgumentParser) -> tuple[dict[str, argparse.ArgumentParser], dict[str, str]]:
    """Subparsers by name (in declaration order) and their one-line help."""
    for action in parser._actions:  # argparse keeps no public list of a parser's actions
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help or "" for choice in action._choices_actions}
            return dict(action.choices), helps
    return {}, {}


def _help_text(parser: argparse.ArgumentParser, action: argparse.Action) -> str:
    if not action.help or action.help == argparse.SUPPRESS:
        return ""
    return parser._get_formatter()._expand_help(action)


def _invocation(action: argparse.Action) -> str:
    if not action.option_strings:
        return action.metavar or action.dest
    if action.nargs == 0:
        return ", ".join(action.option_strings)
    metavar = action.metavar or action.dest.upper()
    if isinstance(metavar, tuple):
        metavar = " ".join(metavar)
    elif action.nargs not in (None, 1, "?", "*", "+") and isinstance(action.nargs, int):
        metavar = " ".join([metavar] * action.nargs)
    if action.choices is not None and action.metavar is None:
        metavar = "{" + ",".join(str(choice) for choice in action.choices) + "}"
    return ", ".join(f"{flag} {metavar}" for flag in action.option_strings)


def _facts(action: argparse.Action) -> str:
    facts = []
    if action.required and action.option_strings:
        facts.append("required")
    if action.nargs == "+" or (action.nargs == "*" and not action.option_strings):
        facts.append("one or more" if action.nargs == "+" else "any number")
    if isinstance(action, argparse._AppendAction):
        facts.append("repeatable")
    return "; ".join(facts)


def _arguments(parser: argparse.ArgumentParser, positional: bool) -> nodes.definition_list | None:
    items = nodes.definition_list()
    for action in parser._actions:
        if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
            continue
        if action.help == argparse.SUPPRESS or bool(action.option_strings) == positional:
            continue
        term = nodes.term()
        term += nodes.literal(text=_invocation(action))
        facts = _facts(action)
        if facts:
            term += nodes.Text(f" ({facts})")
        body = nodes.paragraph(text=_help_text(parser, action))
        items += nodes.definition_list_item("", term, nodes.definition("", body))
    return items if len(items) else None


def _section(document: Any, title: str, anchor: str) -> nodes.section:
    section = nodes.section(ids=[anchor], names=[anchor])
    section += nodes.title(text=title)
    document.note_explicit_target(section)
    return section


def _describe(document: Any, parser: argparse.ArgumentParser, title: str, anchor: str,
              summary: str) -> nodes.section:
    section = _section(document, title, anchor)
    for text in dict.fromkeys(text for text in (summary, parser.description) if text):
        section += nodes.paragraph(text=text)
    usage = parser.format_usage().strip()
    usage = usage.removeprefix("usage: ")
    section += nodes.literal_block(usage, usage, language="text")
    positional = _arguments(parser, positional=True)
    if positional is not None:
        section += nodes.rubric(text="Arguments")
        section += positional
    options = _arguments(parser, positional=False)
    if options is not None:
        section += nodes.rubric(text="Options")
        section += options
    if parser.epilog:
        section += nodes.paragraph(text=parser.epilog)
    return section


class CLIReference(Directive):
    """``.. cli-reference:: module:function``: the whole command line, one section per command."""

    required_arguments = 1
    has_content = False

    def run(self) -> list[nodes.Node]:
        document = self.state.document
        parser = _load(self.arguments[0])
        commands, helps = _subcommands(parser)
        result: list[nodes.Node] = []
        top = nodes.container()
        if parser.description:
            top += nodes.paragraph(text=parser.description)
        usage = parser.format_usage().strip().removeprefix("usage: ")
        top += nodes.literal_block(usage, usage, language="text")
        overview = nodes.bullet_list()
        for name in commands:
            reference = nodes.reference("", "", internal=True, refid=f"{ANCHOR_PREFIX}{name}")
            reference += nodes.literal(text=f"{parser.prog} {name}")
            paragraph = nodes.paragraph()
            paragraph += reference
            if helps.get(name):
                paragraph += nodes.Text(f": {helps[name]}")
            overview += nodes.list_item("", paragraph)
        top += overview
        options = _arguments(parser, positional=False)
        if options is not None:
            top += nodes.rubric(text="Options of every invocation")
            top += options
        if parser.epilog:
            top += nodes.paragraph(text=parser.epilog)
        result.append(top)
        for name, command in commands.items():
            result.append(_describe(document, command, f"{parser.prog} {name}", f"{ANCHOR_PREFIX}{name}",
                                    helps.get(name, "")))
        return result


def setup(app: Any) -> dict[str, Any]:
    app.add_directive("cli-reference", CLIReference)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
