"""The subscriber list: store, double opt-in / one-click opt-out, web app, webhooks."""
