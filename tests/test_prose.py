"""The detector of English prose on a Russian page (rfm_helpers.report.prose)."""
from __future__ import annotations

from rfm_helpers.report.prose import foreign_words, page_text


def test_the_detector_sees_english_prose_on_a_russian_page():
    """It would catch an untranslated caption, axis label (alt text) or sentence."""
    page = ('<html lang="ru"><body><h2>Сегменты</h2><p class="rfm-caption"><b>Segments by method</b></p>'
            '<img alt="График: Customers per score"><p>Файл <code>rfm_scores.csv</code>, RFM, k-means, '
            'CDNOW, 23&nbsp;502 клиента, analysis_date, 1998-06-30.</p></body></html>')
    assert [f.word for f in foreign_words(page)] == ["Segments", "by", "method", "Customers", "per", "score"]


def test_codes_names_identifiers_and_marked_text_are_not_prose():
    page = ('<html lang="ru"><p>Файлы .xlsx в папке exports/. Модели BG/NBD и Gamma-Gamma (PyMC-Marketing), '
            'метод k-means, CSV, UTF-8, R, F, M, v1.2, rfm_scores.csv, «RFM-сегменты».</p>'
            '<p>Давность (R, <span lang="en">recency</span>)</p><p translate="no">pandas 2.2 · numpy 2.1</p>'
            '<pre>print("hello world")</pre><p><b>R</b>FM</p></html>')
    assert foreign_words(page) == []
    assert [f.word for f in foreign_words("<html lang='ru'><p>segment map classic</p></html>", {"classic"})] == \
        ["segment", "map"]


def test_tags_never_glue_two_words_and_blocks_are_separate():
    blocks = page_text("<li><span class='v'>0,29</span><span class='l'>Agreement</span></li><p>a<br>b</p>")
    assert blocks == ["0,29 Agreement", "a b"]


def test_page_text_keeps_no_break_spaces_of_numbers():
    assert page_text("<p><b>23\u00a0502 клиента</b>\n на  сумму</p>") == ["23\u00a0502 клиента на сумму"]
