"""The web app: subscribe, confirm, unsubscribe, archive, webhooks."""
