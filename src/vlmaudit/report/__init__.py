"""Result schema, run directories, tables, plots."""
