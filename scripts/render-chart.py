#!/usr/bin/env python3
"""Renders helm/zeek-mgmt offline, for checks where no Helm binary can be installed.

Implements the part of Helm's template language the chart uses: actions with trim markers,
comments, define/include, if/else if/else, with, range over maps and lists, variables ($, $key,
$value), and the functions quote, nindent, indent, toYaml, trim, not, and, or, has, default.
Anything else is an error, so the chart cannot drift beyond what this checks.

    scripts/render-chart.py CHART [--set key.path=value ...]  > manifests.yaml
"""
import re
import sys
from pathlib import Path

import yaml

TOKEN = re.compile(r"{{(-?)\s*(.*?)\s*(-?)}}", re.S)


class TemplateError(Exception):
    pass


class Evaluated:
    """A parenthesised sub-expression's value, standing in for a word of a pipeline."""

    def __init__(self, value):
        self.value = value


def tokenize(text):
    """Splits a template into text and action tokens, applying trim markers."""
    tokens, position = [], 0
    for match in TOKEN.finditer(text):
        chunk = text[position:match.start()]
        if match.group(1):
            chunk = chunk.rstrip()
        tokens.append(("text", chunk))
        tokens.append(("action", match.group(2), bool(match.group(3))))
        position = match.end()
    tokens.append(("text", text[position:]))
    # A right trim marker removes the whitespace at the start of the following text.
    for index, token in enumerate(tokens):
        if token[0] == "action" and token[2] and index + 1 < len(tokens):
            tokens[index + 1] = ("text", tokens[index + 1][1].lstrip())
    return tokens


def parse(tokens, position=0, stop=("end",)):
    """Builds a tree of nodes until one of the `stop` keywords; returns (nodes, position, keyword)."""
    nodes = []
    while position < len(tokens):
        token = tokens[position]
        position += 1
        if token[0] == "text":
            nodes.append(("text", token[1]))
            continue
        action = token[1]
        if action.startswith("/*"):
            continue
        keyword = action.split(None, 1)[0] if action else ""
        if keyword in stop:
            return nodes, position, action
        if keyword in ("if", "with", "range", "define"):
            node, position = parse_block(tokens, position, keyword, action[len(keyword):].strip())
            nodes.append(node)
        else:
            nodes.append(("expr", action))
    if stop != ("end",) or position < len(tokens):
        raise TemplateError(f"unterminated block (expected {stop})")
    return nodes, position, ""


def parse_block(tokens, position, keyword, argument):
    """Parses a block's body and its else branch up to their one end; `else if` (and `else
    with`) chain another block as the else branch. Returns (node, position)."""
    body, position, ended = parse(tokens, position, ("end", "else"))
    alternative = []
    if ended.startswith("else"):
        chained = ended[len("else"):].strip()
        if chained:
            inner = chained.split(None, 1)[0]
            if inner not in ("if", "with") or keyword not in ("if", "with"):
                raise TemplateError(f"unsupported {{{{ {ended} }}}} in {keyword}")
            node, position = parse_block(tokens, position, inner, chained[len(inner):].strip())
            alternative = [node]
        else:
            alternative, position, _ = parse(tokens, position, ("end",))
    return (keyword, argument, body, alternative), position


def truthy(value):
    return bool(value) and value != 0


def to_yaml(value):
    if value in ({}, [], None):
        return "{}" if isinstance(value, dict) else "[]"
    return yaml.safe_dump(value, default_flow_style=False, sort_keys=True).rstrip("\n")


class Renderer:
    def __init__(self, values, chart, release):
        self.root = {"Values": values, "Chart": chart, "Release": release}
        self.defines = {}

    def lookup(self, path, dot, variables):
        if path == ".":
            return dot
        if path.startswith("$"):
            name, _, rest = path.partition(".")
            if name not in variables:
                raise TemplateError(f"undefined variable {name}")
            value, parts = variables[name], rest.split(".") if rest else []
        elif path.startswith("."):
            value, parts = dot, path[1:].split(".")
        else:
            raise TemplateError(f"cannot evaluate {path!r}")
        for part in parts:
            if not isinstance(value, dict):
                raise TemplateError(f"{path}: {part} of a non-map")
            if part not in value:
                raise TemplateError(f"{path}: no key {part!r}")
            value = value[part]
        return value

    def argument(self, word, dot, variables):
        if isinstance(word, Evaluated):
            return word.value
        if word.startswith('"'):
            return word[1:-1]
        if re.fullmatch(r"-?\d+", word):
            return int(word)
        if word in ("true", "false"):
            return word == "true"
        return self.lookup(word, dot, variables)

    def call(self, words, dot, variables, piped=None):
        name, args = words[0], [self.argument(word, dot, variables) for word in words[1:]]
        if piped is not None:
            args.append(piped)
        if isinstance(name, Evaluated) or name.startswith(".") or name.startswith("$") or name.startswith('"'):
            if args and piped is None and len(words) > 1:
                raise TemplateError(f"unexpected arguments after {name}")
            return self.argument(name, dot, variables)
        functions = {
            "quote": lambda value: '"' + str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"',
            "nindent": lambda count, text: "\n" + "\n".join((" " * count + line) if line else line for line in str(text).split("\n")),
            "indent": lambda count, text: "\n".join(" " * count + line for line in str(text).split("\n")),
            "toYaml": to_yaml,
            "trim": lambda text: str(text).strip(),
            "not": lambda value: not truthy(value),
            "and": lambda *values: all(truthy(v) for v in values),
            "or": lambda *values: any(truthy(v) for v in values),
            "has": lambda item, collection: item in (collection or []),
            "default": lambda fallback, value=None: value if truthy(value) else fallback,
            "include": lambda template, context: self.render(self.defines[template], context, {"$": self.root}),
        }
        if name not in functions:
            raise TemplateError(f"unsupported function {name}")
        return functions[name](*args)

    def evaluate(self, expression, dot, variables):
        words_of = lambda text: re.findall(r'"[^"]*"|\([^)]*\)|\S+', text)
        value = None
        for index, stage in enumerate(part.strip() for part in expression.split("|")):
            words = [Evaluated(self.evaluate(word[1:-1], dot, variables)) if word.startswith("(") else word for word in words_of(stage)]
            value = self.call(words, dot, variables, piped=value if index else None)
        return value

    def render(self, nodes, dot, variables):
        output = []
        for node in nodes:
            kind = node[0]
            if kind == "text":
                output.append(node[1])
            elif kind == "expr":
                value = self.evaluate(node[1], dot, variables)
                output.append("" if value is None else (str(value).lower() if isinstance(value, bool) else str(value)))
            elif kind == "define":
                self.defines[node[1].strip('"')] = node[2]
            elif kind == "if":
                output.append(self.render(node[2] if truthy(self.evaluate(node[1], dot, variables)) else node[3], dot, variables))
            elif kind == "with":
                value = self.evaluate(node[1], dot, variables)
                output.append(self.render(node[2], value, variables) if truthy(value) else self.render(node[3], dot, variables))
            elif kind == "range":
                match = re.fullmatch(r"(?:(\$\w+)\s*,\s*(\$\w+)\s*:=\s*)?(.+)", node[1])
                collection = self.evaluate(match.group(3), dot, variables) or {}
                items = sorted(collection.items()) if isinstance(collection, dict) else list(enumerate(collection))
                for key, value in items:
                    scope = dict(variables)
                    if match.group(1):
                        scope[match.group(1)], scope[match.group(2)] = key, value
                    output.append(self.render(node[2], value, scope))
        return "".join(output)


def set_value(values, assignment):
    """Applies `a.b.c=value` as helm --set does (`\\.` for a dot inside a key)."""
    path, _, raw = assignment.partition("=")
    keys = [key.replace("\0", ".") for key in path.replace("\\.", "\0").split(".")]
    target = values
    for key in keys[:-1]:
        target = target.setdefault(key, {})
    target[keys[-1]] = yaml.safe_load(raw) if raw else ""


def main(arguments):
    chart_dir = Path(arguments[0])
    values = yaml.safe_load((chart_dir / "values.yaml").read_text())
    for index, argument in enumerate(arguments):
        if argument == "--set":
            set_value(values, arguments[index + 1])
    chart_meta = yaml.safe_load((chart_dir / "Chart.yaml").read_text())
    chart = {"Name": chart_meta["name"], "Version": chart_meta["version"], "AppVersion": chart_meta["appVersion"]}
    renderer = Renderer(values, chart, {"Name": "zeek", "Namespace": "default", "Service": "Helm"})
    templates = sorted((chart_dir / "templates").iterdir())
    for template in templates:
        if template.name.startswith("_"):
            renderer.render(parse(tokenize(template.read_text()))[0], renderer.root, {"$": renderer.root})
    for template in templates:
        if template.name.startswith("_"):
            continue
        try:
            text = renderer.render(parse(tokenize(template.read_text()))[0], renderer.root, {"$": renderer.root})
        except (TemplateError, KeyError) as error:
            sys.exit(f"{template}: {error}")
        if template.suffix == ".txt":
            print(text, file=sys.stderr)
        else:
            print(f"---\n# Source: {chart_dir.name}/templates/{template.name}\n{text.strip()}")


if __name__ == "__main__":
    main(sys.argv[1:])
