"""The row rules, one module per source: what happens to each source row, column by column, in order.

Each module holds its source's rule pass as one function that reads top to bottom (this column, this rule, this
reason) and returns the cleaned rows with their ``quarantine.Verdicts``:

- ``members``: members → Users, and the member statuses every event follows (test, withdrawn, unknown);
- ``products``: products with their options → the catalogue and its Items records;
- ``web_logs``: web log rows, then whole sessions (bots, stitching via session_logins, the member rules);
- ``order_lines``: order lines → purchases;
- ``interactions``: the rules of every interaction whatever its source: retention (applied by ``web_logs`` and
  ``order_lines`` as soon as a row's time is known) and duplicates across sources (where the sources meet);
- ``common``: the id and categorical-text rules all of them share; ``sizes``: the cup and band vocabularies.

The rule names and reason codes are defined, with their meaning, in ``quarantine.EXCLUSION_RULES`` and
``quarantine.QUARANTINE_REASONS``; the generic column checks the rules use (text problems, integers, timestamps)
are in ``transform``. ``export`` streams the sources through these functions and counts the verdicts.

Nothing is imported here, so ``sizes`` stays importable without pandas (the demo shop generator uses it).
"""
