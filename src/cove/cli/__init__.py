"""The command line: argument parsing, rendering and exit codes. The only layer that prints."""
