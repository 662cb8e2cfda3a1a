"""CLI subcommands, one module each, imported only when invoked."""
