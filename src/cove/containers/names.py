"""Container names: the rules for user-given ones, and friendly random ones when none is given."""

from __future__ import annotations

import random
import re

from cove.errors import InvalidArgument

NAME_RE = re.compile(r"^/?[a-zA-Z0-9][a-zA-Z0-9_.-]*$")

_ADJECTIVES = tuple(
    """
    agile amber ample bold brave bright brisk calm candid cheery clever cosmic crisp curious daring
    deft eager earnest fair fervent fond frank gentle glad golden grand happy hardy honest humble
    jolly keen kind lively lucid merry mellow modest nimble noble patient plucky proud quiet quick
    rapid serene sharp shiny snappy steady sunny swift tender tidy upbeat vivid warm wise witty
    zealous
    """.split()
)
_PEOPLE = tuple(
    """
    agnesi archimedes babbage bartik bell blackwell bohr boole borg carson cerf curie darwin
    dijkstra einstein euclid euler faraday fermat feynman franklin galileo gauss goodall hamilton
    hawking hertz hodgkin hopper hypatia johnson kepler knuth kowalevski lamarr leavitt lovelace
    maxwell meitner mendel minsky newton noether pascal pasteur perlman planck ritchie sammet
    shannon somerville tesla thompson torvalds turing wilson wozniak yalow
    """.split()
)


def random_name(rng: random.Random | None = None) -> str:
    rng = rng or random.Random()
    return f"{rng.choice(_ADJECTIVES)}_{rng.choice(_PEOPLE)}"


def check_name(name: str) -> str:
    """A valid container name, without Docker's optional leading slash."""
    if not NAME_RE.match(name):
        raise InvalidArgument(f'invalid container name "{name}", only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed')
    return name.lstrip("/")
