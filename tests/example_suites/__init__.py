"""A package of suites laid out as docs/adding_a_suite.md says, discovered by the same scan."""
