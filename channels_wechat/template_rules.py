"""WeChat's limits on template and subscription message values (pure; no Django models).

A template variable is named `<type><n>` (thing1, amount2, character_string3...); its type
decides what WeChat accepts (the 2023 template-message rules, the same table as subscription
messages): thing ≤ 20 characters; number ≤ 32 digits (a decimal allowed); letter ≤ 32 letters;
symbol ≤ 5 symbols; character_string ≤ 32 digits, letters or symbols; amount one currency sign +
≤ 10 digits (decimals allowed, may end with 元); phone_number ≤ 17 digits or symbols; car_number
≤ 8; name ≤ 10 Chinese characters or ≤ 20 letters; phrase ≤ 5 Chinese characters; time and date
need a date or time with digits. No value may be empty or contain a line break or control
character. WeChat refuses a value breaking these with errcode 47003 (argument invalid). Legacy
names (first, keyword1, remark) have no type: up to 200 characters.

The reasons are English msgids, marked by N_ (this module needs no settings: the WeChat
sandbox uses it too, unconfigured); the admin, the API and journeys show them through gettext.
"""

import re


def N_(message: str) -> str:  # noqa: N802
    """Marks a msgid (as gettext_noop does, whose Django version reads the settings)."""
    return message


LEGACY_MAX = 200
CJK = re.compile(r"^[\u4e00-\u9fff]+$")
LETTERS = re.compile(r"^[A-Za-z]+$")
DIGITS_DECIMAL = re.compile(r"^-?\d+(\.\d+)?$")
SYMBOLS = re.compile(r"^[^\w\s\u4e00-\u9fff]+$")
CHARACTER_STRING = re.compile(r"^[\x21-\x7e]+$")  # printable ASCII, no spaces
AMOUNT = re.compile(r"^[¥￥$€£]?(\d{1,10})(\.\d{1,2})?元?$")
PHONE = re.compile(r"^[\d+\-() ]{1,17}$")
HAS_DIGIT = re.compile(r"\d")
CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def variable_type(name: str) -> str:
    """thing1 -> thing, character_string12 -> character_string, keyword1 -> keyword."""
    return name.rstrip("0123456789")


def check_value(name: str, value: str) -> str | None:
    """Why WeChat would refuse `value` for the variable `name`, or None if it is acceptable."""
    if value is None or str(value).strip() == "":
        return N_("missing")
    value = str(value)
    if CONTROL.search(value):
        return N_("contains a line break or control character")
    kind = variable_type(name)
    n = len(value)
    checks: dict[str, tuple[bool, str]] = {
        "thing": (n <= 20, N_("at most 20 characters")),
        "number": (n <= 32 and bool(DIGITS_DECIMAL.match(value)), N_("at most 32 digits")),
        "letter": (n <= 32 and bool(LETTERS.match(value)), N_("at most 32 letters")),
        "symbol": (n <= 5 and bool(SYMBOLS.match(value)), N_("at most 5 symbols")),
        "character_string": (
            n <= 32 and bool(CHARACTER_STRING.match(value)),
            N_("at most 32 digits, letters or symbols"),
        ),
        "amount": (bool(AMOUNT.match(value)), N_("a currency sign and at most 10 digits")),
        "phone_number": (bool(PHONE.match(value)), N_("at most 17 digits or symbols")),
        "car_number": (n <= 8, N_("at most 8 characters")),
        "name": (
            (n <= 10 and bool(CJK.match(value))) or (n <= 20 and bool(LETTERS.match(value))),
            N_("at most 10 Chinese characters or 20 letters"),
        ),
        "phrase": (n <= 5 and bool(CJK.match(value)), N_("at most 5 Chinese characters")),
        "time": (n <= 64 and bool(HAS_DIGIT.search(value)), N_("a time")),
        "date": (n <= 64 and bool(HAS_DIGIT.search(value)), N_("a date")),
    }
    ok, rule = checks.get(kind, (n <= LEGACY_MAX, N_("at most 200 characters")))  # LEGACY_MAX
    return None if ok else rule


def check_data(variables: list[str], data: dict[str, str]) -> dict[str, str]:
    """{variable: reason} for every variable of the template that `data` misses or breaks."""
    problems: dict[str, str] = {}
    for name in variables:
        reason = check_value(name, data.get(name, ""))
        if reason:
            problems[name] = reason
    return problems


VARIABLE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\.DATA\s*\}\}")


def template_variables(content: str) -> list[str]:
    """The `{{name.DATA}}` keys of a template's content, in order, each once (pure: the WeChat
    sandbox, which runs without Django, uses it too)."""
    seen: list[str] = []
    for name in VARIABLE.findall(content or ""):
        if name not in seen:
            seen.append(name)
    return seen
