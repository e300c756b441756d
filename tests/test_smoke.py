from tests.conftest import xxh


def test_add_then_status_is_clean(ws):
    ws.write("data/a.txt", "hello\n")
    res = ws.artver("add", "data")
    assert "git add" in res.stderr
    assert (ws.root / "data.artver").is_file()
    assert xxh(b"hello\n") in ws.cache_object(xxh(b"hello\n")).parent.name + xxh(b"hello\n")
    assert "up to date" in ws.artver("status").stdout
