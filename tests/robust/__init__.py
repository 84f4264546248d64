"""Robustness tests (issue 14): hostile servers, odd locales and secrets, whole processes."""
