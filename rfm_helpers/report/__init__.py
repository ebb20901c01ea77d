"""The report layer: words, formatting and pages.

Analysis modules (loading, rfm, segments, campaigns, tracking, value) return numbers, tables
and codes; everything a person reads is made here, through the run's :class:`Translator`
(:mod:`rfm_helpers.report.i18n`): gettext message catalogs for the words, Babel for numbers,
money, percentages, dates and plural forms.
"""
