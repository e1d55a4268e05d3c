"""The typer command line: parse, build one config, call one core function, map errors."""
