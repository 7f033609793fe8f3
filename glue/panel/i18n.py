"""The pages' languages: English and Polish. Every user-facing string of the templates is
written in English as `_("...")` (with `{name}` fields filled after translation) and found
here; the language is the `bubble_lang` cookie (the switch in the header) or the browser's
Accept-Language. The API's JSON, the services' error lines and the CLI stay English."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

LANGUAGE_COOKIE = "bubble_lang"
# code -> the language's own name (shown in the switch)
LANGUAGES = {"en": "English", "pl": "polski"}
DEFAULT = "en"

POLISH = {
    "1 h, 24 h, 30 days": "1 h, 24 h, 30 dni",
    "A draining server takes no new accounts; its accounts stay.":
        "Wygaszany serwer nie przyjmuje nowych kont; jego konta zostają.",
    "A restore puts back what the archive holds; what it replaces is kept aside beside it "
    "(a database: dumped aside first).":
        "Przywracanie odtwarza to, co zawiera archiwum; to, co zastępuje, zostaje odłożone "
        "obok (baza danych: najpierw zrzucona obok).",
    "Accounts": "Konta",
    "Accounts per server": "Konta na serwerach",
    "Activate": "Aktywuj",
    "Alerts": "Alerty",
    "An account follows its plan's base unless an admin overrode it; a change is shown with "
    "what it does before it is made.":
        "Konto ma bazę swojego planu, chyba że administrator ją nadpisał; zmiana jest "
        "pokazywana ze skutkami, zanim zostanie wprowadzona.",
    "Archives": "Archiwa",
    "Ask for a top-up": "Poproś o doładowanie",
    "Ask for a top-up, then transfer the amount": "Poproś o doładowanie, potem przelej kwotę",
    "Audit log": "Dziennik zmian",
    "Back": "Wróć",
    "Backups": "Kopie zapasowe",
    "Backups and restores": "Kopie zapasowe i przywracanie",
    "Backups of {name}": "Kopie zapasowe konta {name}",
    "Balance": "Saldo",
    "Base:": "Baza:",
    "Blue: the highest use in each interval; red: the limit in force; green dashed: the "
    "base; orange lines: the limit raised or lowered (hover for why), orange dots: elastic "
    "charges.":
        "Niebieski: najwyższe zużycie w każdym przedziale; czerwony: obowiązujący limit; "
        "zielony przerywany: baza; pomarańczowe linie: limit podniesiony lub obniżony "
        "(najedź, aby zobaczyć powód), pomarańczowe kropki: opłaty za elastyczność.",
    "Buy for {fee}": "Kup za {fee}",
    "Catalog changes": "Zmiany katalogu",
    "Change": "Zmień",
    "Change plan {name}": "Zmień plan {name}",
    "Check": "Sprawdź",
    "Code (if you use an authenticator app)": "Kod (jeśli używasz aplikacji uwierzytelniającej)",
    "Confirm": "Potwierdź",
    "Confirm a bank transfer once its money is on the operator's account: the wallet is "
    "credited once, however often it is confirmed.":
        "Potwierdź przelew, gdy pieniądze są na koncie operatora: portfel zostanie zasilony "
        "raz, niezależnie od liczby potwierdzeń.",
    "Create a mailbox or set its password": "Utwórz skrzynkę lub ustaw jej hasło",
    "Credit": "Zasil",
    "Dashboard": "Pulpit",
    "Delete (its mail is kept)": "Usuń (poczta zostaje zachowana)",
    "Drain": "Wygaś",
    "Elastic hosting": "Hosting elastyczny",
    "Elastic is": "Elastyczność jest",
    "Error": "Błąd",
    "FTP password": "Hasło FTP",
    "Finish the move": "Zakończ przeniesienie",
    "Firing alerts": "Aktywne alerty",
    "First the pre-flight: every login, every size and whether it fits your disk limit.":
        "Najpierw kontrola wstępna: każde logowanie, każdy rozmiar i czy całość mieści się w "
        "limicie dysku.",
    "Give the old host's addresses without passwords; the passwords are used for this migration "
    "only and never stored.":
        "Podaj adresy starego hostingu bez haseł; hasła służą tylko tej migracji i nigdy nie są "
        "zapisywane.",
    "History": "Historia",
    "Home": "Strona główna",
    "Job {id}:": "Zadanie {id}:",
    "Limits": "Limity",
    "Log in": "Zaloguj się",
    "Log out": "Wyloguj się",
    "Mailboxes": "Skrzynki pocztowe",
    "Mailboxes and FTP password": "Skrzynki pocztowe i hasło FTP",
    "Mailboxes of {name}": "Skrzynki pocztowe konta {name}",
    "Migration {id}:": "Migracja {id}:",
    "Money": "Pieniądze",
    "Move a site in": "Przenieś stronę",
    "Move a site in from another host": "Przenieś stronę z innego hostingu",
    "Move a site into {name}": "Przenieś stronę do konta {name}",
    "Move from {source} to {target}:": "Przeniesienie z {source} na {target}:",
    "Move to another server": "Przenieś na inny serwer",
    "Move while the site runs": "Przenieś bez zatrzymywania strony",
    "My account": "Moje konto",
    "Name": "Nazwa",
    "No mailboxes yet.": "Nie ma jeszcze skrzynek.",
    "No server would take this account now.": "Żaden serwer nie przyjąłby teraz tego konta.",
    "None: `bubble monitor run` finds nothing wrong.":
        "Brak: `bubble monitor run` nie znajduje problemów.",
    "Not allowed": "Niedozwolone",
    "Not done": "Nie wykonano",
    "Not found": "Nie znaleziono",
    "On {server}, plan {plan},": "Na serwerze {server}, plan {plan},",
    "One archive a night holds your files, a dump of each database and your mailboxes.":
        "Co noc jedno archiwum zawiera Twoje pliki, zrzut każdej bazy danych i Twoje skrzynki "
        "pocztowe.",
    "Outcome:": "Wynik:",
    "Override": "Nadpisz",
    "Overrides now:": "Obecne nadpisania:",
    "Page {page} of {pages}": "Strona {page} z {pages}",
    "Panel password": "Hasło do panelu",
    "Password": "Hasło",
    "Per resource: current use / in force (base); use is the newest sample of the last "
    "minute.":
        "Dla każdego zasobu: obecne zużycie / obowiązujący limit (baza); zużycie to "
        "najnowszy pomiar z ostatniej minuty.",
    "Plan": "Plan",
    "Plan {plan},": "Plan {plan},",
    "Plans": "Plany",
    "Pre-flight": "Kontrola wstępna",
    "Pre-flight of the move into {name}": "Kontrola wstępna przeniesienia do konta {name}",
    "Raise the base for a year": "Podnieś bazę na rok",
    "Reject": "Odrzuć",
    "Restore": "Przywróć",
    "Restore the database": "Przywróć bazę danych",
    "Restore the file": "Przywróć plik",
    "Restore the mailbox": "Przywróć skrzynkę",
    "Restore {id}:": "Przywracanie {id}:",
    "Restored:": "Przywrócono:",
    "Resume": "Wznów",
    "Save": "Zapisz",
    "Search": "Szukaj",
    "Servers": "Serwery",
    "Set": "Ustaw",
    "Show the price": "Pokaż cenę",
    "Show what it changes": "Pokaż, co to zmienia",
    "Start the migration": "Rozpocznij migrację",
    "Started {when} by {who}": "Rozpoczęta {when} przez {who}",
    "State": "Stan",
    "Suspend": "Zawieś",
    "The FTP login is": "Login FTP to",
    "The catalog's git history: each panel change is a commit by the admin or customer who "
    "made it.":
        "Historia git katalogu: każda zmiana w panelu to commit administratora lub klienta, "
        "który jej dokonał.",
    "The ledger's newest entries: credits name who made or confirmed them, charges are the "
    "scaler's elastic hours, upgrades the customer's purchase.":
        "Najnowsze wpisy księgi: zasilenia podają, kto je wykonał lub potwierdził, opłaty to "
        "elastyczne godziny naliczone przez skaler, rozszerzenia to zakupy klienta.",
    "The old server proxies the domains to the new one: once DNS points there, finish the "
    "move to remove the account from the old server.":
        "Stary serwer przekazuje ruch domen do nowego: gdy DNS już na niego wskazuje, zakończ "
        "przeniesienie, aby usunąć konto ze starego serwera.",
    "The server did not list the mailboxes:": "Serwer nie podał listy skrzynek:",
    "Top up": "Doładuj",
    "Top-ups": "Doładowania",
    "Total": "Razem",
    "Upgrade": "Rozszerzenie",
    "Usage": "Zużycie",
    "Usage and limits": "Zużycie i limity",
    "Usage graphs": "Wykresy zużycia",
    "Usage:": "Zużycie:",
    "Wallet": "Portfel",
    "When on, your limits rise above the base while you need them, and each hour above it is "
    "charged from your wallet.":
        "Gdy jest włączona, limity rosną ponad bazę, kiedy ich potrzebujesz, a każda godzina "
        "ponad bazą jest opłacana z portfela.",
    "Where from": "Skąd",
    "Your balance does not cover this: top up your wallet first.":
        "Saldo tego nie pokrywa: najpierw doładuj portfel.",
    "account": "konto",
    "account(s) get other base limits": "kont(a) dostaje inne limity bazowe",
    "accounts": "konta",
    "address": "adres",
    "all": "wszystkie",
    "also": "także",
    "amount": "kwota",
    "an hour together, after the change": "za godzinę łącznie, po zmianie",
    "archive": "archiwum",
    "asked": "zlecono",
    "at": "kiedy",
    "at most {amount} a day": "najwyżej {amount} dziennie",
    "balance after": "saldo po",
    "base": "baza",
    "by": "przez",
    "bytes": "bajtów",
    "clear overrides first": "najpierw usuń nadpisania",
    "commit": "commit",
    "committed / capacity": "przydzielone / pojemność",
    "copied": "skopiowano",
    "copying": "kopiowanie",
    "cores × MHz": "rdzenie × MHz",
    "cpu": "procesor",
    "cpu MHz": "procesor MHz",
    "cpu in MHz, memory and disk in MiB; committed: the base of the accounts placed there.":
        "procesor w MHz, pamięć i dysk w MiB; przydzielone: baza kont umieszczonych na "
        "serwerze.",
    "current": "obecne",
    "daily cap": "dzienny limit wydatków",
    "database": "baza danych",
    "databases": "bazy danych",
    "databases, one a line": "bazy danych, jedna w wierszu",
    "days at this rate": "dni przy tym tempie",
    "db": "baza danych",
    "decided by": "zdecydował(a)",
    "disk": "dysk",
    "disk MiB": "dysk MiB",
    "domains": "domeny",
    "done": "zakończona",
    "downtime": "przerwa",
    "e.g.": "np.",
    "elastic": "elastyczność",
    "elastic capacity now costs {amount} an hour":
        "elastyczna moc kosztuje teraz {amount} za godzinę",
    "elastic off": "elastyczność wyłączona",
    "elastic on": "elastyczność włączona",
    "elastic: step, ceiling, an hour": "elastyczność: krok, pułap, za godzinę",
    "failed": "nieudana",
    "file or folder, relative to your home": "plik lub katalog, względem katalogu domowego",
    "files": "pliki",
    "finished": "zakończone",
    "following its base.": "ma jego bazę.",
    "following its base;": "ma jego bazę;",
    "in force": "obowiązuje",
    "in use": "w użyciu",
    "inhibited": "wstrzymany",
    "into": "dokąd",
    "items": "elementy",
    "its state": "jej stan",
    "key": "klucz",
    "kind": "rodzaj",
    "mail": "poczta",
    "mail, one a line": "poczta, jedna skrzynka w wierszu",
    "mailbox": "skrzynka",
    "mailboxes": "skrzynki",
    "memory": "pamięć",
    "memory MiB": "pamięć MiB",
    "name": "nazwa",
    "name or domain": "nazwa lub domena",
    "new": "nowe",
    "new password": "nowe hasło",
    "next": "następna",
    "no backup yet": "jeszcze brak kopii",
    "no commits of catalog/ yet (panel changes are committed when the operator root is a git "
    "repository)":
        "jeszcze brak commitów katalogu catalog/ (zmiany z panelu są commitowane, gdy katalog "
        "operatora jest repozytorium git)",
    "no entries": "brak wpisów",
    "no samples in the last 10 minutes": "brak pomiarów z ostatnich 10 minut",
    "none": "brak",
    "not available right now": "chwilowo niedostępne",
    "note": "uwaga",
    "nothing burns the balance now": "nic teraz nie zużywa salda",
    "nothing yet": "jeszcze nic",
    "of": "z",
    "of a {mib} MiB disk limit": "z limitu dysku {mib} MiB",
    "off": "wyłączona",
    "old password": "stare hasło",
    "on": "włączona",
    "paid now from your wallet (balance {balance}).":
        "płatne teraz z portfela (saldo {balance}).",
    "part": "część",
    "password": "hasło",
    "plan": "plan",
    "previous": "poprzednia",
    "processes": "procesy",
    "provider": "dostawca",
    "reference": "tytuł przelewu",
    "rule": "reguła",
    "running": "trwa",
    "server": "serwer",
    "severity": "waga",
    "silenced": "wyciszony",
    "since": "od",
    "size": "rozmiar",
    "source": "źródło",
    "state": "stan",
    "summary": "opis",
    "switched": "przełączone",
    "the balance lasts": "saldo wystarczy na",
    "the elastic capacity they have in force now costs them":
        "obowiązująca teraz elastyczna moc kosztuje je",
    "the newest": "najnowsze",
    "this page follows it": "ta strona śledzi jej postęp",
    "time": "czas",
    "to": "na",
    "upgrade: step, a year": "rozszerzenie: krok, za rok",
    "verified": "sprawdzona",
    "verified with warnings": "sprawdzona, z ostrzeżeniami",
    "warning:": "ostrzeżenie:",
    "what": "co",
    "who": "kto",
    "who / note": "kto / uwaga",
    "with the reference shown: your wallet is credited when the transfer arrives.":
        "z podanym tytułem: portfel zostanie zasilony, gdy przelew dotrze.",
    "your mailbox's password": "hasło Twojej skrzynki",
    "{resource} use against base and limit in force, {unit}":
        "{resource}: użycie wobec bazy i limitu w mocy, {unit}",
    "{count} account(s) on it,": "kont na nim: {count},",
    "{count} account(s) on the plan,": "kont na planie: {count},",
    "{upgrade} until {expires}:": "{upgrade} do {expires}:",
}  # fmt: skip
CATALOGS: dict[str, dict[str, str]] = {"en": {}, "pl": POLISH}

# The machine values the pages show (states, kinds of entries), by what they describe: in
# Polish a state agrees with its noun (an account is "aktywne", a server "aktywny"), so one
# English word may need two. The API's JSON keeps the values themselves.
POLISH_TERMS: dict[str, dict[str, str]] = {
    "account state": {"active": "aktywne", "suspended": "zawieszone", "removing": "usuwane",
                      "purging": "usuwane bez kopii"},
    "server state": {"active": "aktywny", "draining": "wygaszany", "down": "niedostępny"},
    "history": {"raise": "podniesienie", "lower": "obniżenie", "deferred": "odroczenie",
                "charge": "opłata"},
    "ledger": {"credit": "zasilenie", "charge": "opłata", "upgrade": "rozszerzenie",
               "refund": "zwrot"},
    "top-up state": {"requested": "zlecone", "confirmed": "potwierdzone",
                     "rejected": "odrzucone"},
    "severity": {"warning": "ostrzegawczy", "critical": "krytyczny"},
}  # fmt: skip
TERMS: dict[str, dict[str, dict[str, str]]] = {
    "en": {kind: {} for kind in POLISH_TERMS},
    "pl": POLISH_TERMS,
}


def chosen(cookie: str | None, accept_language: str) -> str:
    """The cookie's language if it names one, else the browser's first supported one by its
    q weights (`pl-PL,pl;q=0.9,en;q=0.8`), else English."""
    if cookie in LANGUAGES:
        return cookie
    ranked: list[tuple[float, int, str]] = []
    for n, part in enumerate(accept_language.split(",")):
        tag, _, params = part.strip().partition(";")
        weight = 1.0
        if params.strip().startswith("q="):
            try:
                weight = float(params.strip()[2:])
            except ValueError:
                continue
        code = tag.strip().lower().split("-")[0]
        if code in LANGUAGES and weight > 0:
            ranked.append((-weight, n, code))
    return min(ranked)[2] if ranked else DEFAULT


def translator(language: str) -> Callable[..., str]:
    """`_` for the templates: the text in `language` (English where the catalog has none),
    its `{fields}` filled (the values are escaped by the template, as any)."""
    catalog = CATALOGS[language]

    def translate(text: str, **fields: Any) -> str:
        said = catalog.get(text, text)
        return said.format(**fields) if fields else said

    return translate


def term(language: str, kind: str, value: str) -> str:
    """A machine value of `kind` (a key of POLISH_TERMS) in `language`; one without a
    translation as it is."""
    return TERMS[language][kind].get(value, value)
