"""Templates are parsed whole as Go's text/template does, and a malformed one is an error."""

from __future__ import annotations

import pytest

from cove.cli.template import Template, TemplateError, TemplateParseError

ROW = {"ID": "abc", "A": True, "B": False, "L": ["x", "y"]}


@pytest.mark.parametrize(
    ("source", "line", "why"),
    [
        ("{{.Names", 1, "unclosed action"),
        ("{{.Names}", 1, "unclosed action"),
        ("{{.ID}} and {{", 1, "unclosed action"),
        ("one\n{{.ID}}\n{{.ID", 3, "unclosed action"),
        ('{{"open}}', 1, "unterminated quoted string"),
        ("{{`open}}", 1, "unterminated raw quoted string"),
        ("{{'a}}", 1, "unterminated character constant"),
        ("{{/* open }}", 1, "unclosed comment"),
        ("{{/* c */ .ID}}", 1, "comment ends before closing delimiter"),
        ("{{end}}", 1, "unexpected {{end}}"),
        ("{{else}}", 1, "unexpected {{else}}"),
        ("{{if .A}}1{{else}}2{{else}}3{{end}}", 1, "expected end; found {{else}}"),
        ("{{if .A}}\nx", 1, "unexpected EOF"),
        ("{{if}}x{{end}}", 1, "missing value for if"),
        ("{{}}", 1, "missing value for command"),
        ('{{"\\q"}}', 1, "invalid syntax"),
        ("{{nosuch .ID}}", 1, 'function "nosuch" not defined'),
        ("{{(.ID}}", 1, "unclosed ("),
    ],
)
def test_malformed_templates_fail_to_parse(source: str, line: int, why: str) -> None:
    with pytest.raises(TemplateParseError) as caught:
        Template(source)
    assert caught.value.message.startswith(f"template parsing error: template: :{line}: {why}")


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ('{{printf "}}"}}', "}}"),
        ('{{printf "%s" "a}}b"}}', "a}}b"),
        ("{{`raw }} here`}}", "raw }} here"),
        ("{{ .ID }}}}", "abc}}"),
        ("}} {{.ID}}", "}} abc"),
        ('{{"\\x41\\u00e9\\t|"}}', "A\u00e9\t|"),
        ("{{if .B}}1{{else if .A}}2{{else}}3{{end}}", "2"),
        ("{{if .B}}1{{else if .B}}2{{else}}3{{end}}", "3"),
        ("{{with .B}}x{{else with .ID}}{{.}}{{end}}", "abc"),
        ("{{range .L}}{{.}}{{else}}none{{end}}", "xy"),
        ("a \n\t{{- .ID -}}\n b", "aabcb"),
        ("{{-3}}", "-3"),
        ("{{/* a\nmultiline comment */ -}}\n x", "x"),
        ("{{.ID\n}}", "abc"),  # Go 1.16+: actions may span lines
    ],
)
def test_well_formed_templates_render_as_go(source: str, expected: str) -> None:
    assert Template(source).render(ROW) == expected


def test_errors_while_running_are_not_parse_errors() -> None:
    template = Template("{{.Nope}}")  # parses: the field is looked up when it runs
    with pytest.raises(TemplateError) as caught:
        template.render(ROW)
    assert not isinstance(caught.value, TemplateParseError)
    assert caught.value.message.startswith("template: can't evaluate field Nope")
