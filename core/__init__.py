"""The project's shared core: bulk writes, upserts, on-commit events, errors, row checks and the API's
parsing and error plumbing. It sits below every app and imports none of them."""
