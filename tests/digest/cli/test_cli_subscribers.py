"""`digest subscribers …`, `digest serve` and `digest db upgrade` as an editor runs them,
on SQLite and on PostgreSQL."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select
from subscribers_support import EDITOR_CONFIG, SECRET, confirm_link, outbox_messages

from digest.cli import cli
from digest.errors import TokenError
from digest.store.database import Store, open_store
from digest.store.tables import ConsentEvent
from subscribers import repository as repo

pytestmark = pytest.mark.postgres  # the editor fixture runs on SQLite and on PostgreSQL

CONFIG = EDITOR_CONFIG


@contextmanager
def opened(url: str) -> Iterator[Store]:
    store = open_store(url)
    try:
        yield store
    finally:
        store.dispose()


class Editor:
    def __init__(self, tmp_path: Path, db_url: str) -> None:
        self.dir = tmp_path
        self.config = tmp_path / "digest.toml"
        self.config.write_text(CONFIG)
        self.db_url = db_url
        self.env = {
            "DIGEST_DATABASE_URL": db_url,
            "DIGEST_SECRET_KEY": SECRET,
            "DIGEST_NOW": "2026-01-05T09:00:00+00:00",
            "DIGEST_CONFIG": str(self.config),
        }

    def run(self, *args: str, env: dict[str, str] | None = None) -> Result:
        return CliRunner().invoke(
            cli, list(args), env={**self.env, **(env or {})}, catch_exceptions=False
        )

    def listing(self, *args: str) -> list[dict[str, object]]:
        result = self.run("subscribers", "list", "--json", *args)
        assert result.exit_code == 0, result.output
        data: list[dict[str, object]] = json.loads(result.stdout)
        return data

    def statuses(self) -> dict[str, object]:
        return {row["email"]: row["status"] for row in self.listing()}  # type: ignore[misc]

    def csv_file(self, text: str, name: str = "list.csv") -> str:
        path = self.dir / name
        path.write_text(text, encoding="utf-8")
        return str(path)


@pytest.fixture
def editor(tmp_path: Path, db_url: str) -> Editor:
    return Editor(tmp_path, db_url)


def test_round_trip(editor: Editor) -> None:
    r = editor.run("subscribers", "add", "Ada@Example.com", "--name", "Ada Lovelace")
    assert r.exit_code == 0, r.output
    assert (
        "Added Ada@example.com (pending)" in r.stdout and "confirmation email was sent" in r.stdout
    )
    [msg] = outbox_messages(editor.dir / "outbox")
    assert msg["To"] == "Ada Lovelace <Ada@example.com>"
    assert editor.run("subscribers", "add", "bob@example.com", "--confirmed").exit_code == 0

    rows = editor.listing()
    assert rows == [
        {
            "email": "Ada@example.com",
            "name": "Ada Lovelace",
            "status": "pending",
            "created_at": "2026-01-05T09:00:00+00:00",
            "confirmed_at": None,
        },
        {
            "email": "bob@example.com",
            "name": None,
            "status": "active",
            "created_at": "2026-01-05T09:00:00+00:00",
            "confirmed_at": "2026-01-05T09:00:00+00:00",
        },
    ]
    assert [r["email"] for r in editor.listing("--status", "active")] == ["bob@example.com"]

    exported = editor.run("subscribers", "export")
    assert exported.exit_code == 0
    table = list(csv.DictReader(io.StringIO(exported.stdout)))
    assert [(t["email"], t["name"], t["status"]) for t in table] == [
        ("Ada@example.com", "Ada Lovelace", "pending"),
        ("bob@example.com", "", "active"),
    ]
    only_active = editor.run("subscribers", "export", "--status", "active").stdout
    assert "bob@example.com" in only_active and "Ada@" not in only_active

    r = editor.run("subscribers", "unsubscribe", "BOB@example.com")
    assert r.exit_code == 0 and "Unsubscribed bob@example.com (was active)" in r.stdout
    assert editor.statuses()["bob@example.com"] == "unsubscribed"
    assert (
        "already unsubscribed" in editor.run("subscribers", "unsubscribe", "bob@example.com").stdout
    )

    r = editor.run("subscribers", "erase", "ada@example.com")
    assert r.exit_code == 0 and "Erased ada@example.com" in r.stdout
    assert list(editor.statuses()) == ["bob@example.com"]


def test_export_imports_back(tmp_path: Path, db_url: str) -> None:
    first = Editor(tmp_path, db_url)
    first.run("subscribers", "add", "a@example.com", "--name", "Ann, Jr.", "--confirmed")
    first.run("subscribers", "add", "b@example.com", "--name", 'Bo "B"', "--confirmed")
    export = first.run("subscribers", "export").stdout
    (tmp_path / "second").mkdir()
    second = Editor(tmp_path / "second", f"sqlite:///{tmp_path / 'second' / 'x.db'}")
    r = second.run("subscribers", "import", second.csv_file(export), "--confirmed")
    assert r.exit_code == 0, r.output
    assert [(x["email"], x["name"]) for x in second.listing()] == [
        ("a@example.com", "Ann, Jr."),
        ("b@example.com", 'Bo "B"'),
    ]


def test_export_names_never_open_as_spreadsheet_formulas(tmp_path: Path, db_url: str) -> None:
    """A name from the subscribe form like =HYPERLINK(…) must reach a spreadsheet as text,
    and the export must still import back to the same names."""
    first = Editor(tmp_path, db_url)
    names = ['=HYPERLINK("http://evil.example","x")', "+1 555", "-dash", "@at", "'quoted", "Plain"]
    for i, name in enumerate(names):
        r = first.run("subscribers", "add", f"r{i}@example.com", "--name", name, "--confirmed")
        assert r.exit_code == 0, r.output
    export = first.run("subscribers", "export").stdout
    cells = [row["name"] for row in csv.DictReader(io.StringIO(export))]
    assert cells == ["'" + n if n[0] in "=+-@" else n for n in names]
    assert not any(c.startswith(("=", "+", "-", "@")) for c in cells)
    (tmp_path / "second").mkdir()
    second = Editor(tmp_path / "second", f"sqlite:///{tmp_path / 'second' / 'x.db'}")
    r = second.run("subscribers", "import", second.csv_file(export), "--confirmed")
    assert r.exit_code == 0, r.output
    assert [x["name"] for x in second.listing()] == names


FORMULA_ADDRESSES = [
    "=cmd@example.com",
    "+plus@example.com",
    "-minus@example.com",
    "\uff1dwide@example.com",
    "\uff0bwide@example.com",
    "\uff0dwide@example.com",
    "\uff20wide@example.com",
    "\ufe66small@example.com",
    "'=quoted@example.com",
    "'tis@example.com",
    "plain@example.com",
]


def test_export_addresses_never_open_as_spreadsheet_formulas(tmp_path: Path, db_url: str) -> None:
    """Issue 11, item 10: valid addresses that start like a formula (= + - @, or their
    full-width and small forms) went out raw; every such cell gets the apostrophe, and the
    export still imports back to the same addresses."""
    from datetime import UTC, datetime

    first = Editor(tmp_path, db_url)
    with opened(db_url) as store, store.session() as s:
        for address in FORMULA_ADDRESSES:
            repo.add(s, address, at=datetime(2026, 1, 5, tzinfo=UTC), source="cli", status="active")
    export = first.run("subscribers", "export").stdout
    cells = [row["email"] for row in csv.DictReader(io.StringIO(export))]
    assert cells == [
        "'" + a if a[0] != "p" and not a.startswith("'t") else a for a in FORMULA_ADDRESSES
    ]
    (tmp_path / "second").mkdir()
    second = Editor(tmp_path / "second", f"sqlite:///{tmp_path / 'second' / 'x.db'}")
    r = second.run("subscribers", "import", second.csv_file(export), "--confirmed")
    assert r.exit_code == 0, r.output
    assert [x["email"] for x in second.listing()] == FORMULA_ADDRESSES


def test_imported_names_print_no_control_characters(editor: Editor) -> None:
    path = editor.csv_file("email,name\nesc@example.com,Ann\x1b]0;owned\x07\x1b[2J Smith\n")
    r = editor.run("subscribers", "import", path, "--confirmed")
    assert r.exit_code == 0, r.output
    listing = editor.run("subscribers", "list").stdout
    assert "esc@example.com" in listing and "Ann]0;owned[2J Smith" in listing
    assert "\x1b" not in listing and "\x07" not in listing


def test_import_reports_every_bad_row_and_imports_the_rest(editor: Editor) -> None:
    editor.run("subscribers", "add", "known@example.com", "--confirmed")
    path = editor.csv_file(
        "Email,Name,Extra\n"
        "one@example.com,One,x\n"  # line 2
        "not-an-address,Bad,x\n"  # 3
        ",Nobody,x\n"  # 4
        "known@example.com,Known,x\n"  # 5: already there, left alone
        "\n"  # 6: blank
        "two@example.com\n"  # 7: no name column
        "ONE@example.com,Again,x\n"  # 8: repeated
        "three@exa mple.com,Space,x\n"  # 9
    )
    r = editor.run("subscribers", "import", path, "--confirmed")
    assert r.exit_code == 1
    assert "list.csv, line 3: 'not-an-address' is not a valid email address" in r.stderr
    assert "list.csv, line 4: the email is empty" in r.stderr
    assert "list.csv, line 9: 'three@exa mple.com' is not a valid email address" in r.stderr
    assert "line 5" not in r.stderr and "line 7" not in r.stderr
    assert (
        "imported 2 (active), 1 already on the list (unchanged), 1 repeated in the file, "
        "3 not imported" in r.stdout
    )
    assert editor.statuses() == {
        "known@example.com": "active",
        "one@example.com": "active",
        "two@example.com": "active",
    }
    names = {x["email"]: x["name"] for x in editor.listing()}
    assert names["one@example.com"] == "One" and names["known@example.com"] is None

    before = editor.listing()
    again = editor.run("subscribers", "import", path, "--confirmed")
    assert "imported 0 (active), 3 already on the list" in again.stdout
    assert editor.listing() == before  # re-running changes nothing

    with opened(editor.db_url) as store, store.session() as s:
        sub = repo.get_by_email(s, "one@example.com")
        assert sub is not None
        events = repo.events_for(s, sub)
    assert [(e.kind, e.source, e.detail) for e in events] == [
        ("subscribed", "import", "consent vouched for by the importer"),
        ("confirmed", "import", "consent vouched for by the importer"),
    ]


@pytest.mark.parametrize(
    ("header", "sep"),
    [
        ("email;name", ";"),
        ("email\tname", "\t"),
        ("Email Address,Name", ","),
        ("E-mail;Full Name", ";"),
    ],
)
def test_import_reads_semicolon_tab_and_other_tools_headers(
    editor: Editor, header: str, sep: str
) -> None:
    # Excel in many locales saves with ";"; Mailchimp exports "Email Address"
    path = editor.csv_file(
        f"\ufeff{header}\r\nann@example.com{sep}Ann\r\n\r\n"
        f"not-an-address{sep}Bad\r\nbo@example.com{sep}Bo\r\n"
    )
    r = editor.run("subscribers", "import", path, "--confirmed")
    assert r.exit_code == 1
    assert "list.csv, line 4: 'not-an-address' is not a valid email address" in r.stderr
    assert {(x["email"], x["name"]) for x in editor.listing()} == {
        ("ann@example.com", "Ann"),
        ("bo@example.com", "Bo"),
    }


def test_import_reads_excels_utf16_unicode_text(editor: Editor) -> None:
    path = editor.dir / "unicode.txt"
    path.write_bytes("Email\tName\r\nzoë@example.com\tZoë Ångström\r\nbad\tX\r\n".encode("utf-16"))
    r = editor.run("subscribers", "import", str(path), "--confirmed")
    assert r.exit_code == 1
    assert "unicode.txt, line 3: 'bad' is not a valid email address" in r.stderr
    assert [(x["email"], x["name"]) for x in editor.listing()] == [
        ("zoë@example.com", "Zoë Ångström")
    ]


def test_import_reads_a_pipe(editor: Editor) -> None:
    import os
    import threading

    fifo = editor.dir / "list.fifo"
    os.mkfifo(fifo)

    def feed() -> None:
        with fifo.open("w", encoding="utf-8") as out:
            out.write("email;name\npiped@example.com;Piped\n")

    writer = threading.Thread(target=feed)
    writer.start()
    r = editor.run("subscribers", "import", str(fifo), "--confirmed")
    writer.join(5)
    assert r.exit_code == 0, r.output
    assert editor.statuses() == {"piped@example.com": "active"}


def test_import_unclosed_quote_names_the_line_where_it_opened(editor: Editor) -> None:
    path = editor.csv_file(
        'email,name\nfirst@example.com,First\n"open@example.com,Open\nlost@example.com,Lost\n'
    )
    r = editor.run("subscribers", "import", path, "--confirmed")
    assert r.exit_code == 1
    assert "list.csv, line 3: a quote opened here is not closed" in r.stderr
    assert "line 4" in r.stderr  # where the row ran on to
    # the rows after the bad one are imported, not swallowed into it
    assert editor.statuses() == {"first@example.com": "active", "lost@example.com": "active"}


def test_import_unclosed_quote_in_a_name_reports_it_and_imports_the_rest(editor: Editor) -> None:
    """Issue 11, item 10: "imported 2", exit 0, and three rows silently lost."""
    path = editor.csv_file(
        'email,name\na@example.com,Ann\nb@example.com,"Bo\n'
        "c@example.com,Cy\nd@example.com,Di\ne@example.com,Ed\n"
    )
    r = editor.run("subscribers", "import", path, "--confirmed")
    assert r.exit_code == 1
    assert "list.csv, line 3: a quote opened here is not closed" in r.stderr
    assert "imported 4 (active)" in r.stdout and "1 not imported" in r.stdout
    assert sorted(editor.statuses()) == [
        "a@example.com",
        "c@example.com",
        "d@example.com",
        "e@example.com",
    ]


def test_import_without_confirmed_sends_confirmations(editor: Editor) -> None:
    path = editor.csv_file("email,name\nx@example.com,Ex\ny@example.com,\n")
    r = editor.run("subscribers", "import", path)
    assert r.exit_code == 0, r.output
    assert "imported 2 (pending)" in r.stdout and "2 confirmation emails sent" in r.stdout
    assert sorted(m["To"] for m in outbox_messages(editor.dir / "outbox")) == [
        "Ex <x@example.com>",
        "y@example.com",
    ]
    assert set(editor.statuses().values()) == {"pending"}
    again = editor.run("subscribers", "import", path)
    assert "imported 0 (pending), 2 already on the list" in again.stdout
    assert "0 confirmation emails sent" in again.stdout


def test_import_refuses_erased_addresses(editor: Editor) -> None:
    editor.run("subscribers", "add", "gone@example.com", "--confirmed")
    editor.run("subscribers", "erase", "gone@example.com")
    r = editor.run(
        "subscribers",
        "import",
        editor.csv_file("email\nGONE@example.com\nnew@example.com\n"),
        "--confirmed",
    )
    assert r.exit_code == 1
    assert "list.csv, line 2: GONE@example.com was erased at the person's request" in r.stderr
    assert editor.statuses() == {"new@example.com": "active"}
    r = editor.run("subscribers", "add", "gone@example.com", "--confirmed")
    assert r.exit_code == 1 and "was erased" in r.stderr


def test_erase_keeps_only_hashes(editor: Editor) -> None:
    editor.run("subscribers", "add", "private.person@example.com", "--name", "Pat Private")
    assert editor.run("subscribers", "erase", "private.person@example.com").exit_code == 0
    with opened(editor.db_url) as store, store.session() as s:
        events = list(s.scalars(select(ConsentEvent)))
        assert {e.kind for e in events} == {"subscribed", "confirmation_sent", "erased"}
        for e in events:
            assert e.subscriber_id is None
            blob = " ".join(str(v) for v in vars(e).values()).lower()
            assert "private" not in blob
        assert repo.is_tombstoned(s, "private.person@example.com")
    r = editor.run("subscribers", "erase", "private.person@example.com")
    assert r.exit_code == 0 and "already erased" in r.stdout


def test_bad_input_is_named(editor: Editor) -> None:
    r = editor.run("subscribers", "add", "no-at-sign")
    assert r.exit_code == 2 and "'no-at-sign' is not a valid email address" in r.stderr
    r = editor.run("subscribers", "import", str(editor.dir / "missing.csv"))
    assert r.exit_code == 2 and "missing.csv: no such file" in r.stderr
    r = editor.run("subscribers", "import", editor.csv_file("address,name\na@example.com,A\n"))
    assert (
        r.exit_code == 2
        and "line 1: the header has no 'email' column (found 'address', 'name')" in r.stderr
    )
    r = editor.run("subscribers", "unsubscribe", "nobody@example.com")
    assert r.exit_code == 1 and "nobody@example.com is not on the list" in r.stderr
    r = editor.run("subscribers", "list", "--status", "gone")
    assert r.exit_code == 2 and "gone" in r.stderr
    assert editor.listing() == []


def test_add_without_secret_key_changes_nothing(editor: Editor) -> None:
    # not the bundled sample (even on this machine): the key is required, a configuration
    # matter like a missing setting (exit 2), named with the command that sets it
    r = editor.run("subscribers", "add", "a@example.com", env={"DIGEST_SECRET_KEY": ""})
    assert r.exit_code == 2
    assert "DIGEST_SECRET_KEY is not set" in r.stderr and "--confirmed" in r.stderr
    assert "export DIGEST_SECRET_KEY=$(python -c" in r.stderr and str(editor.config) in r.stderr
    assert editor.listing() == []
    assert (
        editor.run(
            "subscribers", "add", "a@example.com", "--confirmed", env={"DIGEST_SECRET_KEY": ""}
        ).exit_code
        == 0
    )


def test_add_in_a_local_trial_signs_with_the_development_secret(tmp_path: Path) -> None:
    """The sample (web.development_secret, SQLite, a loopback public_url): `subscribers add`
    works without DIGEST_SECRET_KEY, and its link is signed with the secret `digest send`
    and `digest serve` use there."""
    from digest.tokens import Tokens

    editor = Editor(tmp_path, f"sqlite:///{tmp_path / 'trial.db'}")
    editor.config.write_text(CONFIG + "\n[web]\ndevelopment_secret = true\n")
    r = editor.run("subscribers", "add", "a@example.com", env={"DIGEST_SECRET_KEY": ""})
    assert r.exit_code == 0, r.output
    [msg] = outbox_messages(editor.dir / "outbox")
    token = confirm_link(msg).rsplit("/", 1)[1]
    path = tmp_path / "trial.db.dev-secret"  # beside the database, as `digest send` keeps it
    assert path.is_file()
    with opened(editor.db_url) as store, store.session() as s:
        sub = repo.get_by_email(s, "a@example.com")
        assert sub is not None and sub.status == "pending"
        subscriber_id, nonce = Tokens(path.read_text().strip()).read_confirm(token, 10**9)
        assert (subscriber_id, nonce) == (sub.id, sub.confirm_nonce)
    with pytest.raises(TokenError):
        Tokens(SECRET).read_confirm(token, 10**9)


def test_add_existing_addresses(editor: Editor) -> None:
    editor.run("subscribers", "add", "p@example.com")
    r = editor.run("subscribers", "add", "p@example.com")
    assert r.exit_code == 0 and "none was sent now" in r.stdout
    r = editor.run("subscribers", "add", "p@example.com", "--confirmed")
    assert "now active" in r.stdout
    r = editor.run("subscribers", "add", "p@example.com")
    assert r.exit_code == 0 and "already subscribed" in r.stdout
    assert len(outbox_messages(editor.dir / "outbox")) == 1


def test_list_text(editor: Editor) -> None:
    editor.run("subscribers", "add", "a@example.com", "--name", "Ann", "--confirmed")
    out = editor.run("subscribers", "list").stdout
    assert "a@example.com" in out and "active" in out and "Ann" in out
    assert out.strip().endswith("1 subscriber")


def test_serve_refuses_without_secret_key(editor: Editor) -> None:
    r = editor.run("serve", env={"DIGEST_SECRET_KEY": ""})
    assert r.exit_code == 2
    assert "export DIGEST_SECRET_KEY=$(python -c" in r.stderr


def test_serve_refuses_a_guessable_secret_key(editor: Editor) -> None:
    r = editor.run("serve", env={"DIGEST_SECRET_KEY": "hunter2"})
    assert r.exit_code == 2
    assert "DIGEST_SECRET_KEY is only 7 characters" in r.stderr and "at least 16" in r.stderr


def test_serve_on_a_busy_port_says_so_and_exits_1(editor: Editor) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        r = editor.run("serve", "--host", "127.0.0.1", "--port", str(port))
    assert r.exit_code == 1
    assert f"cannot listen on 127.0.0.1:{port}" in r.stderr and "--port" in r.stderr
    assert "Serving" not in r.stdout


def test_db_upgrade(editor: Editor) -> None:
    r = editor.run("db", "upgrade")
    assert r.exit_code == 0 and "is at revision" in r.stdout
    assert editor.run("db", "upgrade").exit_code == 0


def test_an_unsupported_database_url_is_named_without_its_password(editor: Editor) -> None:
    r = editor.run("db", "upgrade", env={"DIGEST_DATABASE_URL": "mysql://u:hunter2@127.0.0.1/db"})
    assert r.exit_code == 1
    assert "storage.url 'mysql://u:***@127.0.0.1/db'" in r.stderr and "PostgreSQL" in r.stderr
    assert "hunter2" not in r.output


def test_large_import_streams(tmp_path: Path) -> None:
    editor = Editor(tmp_path, f"sqlite:///{tmp_path / 'big.db'}")
    n = 5000
    path = tmp_path / "big.csv"
    with path.open("w") as f:
        f.write("email,name\n")
        for i in range(n):
            f.write(f"reader{i}@example.com,Reader {i}\n" if i % 1000 else f"bad{i}\n")
    r = editor.run("subscribers", "import", str(path), "--confirmed")
    assert r.exit_code == 1
    assert r.stderr.count("is not a valid email address") == 5
    assert f"imported {n - 5} (active)" in r.stdout


def test_serve_without_a_key_points_a_local_trial_at_its_development_secret(tmp_path: Path) -> None:
    """The sample signs its sends with a generated development secret; `digest serve` still
    refuses to run without DIGEST_SECRET_KEY, but says how to serve those links locally."""
    from digest.config import Secrets, load_config
    from digest.signing_secret import dev_secret_path, signing_secret

    cfg_path = tmp_path / "digest.toml"
    cfg_path.write_text(
        CONFIG + '\n[storage]\nurl = "sqlite:///d.db"\n[web]\ndevelopment_secret = true\n'
    )
    args = ["serve", "--config", str(cfg_path)]
    env = {"DIGEST_SECRET_KEY": "", "DIGEST_DATABASE_URL": ""}
    r = CliRunner().invoke(cli, args, env=env)
    assert r.exit_code == 2 and "development secret" not in r.stderr
    cfg = load_config(cfg_path)
    signing_secret(cfg, Secrets(None, None, None, None))  # what a sample send does
    r = CliRunner().invoke(cli, args, env=env)
    assert r.exit_code == 2
    assert f"export DIGEST_SECRET_KEY=$(cat {dev_secret_path(cfg)})" in r.stderr


def test_serve_refuses_a_malformed_webhook_key(editor: Editor) -> None:
    editor.config.write_text(CONFIG + '\n[web]\nsendgrid_webhook_public_key = "not-a-key"\n')
    r = editor.run("serve")
    assert r.exit_code == 2
    assert "sendgrid_webhook_public_key" in r.stderr


def test_import_shows_a_progress_bar_on_a_terminal(
    editor: Editor, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows, rate and ETA on standard error when it is a terminal; nothing when piped."""
    from rich.console import Console

    import digest.cli.subscribers as subscribers_cli

    path = editor.csv_file("email\n" + "".join(f"r{i}@example.com\n" for i in range(12)))
    piped = editor.run("subscribers", "import", path, "--confirmed")
    assert piped.exit_code == 0 and "importing" not in piped.stderr
    screen = io.StringIO()
    monkeypatch.setattr(
        subscribers_cli, "err_console", Console(file=screen, force_terminal=True, width=120)
    )
    r = editor.run(
        "subscribers", "import", editor.csv_file("email\nnew@example.com\n", "b.csv"), "--confirmed"
    )
    assert r.exit_code == 0, r.output
    shown = screen.getvalue()
    assert "importing b.csv" in shown and "1 rows" in shown and "/s" in shown and "ETA" in shown
