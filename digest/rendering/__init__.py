"""The parts of ``digest.render``, one concern to a module.

- ``text``: plain-text shaping (one line, shorten, paragraphs, wrap); also template filters.
- ``sanitize``: feed text made safe to put in an email: http(s) URLs only, HTML
  fragments cut down to formatting, per-recipient placeholders made inert.
- ``views``: what the issue templates see (``StoryView``, the context) and the subject.
- ``environment``: the Jinja environment of a configuration's template folders.
- ``css``: a style sheet split into rules that can be inlined and at-rules that cannot.
- ``mjml_html``: MJML to HTML, with the inline CSS written into ``style`` attributes.
"""
