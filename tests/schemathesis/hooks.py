"""Value generators for what hookwheel's OpenAPI document states beyond JSON Schema's
vocabulary (loaded by tests/it/schemathesis.rs through SCHEMATHESIS_HOOKS).

Formats:
- `date-time`: request instants lie between 1970-01-01 and 9999-12-30 (docs/api.md, "Limits"),
  and a schedule's run instant may not lie in the past (beyond its misfire grace): the generator
  draws instants from a day ahead to 2199, so that an instant plus a period stays in range too.
- `cron`: a 5-field cron expression (minute hour day-of-month month day-of-week).
- `host-port`: a host name or IPv4 address with an optional port.
- `http-url`: `http(s)://` + a `host-port` + an optional path and query.
- `email-list`: 1-5 comma-separated addresses `<label>@<host>`.

Keywords:
- `x-minimum-field: <other>` on a property: its value is at least the value of the sibling
  property `<other>` when both are given (a relation between two values, which JSON Schema
  cannot state). Schema-valid cases that break it are not drawn as positive data.
- `x-not-before-field: <other>`: an instant not before the sibling instant `<other>` when both
  are given.
- `x-differs-from: <other>`: its value differs from the sibling `<other>` when both are given.
- `x-keys-unique-ignoring-case: true` on an object: no two keys differ only in case.
- `x-unique-by: <key>` on an array of objects: no two items have the same `<key>`.
- `x-stages-ordered: true` on a pipeline's `stages`: stage names are unique, stage paths
  (given, or the item's 1-based position) increase numerically, segment by segment, and a
  name made only of digits, dots and signs is its own stage's path.
- `x-concurrent-without-step-variables: true` on a workflow: with `runtype: concurrently` (the
  default when `steps` are given), no step refers to `{{ step… }}` in its path, headers, query,
  body or condition field.

Named functions only (no lambdas): Hypothesis describes a lambda by parsing its source, and
that parse is where some Python 3.11 builds fail ("AST constructor recursion depth mismatch").
"""

import re
from datetime import datetime, timedelta, timezone

import schemathesis
from hypothesis import strategies as st
from schemathesis.generation import GenerationMode


def _zone(minutes):
    return timezone(timedelta(minutes=minutes))


def _iso_millis(d):
    return d.replace(microsecond=(d.microsecond // 1000) * 1000).isoformat()


_offset = st.integers(min_value=-23 * 60 - 59, max_value=23 * 60 + 59).map(_zone)

_instant = st.datetimes(
    min_value=datetime.now() + timedelta(days=1),
    max_value=datetime(2199, 12, 31),
    timezones=st.just(timezone.utc) | _offset,
).map(_iso_millis)


def _range_text(pair):
    return f"{min(pair)}-{max(pair)}"


def _step_text(n):
    return f"*/{n}"


def _list_text(xs):
    return ",".join(map(str, sorted(xs)))


def _field(lo, hi):
    n = st.integers(min_value=lo, max_value=hi)
    single = n.map(str)
    rng = st.tuples(n, n).map(_range_text)
    step = st.integers(min_value=1, max_value=hi - lo + 1).map(_step_text)
    lst = st.lists(n, min_size=1, max_size=4, unique=True).map(_list_text)
    return st.just("*") | single | rng | step | lst


def _join_space(parts):
    return " ".join(parts)


def _join_dot(parts):
    return ".".join(map(str, parts))


def _join_path(parts):
    return "".join("/" + p for p in parts)


def _query_text(pair):
    return f"?{pair[0]}={pair[1]}"


def _with_port(pair):
    host, port = pair
    return host if port is None else f"{host}:{port}"


_cron = st.tuples(_field(0, 59), _field(0, 23), _field(1, 28), _field(1, 12), _field(0, 6)).map(_join_space)

_label = st.from_regex(r"\A[a-z][a-z0-9]{0,15}\Z")
_octet = st.integers(min_value=1, max_value=254)
_host = st.lists(_label, min_size=1, max_size=4).map(_join_dot) | st.tuples(_octet, _octet, _octet, _octet).map(
    _join_dot
)
_host_port = st.tuples(_host, st.none() | st.integers(min_value=1, max_value=65535)).map(_with_port)

def _url_text(parts):
    scheme, host, path, query = parts
    return f"{scheme}://{host}{path}{query}"


_path = st.lists(_label, max_size=3).map(_join_path)
_query = st.just("") | st.tuples(_label, _label).map(_query_text)
_http_url = st.tuples(st.sampled_from(["http", "https"]), _host_port, _path, _query).map(_url_text)

schemathesis.openapi.format("date-time", _instant)
schemathesis.openapi.format("cron", _cron)
schemathesis.openapi.format("host-port", _host_port)
schemathesis.openapi.format("http-url", _http_url)


def _address(parts):
    return f"{parts[0]}@{parts[1]}.example"


def _join_comma(parts):
    return ", ".join(parts)


_email_list = st.lists(st.tuples(_label, _label).map(_address), min_size=1, max_size=5).map(_join_comma)
schemathesis.openapi.format("email-list", _email_list)


def _body_schema(operation):
    body = operation.definition.raw.get("requestBody") or {}
    return body.get("content", {}).get("application/json", {}).get("schema", {})


def _query_schema(operation):
    """The query parameters of `operation` as one object schema (their relations are the body's)."""
    params = operation.definition.raw.get("parameters") or []
    props = {p["name"]: p.get("schema", {}) for p in params if isinstance(p, dict) and p.get("in") == "query"}
    return {"properties": props}


def _is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


@schemathesis.hook
def filter_case(context, case):
    """Keeps a positive case only if every relation of its query and body holds."""
    if case.meta is None or case.meta.generation.mode != GenerationMode.POSITIVE:
        return True
    if isinstance(case.query, dict) and not _relations_hold(_query_schema(case.operation), case.query):
        return False
    if not isinstance(case.body, dict):
        return True
    schema = _body_schema(case.operation)
    if schema.get("x-concurrent-without-step-variables") and _concurrent_with_step_variables(case.body):
        return False
    return _relations_hold(schema, case.body)


_STEP_VARIABLE = re.compile(r"\{\{\s*step\b")


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def _concurrent_with_step_variables(body):
    runtype, steps = body.get("runtype"), body.get("steps")
    if not isinstance(steps, list) or runtype not in ("concurrently", None):
        return False
    for step in steps:
        if not isinstance(step, dict):
            continue
        condition = step.get("execution_condition")
        field = condition.get("field") if isinstance(condition, dict) else None
        parts = [step.get(k) for k in ("path", "headers_json", "query_params_json", "request_body_json")]
        if any(_STEP_VARIABLE.search(s) for s in _strings(parts)):
            return True
        if isinstance(field, str) and re.match(r"\s*(\{\{\s*)?step\b", field):
            return True
    return False


def _same(a, b):
    """Equal values; `HH:MM` is the same time of day as `HH:MM:00`."""
    if isinstance(a, str) and isinstance(b, str):
        return (a + ":00" if len(a) == 5 else a) == (b + ":00" if len(b) == 5 else b)
    return a == b


def _instant(text):
    """An RFC 3339 instant as a UTC datetime, or None when it does not parse."""
    import datetime

    try:
        t = datetime.datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    if t.tzinfo is None:
        t = t.replace(tzinfo=datetime.timezone.utc)
    return t


def _stage_path(item, position):
    """A stage's path as a tuple of numbers: its `path`, else its 1-based position."""
    path = item.get("path") if isinstance(item, dict) else None
    if not isinstance(path, str):
        return (position,)
    try:
        return tuple(int(p) for p in path.split("."))
    except ValueError:
        return None


def _stages_ordered(stages):
    names = []
    last = None
    for n, item in enumerate(stages, start=1):
        name = item if isinstance(item, str) else item.get("name") if isinstance(item, dict) else None
        path = _stage_path(item, n)
        if path is None or (last is not None and path <= last):
            return False
        if isinstance(name, str) and name.strip():
            names.append(name.strip())
            if re.fullmatch(r"[0-9.+-]+", name) and _stage_path({"path": name}, n) != path:
                return False
        last = path
    return len(names) == len(set(names))


def _relations_hold(schema, value):
    """Whether the `x-minimum-field` and `x-differs-from` relations of `schema` hold in `value`
    and in the objects nested in it (properties and array items)."""
    if not isinstance(schema, dict):
        return True
    if isinstance(value, list):
        if schema.get("x-stages-ordered") and not _stages_ordered(value):
            return False
        key = schema.get("x-unique-by")
        if key is not None:
            seen = [v.get(key) for v in value if isinstance(v, dict) and v.get(key) is not None]
            if len(seen) != len(set(map(str, seen))):
                return False
        return all(_relations_hold(schema.get("items"), v) for v in value)
    if not isinstance(value, dict):
        return True
    if schema.get("x-keys-unique-ignoring-case") and len({k.lower() for k in value}) != len(value):
        return False
    for name, prop in schema.get("properties", {}).items():
        if not isinstance(prop, dict) or name not in value:
            continue
        mine = value[name]
        other = prop.get("x-minimum-field")
        if other is not None and _is_number(mine) and _is_number(value.get(other)) and mine < value[other]:
            return False
        other = prop.get("x-not-before-field")
        if other is not None and isinstance(mine, str) and isinstance(value.get(other), str):
            a, b = _instant(mine), _instant(value[other])
            if a is not None and b is not None and a < b:
                return False
        other = prop.get("x-differs-from")
        if other is not None and mine is not None and _same(mine, value.get(other)):
            return False
        if not _relations_hold(prop, mine):
            return False
    return True
