"""The report layer: words, formatting and pages.

Analysis modules (loading, rfm, segments, campaigns, tracking, value) return numbers, tables
and codes; everything a person reads is made here, through the run's :class:`Translator`
(:mod:`rfm_helpers.report.i18n`): gettext message catalogs for the words, Babel for numbers,
money, percentages, dates and plural forms.

The monthly run (``rfm-report``): :mod:`~rfm_helpers.report.cli` reads options,
:mod:`~rfm_helpers.report.run` orchestrates a month or a range, :mod:`~.execute` runs one
notebook with papermill, :mod:`~.publish` locks and swaps the month folder into place,
:mod:`~.render` turns executed notebooks into pages, :mod:`~.index` lists all runs,
:mod:`~.manifest` records what a run was made from; :mod:`~.templating` and ``templates/``
are the pages' frame, ``texts/`` their sentences. Notebooks use :mod:`~.display` (safe
HTML) and :mod:`~.summary` (headline figures).
"""
