"""Interpolation: compose-go's template and interpolation tests as cove's own table.

Cases from compose-spec/compose-go (Apache-2.0) template/template_test.go and
interpolation/interpolation_test.go, commit e70e961c3a3acebf0800b882f1afb3dbf1fb74a2, and the
Compose Specification's interpolation section (compose-spec/compose-spec 12-interpolation.md,
commit 170098ba07d9f53c383a41bfd4c5166b0a4529a6). Each row names the Go test it comes from;
a row with ``differs`` is where cove's answer is not compose-go's, and says why.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from cove.compose.interpolation import (
    MAX_DEPTH,
    MAX_NODES,
    MAX_STRING,
    InterpolationError,
    format_path,
    interpolate,
    substitute,
)
from cove.errors import InvalidArgument

# template_test.go's `defaults`
TEMPLATE_ENV = {"FOO": "first", "BAR": "", "JSON": '{"json":2}'}
# interpolation_test.go's `defaults`
INTERPOLATION_ENV = {"USER": "jenny", "FOO": "bar", "count": "5", "REQUIRED": "true"}
# TestValidUnexistentInterpolation reads the process environment, where FOO, BAR, ZOT are unset
NO_ENV: dict[str, str] = {}
ENVS = {"template": TEMPLATE_ENV, "interpolation": INTERPOLATION_ENV, "none": NO_ENV, "A": {"A": "value"}}

INVALID = "invalid interpolation format"


def _required(name: str, reason: str = "") -> str:
    message = f"required variable {name} is missing a value"
    return f"{message}: {reason}" if reason else message


@dataclass(frozen=True)
class Case:
    test: str  # the Go test (or the spec section) the case is from
    template: str
    expected: str | None = None  # None: an error
    error: str | None = None  # the error's message (exactly), or INVALID (its start)
    env: str = "template"
    differs: str = ""  # why cove's answer is not compose-go's (empty: it is the same)


CASES: list[Case] = [
    Case("TestEscaped", "$${foo}", "${foo}"),
    Case("TestSubstituteNoMatch", "foo", "foo"),
    Case("TestUnescaped", "a $ string", "a $ string"),
    Case("TestUnescaped", "^REGEX$", "^REGEX$"),
    Case("TestUnescaped", "$}", "$}"),
    Case("TestUnescaped", "$", "$"),
    Case("TestInvalid", "${", error=INVALID),
    Case("TestInvalid", "${}", error=INVALID),
    Case("TestInvalid", "${ }", error=INVALID),
    Case("TestInvalid", "${ foo}", error=INVALID),
    Case("TestInvalid", "${foo }", error=INVALID),
    Case("TestInvalid", "${foo!}", error=INVALID),
    Case("TestNonBraced", "$FOO-bar", "first-bar"),
    Case("TestNoValueNoDefault", "This ${missing} var", "This  var"),
    Case("TestNoValueNoDefault", "This ${BAR} var", "This  var"),
    Case("TestValueNoDefault", "This $FOO var", "This first var"),
    Case("TestValueNoDefault", "This ${FOO} var", "This first var"),
    Case("TestNoValueWithDefault", "ok ${missing:-def}", "ok def"),
    Case("TestNoValueWithDefault", "ok ${missing-def}", "ok def"),
    Case("TestLazyDefaultDoesNotWarn", "${A:+${A},}B", "B"),
    Case("TestLazyDefaultWarnsWhenUsed", "${A:-${B}}", ""),
    Case("TestLazyRequiredMessageDoesNotWarn", "${A?${B}}", "value", env="A"),
    Case("TestEmptyValueWithSoftDefault", "ok ${BAR:-def}", "ok def"),
    Case("TestValueWithSoftDefault", "ok ${FOO:-def}", "ok first"),
    Case("TestEmptyValueWithHardDefault", "ok ${BAR-def}", "ok "),
    Case("TestPresentValueWithUnset", "ok ${UNSET_VAR:+presence_value}", "ok "),
    Case("TestPresentValueWithUnset2", "ok ${UNSET_VAR+presence_value}", "ok "),
    Case("TestPresentValueWithNonEmpty", "ok ${FOO:+presence_value}", "ok presence_value"),
    Case("TestPresentValueAndNonEmptyWithNonEmpty", "ok ${FOO+presence_value}", "ok presence_value"),
    Case("TestPresentValueWithSet", "ok ${BAR+presence_value}", "ok presence_value"),
    Case("TestPresentValueAndNotEmptyWithSet", "ok ${BAR:+presence_value}", "ok "),
    Case("TestNonAlphanumericDefault", "ok ${BAR:-/non:-alphanumeric}", "ok /non:-alphanumeric"),
    Case("TestInterpolationExternalInterference", "-ok ${BAR:-defaultValue}", "-ok defaultValue"),
    Case("TestInterpolationExternalInterference", "+ok ${UNSET:-${BAR-defaultValue}}", "+ok "),
    Case("TestInterpolationExternalInterference", "-ok ${FOO:-defaultValue}", "-ok first"),
    Case("TestInterpolationExternalInterference", ":-ok ${UNSET-defaultValue}", ":-ok defaultValue"),
    Case("TestInterpolationExternalInterference", ":-ok ${BAR-defaultValue}", ":-ok "),
    Case("TestInterpolationExternalInterference", ":?ok ${BAR-defaultValue}", ":?ok "),
    Case("TestInterpolationExternalInterference", ":?ok ${BAR:-defaultValue}", ":?ok defaultValue"),
    Case("TestInterpolationExternalInterference", ":+ok ${BAR:-defaultValue}", ":+ok defaultValue"),
    Case("TestInterpolationExternalInterference", "+ok ${BAR-defaultValue}", "+ok "),
    Case("TestInterpolationExternalInterference", "?ok ${BAR:-defaultValue}", "?ok defaultValue"),
    Case("TestDefaultsWithNestedExpansion", "ok ${UNSET_VAR-$FOO}", "ok first"),
    Case("TestDefaultsWithNestedExpansion", "ok ${UNSET_VAR-${FOO}}", "ok first"),
    Case("TestDefaultsWithNestedExpansion", "ok ${UNSET_VAR-${FOO} ${FOO}}", "ok first first"),
    Case("TestDefaultsWithNestedExpansion", "ok ${BAR:-$FOO}", "ok first"),
    Case("TestDefaultsWithNestedExpansion", "ok ${BAR:-${FOO}}", "ok first"),
    Case("TestDefaultsWithNestedExpansion", "ok ${BAR:-${FOO} ${FOO}}", "ok first first"),
    Case("TestDefaultsWithNestedExpansion", "ok ${BAR+$FOO}", "ok first"),
    Case("TestDefaultsWithNestedExpansion", "ok ${BAR+$FOO ${FOO:+second}}", "ok first second"),
    Case(
        "TestMandatoryVariableErrors",
        "not ok ${UNSET_VAR:?Mandatory Variable Unset}",
        error=_required("UNSET_VAR", "Mandatory Variable Unset"),
    ),
    Case(
        "TestMandatoryVariableErrors",
        "not ok ${BAR:?Mandatory Variable Empty}",
        error=_required("BAR", "Mandatory Variable Empty"),
    ),
    Case("TestMandatoryVariableErrors", "not ok ${UNSET_VAR:?}", error=_required("UNSET_VAR")),
    Case(
        "TestMandatoryVariableErrors",
        "not ok ${UNSET_VAR?Mandatory Variable Unset}",
        error=_required("UNSET_VAR", "Mandatory Variable Unset"),
    ),
    Case("TestMandatoryVariableErrors", "not ok ${UNSET_VAR?}", error=_required("UNSET_VAR")),
    Case(
        "TestMandatoryVariableErrorsWithNestedExpansion",
        "not ok ${UNSET_VAR:?Mandatory Variable ${FOO}}",
        error=_required("UNSET_VAR", "Mandatory Variable first"),
    ),
    Case(
        "TestMandatoryVariableErrorsWithNestedExpansion",
        "not ok ${UNSET_VAR?Mandatory Variable ${FOO}}",
        error=_required("UNSET_VAR", "Mandatory Variable first"),
    ),
    Case("TestDefaultsForMandatoryVariables", "ok ${FOO:?err}", "ok first"),
    Case("TestDefaultsForMandatoryVariables", "ok ${FOO?err}", "ok first"),
    Case("TestDefaultsForMandatoryVariables", "ok ${BAR?err}", "ok "),
    # TestSubstituteWithCustomFunc, TestSubstituteWithReplacementFunc and
    # TestSubstituteWithReplacementAppliedFunc test compose-go's hooks for other substitution
    # functions, which cove does not have; their one default-behaviour assertion:
    Case("TestSubstituteWithReplacementFunc", "ok ${SUBDOMAIN:-redis}.${FOO:?}", "ok redis.first"),
    Case("TestPrecedence", "${UNSET_VAR?bar-baz}", error=_required("UNSET_VAR", "bar-baz")),
    Case("TestPrecedence", "${UNSET_VAR-myerror?msg}", "myerror?msg"),
    Case("TestPrecedence", "${FOO?bar-baz}", "first"),
    Case("TestPrecedence", "${BAR:-default_value_for_empty_var}", "default_value_for_empty_var"),
    Case("TestPrecedence", "${UNSET_VAR-default_value_for_unset_var}", "default_value_for_unset_var"),
    # TestSubstitutionFunctionChoice checks which operator compose-go picks (the first in the
    # text); here as what each choice does with VARNAME unset.
    Case("TestSubstitutionFunctionChoice", "${VARNAME:?val?ue}", error=_required("VARNAME", "val?ue")),
    Case("TestSubstitutionFunctionChoice", "${VARNAME?val:?ue}", error=_required("VARNAME", "val:?ue")),
    Case("TestSubstitutionFunctionChoice", "${VARNAME?va-lu+e:?e}", error=_required("VARNAME", "va-lu+e:?e")),
    Case("TestSubstitutionFunctionChoice", "${VARNAME?va+lu-e:?e}", error=_required("VARNAME", "va+lu-e:?e")),
    Case("TestSubstitutionFunctionChoice", "${VARNAME:-value}", "value"),
    Case("TestSubstitutionFunctionChoice", "${VARNAME-va:-lu:?e}", "va:-lu:?e"),
    Case("TestSubstitutionFunctionChoice", "${VARNAME-va+lu?e}", "va+lu?e"),
    Case("TestSubstitutionFunctionChoice", "${VARNAME-va?lu+e}", "va?lu+e"),
    Case("TestSubstitutionFunctionChoice", "${VARNAME:+va:?lu:-e}", ""),
    Case("TestSubstitutionFunctionChoice", "${VARNAME+va:+lue}", ""),
    Case("TestSubstitutionFunctionChoice", "${VARNAME+va?lu-e}", ""),
    Case("TestSubstitutionFunctionChoice", "${VARNAME+va-lu?e}", ""),
    # ... and with VARNAME set (FOO)
    Case("TestSubstitutionFunctionChoice", "${FOO:+va:?lu:-e}", "va:?lu:-e"),
    Case("TestSubstitutionFunctionChoice", "${FOO+va:+lue}", "va:+lue"),
    Case("TestSubstitutionFunctionChoice", "${FOO-va:-lu:?e}", "first"),
    Case("TestSubstitutionFunctionChoice", "${FOO?val:?ue}", "first"),
    Case("TestNoValueWithCurlyBracesDefault", 'ok ${missing:-{"json":1}}', 'ok {"json":1}'),
    Case("TestNoValueWithCurlyBracesDefault", 'ok ${missing-{"json":1}}', 'ok {"json":1}'),
    Case("TestValueWithCurlyBracesDefault", 'ok ${JSON:-{"json":1}}', 'ok {"json":2}'),
    Case("TestValueWithCurlyBracesDefault", 'ok ${JSON-{"json":1}}', 'ok {"json":2}'),
    # interpolation_test.go
    Case("TestInterpolate", "example:${USER}", "example:jenny", env="interpolation"),
    Case("TestInterpolate", "$FOO:/target", "bar:/target", env="interpolation"),
    Case("TestInvalidInterpolation", "${", error=INVALID, env="interpolation"),
    Case("TestValidUnexistentInterpolation", "{{{ ${FOO:-foo_} }}}", "{{{ foo_ }}}", env="none"),
    Case(
        "TestValidUnexistentInterpolation",
        "{{{ ${FOO:-foo-bar-value} }}}",
        "{{{ foo-bar-value }}}",
        env="none",
    ),
    Case(
        "TestValidUnexistentInterpolation",
        "{{{ ${FOO:-foo?bar?value} }}}",
        "{{{ foo?bar?value }}}",
        env="none",
    ),
    Case(
        "TestValidUnexistentInterpolation",
        "{{{ ${FOO:-foo:?bar:?value} }}}",
        "{{{ foo:?bar:?value }}}",
        env="none",
    ),
    Case(
        "TestValidUnexistentInterpolation",
        "{{{ ${FOO:-foo} ${BAR:-DEFAULT_VALUE} }}}",
        "{{{ foo DEFAULT_VALUE }}}",
        env="none",
    ),
    Case("TestValidUnexistentInterpolation", "{{{ ${BAR} }}}", "{{{  }}}", env="none"),
    Case("TestValidUnexistentInterpolation", "${FOO:-baz} }}}", "baz }}}", env="none"),
    Case("TestValidUnexistentInterpolation", "${FOO-baz} }}}", "baz }}}", env="none"),
    Case(
        "TestValidUnexistentInterpolation", "{{{ ${FOO:?foo_} }}}", error=_required("FOO", "foo_"), env="none"
    ),
    Case(
        "TestValidUnexistentInterpolation",
        "{{{ ${FOO:?foo-bar-value} }}}",
        error=_required("FOO", "foo-bar-value"),
        env="none",
    ),
    Case(
        "TestValidUnexistentInterpolation",
        "{{{ ${FOO:?foo} ${BAR:-DEFAULT_VALUE} }}}",
        error=_required("FOO", "foo"),
        env="none",
    ),
    Case(
        "TestValidUnexistentInterpolation",
        "${FOO:?foo} ${BAR:?bar}",
        error=_required("FOO", "foo"),
        env="none",
    ),
    Case("TestValidUnexistentInterpolation", "${FOO:?baz} }}}", error=_required("FOO", "baz"), env="none"),
    Case("TestValidUnexistentInterpolation", "${FOO?baz} }}}", error=_required("FOO", "baz"), env="none"),
    Case("TestValidUnexistentInterpolation", "${FOO:-${BAR:-${ZOT:-qix}}}", "qix", env="none"),
    Case("TestValidUnexistentInterpolation", "${FOO:-${BAR:-x}_test_${BAR:-y}}", "x_test_y", env="none"),
    Case("TestValidUnexistentInterpolation", "${FOO:-${BAR:-x}_test}", "x_test", env="none"),
    Case("TestValidUnexistentInterpolation", "${FOO:-${BAR:-${ZOT:-x}}_test}", "x_test", env="none"),
    Case("TestValidExistentInterpolation", "{{{ ${FOO:-foo_} }}}", "{{{ bar }}}", env="interpolation"),
    Case(
        "TestValidExistentInterpolation", "{{{ ${FOO:-foo-bar-value} }}}", "{{{ bar }}}", env="interpolation"
    ),
    Case(
        "TestValidExistentInterpolation",
        "{{{ ${FOO:-foo} ${BAR:-DEFAULT_VALUE} }}}",
        "{{{ bar DEFAULT_VALUE }}}",
        env="interpolation",
    ),
    Case("TestValidExistentInterpolation", "{{{ ${BAR} }}}", "{{{  }}}", env="interpolation"),
    Case("TestValidExistentInterpolation", "${FOO:-baz} }}}", "bar }}}", env="interpolation"),
    Case("TestValidExistentInterpolation", "${FOO-baz} }}}", "bar }}}", env="interpolation"),
    Case(
        "TestValidExistentInterpolation",
        "{{{ ${FOO:-foo} ${USER:-bar} }}}",
        "{{{ bar jenny }}}",
        env="interpolation",
    ),
    Case("TestValidExistentInterpolation", "{{{ ${USER} }}}", "{{{ jenny }}}", env="interpolation"),
    # TestInterpolateWithCast and TestPathMatches test compose-go's typed casts of interpolated
    # strings, which belong to cove's loader (after the schema), not to interpolation.
    # The specification's section
    Case("spec", "${VARIABLE:-${FOO}}", "first"),
    Case("spec", "${VARIABLE?$FOO}", error=_required("VARIABLE", "first")),
    Case("spec", "${VARIABLE:-${FOO:-default}}", "first"),
    Case("spec", "${VARIABLE:-${UNSET:-default}}", "default"),
    Case("spec", "$$VAR_NOT_INTERPOLATED_BY_COMPOSE", "$VAR_NOT_INTERPOLATED_BY_COMPOSE"),
    Case("spec", "${VARIABLE/foo/bar}", error=INVALID),
    # The rules read from template.go, as cases of cove's own
    Case("template.go", "$foo_9x", ""),
    Case("template.go", "$FOO9", ""),
    Case("template.go", "$FOO.x", "first.x"),
    Case("template.go", "$1 $-", "$1 $-"),
    Case("template.go", "${FOO}${FOO}$FOO", "firstfirstfirst"),
    Case("template.go", "$$$FOO", "$first"),
    Case("template.go", "$$$$", "$$"),
    Case("template.go", "${FOO:-$$}", "first"),
    Case("template.go", "${UNSET:-$$}", "$"),
    Case("template.go", "${UNSET:-}", ""),
    Case("template.go", "${UNSET-}", ""),
    Case("template.go", "${BAR:?}", error=_required("BAR")),
    Case("template.go", "${FOO:x}", error=INVALID),
    Case("template.go", "${FOO:}", error=INVALID),
    Case("template.go", "${9X}", error=INVALID),
    Case("template.go", "${FOO", error=INVALID),
    Case("template.go", "${FOO:-x", error=INVALID),
    # the braced form ends on its own line: a "}" on the next one does not close it
    Case("template.go", "${UNSET:-x\n}", error=INVALID),
    Case("template.go", "a\n${UNSET:-x}\nb", "a\nx\nb"),
    # a "}" later on the line closes an unbalanced default
    Case("template.go", "${UNSET:-{}", "{"),
    Case("template.go", "${UNSET:-x} and ${UNSET:-y}", "x and y"),
    # ... but an unbalanced nested form is an error: its default "${FOO" is invalid
    Case("template.go", "${UNSET:-${FOO}", error=INVALID),
    # an unused default is not expanded, so its errors do not count
    Case("template.go", "${FOO:-${}", "first"),
    Case("template.go", "${FOO:-${UNSET:?no}}", "first"),
    Case("template.go", "${UNSET:-${UNSET2:?no}}", error=_required("UNSET2", "no")),
    Case("template.go", "${FOO:+${UNSET2:?no}}", error=_required("UNSET2", "no")),
    # an error message is itself a template
    Case("template.go", "${UNSET:?${UNSET2:-fallback} $$}", error=_required("UNSET", "fallback $")),
    # a looked-up value is not interpolated again
    Case("template.go", "${JSON}", '{"json":2}'),
    Case("template.go", "${DOLLAR}x", "$FOO x", env="dollar"),
    # compose-go skips the character right after each "{" when it counts braces, so "{{" counts
    # as one opening brace; the extra "}" after the closing one is kept as text
    Case("template.go", "${FOO:-{{}}}", "first}"),
    Case("template.go", "${UNSET:-{{}}}", "{{}}"),
]
ENVS["dollar"] = {"DOLLAR": "$FOO "}


def _lookup(env: str) -> dict[str, str]:
    return ENVS[env]


@pytest.mark.parametrize("case", CASES, ids=[f"{c.test}:{c.template!r}" for c in CASES])
def test_table(case: Case) -> None:
    env = _lookup(case.env)
    if case.expected is not None:
        assert case.error is None
        assert substitute(case.template, env.get) == case.expected
        return
    assert case.error is not None
    with pytest.raises(InterpolationError) as caught:
        substitute(case.template, env.get)
    if case.error == INVALID:
        assert str(caught.value).startswith(INVALID)
    else:
        assert str(caught.value) == case.error


def test_every_row_has_an_answer_and_no_row_differs_silently() -> None:
    for case in CASES:
        assert (case.expected is None) != (case.error is None), case
    assert all(not case.differs for case in CASES)  # every compose-go case passes as it is


def test_warnings_name_unset_plain_variables_only_when_used() -> None:
    # TestLazyDefaultDoesNotWarn / TestLazyDefaultWarnsWhenUsed / TestLazyRequiredMessageDoesNotWarn
    seen: list[str] = []
    assert substitute("${A:+${A},}B", TEMPLATE_ENV.get, warn=seen.append) == "B"
    assert seen == []
    assert substitute("${A:-${B}}", TEMPLATE_ENV.get, warn=seen.append) == ""
    assert seen == ["B"]
    seen.clear()
    assert substitute("${A?${B}}", {"A": "value"}.get, warn=seen.append) == "value"
    assert seen == []
    assert substitute("$X ${Y} ${BAR} ${Z:-}", TEMPLATE_ENV.get, warn=seen.append) == "   "
    assert seen == ["X", "Y"]


def test_the_error_is_an_invalid_argument_naming_the_template() -> None:
    with pytest.raises(InvalidArgument, match=r'^invalid interpolation format "a \$\{b"'):
        substitute("a ${b", NO_ENV.get)


def test_interpolate_walks_values_not_keys() -> None:
    # TestInterpolate
    services = {
        "servicea": {
            "image": "example:${USER}",
            "volumes": ["$FOO:/target"],
            "logging": {"driver": "${FOO}", "options": {"user": "$USER"}},
            "labels": {"$USER": "$USER"},
            "replicas": 3,
            "init": True,
            "x-none": None,
        }
    }
    assert interpolate(services, INTERPOLATION_ENV.get) == {
        "servicea": {
            "image": "example:jenny",
            "volumes": ["bar:/target"],
            "logging": {"driver": "bar", "options": {"user": "jenny"}},
            "labels": {"$USER": "jenny"},
            "replicas": 3,
            "init": True,
            "x-none": None,
        }
    }
    assert services["servicea"]["image"] == "example:${USER}"  # the input is left as it was
    assert interpolate("$USER", INTERPOLATION_ENV.get) == "jenny"
    assert interpolate(7, INTERPOLATION_ENV.get) == 7


def test_interpolate_errors_start_with_the_key_path() -> None:
    doc = {"services": {"web": {"image": "${TAG:?set it}", "ports": ["80", "${"]}}}
    with pytest.raises(
        InterpolationError, match=r"^services\.web\.image: required variable TAG is missing a value: set it$"
    ):
        interpolate(doc, NO_ENV.get)
    del doc["services"]["web"]["image"]
    with pytest.raises(
        InterpolationError, match=r'^services\.web\.ports\[1\]: invalid interpolation format "\$\{"'
    ):
        interpolate(doc, NO_ENV.get)
    with pytest.raises(InterpolationError, match=r"^x\.y\[0\]\.z: required variable A"):
        interpolate({"z": "${A?}"}, NO_ENV.get, path=("x", "y", 0))
    with pytest.raises(InterpolationError, match=r"^required variable A is missing a value$"):
        interpolate("${A?}", NO_ENV.get)
    with pytest.raises(InterpolationError, match=r"^services\.1: required"):
        interpolate({"services": {1: "${A?}"}}, NO_ENV.get)


def test_format_path() -> None:
    assert format_path(()) == ""
    assert format_path(("services", "web", "ports", 1)) == "services.web.ports[1]"
    assert format_path(("a", 0, 1, "b")) == "a[0][1].b"


def test_nesting_is_bounded() -> None:
    ok = "${U:-" * MAX_DEPTH + "x" + "}" * MAX_DEPTH
    assert substitute(ok, NO_ENV.get) == "x"
    deep = "${U:-" * (MAX_DEPTH + 1) + "x" + "}" * (MAX_DEPTH + 1)
    with pytest.raises(InterpolationError, match="nest more than"):
        substitute(deep, NO_ENV.get)


def test_a_line_of_many_defaults_is_not_nesting() -> None:
    many = "${U:-x}" * 50_000
    assert substitute(many, NO_ENV.get) == "x" * 50_000


def test_output_is_bounded() -> None:
    big = {"BIG": "b" * (1 << 20)}
    assert len(substitute("$BIG" * 4, big.get)) == 4 << 20
    with pytest.raises(InterpolationError, match="longer than"):
        substitute("$BIG" * 5, big.get)
    # a default repeated nests no deeper and grows no further than the string allows
    with pytest.raises(InterpolationError, match="longer than"):
        substitute("${U:-$BIG$BIG$BIG}" * 2, big.get)
    assert MAX_STRING == 4 << 20


def test_interpolate_bounds_the_whole_document() -> None:
    big = {"BIG": "b" * (1 << 20)}
    shared = ["$BIG"] * 40  # one list, as YAML aliases give, each string 1 Mi characters
    with pytest.raises(InterpolationError, match="more than"):
        interpolate({"a": shared}, big.get)
    many = [0] * (MAX_NODES + 1)
    with pytest.raises(InterpolationError, match="too large"):
        interpolate(many, NO_ENV.get)
    deep: object = "x"
    for _ in range(300):
        deep = [deep]
    with pytest.raises(InterpolationError, match="deeper than"):
        interpolate(deep, NO_ENV.get)
