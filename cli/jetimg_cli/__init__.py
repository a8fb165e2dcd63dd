"""The ``jetimg`` command line: a thin click shell over the jetimg library."""
