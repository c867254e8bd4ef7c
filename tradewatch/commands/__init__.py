"""The tradewatch console script's subcommands, one module each."""
