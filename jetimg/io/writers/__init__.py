"""Input layouts written: files every reader of :mod:`jetimg.io.readers` opens.

:mod:`~jetimg.io.writers.toptag` (the top-tagging pandas HDFStore),
:mod:`~jetimg.io.writers.jetclass` (JetClass ROOT TTrees, with ``uproot``'s
``mktree``) and :mod:`~jetimg.io.writers.qg` (EnergyFlow quark/gluon ``.npz``).
``jetimg simulate``, the toy jets and the tests write their inputs with them;
:mod:`~jetimg.io.writers.appenders` writes any of the input layouts chunk by
chunk, every column kept (the parts of ``jetimg split``).
"""
