import pytest

from cove.cli.template import Template, TemplateError, go_str

ROW = {"ID": "abc", "Tags": ["a", "b"], "Labels": {"k": "v", "z": "1"}, "Size": 5, "Empty": [], "Flag": True}


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("{{.ID}}", "abc"),
        ("id={{ .ID }}!", "id=abc!"),
        ("{{json .Tags}}", '["a","b"]'),
        (
            "{{json .}}",
            '{"ID":"abc","Tags":["a","b"],"Labels":{"k":"v","z":"1"},"Size":5,"Empty":[],"Flag":true}',
        ),
        ("{{.Tags}}", "[a b]"),
        ("{{.Labels}}", "map[k:v z:1]"),
        ("{{.Flag}}", "true"),
        ("{{upper .ID}}", "ABC"),
        ("{{.ID | upper}}", "ABC"),
        ("{{.ID | upper | lower}}", "abc"),
        ('{{join .Tags ","}}', "a,b"),
        ('{{index .Labels "k"}}', "v"),
        ('{{index .Labels "missing"}}', "<no value>"),
        ("{{truncate .ID 2}}", "ab"),
        ("{{len .Tags}}", "2"),
        ('{{printf "%s:%d" .ID .Size}}', "abc:5"),
        ("{{range .Tags}}[{{.}}]{{end}}", "[a][b]"),
        ("{{range .Empty}}x{{else}}none{{end}}", "none"),
        ("{{if .Flag}}yes{{else}}no{{end}}", "yes"),
        ("{{if .Empty}}yes{{else}}no{{end}}", "no"),
        ("{{with .Labels}}{{.k}}{{end}}", "v"),
        ("a {{- .ID -}} b", "aabcb"),
        ("{{/* a comment */}}x", "x"),
        ('{{"quoted"}}', "quoted"),
        ("{{(upper .ID)}}", "ABC"),
    ],
)
def test_renders_like_go(source: str, expected: str) -> None:
    assert Template(source).render(ROW) == expected


@pytest.mark.parametrize(
    ("source", "why"),
    [
        ("{{.Nope}}", "can't evaluate field Nope"),
        ("{{nosuchfunc .ID}}", 'function "nosuchfunc" not defined'),
        ("{{range .Tags}}", "has no {{end}}"),
        ("{{end}}", "unexpected {{end}}"),
        ("{{.ID .Size}}", "only a function can take arguments"),
        ("{{}}", "missing value"),
        ("{{upper}}", "wrong number of arguments"),
    ],
)
def test_errors_name_the_problem(source: str, why: str) -> None:
    with pytest.raises(TemplateError, match=why):
        Template(source).render(ROW)


def test_fields_in_order() -> None:
    assert Template("{{.A}}\t{{.B | upper}}\t{{json .C}}").fields() == ["A", "B", "C"]


def test_go_str() -> None:
    assert go_str(None) == "<no value>"
    assert go_str([1, [2, 3]]) == "[1 [2 3]]"
    assert go_str(False) == "false"
