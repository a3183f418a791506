"""Value generators for the string formats of hookwheel's OpenAPI document that JSON Schema
cannot spell out (loaded by tests/it/schemathesis.rs through SCHEMATHESIS_HOOKS).

- `date-time`: request instants lie between 1970-01-01 and 9999-12-30 (docs/api.md, "Limits"),
  and a schedule's run instant may not lie in the past (beyond its misfire grace): the generator
  draws instants from a day ahead to 2199, so that an instant plus a period stays in range too.
- `cron`: a 5-field cron expression (minute hour day-of-month month day-of-week).
- `host-port`: a host name or IPv4 address with an optional port.
"""

from datetime import datetime, timedelta, timezone

import schemathesis
from hypothesis import strategies as st


def _offset():
    return st.integers(min_value=-23 * 60 - 59, max_value=23 * 60 + 59).map(
        lambda m: timezone(timedelta(minutes=m))
    )


_instant = st.datetimes(
    min_value=datetime.now() + timedelta(days=1),
    max_value=datetime(2199, 12, 31),
    timezones=st.just(timezone.utc) | _offset(),
).map(lambda d: d.replace(microsecond=(d.microsecond // 1000) * 1000).isoformat())


def _field(lo, hi):
    n = st.integers(min_value=lo, max_value=hi)
    single = n.map(str)
    rng = st.tuples(n, n).map(lambda t: f"{min(t)}-{max(t)}")
    step = st.tuples(st.sampled_from(["*"]), st.integers(min_value=1, max_value=hi - lo + 1 if hi > lo else 1)).map(
        lambda t: f"{t[0]}/{t[1]}"
    )
    lst = st.lists(n, min_size=1, max_size=4, unique=True).map(lambda xs: ",".join(map(str, sorted(xs))))
    return st.just("*") | single | rng | step | lst


_cron = st.tuples(_field(0, 59), _field(0, 23), _field(1, 28), _field(1, 12), _field(0, 6)).map(" ".join)

_label = st.from_regex(r"\A[a-z][a-z0-9]{0,15}\Z")
_host = st.lists(_label, min_size=1, max_size=4).map(".".join) | st.tuples(
    *[st.integers(min_value=1, max_value=254)] * 4
).map(lambda t: ".".join(map(str, t)))
_host_port = st.tuples(_host, st.none() | st.integers(min_value=1, max_value=65535)).map(
    lambda t: t[0] if t[1] is None else f"{t[0]}:{t[1]}"
)

schemathesis.openapi.format("date-time", _instant)
schemathesis.openapi.format("cron", _cron)
schemathesis.openapi.format("host-port", _host_port)
