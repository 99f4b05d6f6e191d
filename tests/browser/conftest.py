"""Browser tests: Playwright drives Debian's chromium against pytest-django's live server.

Their fixtures (``browser``, ``new_page``, ``screenshot``) are in ``tests.browser.chromium``,
registered in tests/conftest.py so that tests/e2e shares the same chromium in one run.
"""
