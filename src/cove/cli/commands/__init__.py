"""One module per command group; each adds its parsers and handlers to the command line."""
