"""The pure decisions of a transfer, with literals: what is missing, how to find out, in what
order to upload, and how a batch retries and stops."""

from __future__ import annotations

from artver.progress import NO_PROGRESS
from artver.remotes import transfer


def test_few_objects_are_asked_about_one_by_one():
    assert transfer.choose_strategy(10, 10, None) == "exists"


def test_many_objects_are_found_by_listing_shards_then_deciding():
    # Before a sample, list a shard; that sample then decides.
    assert transfer.choose_strategy(20_000, 256, None) == "list"


def test_an_empty_or_small_remote_is_listed_whole():
    # 20,000 objects to check, 80 keys in the sampled shard (~20,000 on the remote):
    # one listing of everything takes 21 requests, 255 shard listings take 255.
    assert transfer.choose_strategy(20_000, 256, 80) == "list-all"
    assert transfer.choose_strategy(1_000, 256, 0) == "list-all"


def test_a_big_remote_is_listed_by_the_needed_shards():
    # 20,000 objects against a remote of ~5 million: 255 x 20 pages beat 5,120 pages and
    # 20,000 questions.
    assert transfer.choose_strategy(20_000, 256, 20_000) == "list"


def test_a_few_hundred_objects_in_a_huge_remote_are_asked_about():
    # 300 objects, 200 shards of 400,000 keys each: listing would take 80,000 requests.
    assert transfer.choose_strategy(300, 200, 400_000) == "exists"


def test_upload_order_puts_manifests_last():
    order = transfer.upload_order(["b" * 32 + ".dir", "c" * 32, "a" * 32 + ".dir", "0" * 32])
    assert order == ["0" * 32, "c" * 32, "a" * 32 + ".dir", "b" * 32 + ".dir"]


def test_missing_and_prefixes():
    assert transfer.missing(["ab1", "cd2", "ab3"], {"ab1"}) == ["ab3", "cd2"]
    assert transfer.prefixes(["ab1", "cd2", "ab3"]) == ["ab", "cd"]


def _classify(exc: BaseException) -> str:
    if isinstance(exc, ConnectionError):
        return "transient"
    if isinstance(exc, FileNotFoundError):
        return "missing"
    return "other"


def test_batch_retries_transient_errors_and_collects_missing_objects():
    calls: dict[str, int] = {}

    def func(item: str) -> int:
        calls[item] = calls.get(item, 0) + 1
        if item == "flaky" and calls[item] < 3:
            raise ConnectionError("reset")
        if item == "gone":
            raise FileNotFoundError(item)
        return 1

    out = transfer.run_batch(
        ["a", "flaky", "gone", "b"],
        func,
        2,
        NO_PROGRESS,
        _classify,
        lambda e: False,
        lambda s: None,
    )
    assert sorted(out.done) == ["a", "b", "flaky"]
    assert out.missing == ["gone"]
    assert out.error is None and calls["flaky"] == 3


def test_batch_stops_when_the_server_stays_down():
    def func(item: int) -> int:
        if item >= 5:
            raise ConnectionError("refused")
        return 1

    out = transfer.run_batch(
        list(range(100)), func, 1, NO_PROGRESS, _classify, lambda e: False, lambda s: None
    )
    assert sorted(out.done) == [0, 1, 2, 3, 4]
    assert isinstance(out.error, ConnectionError)
    assert out.skipped == 95
