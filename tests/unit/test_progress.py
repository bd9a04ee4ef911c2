import io

from cove.cli.progress import ProgressPrinter, bar
from cove.progress import ProgressEvent


def test_bar_like_dockers() -> None:
    assert bar(0, 100) == "[" + " " * 50 + "]  0B/100B"
    assert bar(50, 100).startswith("[" + "=" * 24 + ">")
    assert bar(100, 100).endswith("]  100B/100B")
    assert bar(5000, None) == "5kB"


def test_terminal_redraws_lines_in_place() -> None:
    out = io.StringIO()
    printer = ProgressPrinter(out, tty=True)
    printer(ProgressEvent("aaa", "Extracting", 10, 100))
    printer(ProgressEvent("bbb", "Extracting", 0, 100))
    printer(ProgressEvent("aaa", "Done"))
    printer.close()
    text = out.getvalue()
    assert "\x1b[2A" in text  # moved up over the two lines to redraw them
    assert text.rstrip().endswith("bbb: Extracting [" + " " * 50 + "]  0B/100B")
    assert "aaa: Done" in text


def test_without_a_terminal_it_is_silent_unless_asked() -> None:
    out = io.StringIO()
    printer = ProgressPrinter(out, tty=False)
    printer(ProgressEvent("aaa", "Extracting", 10, 100))
    assert out.getvalue() == ""
    printer = ProgressPrinter(out, tty=False, plain_lines=True)
    for n in (10, 20, 30):
        printer(ProgressEvent("aaa", "Extracting", n, 100))
    printer(ProgressEvent("aaa", "Done"))
    assert out.getvalue() == "aaa: Extracting\naaa: Done\n"
