//! A subscription's `transform` (product.md §10): a jq expression, evaluated by the `jaq`
//! crates, that maps an event (`{"event": {...}}`) to the target's initial context. The choice
//! of jq over JSONata, with measurements, is in docs/dependencies.md; the language as users see
//! it is in docs/api.md ("Subscription transforms").
//!
//! Pure: no clock, no I/O. [`compile`] parses once (the caller caches the [`Transform`]);
//! [`Transform::apply`] takes a `budget` callback that the caller backs with a stopwatch.
//!
//! jaq evaluates lazily through nested iterators and has no hook of its own for a time limit,
//! so the work is bounded by rewriting the syntax tree before jaq compiles it:
//! - a *step* starts every definition's body (the library's too: `repeat`, `while`,
//!   `recurse`, ...), the right side of every `,`, every value that `.[]`, `..` and `range`
//!   yield, and every output. A step counts, asks `budget`, and measures how far the stack
//!   has grown. A spent budget, [`STEPS_MAX`] steps or [`STACK_BYTES_MAX`] of stack stop the
//!   run for good: every later step fails too, so a `try` cannot resume it. Every way a jq
//!   program repeats work (recursion, generators and their products) passes through steps;
//! - a definition that calls itself with a filter argument (`def f(g): f(g | .)`) is refused:
//!   jaq keeps each level's closure until the run ends and frees the chain recursively;
//! - `+`, `-` and `*` (and `+=`, `-=`, `*=`) refuse results larger than [`STRING_BYTES_MAX`],
//!   [`ARRAY_ITEMS_MAX`] or [`NUMBER_BITS_MAX`], and array differences of more than
//!   [`SUB_PAIRS_MAX`] comparisons, before computing them;
//! - turning a value into text (`tostring`, `tojson`, `"\(...)"`, `@format`) and `..` first
//!   measure the value, refusing more than [`VALUE_UNITS_MAX`] nodes and string bytes or
//!   [`VALUE_DEPTH_MAX`] levels, so a value that shares one part many times (`[., .]`
//!   repeated) is never expanded; the result is measured the same way as it is converted;
//! - the syntax tree may nest [`SYNTAX_DEPTH_MAX`] levels, which bounds the evaluator's own
//!   recursion; parsing runs on a thread of its own with a large stack, since jaq's parser
//!   recurses once per level before the depth can be checked;
//! - the natives that reach outside the event are not there: `env`/`$ENV`, `input(s)`, `now`,
//!   `localtime`, `strflocaltime`, `debug`, `stderr`, `halt` (which exits the process in jaq).
//!
//! - a step also checks the depth of the value passing it (a definition's input and `$`
//!   parameters, the state of `reduce`/`foreach` after each update): a loop that wraps a value
//!   in itself (`reduce range(100000) as $i (0; [.])`) stops at [`VALUE_DEPTH_MAX`] levels, far
//!   before jaq's recursive freeing of such a value could exhaust the stack. Depths are cached
//!   by address, so a step costs a hash look-up, not a walk of the value.
//!
//! Not metered: the work of one native call or one comparison on values within those limits
//! (a sort of a large array, an equality of two large values). Transforms are configuration
//! written by holders of a brand's API key; these bounds stop runaway mistakes and make the
//! daemon safe from them, but jq is not a sandbox for hostile code.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::rc::Rc;
use std::sync::Arc;

use jaq_core::box_iter::box_once;
use jaq_core::load::lex::StrPart;
use jaq_core::load::parse::{BinaryOp, Def, Pattern, Term};
use jaq_core::load::{self, Arena, File, Lexer, Loader, Parser};
use jaq_core::native::{Fun, v};
use jaq_core::ops::Math;
use jaq_core::path::{Part, Path};
use jaq_core::{Ctx, DataT, Error, Exn, Native, ValR, Vars, data::HasLut};
use jaq_json::{Num, Val};
use serde_json::Value;

/// Longest accepted transform source, in characters.
pub const TRANSFORM_CHARS_MAX: usize = 4096;
/// Largest accepted result, in bytes of compact JSON.
pub const RESULT_BYTES_MAX: usize = 256 * 1024;
/// Most steps (calls of a self-calling definition, values of `range`, outputs) in one run.
pub const STEPS_MAX: u64 = 1_000_000;
/// Most stack one run may grow by, measured at each step. A caller's thread needs this much
/// free stack plus the depth of its own frames (tokio's and std's threads have 2 MiB).
pub const STACK_BYTES_MAX: usize = 512 * 1024;
/// Longest string that `+` or `*` may produce, in bytes.
pub const STRING_BYTES_MAX: usize = 1024 * 1024;
/// Most elements (or object entries) that `+` may produce.
pub const ARRAY_ITEMS_MAX: usize = 1024 * 1024;
/// Longest string a regular expression (`test`, `match`, `capture`, `scan`, `split/2`, `sub`,
/// `gsub`, ...) may search, in bytes. jaq builds all matches of one call at once, out of reach
/// of the step meter and the time budget: a bound on the input bounds the matches (and a
/// 64 KiB input makes at most a few MiB of match objects).
pub const REGEX_INPUT_BYTES_MAX: usize = 64 * 1024;
/// Largest integer that `+` or `*` may produce, in bits.
pub const NUMBER_BITS_MAX: u64 = 4096;
/// Most element comparisons of an array difference (`[...] - [...]`).
pub const SUB_PAIRS_MAX: usize = 10_000_000;
/// Largest value (nodes plus string bytes) that may be turned into text or walked by `..`.
pub const VALUE_UNITS_MAX: usize = 4 * 1024 * 1024;
/// Deepest value that is measured or returned: above the 130 levels an event can have (the
/// envelope's two and the body's 128, serde_json's parsing limit), far below the stack.
pub const VALUE_DEPTH_MAX: usize = 160;
/// Deepest nesting of the source's syntax tree (each part of a path such as `.a.b` counts).
pub const SYNTAX_DEPTH_MAX: usize = 128;
/// Stack of the thread that parses and compiles (see [`compile`]).
const COMPILE_STACK_BYTES: usize = 256 * 1024 * 1024;
/// Longest evaluation error message kept, in characters.
const MESSAGE_CHARS_MAX: usize = 300;

/// Why a transform was refused at compile time or failed on an event. `Display` is one line
/// meant to follow `transform: ` in a 400 answer or a route's record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransformError {
    #[error("is empty")]
    Empty,
    #[error("is {chars} characters long; at most {TRANSFORM_CHARS_MAX} are accepted")]
    TooLong { chars: usize },
    #[error("is nested more than {SYNTAX_DEPTH_MAX} levels deep")]
    TooDeep,
    /// A lexing, parsing or name-resolution error; `line` and `column` count from 1
    /// (columns in characters).
    #[error("{message} at line {line}, column {column}")]
    Syntax { line: usize, column: usize, message: String },
    /// The program raised an error (`error(...)`, a type error, a value limit).
    #[error("evaluation failed: {0}")]
    Eval(String),
    #[error("produced no output; it must produce exactly one object")]
    NoOutput,
    #[error("produced more than one output; it must produce exactly one object")]
    ManyOutputs,
    #[error("must produce an object, got {0}")]
    NotObject(&'static str),
    #[error("result is larger than {RESULT_BYTES_MAX} bytes")]
    ResultTooLarge,
    #[error("result is nested more than {VALUE_DEPTH_MAX} levels deep")]
    ResultTooDeep,
    #[error("built a value nested more than {VALUE_DEPTH_MAX} levels deep")]
    ValueTooDeep,
    /// A definition calls itself with a filter argument: jaq keeps every level's closure
    /// until the run ends, so such a loop cannot be bounded by steps alone.
    #[error("definition `{0}` calls itself with a filter argument; use `$name` parameters for recursion")]
    RecursiveFilterArgument(String),
    #[error("result has an object key that is not a string ({0})")]
    KeyNotString(&'static str),
    #[error("ran out of its time budget")]
    BudgetSpent,
    #[error("took more than {STEPS_MAX} steps")]
    TooManySteps,
    #[error("recursed deeper than its stack limit of {STACK_BYTES_MAX} bytes")]
    TooDeepRecursion,
    /// The compiler could not run (no thread could be started); the source may be fine.
    #[error("could not be compiled now: {0}")]
    Unavailable(String),
}

/// A compiled transform: cheap to clone (the program is shared), `Send + Sync`.
#[derive(Clone)]
pub struct Transform {
    inner: Arc<Compiled>,
}

struct Compiled {
    source: String,
    filter: jaq_core::Filter<Jq>,
}

impl fmt::Debug for Transform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transform").field("source", &self.inner.source).finish()
    }
}

impl Transform {
    /// The source text it was compiled from.
    pub fn source(&self) -> &str {
        &self.inner.source
    }

    /// Runs the transform on `input` (the event as `{"event": {...}}`). The program must
    /// produce exactly one output, an object, of at most [`RESULT_BYTES_MAX`] bytes. `budget`
    /// is asked at every step and output; once it answers `true` the run stops with
    /// [`TransformError::BudgetSpent`]. Paths that do not exist give `null` (jq's rules).
    pub fn apply(&self, input: &Value, budget: &mut dyn FnMut() -> bool) -> Result<Value, TransformError> {
        let filter = &self.inner.filter;
        let meter = Meter::new(budget);
        // A panic inside the interpreter (it has a few `panic!`s for states a compiled
        // program should not reach) is an error of this run, not of the daemon.
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let run = Run { lut: &filter.lut, meter: &meter };
            let ctx = Ctx::<Jq>::new(run, Vars::new([]));
            let mut outputs = filter.id.run((ctx, from_json(input)));
            let mut first = None;
            loop {
                meter.step(None)?;
                match outputs.next() {
                    None => break,
                    Some(Ok(value)) if first.is_none() => first = Some(value),
                    Some(Ok(_)) => return Err(TransformError::ManyOutputs),
                    Some(Err(exn)) => return Err(meter.stopped().unwrap_or_else(|| exception(exn))),
                }
            }
            first.ok_or(TransformError::NoOutput)
        }));
        let value = match outcome {
            Ok(result) => meter.stopped().map_or(result, Err)?,
            Err(_) => return Err(TransformError::Eval("the evaluator failed on this input".into())),
        };
        if let Val::Obj(_) = value {
            let mut size = 0;
            to_json(&value, &mut size, 0)
        } else {
            Err(TransformError::NotObject(type_name(&value)))
        }
    }
}

/// Compiles `src` (jq syntax, at most [`TRANSFORM_CHARS_MAX`] characters). Module directives
/// (`import`, `include`) are not accepted: a transform is one expression, which may define
/// its own functions (`def f: ...;`).
pub fn compile(src: &str) -> Result<Transform, TransformError> {
    let chars = src.chars().count();
    if chars > TRANSFORM_CHARS_MAX {
        return Err(TransformError::TooLong { chars });
    }
    if src.trim().is_empty() {
        return Err(TransformError::Empty);
    }
    // jaq's lexer and parser recurse once per nesting level of the source, and a source at
    // the length limit can nest some 2,000 levels: parse on a thread whose stack holds that
    // (reserved, not committed, until used). The syntax tree's depth is then checked, which
    // bounds the evaluation's recursion on the caller's thread.
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("transform-compile".into())
            .stack_size(COMPILE_STACK_BYTES)
            .spawn_scoped(scope, || compile_on_this_thread(src))
            .map_err(|e| TransformError::Unavailable(e.to_string()))?
            .join()
            .unwrap_or_else(|_| Err(TransformError::Unavailable("the compiler failed".into())))
    })
}

fn compile_on_this_thread(src: &str) -> Result<Transform, TransformError> {
    let tokens = Lexer::new(src).lex().map_err(|errors| {
        let (expect, at) = &errors[0];
        let what = match expect {
            load::lex::Expect::Delim(open) => match *open {
                "(" => "closing parenthesis",
                "[" => "closing bracket",
                "{" => "closing brace",
                _ => "closing quote",
            },
            other => other.as_str(),
        };
        syntax(src, at, format!("expected {what}"))
    })?;
    let term = Parser::new(&tokens).parse(|p| p.term()).map_err(|errors| {
        let (expect, found) = &errors[0];
        match found {
            Some(token) => syntax(src, token.0, format!("expected {}, found `{}`", expect.as_str(), clip(token.0))),
            None => syntax(src, &src[src.len()..], format!("expected {}, found the end", expect.as_str())),
        }
    })?;
    let main = rewrite(term, 0)?;

    let prelude = load::parse(PRELUDE, |p| p.defs()).unwrap_or_default();
    let library = jaq_core::defs()
        .chain(jaq_std::defs())
        .chain(jaq_json::defs())
        .filter(|def| !DEFS_LEFT_OUT.contains(&def.name))
        .map(|def| rewrite_def(def, 0))
        .collect::<Result<Vec<_>, _>>()?;
    let defs = prelude.into_iter().chain(library).chain([Def { name: MAIN, args: Vec::new(), body: main }]);
    let arena = Arena::default();
    let modules = Loader::new(defs)
        .load(&arena, File { code: MAIN, path: () })
        .map_err(|_| TransformError::Eval("internal: the prelude failed to load".into()))?;
    let filter = jaq_core::Compiler::default().with_funs(natives()).compile(modules).map_err(|errors| {
        let undefined = errors.into_iter().flat_map(|(_, errs)| errs).next();
        match undefined {
            Some((name, kind)) => syntax(src, name, format!("undefined {} `{}`", kind.as_str(), clip(name))),
            None => TransformError::Eval("internal: compilation failed".into()),
        }
    })?;
    Ok(Transform { inner: Arc::new(Compiled { source: src.to_owned(), filter }) })
}

// ---------------------------------------------------------------------------------------------
// Library: what jq programs may call.

/// The program's entry point inside the prelude module.
const MAIN: &str = "__hw_main";
const TICK: &str = "__hw_tick";
const MEASURE: &str = "__hw_measure";
const TICK_VAR: &str = "__hw_tick_var";

/// Definitions placed before jaq's own: `range/3` steps once per value (jaq's `range/1` and
/// `range/2` call it), and the renamed natives are wrapped with a size check.
const PRELUDE: &str = r#"
def range($from; $to; $by): __hw_range($from; $to; $by) | __hw_tick;
def tojson: __hw_measure | __hw_tojson;
def matches(re; flags): __hw_regex_input | __hw_matches(re; flags);
def split_matches(re; flags): __hw_regex_input | __hw_split_matches(re; flags);
def split_(re; flags): __hw_regex_input | __hw_split_(re; flags);
"#;

/// Library definitions not offered: they print, log or exit the process.
const DEFS_LEFT_OUT: &[&str] = &["stderr", "debug", "halt", "halt_error"];
/// Natives not offered: the environment, the clock, the local time zone, logging, exiting.
const NATIVES_LEFT_OUT: &[&str] =
    &["env", "now", "localtime", "strflocaltime", "halt", "debug_empty", "stderr_empty", "input", "inputs"];
/// Natives renamed so that a prelude definition can wrap them.
const NATIVES_RENAMED: &[(&str, &str)] = &[
    ("range", "__hw_range"),
    ("tojson", "__hw_tojson"),
    ("matches", "__hw_matches"),
    ("split_matches", "__hw_split_matches"),
    ("split_", "__hw_split_"),
];

fn natives() -> Vec<Fun<Jq>> {
    let library = jaq_core::funs::<Jq>()
        .chain(jaq_std::funs::<Jq>())
        .chain(jaq_json::funs::<Jq>())
        .filter(|(name, _, _)| !NATIVES_LEFT_OUT.contains(name))
        .map(|(name, args, f)| {
            let renamed = NATIVES_RENAMED.iter().find(|(from, _)| *from == name);
            (renamed.map_or(name, |(_, to)| *to), args, f)
        });
    let ours: [Fun<Jq>; 7] = [
        (TICK, v(0), step_native()),
        ("__hw_regex_input", v(0), Native::new(|cv| box_once(regex_input(&cv.1).map(|()| cv.1).map_err(Exn::from)))),
        (TICK_VAR, v(1), step_var_native()),
        (MEASURE, v(0), measure_native()),
        ("__hw_add", v(2), Native::new(|cv| checked(cv, Math::Add))),
        ("__hw_sub", v(2), Native::new(|cv| checked(cv, Math::Sub))),
        ("__hw_mul", v(2), Native::new(|cv| checked(cv, Math::Mul))),
    ];
    library.chain(ours).collect()
}

/// The step native: the identity on values, paths and updates, after a step of the meter.
fn step_native() -> Native<Jq> {
    fn fail<'a, T: 'a>(e: TransformError) -> jaq_core::ValXs<'a, T, Val> {
        box_once(Err(Exn::from(Error::str(e))))
    }
    Native::<Jq>::new(|cv| match cv.0.data().meter.step(Some(&cv.1)) {
        Ok(()) => box_once(Ok(cv.1)),
        Err(e) => fail(e),
    })
    .with_paths(|cv| match cv.0.data().meter.step(Some(&cv.1.0)) {
        Ok(()) => box_once(Ok(cv.1)),
        Err(e) => fail(e),
    })
    .with_update(|cv, f| match cv.0.data().meter.step(Some(&cv.1)) {
        Ok(()) => f(cv.1),
        Err(e) => fail(e),
    })
}

/// The step native for a `$` parameter: the identity on its input, after a step that checks
/// the parameter's value.
fn step_var_native() -> Native<Jq> {
    fn fail<'a, T: 'a>(e: TransformError) -> jaq_core::ValXs<'a, T, Val> {
        box_once(Err(Exn::from(Error::str(e))))
    }
    Native::<Jq>::new(|mut cv| {
        let x = cv.0.pop_var();
        match cv.0.data().meter.step(Some(&x)) {
            Ok(()) => box_once(Ok(cv.1)),
            Err(e) => fail(e),
        }
    })
    .with_paths(|mut cv| {
        let x = cv.0.pop_var();
        match cv.0.data().meter.step(Some(&x)) {
            Ok(()) => box_once(Ok(cv.1)),
            Err(e) => fail(e),
        }
    })
    .with_update(|mut cv, f| {
        let x = cv.0.pop_var();
        match cv.0.data().meter.step(Some(&x)) {
            Ok(()) => f(cv.1),
            Err(e) => fail(e),
        }
    })
}

/// The measuring native: the identity on values, paths and updates, after [`measure`].
fn measure_native() -> Native<Jq> {
    Native::<Jq>::new(|cv| match measure(&cv.1) {
        Ok(()) => box_once(Ok(cv.1)),
        Err(e) => box_once(Err(Exn::from(e))),
    })
    .with_paths(|cv| match measure(&cv.1.0) {
        Ok(()) => box_once(Ok(cv.1)),
        Err(e) => box_once(Err(Exn::from(e))),
    })
    .with_update(|cv, f| match measure(&cv.1) {
        Ok(()) => f(cv.1),
        Err(e) => box_once(Err(Exn::from(e))),
    })
}

/// Refuses a value of more than [`VALUE_UNITS_MAX`] nodes and string bytes, counting shared
/// parts each time they occur and stopping at the limit.
fn measure(v: &Val) -> Result<(), Error<Val>> {
    fn walk(v: &Val, units: &mut usize, depth: usize) -> bool {
        *units += 1;
        let ok = match v {
            Val::TStr(s) | Val::BStr(s) => {
                *units += s.len();
                true
            }
            _ if depth >= VALUE_DEPTH_MAX => false,
            Val::Arr(a) => a.iter().all(|x| walk(x, units, depth + 1)),
            Val::Obj(o) => o.iter().all(|(k, x)| walk(k, units, depth + 1) && walk(x, units, depth + 1)),
            _ => true,
        };
        ok && *units <= VALUE_UNITS_MAX
    }
    let mut units = 0;
    if walk(v, &mut units, 0) {
        Ok(())
    } else {
        Err(Error::str(format_args!(
            "value is larger than {VALUE_UNITS_MAX} units (nodes and string bytes) or nested more than {VALUE_DEPTH_MAX} levels"
        )))
    }
}

/// Refuses a string longer than [`REGEX_INPUT_BYTES_MAX`] as a regular expression's input
/// (other values pass: the regex native refuses them itself).
fn regex_input(v: &Val) -> Result<(), Error<Val>> {
    match v {
        Val::TStr(s) | Val::BStr(s) if s.len() > REGEX_INPUT_BYTES_MAX => Err(Error::str(format_args!(
            "a regular expression may search at most {REGEX_INPUT_BYTES_MAX} bytes, this string has {}",
            s.len()
        ))),
        _ => Ok(()),
    }
}

/// `l op r` with its result's size checked before it is computed.
fn checked<'a>(mut cv: jaq_core::Cv<'a, Jq>, op: Math) -> jaq_core::ValXs<'a, Val> {
    let r = cv.0.pop_var();
    let l = cv.0.pop_var();
    box_once(check_math(&l, op, &r).and_then(|()| op.run(l, r)).map_err(Exn::from))
}

fn check_math(l: &Val, op: Math, r: &Val) -> ValR<(), Val> {
    let too_large = |what: String| Err(Error::str(what));
    match (op, l, r) {
        (Math::Add, Val::TStr(a) | Val::BStr(a), Val::TStr(b) | Val::BStr(b))
            if a.len() + b.len() > STRING_BYTES_MAX =>
        {
            too_large(format!("string would be longer than {STRING_BYTES_MAX} bytes"))
        }
        (Math::Add, Val::Arr(a), Val::Arr(b)) if a.len() + b.len() > ARRAY_ITEMS_MAX => {
            too_large(format!("array would have more than {ARRAY_ITEMS_MAX} elements"))
        }
        (Math::Add | Math::Mul, Val::Obj(a), Val::Obj(b)) if a.len() + b.len() > ARRAY_ITEMS_MAX => {
            too_large(format!("object would have more than {ARRAY_ITEMS_MAX} entries"))
        }
        (Math::Sub, Val::Arr(a), Val::Arr(b)) if a.len().saturating_mul(b.len()) > SUB_PAIRS_MAX => {
            too_large(format!("array difference would take more than {SUB_PAIRS_MAX} comparisons"))
        }
        (Math::Mul, Val::TStr(s) | Val::BStr(s), Val::Num(n))
        | (Math::Mul, Val::Num(n), Val::TStr(s) | Val::BStr(s))
            if (s.len() as f64) * num_f64(n) > STRING_BYTES_MAX as f64 =>
        {
            too_large(format!("string would be longer than {STRING_BYTES_MAX} bytes"))
        }
        (Math::Add | Math::Sub | Math::Mul, Val::Num(a), Val::Num(b)) => {
            let bits =
                if matches!(op, Math::Mul) { int_bits(a) + int_bits(b) } else { int_bits(a).max(int_bits(b)) + 1 };
            if bits > NUMBER_BITS_MAX {
                too_large(format!("integer would be larger than {NUMBER_BITS_MAX} bits"))
            } else {
                Ok(())
            }
        }
        _ => Ok(()),
    }
}

fn int_bits(n: &Num) -> u64 {
    match n {
        Num::Int(_) => 64,
        Num::BigInt(b) => b.bits(),
        Num::Float(_) | Num::Dec(_) => 0,
    }
}

fn num_f64(n: &Num) -> f64 {
    match n {
        Num::Int(i) => *i as f64,
        Num::Float(f) => *f,
        Num::BigInt(b) => b.to_string().parse().unwrap_or(f64::INFINITY),
        Num::Dec(d) => d.parse().unwrap_or(0.0),
    }
}

// ---------------------------------------------------------------------------------------------
// The run's data: the meter that bounds it.

/// jaq's data kind for a run: values are `jaq_json::Val`, natives reach the [`Meter`].
struct Jq;

impl DataT for Jq {
    type V<'a> = Val;
    type Data<'a> = Run<'a>;
}

#[derive(Clone)]
struct Run<'a> {
    lut: &'a jaq_core::Lut<Jq>,
    meter: &'a Meter<'a>,
}

impl<'a> HasLut<'a, Jq> for Run<'a> {
    fn lut(&self) -> &'a jaq_core::Lut<Jq> {
        self.lut
    }
}

/// Counts steps, asks the budget, watches the stack and the depth of the values that pass a
/// step; once stopped, stays stopped.
struct Meter<'a> {
    budget: RefCell<&'a mut dyn FnMut() -> bool>,
    steps: Cell<u64>,
    stack_base: usize,
    stopped: Cell<Option<Stop>>,
    /// Depths of the arrays and objects seen, by address, each kept alive by its entry so
    /// that an address is not reused while cached. A value built by wrapping an earlier one
    /// (`[.]` in a loop) is measured in constant time per step.
    depths: RefCell<std::collections::HashMap<usize, (Val, usize)>>,
}

/// Most entries of [`Meter::depths`] before it is emptied.
const DEPTHS_CACHED_MAX: usize = 65_536;

#[derive(Clone, Copy)]
enum Stop {
    Budget,
    Steps,
    Stack,
    Depth,
}

impl<'a> Meter<'a> {
    fn new(budget: &'a mut dyn FnMut() -> bool) -> Self {
        Meter {
            budget: RefCell::new(budget),
            steps: Cell::new(0),
            stack_base: stack_address(),
            stopped: Cell::new(None),
            depths: RefCell::new(std::collections::HashMap::new()),
        }
    }

    /// One step; `value` is the value passing it, if any.
    fn step(&self, value: Option<&Val>) -> Result<(), TransformError> {
        if let Some(e) = self.stopped() {
            return Err(e);
        }
        let steps = self.steps.get() + 1;
        self.steps.set(steps);
        let stop = if steps > STEPS_MAX {
            Some(Stop::Steps)
        } else if stack_address().abs_diff(self.stack_base) > STACK_BYTES_MAX {
            Some(Stop::Stack)
        } else if value.is_some_and(|v| self.depth(v, 0).is_none()) {
            Some(Stop::Depth)
        } else if self.budget.try_borrow_mut().map(|mut spent| spent()).unwrap_or(true) {
            Some(Stop::Budget)
        } else {
            None
        };
        self.stopped.set(stop);
        self.stopped().map_or(Ok(()), Err)
    }

    fn stopped(&self) -> Option<TransformError> {
        self.stopped.get().map(|stop| match stop {
            Stop::Budget => TransformError::BudgetSpent,
            Stop::Steps => TransformError::TooManySteps,
            Stop::Stack => TransformError::TooDeepRecursion,
            Stop::Depth => TransformError::ValueTooDeep,
        })
    }

    /// The nesting depth of `v` (0 for a scalar), or `None` past [`VALUE_DEPTH_MAX`]; the walk
    /// never goes deeper than that, whatever the value.
    fn depth(&self, v: &Val, level: usize) -> Option<usize> {
        let key = match v {
            Val::Arr(a) => Rc::as_ptr(a) as usize,
            Val::Obj(o) => Rc::as_ptr(o) as usize,
            _ => return Some(0),
        };
        if let Some((_, d)) = self.depths.try_borrow().ok()?.get(&key) {
            return (level + d <= VALUE_DEPTH_MAX).then_some(*d);
        }
        if level >= VALUE_DEPTH_MAX {
            return None;
        }
        let mut deepest = 0;
        match v {
            Val::Arr(a) => {
                for x in a.iter() {
                    deepest = deepest.max(self.depth(x, level + 1)?);
                }
            }
            Val::Obj(o) => {
                for (k, x) in o.iter() {
                    deepest = deepest.max(self.depth(k, level + 1)?).max(self.depth(x, level + 1)?);
                }
            }
            _ => {}
        }
        let d = deepest + 1;
        let mut depths = self.depths.try_borrow_mut().ok()?;
        if depths.len() >= DEPTHS_CACHED_MAX {
            depths.clear();
        }
        depths.insert(key, (v.clone(), d));
        Some(d)
    }
}

/// The address of a local of the calling frame: how deep the stack is, in bytes from an
/// earlier call (the stack grows down on every platform the daemon builds for; `abs_diff`
/// keeps it right either way).
#[inline(never)]
fn stack_address() -> usize {
    let marker = 0u8;
    std::hint::black_box(&marker) as *const u8 as usize
}

// ---------------------------------------------------------------------------------------------
// Rewriting the syntax tree (see the module's documentation).

fn call<'s>(name: &'s str, args: Vec<Term<&'s str>>) -> Term<&'s str> {
    Term::Call(name, args)
}

fn pipe<'s>(l: Term<&'s str>, r: Term<&'s str>) -> Term<&'s str> {
    Term::BinOp(Box::new(l), BinaryOp::Pipe(None), Box::new(r))
}

fn math_native(op: &Math) -> Option<&'static str> {
    match op {
        Math::Add => Some("__hw_add"),
        Math::Sub => Some("__hw_sub"),
        Math::Mul => Some("__hw_mul"),
        Math::Div | Math::Rem => None,
    }
}

fn tick<'s>() -> Term<&'s str> {
    call(TICK, Vec::new())
}

fn rewrite_def(def: Def<&str>, depth: usize) -> Result<Def<&str>, TransformError> {
    if def.args.iter().any(|a| !a.starts_with('$')) && calls(&def.body, def.name, def.args.len()) {
        return Err(TransformError::RecursiveFilterArgument(format!("{}/{}", def.name, def.args.len())));
    }
    // A step, then one for each `$` parameter (whose value a tail call may grow).
    let mut body = rewrite(def.body, depth + 1)?;
    for arg in def.args.iter().rev().filter(|a| a.starts_with('$')) {
        body = pipe(call(TICK_VAR, vec![Term::Var(*arg)]), body);
    }
    let body = pipe(tick(), body);
    Ok(Def { name: def.name, args: def.args, body })
}

fn rewrite<'s>(t: Term<&'s str>, depth: usize) -> Result<Term<&'s str>, TransformError> {
    if depth > SYNTAX_DEPTH_MAX {
        return Err(TransformError::TooDeep);
    }
    let d = depth + 1;
    let boxed = |t: Box<Term<&'s str>>| rewrite(*t, d).map(Box::new);
    Ok(match t {
        Term::Id | Term::Num(_) | Term::Var(_) | Term::Break(_) => t,
        Term::Recurse => pipe(pipe(call(MEASURE, Vec::new()), Term::Recurse), tick()),
        Term::Str(fmt, parts) => {
            let parts = parts
                .into_iter()
                .map(|part| match part {
                    StrPart::Term(t) => rewrite(t, d).map(|t| StrPart::Term(pipe(t, call(MEASURE, Vec::new())))),
                    StrPart::Str(s) => Ok(StrPart::Str(s)),
                    StrPart::Char(c) => Ok(StrPart::Char(c)),
                })
                .collect::<Result<_, _>>()?;
            Term::Str(fmt, parts)
        }
        Term::Arr(t) => Term::Arr(t.map(boxed).transpose()?),
        Term::Obj(kvs) => Term::Obj(
            kvs.into_iter()
                .map(|(k, v)| Ok((rewrite(k, d)?, v.map(|v| rewrite(v, d)).transpose()?)))
                .collect::<Result<_, TransformError>>()?,
        ),
        Term::Neg(t) => Term::Neg(boxed(t)?),
        Term::BinOp(l, op, r) => {
            let (l, r) = (rewrite(*l, d)?, rewrite(*r, d)?);
            match op {
                BinaryOp::Math(m) => match math_native(&m) {
                    Some(native) => call(native, vec![l, r]),
                    None => Term::BinOp(Box::new(l), BinaryOp::Math(m), Box::new(r)),
                },
                // `l op= r` is `r as $x | l |= . op $x` (jaq's definition).
                BinaryOp::UpdateMath(m) => match math_native(&m) {
                    Some(native) => {
                        let update = call(native, vec![Term::Id, Term::Var("$__hw_rhs")]);
                        let assign = Term::BinOp(Box::new(l), BinaryOp::Update, Box::new(update));
                        Term::BinOp(Box::new(r), BinaryOp::Pipe(Some(Pattern::Var("$__hw_rhs"))), Box::new(assign))
                    }
                    None => Term::BinOp(Box::new(l), BinaryOp::UpdateMath(m), Box::new(r)),
                },
                BinaryOp::Pipe(Some(p)) => {
                    Term::BinOp(Box::new(l), BinaryOp::Pipe(Some(rewrite_pattern(p, d)?)), Box::new(r))
                }
                BinaryOp::Comma => Term::BinOp(Box::new(l), BinaryOp::Comma, Box::new(pipe(tick(), r))),
                op => Term::BinOp(Box::new(l), op, Box::new(r)),
            }
        }
        Term::Label(s, t) => Term::Label(s, boxed(t)?),
        // `reduce`/`foreach`: the updated state passes a step (its depth is checked there).
        Term::Fold(s, xs, p, inits) => Term::Fold(
            s,
            boxed(xs)?,
            rewrite_pattern(p, d)?,
            inits
                .into_iter()
                .enumerate()
                .map(|(i, t)| rewrite(t, d).map(|t| if i == 1 { pipe(t, tick()) } else { t }))
                .collect::<Result<_, _>>()?,
        ),
        Term::TryCatch(t, c) => Term::TryCatch(boxed(t)?, c.map(boxed).transpose()?),
        Term::IfThenElse(branches, otherwise) => Term::IfThenElse(
            branches
                .into_iter()
                .map(|(c, t)| Ok((rewrite(c, d)?, rewrite(t, d)?)))
                .collect::<Result<_, TransformError>>()?,
            otherwise.map(boxed).transpose()?,
        ),
        Term::Def(defs, t) => {
            Term::Def(defs.into_iter().map(|def| rewrite_def(def, d)).collect::<Result<_, _>>()?, boxed(t)?)
        }
        Term::Call(name, args) => Term::Call(name, args.into_iter().map(|t| rewrite(t, d)).collect::<Result<_, _>>()?),
        Term::Path(t, path) => {
            if depth + path.0.len() > SYNTAX_DEPTH_MAX {
                return Err(TransformError::TooDeep);
            }
            // `t.a[].b` becomes `t.a[] | step | .b`: each value an iteration yields is a step.
            let mut out = rewrite(*t, d)?;
            let mut parts = Vec::new();
            for (part, opt) in path.0 {
                let iterates = matches!(part, Part::Range(None, None));
                let part = match part {
                    Part::Index(i) => Part::Index(rewrite(i, d)?),
                    Part::Range(from, to) => {
                        Part::Range(from.map(|t| rewrite(t, d)).transpose()?, to.map(|t| rewrite(t, d)).transpose()?)
                    }
                };
                parts.push((part, opt));
                if iterates {
                    out = pipe(Term::Path(Box::new(out), Path(std::mem::take(&mut parts))), tick());
                }
            }
            if parts.is_empty() { out } else { Term::Path(Box::new(out), Path(parts)) }
        }
    })
}

fn rewrite_pattern(p: Pattern<&str>, depth: usize) -> Result<Pattern<&str>, TransformError> {
    Ok(match p {
        Pattern::Var(x) => Pattern::Var(x),
        Pattern::Arr(ps) => {
            Pattern::Arr(ps.into_iter().map(|p| rewrite_pattern(p, depth + 1)).collect::<Result<_, _>>()?)
        }
        Pattern::Obj(kvs) => Pattern::Obj(
            kvs.into_iter()
                .map(|(k, p)| Ok((rewrite(k, depth + 1)?, rewrite_pattern(p, depth + 1)?)))
                .collect::<Result<_, TransformError>>()?,
        ),
    })
}

/// Whether `t` calls `name` with `arity` arguments anywhere (shadowing is not resolved, so a
/// local definition of the same name counts too).
fn calls(t: &Term<&str>, name: &str, arity: usize) -> bool {
    let c = |t: &Term<&str>| calls(t, name, arity);
    let cp = |p: &Pattern<&str>| pattern_calls(p, name, arity);
    match t {
        Term::Id | Term::Recurse | Term::Num(_) | Term::Var(_) | Term::Break(_) => false,
        Term::Str(_, parts) => parts.iter().any(|p| matches!(p, StrPart::Term(t) if c(t))),
        Term::Arr(t) => t.as_deref().is_some_and(c),
        Term::Obj(kvs) => kvs.iter().any(|(k, v)| c(k) || v.as_ref().is_some_and(c)),
        Term::Neg(t) | Term::Label(_, t) => c(t),
        Term::BinOp(l, op, r) => c(l) || c(r) || matches!(op, BinaryOp::Pipe(Some(p)) if cp(p)),
        Term::Fold(_, xs, p, inits) => c(xs) || cp(p) || inits.iter().any(c),
        Term::TryCatch(t, catch) => c(t) || catch.as_deref().is_some_and(c),
        Term::IfThenElse(branches, otherwise) => {
            branches.iter().any(|(x, y)| c(x) || c(y)) || otherwise.as_deref().is_some_and(c)
        }
        Term::Def(defs, t) => defs.iter().any(|def| c(&def.body)) || c(t),
        Term::Call(n, args) => (*n == name && args.len() == arity) || args.iter().any(c),
        Term::Path(t, path) => {
            c(t) || path.0.iter().any(|(part, _)| match part {
                Part::Index(i) => c(i),
                Part::Range(from, to) => from.as_ref().is_some_and(c) || to.as_ref().is_some_and(c),
            })
        }
    }
}

fn pattern_calls(p: &Pattern<&str>, name: &str, arity: usize) -> bool {
    match p {
        Pattern::Var(_) => false,
        Pattern::Arr(ps) => ps.iter().any(|p| pattern_calls(p, name, arity)),
        Pattern::Obj(kvs) => kvs.iter().any(|(k, p)| calls(k, name, arity) || pattern_calls(p, name, arity)),
    }
}

// ---------------------------------------------------------------------------------------------
// Errors and positions.

/// A syntax error at `part`, a slice of `src` (as jaq's lexer and parser report them).
fn syntax(src: &str, part: &str, message: String) -> TransformError {
    let start = src.as_ptr() as usize;
    let at = part.as_ptr() as usize;
    let offset = if at >= start && at <= start + src.len() { at - start } else { src.len() };
    let before = src.get(..offset).unwrap_or(src);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    TransformError::Syntax { line, column, message }
}

/// A token's text for a message: its first line, at most 40 characters.
fn clip(s: &str) -> String {
    let first = s.lines().next().unwrap_or("");
    let mut out: String = first.chars().take(40).collect();
    if out.len() < s.len() {
        out.push('…');
    }
    out
}

fn exception(exn: Exn<'_, Val>) -> TransformError {
    match exn.get_err() {
        Ok(err) => {
            // `error("text")` reads as the text, other values as JSON (jq's message).
            let text = match err.into_val() {
                Val::TStr(s) => String::from_utf8_lossy(&s).into_owned(),
                other => other.to_string(),
            };
            let mut message: String =
                text.chars().map(|c| if c.is_control() { ' ' } else { c }).take(MESSAGE_CHARS_MAX).collect();
            if message.len() < text.len() {
                message.push('…');
            }
            TransformError::Eval(message)
        }
        Err(_) => TransformError::Eval("the program stopped without a value".into()),
    }
}

// ---------------------------------------------------------------------------------------------
// Converting values.

fn from_json(v: &Value) -> Val {
    match v {
        Value::Null => Val::Null,
        Value::Bool(b) => Val::Bool(*b),
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => Val::Num(Num::from_integral(i)),
            (None, Some(u)) => Val::Num(Num::from_integral(u)),
            _ => Val::Num(Num::Float(n.as_f64().unwrap_or(f64::NAN))),
        },
        Value::String(s) => Val::from(s.clone()),
        Value::Array(a) => a.iter().map(from_json).collect(),
        Value::Object(o) => Val::obj(o.iter().map(|(k, v)| (Val::from(k.clone()), from_json(v))).collect()),
    }
}

fn type_name(v: &Val) -> &'static str {
    match v {
        Val::Null => "null",
        Val::Bool(_) => "boolean",
        Val::Num(_) => "number",
        Val::TStr(_) | Val::BStr(_) => "string",
        Val::Arr(_) => "array",
        Val::Obj(_) => "object",
    }
}

/// Converts the result, counting its compact JSON size into `size` and stopping at
/// [`RESULT_BYTES_MAX`] (so a value that shares parts is never expanded past the limit).
/// Numbers follow jq 1.7: integral values print as integers (`2000 / 100` is `20`), NaN as
/// `null`, infinities as the largest finite double.
fn to_json(v: &Val, size: &mut usize, depth: usize) -> Result<Value, TransformError> {
    // `depth` containers hold `v`: one more (an array or object here) is level `depth + 1`.
    if depth >= VALUE_DEPTH_MAX && matches!(v, Val::Arr(_) | Val::Obj(_)) {
        return Err(TransformError::ResultTooDeep);
    }
    let mut add = |n: usize| {
        *size += n;
        if *size > RESULT_BYTES_MAX { Err(TransformError::ResultTooLarge) } else { Ok(()) }
    };
    Ok(match v {
        Val::Null => {
            add(4)?;
            Value::Null
        }
        Val::Bool(b) => {
            add(5)?;
            Value::Bool(*b)
        }
        Val::Num(n) => {
            let value = number(n);
            add(value.to_string().len())?;
            value
        }
        Val::TStr(s) | Val::BStr(s) => {
            add(s.len() + 2)?;
            Value::String(String::from_utf8_lossy(s).into_owned())
        }
        Val::Arr(a) => {
            add(a.len() + 2)?;
            Value::Array(a.iter().map(|x| to_json(x, size, depth + 1)).collect::<Result<_, _>>()?)
        }
        Val::Obj(o) => {
            add(2 * o.len() + 2)?;
            let mut map = serde_json::Map::with_capacity(o.len());
            for (k, x) in o.iter() {
                let key = match k {
                    Val::TStr(s) | Val::BStr(s) => String::from_utf8_lossy(s).into_owned(),
                    other => return Err(TransformError::KeyNotString(type_name(other))),
                };
                *size += key.len() + 2;
                map.insert(key, to_json(x, size, depth + 1)?);
            }
            if *size > RESULT_BYTES_MAX {
                return Err(TransformError::ResultTooLarge);
            }
            Value::Object(map)
        }
    })
}

fn number(n: &Num) -> Value {
    let float = |f: f64| -> Value {
        if f.is_nan() {
            Value::Null
        } else if f.is_infinite() {
            Value::from(f64::MAX.copysign(f))
        } else if f.fract() == 0.0 && f.abs() < 9_007_199_254_740_992.0 {
            Value::from(f as i64)
        } else {
            Value::from(f)
        }
    };
    match n {
        Num::Int(i) => Value::from(*i as i64),
        Num::BigInt(b) => {
            let text = b.to_string();
            match (text.parse::<i64>(), text.parse::<u64>()) {
                (Ok(i), _) => Value::from(i),
                (_, Ok(u)) => Value::from(u),
                _ => float(text.parse().unwrap_or(f64::NAN)),
            }
        }
        Num::Float(f) => float(*f),
        Num::Dec(d) => float(d.parse().unwrap_or(f64::NAN)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The event envelope the router passes (docs/api.md, "Subscription transforms").
    fn event(kind: &str, headers: Value, body: Value) -> Value {
        json!({"event": {
            "uuid": "0190c8e4-7d2a-7b1c-9a53-2f1e0c3b4a5d",
            "type": kind,
            "source_uuid": "0190c8e4-0000-7000-8000-000000000001",
            "received_at": "2026-03-01T12:00:00Z",
            "method": "POST",
            "path": "/v1/ingest/tok",
            "query": {},
            "headers": headers,
            "body": body,
            "labels": {"env": "prod"},
        }})
    }

    fn never() -> impl FnMut() -> bool {
        || false
    }

    fn run(src: &str, input: &Value) -> Result<Value, TransformError> {
        compile(src)?.apply(input, &mut never())
    }

    fn github_push() -> Value {
        // Trimmed from GitHub's documented `push` payload.
        event(
            "push",
            json!({"x-github-event": "push"}),
            json!({
                "ref": "refs/heads/main",
                "before": "6113728f27ae82c7b1a177c8d03f9e96e0adf246",
                "after": "0000000000000000000000000000000000000000",
                "repository": {"id": 186853002, "name": "Hello-World", "full_name": "Codertocat/Hello-World",
                               "owner": {"login": "Codertocat", "id": 21031067}, "private": false},
                "pusher": {"name": "Codertocat", "email": "21031067+Codertocat@users.noreply.github.com"},
                "sender": {"login": "Codertocat", "id": 21031067},
                "commits": [{"id": "a1", "message": "Fix"}, {"id": "b2", "message": "Add"}, {"id": "c3", "message": "Doc"}]
            }),
        )
    }

    fn stripe_invoice_paid(amount_paid: u64) -> Value {
        event(
            "invoice.paid",
            json!({"stripe-signature": "t=1,v1=00"}),
            json!({
                "id": "evt_1NG8Du2eZvKYlo2CUI79vXWy", "object": "event", "type": "invoice.paid",
                "data": {"object": {"id": "in_1NG8Du2eZvKYlo2C", "object": "invoice", "customer": "cus_NffrFeUfNV2Hib",
                         "amount_paid": amount_paid, "currency": "usd", "status": "paid"}}
            }),
        )
    }

    fn shopify_order() -> Value {
        event(
            "orders/create",
            json!({"x-shopify-topic": "orders/create"}),
            json!({
                "id": 820982911946154508_u64, "email": "jon@example.com", "currency": "USD",
                "total_price": "598.94", "subtotal_price": "597.00",
                "line_items": [
                    {"id": 866550311766439020_u64, "sku": "IPOD2008BLACK", "quantity": 1, "price": "199.00"},
                    {"id": 141249953214522974_u64, "sku": "IPOD2008GREEN", "quantity": 1, "price": "199.00"},
                    {"id": 257004973105704598_u64, "sku": "IPOD2008RED", "quantity": 1, "price": "199.00"}
                ]
            }),
        )
    }

    /// The three transforms of docs/dependencies.md's comparison (benches/transform.rs too).
    pub(crate) const GITHUB_PUSH: &str = r#"{repo: .event.body.repository.full_name, branch: (.event.body.ref | ltrimstr("refs/heads/")), pusher: .event.body.pusher.name, commits: (.event.body.commits | length)}"#;
    pub(crate) const STRIPE_INVOICE_PAID: &str =
        r#".event.body.data.object | {customer, amount: (.amount_paid / 100), currency: (.currency | ascii_upcase)}"#;
    pub(crate) const SHOPIFY_ORDER: &str =
        r#".event.body | {order_id: .id, skus: [.line_items[].sku], total: (.total_price | tonumber)}"#;

    #[test]
    fn github_push_to_repo_branch_pusher_and_commit_count() {
        let out = run(GITHUB_PUSH, &github_push()).unwrap();
        assert_eq!(
            out,
            json!({"repo": "Codertocat/Hello-World", "branch": "main", "pusher": "Codertocat", "commits": 3})
        );
        // Key order is the program's.
        assert_eq!(out.as_object().unwrap().keys().collect::<Vec<_>>(), ["repo", "branch", "pusher", "commits"]);
    }

    #[test]
    fn stripe_invoice_paid_to_major_units_and_upper_case_currency() {
        let out = run(STRIPE_INVOICE_PAID, &stripe_invoice_paid(2000)).unwrap();
        assert_eq!(out, json!({"customer": "cus_NffrFeUfNV2Hib", "amount": 20, "currency": "USD"}));
        assert_eq!(out.to_string(), r#"{"customer":"cus_NffrFeUfNV2Hib","amount":20,"currency":"USD"}"#);
        let out = run(STRIPE_INVOICE_PAID, &stripe_invoice_paid(1999)).unwrap();
        assert_eq!(out["amount"], json!(19.99));
    }

    #[test]
    fn shopify_order_to_id_skus_and_total_keeping_64_bit_ids_exact() {
        let out = run(SHOPIFY_ORDER, &shopify_order()).unwrap();
        assert_eq!(
            out,
            json!({"order_id": 820982911946154508_u64, "skus": ["IPOD2008BLACK", "IPOD2008GREEN", "IPOD2008RED"], "total": 598.94})
        );
        assert_eq!(out["order_id"].as_u64(), Some(820982911946154508));
    }

    #[test]
    fn missing_paths_give_null() {
        let out = run(
            r#"{a: .event.body.nope.deeper, b: .event.headers["x-missing"], c: .event.query.page, d: .event.labels.env}"#,
            &github_push(),
        )
        .unwrap();
        assert_eq!(out, json!({"a": null, "b": null, "c": null, "d": "prod"}));
    }

    #[test]
    fn the_whole_envelope_passes_through_with_identity() {
        let input = shopify_order();
        assert_eq!(run(".", &input).unwrap(), input);
    }

    #[test]
    fn syntax_errors_name_line_and_column() {
        let e = compile("{repo: .event.body.repository.full_name,").unwrap_err();
        assert_eq!(e.to_string(), "expected closing brace at line 1, column 41");
        let e = compile("{a: 1}\n| {b: .a ]").unwrap_err();
        assert_eq!(e.to_string(), "expected closing brace at line 2, column 10");
        let e = compile("{a: \"open}").unwrap_err();
        assert_eq!(e.to_string(), "expected closing quote at line 1, column 11");
        let e = compile("{a: .x | frobnicate}").unwrap_err();
        assert_eq!(e.to_string(), "undefined filter `frobnicate` at line 1, column 10");
        let e = compile("{a: $nope}").unwrap_err();
        assert_eq!(e.to_string(), "undefined variable `$nope` at line 1, column 5");
        let e = compile("if . then 1").unwrap_err();
        assert!(matches!(e, TransformError::Syntax { line: 1, .. }), "{e}");
        assert!(!e.to_string().contains('\n'));
    }

    #[test]
    fn empty_long_and_deeply_nested_sources_are_refused() {
        assert_eq!(compile("  \n").unwrap_err(), TransformError::Empty);
        let long = format!("{{a: \"{}\"}}", "x".repeat(TRANSFORM_CHARS_MAX));
        assert_eq!(compile(&long).unwrap_err(), TransformError::TooLong { chars: TRANSFORM_CHARS_MAX + 7 });
        let deep = format!("{{a: {}1{}}}", "[".repeat(200), "]".repeat(200));
        assert_eq!(compile(&deep).unwrap_err().to_string(), "is nested more than 128 levels deep");
        assert_eq!(compile(&".a".repeat(200)).unwrap_err(), TransformError::TooDeep);
    }

    #[test]
    fn the_deepest_accepted_nesting_evaluates_on_a_2_mib_stack() {
        // Test threads have 2 MiB of stack, as tokio's do; this is a debug build.
        let n = SYNTAX_DEPTH_MAX / 2 - 4;
        let arrays = format!("{{a: {}1{}}}", "[".repeat(n), "]".repeat(n));
        let out = run(&arrays, &json!(null)).unwrap();
        assert!(out["a"].is_array());
        let negs = format!("{{a: {}1}}", "- ".repeat(n));
        assert_eq!(run(&negs, &json!(null)).unwrap(), json!({"a": 1}));
        let pipes = format!("{{a: ({}.)}}", "(. | ".repeat(n / 2) + &")".repeat(n / 2));
        let pipes = pipes.replace("(.)", ".");
        let _ = compile(&pipes).map(|t| t.apply(&json!(null), &mut never()));
    }

    #[test]
    fn pathological_sources_at_the_length_limit_end_in_an_error_not_a_crash() {
        let n = TRANSFORM_CHARS_MAX / 2 - 2;
        let m = TRANSFORM_CHARS_MAX;
        for src in [
            "- ".repeat(n) + "1",
            "if . then ".repeat(m / 10) + "1",
            "1 + ".repeat(m / 4 - 1) + "1",
            ".a".repeat(n),
            "def f: ".repeat(m / 7 - 1) + "1",
            "try ".repeat(m / 4 - 1) + "1",
            "reduce . as $x (".repeat(m / 17),
            "\"\\(".repeat(m / 3),
            "[".repeat(m),
            "{a:".repeat(m / 3),
            ". as $x | ".repeat(m / 10) + ".",
        ] {
            assert!(src.chars().count() <= TRANSFORM_CHARS_MAX, "{}", src.len());
            let e = compile(&src).unwrap_err();
            assert!(matches!(e, TransformError::TooDeep | TransformError::Syntax { .. }), "{e}");
        }
    }

    #[test]
    fn a_result_that_is_not_one_object_is_an_error() {
        let input = github_push();
        assert_eq!(run(".event.type", &input).unwrap_err(), TransformError::NotObject("string"));
        assert_eq!(run("[.event.type]", &input).unwrap_err().to_string(), "must produce an object, got array");
        assert_eq!(run(".event.nope", &input).unwrap_err().to_string(), "must produce an object, got null");
        assert_eq!(run("empty", &input).unwrap_err(), TransformError::NoOutput);
        assert_eq!(run("{a: 1}, {b: 2}", &input).unwrap_err(), TransformError::ManyOutputs);
        assert_eq!(run("{(1): 2}", &input).unwrap_err(), TransformError::KeyNotString("number"));
    }

    #[test]
    fn evaluation_errors_are_one_readable_line() {
        let input = github_push();
        let e = run(r#"error("bad\nthing")"#, &input).unwrap_err();
        assert_eq!(e, TransformError::Eval("bad thing".into()));
        let e = run(".event.body.commits | {n: (. + 1)}", &input).unwrap_err();
        assert!(e.to_string().starts_with("evaluation failed: cannot calculate"), "{e}");
        let e = run(r#"{n: ("x" * 100000 | error)}"#, &input).unwrap_err();
        assert!(e.to_string().chars().count() < MESSAGE_CHARS_MAX + 30, "{}", e.to_string().len());
    }

    /// A budget that is spent after `n` questions, and the count of questions asked.
    fn after(n: u64) -> (impl FnMut() -> bool, std::rc::Rc<Cell<u64>>) {
        let asked = std::rc::Rc::new(Cell::new(0));
        let count = asked.clone();
        (
            move || {
                count.set(count.get() + 1);
                count.get() > n
            },
            asked,
        )
    }

    #[test]
    fn runaway_programs_stop_when_the_budget_is_spent() {
        for src in [
            "[range(1e9)] | {n: length}",
            "def f: f; f",
            "last(repeat(.)) | {}",
            "0 | until(. < 0; . + 1) | {}",
            "[recurse(. + 1)] | {}",
            "try (def f: f; f) catch {}",
            "[limit(1e9; repeat(1))] | {}",
            "[.[]?, (1, 1) | (1, 1) | (1, 1) | (1, 1) | (1, 1) | (1, 1) | (1, 1) | (1, 1) | (1, 1) | (1, 1) | (1, 1) | (1, 1)] | {}",
        ] {
            let t = compile(src).unwrap();
            let (mut budget, asked) = after(1000);
            let e = t.apply(&json!(0), &mut budget).unwrap_err();
            assert_eq!(e, TransformError::BudgetSpent, "{src}");
            assert_eq!(asked.get(), 1001, "{src}: the budget is not asked after it is spent");
        }
    }

    #[test]
    fn runaway_programs_stop_at_the_step_limit_without_a_budget() {
        let e = run("[limit(2e6; repeat(1))] | {n: length}", &json!(0)).unwrap_err();
        assert_eq!(e, TransformError::TooManySteps);
        let t = compile("{n: [range(1000)] | length}").unwrap();
        let (mut budget, asked) = after(u64::MAX);
        assert_eq!(t.apply(&json!(0), &mut budget).unwrap(), json!({"n": 1000}));
        assert!(asked.get() >= 1000, "range asks the budget per value: {}", asked.get());
    }

    #[test]
    fn deep_recursion_stops_before_the_stack_runs_out() {
        // Test threads have 2 MiB of stack, as tokio's do.
        for src in ["def f: 1 + f; f", "def f: [f]; {a: f}", "def f: {a: f}; f", "def f($n): 1 + f($n + 1); f(0)"] {
            let e = run(src, &json!(0)).unwrap_err();
            assert!(matches!(e, TransformError::TooDeepRecursion | TransformError::TooManySteps), "{src}: {e}");
        }
        let e = run("def f: try (1 + f) catch f; f", &json!(0)).unwrap_err();
        assert_eq!(e, TransformError::TooDeepRecursion);
        // Tail recursion on `$` parameters runs in constant stack.
        let out = run("def f($n): if $n > 0 then f($n - 1) else {n: $n} end; f(100000)", &json!(0)).unwrap();
        assert_eq!(out, json!({"n": 0}));
    }

    #[test]
    fn recursion_with_filter_arguments_is_refused_at_compile_time() {
        for (src, name) in [("def f(g): f(g | .); f(.)", "f/1"), ("def f(g; $x): def h: f(g; $x); h; {}", "f/2")] {
            let e = compile(src).unwrap_err();
            assert_eq!(e, TransformError::RecursiveFilterArgument(name.into()), "{src}");
        }
        assert!(compile("def twice(f): f | f; {a: (1 | twice(. + 1))}").is_ok());
    }

    #[test]
    fn values_nested_past_the_limit_are_refused_when_measured_or_returned() {
        // Built without a loop (no step sees it), refused when it is returned.
        let e = run(r#"{a: ("[" * 200 + "]" * 200 | fromjson)}"#, &json!(0)).unwrap_err();
        assert_eq!(e, TransformError::ResultTooDeep);
        let e = run("{a: reduce range(200) as $i (0; [.])}", &json!(0)).unwrap_err();
        assert_eq!(e, TransformError::ValueTooDeep);
        // The result nests at most VALUE_DEPTH_MAX levels, the object around it included
        // (one more passed: an empty array at the bottom was not counted).
        let deepest = run("{x: (reduce range(158) as $i ([]; [.]))}", &json!(0)).unwrap();
        assert_eq!(crate::model::json_depth(deepest.to_string().as_bytes(), usize::MAX), VALUE_DEPTH_MAX);
        let e = run("{x: (reduce range(159) as $i ([]; [.]))}", &json!(0)).unwrap_err();
        assert_eq!(e, TransformError::ResultTooDeep);
        let e = run("reduce range(200) as $i (0; [.]) | {s: tojson}", &json!(0)).unwrap_err();
        assert!(e.to_string().contains("nested more than"), "{e}");
        // Loops that wrap a value in itself stop at the depth limit, long before freeing the
        // value could exhaust the stack.
        for src in [
            "reduce range(1e6) as $i (0; [.]) | {}",
            "reduce range(1e6) as $i (0; {a: .}) | {}",
            "reduce range(1e6) as $i ({}; .a = .) | {}",
            "[foreach range(1e6) as $i (0; [[.]]; 1)] | {}",
            "0 | until(false; [.]) | {}",
            "def f($x): f([$x]); f(0)",
            "[limit(1e6; recurse([.]))] | {}",
        ] {
            let e = run(src, &json!(0)).unwrap_err();
            assert!(matches!(e, TransformError::ValueTooDeep | TransformError::TooDeepRecursion), "{src}: {e}");
        }
        // The envelope's own depth (serde_json's 128 levels of body) is within the limit.
        let mut body = json!(1);
        for _ in 0..120 {
            body = json!([body]);
        }
        let input = event("deep", json!({}), body);
        assert_eq!(run("{n: [.event.body | .. | numbers] | length}", &input).unwrap(), json!({"n": 1}));
    }

    #[test]
    fn values_too_large_are_refused_before_they_are_built() {
        let input = json!({});
        let e = run(r#"{s: ("x" * 1e12)}"#, &input).unwrap_err();
        assert_eq!(e.to_string(), format!("evaluation failed: string would be longer than {STRING_BYTES_MAX} bytes"));
        let e = run(r#"reduce range(30) as $i ("xx"; . + .) | {}"#, &input).unwrap_err();
        assert!(e.to_string().contains("string would be longer"), "{e}");
        let e = run("reduce range(30) as $i ([1]; . + .) | {}", &input).unwrap_err();
        assert!(e.to_string().contains("array would have more than"), "{e}");
        let e = run("reduce range(20) as $i (3; . * .) | {}", &input).unwrap_err();
        assert!(e.to_string().contains("integer would be larger"), "{e}");
        let e = run("[range(1e5)] - [range(1e5)] | {}", &input).unwrap_err();
        assert!(e.to_string().contains("array difference"), "{e}");
        // A structure that shares one value 2^40 times is never expanded.
        let e = run("reduce range(40) as $i (0; [., .]) | {s: tojson}", &input).unwrap_err();
        assert!(e.to_string().contains("value is larger than"), "{e}");
        let e = run(r#"reduce range(40) as $i (0; [., .]) | {s: "\(.)"}"#, &input).unwrap_err();
        assert!(e.to_string().contains("value is larger than"), "{e}");
        let e = run("reduce range(40) as $i (0; [., .]) | {n: [..] | length}", &input).unwrap_err();
        assert!(e.to_string().contains("value is larger than"), "{e}");
    }

    #[test]
    fn results_over_the_size_limit_are_refused() {
        let input = json!({});
        let e = run(r#"{s: ("x" * 300000)}"#, &input).unwrap_err();
        assert_eq!(e, TransformError::ResultTooLarge);
        let e = run("{a: reduce range(40) as $i (0; [., .])}", &input).unwrap_err();
        assert_eq!(e, TransformError::ResultTooLarge);
        let fits = run(&format!(r#"{{s: ("x" * {})}}"#, RESULT_BYTES_MAX - 100), &input).unwrap();
        assert_eq!(fits["s"].as_str().map(str::len), Some(RESULT_BYTES_MAX - 100));
    }

    /// Regular expressions keep jq's meaning and refuse inputs whose matches would all be built
    /// at once beyond [`REGEX_INPUT_BYTES_MAX`].
    #[test]
    fn regular_expressions_search_bounded_inputs() {
        let input = json!({"s": "a1b22c333"});
        for (src, expected) in [
            (r#"{r: [.s | scan("[0-9]+")]}"#, json!({"r": ["1", "22", "333"]})),
            (r#"{r: (.s | test("b2"))}"#, json!({"r": true})),
            (r#"{r: (.s | sub("[0-9]+"; "_"))}"#, json!({"r": "a_b22c333"})),
            (r#"{r: (.s | gsub("[0-9]+"; "_"))}"#, json!({"r": "a_b_c_"})),
            (r#"{r: [.s | splits("[0-9]+")]}"#, json!({"r": ["a", "b", "c", ""]})),
            (r#"{r: (.s | capture("(?<n>[0-9]{3})").n)}"#, json!({"r": "333"})),
        ] {
            assert_eq!(run(src, &input).unwrap_or_else(|e| panic!("{src}: {e}")), expected, "{src}");
        }
        for src in [
            r#"{n: ("a" * 600000 | [matches(".";"g")] | length)}"#,
            r#"{n: ("a" * 70000 | test("b"))}"#,
            r#"{n: ("a" * 70000 | gsub("a"; "b"))}"#,
            r#"{n: [("a" * 70000 | splits("a"))] | length}"#,
        ] {
            let e = run(src, &json!({})).unwrap_err();
            assert!(e.to_string().contains("a regular expression may search at most 65536 bytes"), "{src}: {e}");
        }
        let edge = format!(r#"{{n: ("a" * {REGEX_INPUT_BYTES_MAX} | test("b"))}}"#);
        assert_eq!(run(&edge, &json!({})).expect("at the limit"), json!({"n": false}));
    }

    #[test]
    fn natives_that_reach_outside_the_event_are_not_offered() {
        for (src, name) in [
            ("{e: env}", "filter `env`"),
            ("{e: $ENV}", "variable `$ENV`"),
            ("{t: now}", "filter `now`"),
            ("{i: input}", "filter `input`"),
            ("{i: [inputs]}", "filter `inputs`"),
            ("halt", "filter `halt`"),
            ("{d: debug}", "filter `debug`"),
            ("{d: stderr}", "filter `stderr`"),
            ("{t: (0 | localtime)}", "filter `localtime`"),
            (r#"include "x"; {}"#, ""),
        ] {
            let e = compile(src).unwrap_err();
            assert!(matches!(e, TransformError::Syntax { .. }), "{src}: {e}");
            assert!(e.to_string().contains(name), "{src}: {e}");
        }
    }

    #[test]
    fn the_rewrite_keeps_jq_semantics() {
        let input = json!({"event": {"body": {"a": 1, "b": [1, 2, 3], "c": {"d": 2.5}, "s": "x"}}});
        for (src, expected) in [
            ("{r: [(1,2) + (10,20)]}", json!({"r": [11, 21, 12, 22]})),
            ("{r: [(1,2) - (10,20)]}", json!({"r": [-9, -19, -8, -18]})),
            ("{r: [(1,2) * (10,20)]}", json!({"r": [10, 20, 20, 40]})),
            (".event.body | .a += 1 | .b -= [2] | .c.d *= 2 | {a, b, c}", json!({"a": 2, "b": [1, 3], "c": {"d": 5}})),
            (
                ".event.body | {sum: (.b | add), joined: (.b | map(tostring) | join(\"-\")), s: \"<\\(.a)>\"}",
                json!({"sum": 6, "joined": "1-2-3", "s": "<1>"}),
            ),
            (
                ".event.body | {p: [paths] | length, n: [.. | numbers], t: (.b | tojson)}",
                json!({"p": 8, "n": [1, 1, 2, 3, 2.5], "t": "[1,2,3]"}),
            ),
            (".event.body | (.. | numbers) |= . + 1 | {a, b}", json!({"a": 2, "b": [2, 3, 4]})),
            (
                ".event.body | walk(if type == \"number\" then . * 10 else . end) | {a, c}",
                json!({"a": 10, "c": {"d": 25}}),
            ),
            (".event.body | del(.b, .c) | with_entries(.value |= tostring)", json!({"a": "1", "s": "x"})),
            (
                "{r: [range(0; 10; 3)], l: [limit(2; range(5))], f: first(range(3; 9))}",
                json!({"r": [0, 3, 6, 9], "l": [0, 1], "f": 3}),
            ),
            ("def fac: if . <= 1 then 1 else . * (. - 1 | fac) end; {f: (10 | fac)}", json!({"f": 3628800})),
            (
                "{s: (\"ab\" * 3), o: ({a: {b: 1}} * {a: {c: 2}}), u: (\"a,b\" | split(\",\"))}",
                json!({"s": "ababab", "o": {"a": {"b": 1, "c": 2}}, "u": ["a", "b"]}),
            ),
            (
                "{d: (\"2026-03-01T12:00:00Z\" | fromdate), m: (\"ab12\" | test(\"[0-9]+\")), x: (\"A\" | ascii_downcase)}",
                json!({"d": 1772366400, "m": true, "x": "a"}),
            ),
            (
                "{r: (try error(\"x\") catch .), n: (null + 1), big: (4611686018427387904 * 4)}",
                json!({"r": "x", "n": 1, "big": 18446744073709551616.0_f64}),
            ),
        ] {
            assert_eq!(run(src, &input).unwrap(), expected, "{src}");
        }
    }

    #[test]
    fn a_transform_is_shared_across_threads_and_shows_its_source() {
        fn shareable<T: Send + Sync + Clone + 'static>() {}
        shareable::<Transform>();
        let t = compile(GITHUB_PUSH).unwrap();
        assert_eq!(t.source(), GITHUB_PUSH);
        assert_eq!(format!("{t:?}"), format!("Transform {{ source: {GITHUB_PUSH:?} }}"));
        let input = github_push();
        let other = t.clone();
        let out = std::thread::spawn(move || other.apply(&input, &mut never())).join().unwrap().unwrap();
        assert_eq!(out["commits"], json!(3));
    }
}
