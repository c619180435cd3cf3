"""One Article per story: copies of the same story, from several sources or twice in one
feed, merged into the richest."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from digest.models import Article


def merge_duplicates(articles: Iterable[Article]) -> list[Article]:
    """One Article per story (same canonical URL or same guid), newest first.

    The richer copy is kept (an image, more words, longer text); on a tie the
    one from the earlier source (and earlier in its feed) wins, so the result
    depends only on the config and the feeds.
    """
    groups: list[Article | None] = []
    by_key: dict[str, int] = {}
    for art in articles:
        keys = (f"url:{art.url}", f"guid:{_guid_key(art)}")
        hits = sorted({by_key[k] for k in keys if k in by_key})
        if not hits:
            groups.append(art)
            idx = len(groups) - 1
        else:
            idx = hits[0]
            groups[idx] = _join(groups, by_key, idx, hits[1:], art)
        for k in keys:
            by_key[k] = idx
        final = groups[idx]
        assert final is not None
        by_key[f"url:{final.url}"] = idx
        by_key[f"guid:{_guid_key(final)}"] = idx
    result = [a for a in groups if a is not None]
    result.sort(key=lambda a: (-a.published.timestamp(), a.url))
    return result


def _join(
    groups: list[Article | None], by_key: dict[str, int], idx: int, others: list[int], art: Article
) -> Article:
    """Group ``idx`` with ``art`` merged in; ``art`` also matched the groups ``others``
    (later ones): they are folded into ``idx`` and their keys point to it."""
    merged = groups[idx]
    assert merged is not None
    merged = _merge(merged, art)
    for other in others:
        extra = groups[other]
        if extra is not None:
            merged = _merge(merged, extra)
            groups[other] = None
            for k, v in list(by_key.items()):
                if v == other:
                    by_key[k] = idx
    return merged


def _guid_key(a: Article) -> str:
    # a guid like "123" is only unique within its own feed; URLs, tag: and urn: ids are global
    g = a.guid.strip()
    if "://" in g or g.lower().startswith(("tag:", "urn:")):
        return g
    return f"{a.source}\x00{g}"


def _merge(keep: Article, other: Article) -> Article:
    """The richer article, with gaps filled from the other copy."""
    if _richness(other) > _richness(keep):
        keep, other = other, keep
    changes: dict[str, object] = {}
    if keep.image is None and other.image is not None:
        changes["image"] = other.image
    if not keep.section and other.section:
        changes["section"] = other.section
    if not keep.categories and other.categories:
        changes["categories"] = other.categories
    if not keep.authors and other.authors:
        changes["authors"] = other.authors
    if not keep.dek and other.dek:
        changes["dek"] = other.dek
    return replace(keep, **changes) if changes else keep  # type: ignore[arg-type]


def _richness(a: Article) -> tuple[int, int, int, int, int]:
    return (
        1 if a.image else 0,
        a.word_count,
        len(a.excerpt) + len(a.dek),
        len(a.categories),
        len(a.authors),
    )
