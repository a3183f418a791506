//! Schedule endpoints: the documented `add_{interval,cron,clocked,solar}_schedule`,
//! `add_schedule_rule`, `get_schedules_paginated`, `get_single_schedule_details`,
//! `change_schedule_status`, `delete_schedule`; the SDK's variants; and the extensions
//! `add_debounce_schedule`, `trigger_debounce_schedule`, `update_schedule`,
//! `preview_schedule`, `trigger_schedule_now`, `list_schedule_rules`, `delete_schedule_rule`.
//!
//! Every create, update and preview turns its input's driver fields into [`DriverFields`]; the
//! driver is built and its first instant computed off the async workers (cron and solar
//! searches are CPU work, see [`super::compute`]), before anything is written. Handlers then
//! write through the store; the scheduler is told to (re)arm and always acts on the stored
//! state.

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::compute::{Budget, Lane};
use super::error::ApiError;
use super::fields::{Context, Date, Degrees, Id, InstantText, Int, Line, List, OneOf, Zone};
use super::reply::{ApiResult, PAGE_MAX, ok, page_number, paginated};
use super::request::Cx;
use super::templates::URL_CHARS_MAX;
use crate::model::{
    Execution, MisfirePolicy, OverlapPolicy, RuleId, Schedule, ScheduleId, ScheduleRule, ScheduleStatus, TargetKind,
    TemplateId, WorkflowId,
};
use crate::schedule::clocked::{ClockedSpec, parse_instant};
use crate::schedule::cron::{CronError, CronSpec};
use crate::schedule::debounce::{DebounceSpec, DebounceState, Mode, TriggerOutcome};
use crate::schedule::interval::{IntervalSpec, Period};
use crate::schedule::rules::{Rule, format_time_of_day, parse_time_of_day};
use crate::schedule::solar::SolarEvent;
use crate::schedule::{Driver, PREVIEW_COUNT_MAX, SolarSpec, preview_until};
use crate::store::StoreError;
use crate::time::{INSTANT_MS_MAX, Millis, format_utc, tz};

const INTERVAL_VALUE_MAX: i64 = 1_000_000;
/// Months: a century, well inside the calendar's range.
pub(crate) const INTERVAL_MONTHS_MAX: i64 = 1200;
const MISFIRE_GRACE_SECONDS_MAX: i64 = 30 * 86_400;
const JITTER_SECONDS_MAX: i64 = 86_400;
const DEBOUNCE_SECONDS_MAX: i64 = 30 * 86_400;
const SOLAR_OFFSET_SECONDS_MAX: i64 = 86_400;
/// Longest schedule name.
const NAME_CHARS_MAX: usize = 200;
/// Longest cron expression: room for six fields of long lists (`0,1,2,…,59` alone is 170
/// characters).
pub(super) const CRON_CHARS_MAX: usize = 1024;
const PREVIEW_COUNT_DEFAULT: usize = 10;
/// Most rules one schedule may carry (and one preview may add).
const RULES_PER_SCHEDULE_MAX: usize = 50;
/// Most dates one exclusion rule lists (years of holidays).
const EXCLUSION_DATES_MAX: usize = 1000;
/// `HH:MM:SS`.
const TIME_OF_DAY_CHARS_MAX: usize = 8;
/// Highest run count a termination rule may name.
const MAX_RUNS_MAX: i64 = 1_000_000_000;

type IntervalValue = Int<1, INTERVAL_VALUE_MAX>;
type SolarOffset = Int<{ -SOLAR_OFFSET_SECONDS_MAX }, SOLAR_OFFSET_SECONDS_MAX>;
type DebounceSeconds = Int<1, DEBOUNCE_SECONDS_MAX>;

/// The schema of a cron expression: `format: cron` (the grammar of [`crate::schedule::cron`],
/// which a pattern cannot state: field ranges, names, `L`/`W`/`#`, and an expression that never
/// matches a date is refused) and the length bound in `x-bounded-by`. No `maxLength` or
/// `pattern` beside the format: a generator that honours the format draws from it alone.
fn cron_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "string",
        "format": "cron",
        "x-bounded-by": format!("the cron grammar, at most {CRON_CHARS_MAX} characters"),
    })
}

/// [`cron_schema`] or `null` (the same as leaving the field out).
pub(super) fn optional_cron_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "anyOf": [{"type": "string", "format": "cron"}, {"type": "null"}],
        "x-bounded-by": format!("the cron grammar, at most {CRON_CHARS_MAX} characters"),
    })
}

/// A schedule's driver type (`schedule_type` / `driver_type`).
#[derive(Deserialize, JsonSchema, Clone, Copy, PartialEq, Eq, Debug)]
#[serde(rename_all = "snake_case")]
pub enum DriverKind {
    Interval,
    Cron,
    Clocked,
    Solar,
    Debounce,
}

impl DriverKind {
    /// Every driver type.
    pub(crate) const ALL: [DriverKind; 5] =
        [DriverKind::Interval, DriverKind::Cron, DriverKind::Clocked, DriverKind::Solar, DriverKind::Debounce];

    fn of(d: &Driver) -> DriverKind {
        match d {
            Driver::Interval(_) => DriverKind::Interval,
            Driver::Cron(_) => DriverKind::Cron,
            Driver::Clocked(_) => DriverKind::Clocked,
            Driver::Solar(_) => DriverKind::Solar,
            Driver::Debounce(_) => DriverKind::Debounce,
        }
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            DriverKind::Interval => "interval",
            DriverKind::Cron => "cron",
            DriverKind::Clocked => "clocked",
            DriverKind::Solar => "solar",
            DriverKind::Debounce => "debounce",
        }
    }

    /// The driver fields this type uses (`timezone`, the SDK's, for cron, clocked and solar —
    /// solar instants are absolute, so there it is accepted and unused; `is_one_off_task` for
    /// clocked too, which always fires once).
    pub(crate) fn fields(self) -> &'static [&'static str] {
        match self {
            DriverKind::Interval => {
                &["interval_value", "interval_period", "interval_seconds", "start_at", "is_one_off_task"]
            }
            DriverKind::Cron => &["cron_expression", "cron_timezone", "timezone", "is_one_off_task"],
            DriverKind::Clocked => &["clocked_run_at", "clocked_timezone", "timezone", "is_one_off_task"],
            DriverKind::Solar => {
                &["solar_event", "solar_lat", "solar_long", "solar_offset_seconds", "is_one_off_task", "timezone"]
            }
            DriverKind::Debounce => &["debounce_seconds", "debounce_mode", "max_wait_seconds"],
        }
    }
}

/// Declares a documented `add_*_schedule` input: the target, the driver's own fields, then the
/// extension settings every create accepts.
macro_rules! schedule_create {
    ($(#[$m:meta])* pub struct $name:ident { $($(#[$fm:meta])* pub $f:ident: $t:ty,)* }) => {
        $(#[$m])*
        #[derive(Deserialize, JsonSchema)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            /// `webhook` or `workflow`.
            pub schedule_to: OneOf<TargetKind>,
            /// The webhook template's or workflow's uuid.
            pub model_to_schedule_uuid: Id,
            $($(#[$fm])* pub $f: $t,)*
            /// Keys the target reads as `{{ initial.key }}`.
            #[serde(alias = "initial_context")]
            #[schemars(extend("x-aliases" = ["initial_context"]))]
            pub initial_context_template: Option<Context>,
            /// Instants missed while the daemon was down: `fire_once` (default), `skip`, `fire_all`.
            pub misfire_policy: Option<OneOf<MisfirePolicy>>,
            /// How late a missed instant may still fire (default `schedules.misfire_grace_seconds`).
            pub misfire_grace_seconds: Option<Int<0, MISFIRE_GRACE_SECONDS_MAX>>,
            /// A fire while the previous one still runs: `allow` (default), `skip`, `buffer_one`.
            pub overlap_policy: Option<OneOf<OverlapPolicy>>,
            /// Delays each fire by a deterministic amount in [0, jitter_seconds).
            pub jitter_seconds: Option<Int<0, JITTER_SECONDS_MAX>>,
            /// A label shown in lists.
            pub name: Option<Line<NAME_CHARS_MAX>>,
        }
    };
}

/// Declares an input that takes any driver's fields (documented names, SDK aliases) and the
/// extension settings, after its own fields: `add_schedule`, `update_schedule`,
/// `preview_schedule`.
macro_rules! schedule_input {
    ($(#[$m:meta])* pub struct $name:ident { $($(#[$fm:meta])* pub $f:ident: $t:ty,)* }) => {
        $(#[$m])*
        #[derive(Deserialize, JsonSchema)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            $($(#[$fm])* pub $f: $t,)*
            /// interval: units between fires, with `interval_period`.
            pub interval_value: Option<IntervalValue>,
            /// interval: `second`, `minute`, `hour`, `day`, `week` or `month`.
            pub interval_period: Option<OneOf<Period>>,
            /// interval (SDK): seconds between fires, instead of `interval_value` + `interval_period`.
            pub interval_seconds: Option<IntervalValue>,
            /// interval: the grid's anchor, itself a fire (ISO-8601).
            pub start_at: Option<InstantText>,
            /// interval, cron, solar: fire once, then complete (default false for the SDK's calls).
            pub is_one_off_task: Option<bool>,
            /// cron: 5 or 6 fields, macros, `L`, `W`, `#`.
            #[schemars(schema_with = "optional_cron_schema")]
            pub cron_expression: Option<Line<CRON_CHARS_MAX>>,
            /// cron: the IANA zone the expression is read in.
            pub cron_timezone: Option<Zone>,
            /// SDK: the zone of a cron or clocked schedule (default UTC); accepted and unused for
            /// solar.
            pub timezone: Option<Zone>,
            /// clocked: the instant (ISO-8601; without an offset read in `clocked_timezone`).
            #[serde(alias = "scheduled_time")]
            #[schemars(extend("x-aliases" = ["scheduled_time"]))]
            pub clocked_run_at: Option<InstantText>,
            /// clocked: the zone of a `clocked_run_at` without offset.
            pub clocked_timezone: Option<Zone>,
            /// solar: the event.
            pub solar_event: Option<OneOf<SolarEvent>>,
            /// solar: latitude in decimal degrees (string or number).
            #[serde(alias = "latitude")]
            #[schemars(extend("x-aliases" = ["latitude"]))]
            pub solar_lat: Option<Degrees<90>>,
            /// solar: longitude in decimal degrees (string or number).
            #[serde(alias = "longitude")]
            #[schemars(extend("x-aliases" = ["longitude"]))]
            pub solar_long: Option<Degrees<180>>,
            /// solar: seconds after (positive) or before (negative) the event.
            pub solar_offset_seconds: Option<SolarOffset>,
            /// debounce: the quiet window.
            pub debounce_seconds: Option<DebounceSeconds>,
            /// debounce: `trailing` (default) or `leading`.
            pub debounce_mode: Option<OneOf<Mode>>,
            /// debounce (trailing): fire at the latest this long after a burst's first trigger.
            pub max_wait_seconds: Option<DebounceSeconds>,
            /// Keys the target reads as `{{ initial.key }}`.
            #[serde(alias = "initial_context")]
            #[schemars(extend("x-aliases" = ["initial_context"]))]
            pub initial_context_template: Option<Context>,
            /// Fires missed while the daemon was down: `fire_once` (default: one catch-up fire), `skip`, or `fire_all`.
            pub misfire_policy: Option<OneOf<MisfirePolicy>>,
            /// How late a missed fire may still run, in seconds (default 60); later ones follow `misfire_policy`.
            pub misfire_grace_seconds: Option<Int<0, MISFIRE_GRACE_SECONDS_MAX>>,
            /// A fire while the previous run is unfinished: `allow` (default), `skip`, or `buffer_one` (run once after it).
            pub overlap_policy: Option<OneOf<OverlapPolicy>>,
            /// Random delay added to each fire, up to this many seconds (default 0).
            pub jitter_seconds: Option<Int<0, JITTER_SECONDS_MAX>>,
            /// Display name (default: the driver's description).
            pub name: Option<Line<NAME_CHARS_MAX>>,
        }
    };
}

/// The driver fields of an input declared with [`schedule_input!`].
macro_rules! driver_fields {
    ($i:ident) => {
        DriverFields {
            interval_value: $i.interval_value.map(Int::u32),
            interval_period: $i.interval_period.map(|p| p.0),
            interval_seconds: $i.interval_seconds.map(Int::u32),
            start_at: $i.start_at.map(|s| s.0),
            is_one_off_task: $i.is_one_off_task,
            cron_expression: $i.cron_expression.map(|c| c.0),
            cron_timezone: $i.cron_timezone.map(|z| z.0),
            timezone: $i.timezone.map(|z| z.0),
            clocked_run_at: $i.clocked_run_at.map(|c| c.0),
            clocked_timezone: $i.clocked_timezone.map(|z| z.0),
            solar_event: $i.solar_event.map(|e| e.0),
            solar_lat: $i.solar_lat.map(|d| d.0),
            solar_long: $i.solar_long.map(|d| d.0),
            solar_offset_seconds: $i.solar_offset_seconds.map(|o| o.get() as i32),
            debounce_seconds: $i.debounce_seconds.map(Int::u32),
            debounce_mode: $i.debounce_mode.map(|m| m.0),
            max_wait_seconds: $i.max_wait_seconds.map(Int::u32),
        }
    };
}

/// The extension settings of any schedule input.
macro_rules! settings_of {
    ($i:ident) => {
        Settings {
            context: $i.initial_context_template.map(|c| c.0),
            misfire: $i.misfire_policy.map(|m| m.0),
            grace: $i.misfire_grace_seconds.map(Int::u32),
            overlap: $i.overlap_policy.map(|o| o.0),
            jitter: $i.jitter_seconds.map(Int::u32),
            name: $i.name.map(|n| n.0),
        }
    };
}

schedule_create! {
    /// `add_interval_schedule`: fire every `interval_value` `interval_period`.
    pub struct AddInterval {
        /// Units between fires.
        pub interval_value: IntervalValue,
        /// `second`, `minute`, `hour` (documented), `day`, `week` or `month`.
        pub interval_period: OneOf<Period>,
        /// Fire once, one interval after the anchor, then complete.
        pub is_one_off_task: bool,
        /// Anchors the grid at this instant (ISO-8601), which is itself a fire; default: the
        /// first fire is one interval after creation.
        pub start_at: Option<InstantText>,
    }
}

schedule_create! {
    /// `add_cron_schedule`: fire on a cron expression in a zone.
    pub struct AddCron {
        /// 5 or 6 fields (seconds first), macros, `L`, `W`, `#`, names.
        #[schemars(schema_with = "cron_schema")]
        pub cron_expression: Line<CRON_CHARS_MAX>,
        /// The IANA zone the expression is read in.
        pub cron_timezone: Zone,
        /// Fire at the next match only, then complete.
        pub is_one_off_task: bool,
    }
}

schedule_create! {
    /// `add_clocked_schedule`: fire once at an instant.
    pub struct AddClocked {
        /// ISO-8601; without an offset it is read in `clocked_timezone`.
        pub clocked_run_at: InstantText,
        /// The zone of a `clocked_run_at` without offset.
        pub clocked_timezone: Zone,
        /// Accepted for symmetry with the other creates; a clocked schedule always fires once.
        pub is_one_off_task: Option<bool>,
    }
}

schedule_create! {
    /// `add_solar_schedule`: fire at a solar event at a location, daily or once.
    pub struct AddSolar {
        /// The solar event: `sunrise`, `sunset`, `civil_dawn`, `civil_dusk`, `nautical_dawn`, `nautical_dusk`, `astronomical_dawn`, `astronomical_dusk` or `solar_noon`.
        pub solar_event: OneOf<SolarEvent>,
        /// Latitude in decimal degrees (string, or number).
        pub solar_lat: Degrees<90>,
        /// Longitude in decimal degrees (string, or number).
        pub solar_long: Degrees<180>,
        /// Fire once, then complete.
        pub is_one_off_task: bool,
        /// Seconds after (positive) or before (negative) the event.
        pub solar_offset_seconds: Option<SolarOffset>,
    }
}

schedule_create! {
    /// `add_debounce_schedule` (extension): fired by `trigger_debounce_schedule`, debounced.
    pub struct AddDebounce {
        /// The quiet window.
        pub debounce_seconds: DebounceSeconds,
        /// `trailing` (default: fire once, `debounce_seconds` after the last trigger) or
        /// `leading` (fire on the first trigger, ignore the rest of the window).
        pub debounce_mode: Option<OneOf<Mode>>,
        /// Trailing mode: fire at the latest this long after a burst's first trigger.
        pub max_wait_seconds: Option<DebounceSeconds>,
    }
}

schedule_input! {
    /// The SDK's `create_schedule`: `schedule_type` plus the driver's fields (SDK or documented
    /// names), targeting `webhook_url` (a template is found or registered for it) or a
    /// documented target. `is_one_off_task` defaults to false, zones to UTC.
    pub struct AddSchedule {
        #[serde(alias = "driver_type")]
        #[schemars(extend("x-aliases" = ["driver_type"]))]
        pub schedule_type: DriverKind,
        /// The URL to call (SDK); instead of `schedule_to` + `model_to_schedule_uuid`.
        #[schemars(schema_with = "super::templates::optional_url_schema")]
        pub webhook_url: Option<Line<URL_CHARS_MAX>>,
        /// What the schedule fires: `webhook` (a webhook template) or `workflow`.
        pub schedule_to: Option<OneOf<TargetKind>>,
        /// The target's id: a webhook template (`schedule_to: webhook`) or a workflow (`schedule_to: workflow`).
        pub model_to_schedule_uuid: Option<Id>,
    }
}

schedule_input! {
    /// `update_schedule` (extension): the fields of the schedule's own driver type, context or
    /// policies; absent fields keep their values, the schedule re-arms atomically.
    pub struct UpdateSchedule {
        /// The schedule's id.
        pub schedule_uuid: Id,
    }
}

schedule_input! {
    /// `preview_schedule` (extension): the next instants of a stored schedule (`schedule_uuid`)
    /// or of driver fields (`driver_type` + the fields of the matching create call; its target
    /// and settings are accepted and unused), with `rules` applied.
    pub struct PreviewInput {
        /// The schedule's id.
        pub schedule_uuid: Option<Id>,
        #[serde(alias = "schedule_type")]
        #[schemars(extend("x-aliases" = ["schedule_type"]))]
        pub driver_type: Option<DriverKind>,
        /// Rules added to the schedule's own: `add_schedule_rule` bodies without `schedule_uuid`.
        pub rules: Option<List<RuleInput, RULES_PER_SCHEDULE_MAX>>,
        /// How many instants (default 10).
        pub count: Option<Int<1, { PREVIEW_COUNT_MAX as i64 }>>,
        /// Start after this instant (ISO-8601; default now, or the schedule's cursor).
        pub from: Option<InstantText>,
        /// SDK: a full `http(s)://` URL to POST to; a template is created for it. Instead of `schedule_to` + `model_to_schedule_uuid`.
        #[schemars(schema_with = "super::templates::optional_url_schema")]
        pub webhook_url: Option<Line<URL_CHARS_MAX>>,
        /// What the schedule fires: `webhook` (a webhook template) or `workflow`.
        pub schedule_to: Option<OneOf<TargetKind>>,
        /// The target's id: a webhook template (`schedule_to: webhook`) or a workflow (`schedule_to: workflow`).
        pub model_to_schedule_uuid: Option<Id>,
    }
}

/// A rule's type.
#[derive(Deserialize, JsonSchema, Clone, Copy, PartialEq, Eq, Debug)]
#[serde(rename_all = "snake_case")]
pub enum RuleType {
    TimeWindow,
    CalendarWindow,
    SolarWindow,
    Exclusion,
    Termination,
}

impl RuleType {
    /// Every rule type.
    pub(crate) const ALL: [RuleType; 5] = [
        RuleType::TimeWindow,
        RuleType::CalendarWindow,
        RuleType::SolarWindow,
        RuleType::Exclusion,
        RuleType::Termination,
    ];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            RuleType::TimeWindow => "time_window",
            RuleType::CalendarWindow => "calendar_window",
            RuleType::SolarWindow => "solar_window",
            RuleType::Exclusion => "exclusion",
            RuleType::Termination => "termination",
        }
    }

    /// The fields this rule type uses (a field of another type is refused; `null` is absent, as
    /// the documented example sends every field).
    pub(crate) fn fields(self) -> &'static [&'static str] {
        match self {
            RuleType::TimeWindow => &["start_time", "end_time", "timezone"],
            RuleType::CalendarWindow => &["allow_days", "allow_months", "allow_weekdays", "timezone"],
            RuleType::SolarWindow => &["solar_start_event", "solar_end_event", "solar_lat", "solar_long"],
            RuleType::Exclusion => &["exclusion_dates", "timezone"],
            RuleType::Termination => &["max_run_to_terminate_after", "expire_at"],
        }
    }
}

/// Declares a rule input: its own fields, then every rule type's fields.
macro_rules! rule_input {
    ($(#[$m:meta])* pub struct $name:ident { $($(#[$fm:meta])* pub $f:ident: $t:ty,)* }) => {
        $(#[$m])*
        #[derive(Deserialize, JsonSchema)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            $($(#[$fm])* pub $f: $t,)*
            /// `time_window`, `calendar_window`, `solar_window`, `exclusion` or `termination`.
            pub rule_type: RuleType,
            /// time_window: `HH:MM:SS`, inclusive.
            #[schemars(extend("pattern" = "^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?$"))]
            pub start_time: Option<Line<TIME_OF_DAY_CHARS_MAX>>,
            /// time_window: `HH:MM:SS`, exclusive; before `start_time` wraps past midnight.
            #[schemars(extend("pattern" = "^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?$"))]
            #[schemars(extend("x-differs-from" = "start_time"))]
            pub end_time: Option<Line<TIME_OF_DAY_CHARS_MAX>>,
            /// time_window, calendar_window, exclusion: the zone (default the schedule's, or the
            /// brand's).
            pub timezone: Option<Zone>,
            /// calendar_window: days of the month, 1–31.
            pub allow_days: Option<List<Int<1, 31>, 31>>,
            /// calendar_window: months, 1–12.
            pub allow_months: Option<List<Int<1, 12>, 12>>,
            /// calendar_window: weekdays, 0–6 with 0 = Sunday.
            pub allow_weekdays: Option<List<Int<0, 6>, 7>>,
            /// exclusion: `YYYY-MM-DD` dates to skip.
            pub exclusion_dates: Option<List<Date, EXCLUSION_DATES_MAX>>,
            /// solar_window: the event that opens the window.
            pub solar_start_event: Option<OneOf<SolarEvent>>,
            /// solar_window: the event that closes it.
            pub solar_end_event: Option<OneOf<SolarEvent>>,
            /// solar_window: latitude in decimal degrees.
            pub solar_lat: Option<Degrees<90>>,
            /// solar_window: longitude in decimal degrees.
            pub solar_long: Option<Degrees<180>>,
            /// termination: complete after this many runs.
            pub max_run_to_terminate_after: Option<Int<1, MAX_RUNS_MAX>>,
            /// termination: expire at this instant (ISO-8601; without offset read in `timezone`).
            pub expire_at: Option<InstantText>,
        }
    };
}

rule_input! {
    /// `add_schedule_rule`: attach one rule to a schedule.
    pub struct AddRule {
        /// The schedule's id.
        pub schedule_uuid: Id,
    }
}

rule_input! {
    /// One rule of `preview_schedule`'s `rules`.
    pub struct RuleInput {}
}

/// The rule fields of an input declared with [`rule_input!`].
macro_rules! rule_fields {
    ($i:ident) => {
        RuleFields {
            rule_type: $i.rule_type,
            start_time: $i.start_time.map(|t| t.0),
            end_time: $i.end_time.map(|t| t.0),
            timezone: $i.timezone.map(|z| z.0),
            allow_days: $i.allow_days.map(small_ints),
            allow_months: $i.allow_months.map(small_ints),
            allow_weekdays: $i.allow_weekdays.map(small_ints),
            exclusion_dates: $i.exclusion_dates.map(|l| l.0.into_iter().map(|d| d.0).collect()),
            solar_start_event: $i.solar_start_event.map(|e| e.0),
            solar_end_event: $i.solar_end_event.map(|e| e.0),
            solar_lat: $i.solar_lat.map(|d| d.0),
            solar_long: $i.solar_long.map(|d| d.0),
            max_run_to_terminate_after: $i.max_run_to_terminate_after.map(|m| m.get() as u64),
            expire_at: $i.expire_at.map(|e| e.0),
        }
    };
}

fn small_ints<const MIN: i64, const MAX: i64, const N: usize>(l: List<Int<MIN, MAX>, N>) -> Vec<u8> {
    l.0.into_iter().map(|i| u8::try_from(i.get()).unwrap_or(u8::MAX)).collect()
}

/// A schedule by id: details, rules list, delete.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleRef {
    /// The schedule's id.
    pub schedule_uuid: Id,
}

/// `delete_schedule_rule` (extension).
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteRule {
    /// The rule's id.
    pub rule_uuid: Id,
    /// The schedule's id.
    pub schedule_uuid: Id,
}

/// A status change: `stopped` (SDK) means paused.
#[derive(Deserialize, JsonSchema, Clone, Copy, PartialEq, Eq, Debug)]
#[serde(rename_all = "snake_case")]
pub enum StatusTo {
    Active,
    Paused,
    Stopped,
}

/// `change_schedule_status`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeStatus {
    /// The schedule's id.
    pub schedule_uuid: Id,
    /// `active` or `paused`.
    pub update_status_to: StatusTo,
}

/// The SDK's `update_schedule_status`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SdkChangeStatus {
    /// The schedule's id.
    pub schedule_uuid: Id,
    /// `active`, `paused` or `stopped` (= paused).
    #[serde(alias = "update_status_to")]
    #[schemars(extend("x-aliases" = ["update_status_to"]))]
    pub status: StatusTo,
}

/// `get_schedules_paginated` (query).
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SchedulesQuery {
    /// `active`, `inactive`, `paused`, `completed` or `expired`.
    pub filter_status: OneOf<ScheduleStatus>,
    /// 1-based page number (default 1).
    pub page: Option<Int<1, PAGE_MAX>>,
}

/// The SDK's `get_schedules` (query; `status` optional).
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SdkSchedulesQuery {
    /// Only schedules in this status (default: all).
    #[serde(alias = "filter_status")]
    #[schemars(extend("x-aliases" = ["filter_status"]))]
    pub status: Option<OneOf<ScheduleStatus>>,
    /// 1-based page number (default 1).
    pub page: Option<Int<1, PAGE_MAX>>,
}

/// `trigger_schedule_now` and `trigger_debounce_schedule`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Trigger {
    /// The schedule's id.
    pub schedule_uuid: Id,
    /// Merged over the schedule's initial context for this execution.
    #[serde(alias = "initial_context")]
    #[schemars(extend("x-aliases" = ["initial_context"]))]
    pub context: Option<Context>,
}

/// Driver fields as one request gave them (documented names; the SDK's resolved by aliases).
#[derive(Default)]
pub struct DriverFields {
    interval_value: Option<u32>,
    interval_period: Option<Period>,
    interval_seconds: Option<u32>,
    start_at: Option<String>,
    is_one_off_task: Option<bool>,
    cron_expression: Option<String>,
    cron_timezone: Option<String>,
    timezone: Option<String>,
    clocked_run_at: Option<String>,
    clocked_timezone: Option<String>,
    solar_event: Option<SolarEvent>,
    solar_lat: Option<f64>,
    solar_long: Option<f64>,
    solar_offset_seconds: Option<i32>,
    debounce_seconds: Option<u32>,
    debounce_mode: Option<Mode>,
    max_wait_seconds: Option<u32>,
}

impl DriverFields {
    /// The names of the fields given.
    fn given(&self) -> Vec<&'static str> {
        [
            ("interval_value", self.interval_value.is_some()),
            ("interval_period", self.interval_period.is_some()),
            ("interval_seconds", self.interval_seconds.is_some()),
            ("start_at", self.start_at.is_some()),
            ("is_one_off_task", self.is_one_off_task.is_some()),
            ("cron_expression", self.cron_expression.is_some()),
            ("cron_timezone", self.cron_timezone.is_some()),
            ("timezone", self.timezone.is_some()),
            ("clocked_run_at", self.clocked_run_at.is_some()),
            ("clocked_timezone", self.clocked_timezone.is_some()),
            ("solar_event", self.solar_event.is_some()),
            ("solar_lat", self.solar_lat.is_some()),
            ("solar_long", self.solar_long.is_some()),
            ("solar_offset_seconds", self.solar_offset_seconds.is_some()),
            ("debounce_seconds", self.debounce_seconds.is_some()),
            ("debounce_mode", self.debounce_mode.is_some()),
            ("max_wait_seconds", self.max_wait_seconds.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, given)| given.then_some(name))
        .collect()
    }

    /// Refuses a field that `kind` does not use (it would be silently ignored otherwise).
    fn check_kind(&self, kind: DriverKind) -> Result<(), ApiError> {
        match self.given().into_iter().find(|f| !kind.fields().contains(f)) {
            Some(f) => Err(ApiError::invalid(f, format!("not a field of a {} schedule", kind.as_str()))),
            None => Ok(()),
        }
    }
}

/// The extension settings of a create or update, as given.
struct Settings {
    context: Option<Map<String, Value>>,
    misfire: Option<MisfirePolicy>,
    grace: Option<u32>,
    overlap: Option<OverlapPolicy>,
    jitter: Option<u32>,
    name: Option<String>,
}

fn apply_settings(st: Settings, s: &mut Schedule) {
    if let Some(c) = st.context {
        s.initial_context = c;
    }
    if let Some(m) = st.misfire {
        s.misfire = m;
    }
    if let Some(g) = st.grace {
        s.misfire_grace_seconds = g;
    }
    if let Some(o) = st.overlap {
        s.overlap = o;
    }
    if let Some(j) = st.jitter {
        s.jitter_seconds = j;
    }
    if let Some(n) = st.name {
        s.name = Some(n);
    }
}

/// The rule fields of a request (`add_schedule_rule`, or one of `preview_schedule`'s `rules`).
pub struct RuleFields {
    rule_type: RuleType,
    start_time: Option<String>,
    end_time: Option<String>,
    timezone: Option<String>,
    allow_days: Option<Vec<u8>>,
    allow_months: Option<Vec<u8>>,
    allow_weekdays: Option<Vec<u8>>,
    exclusion_dates: Option<Vec<jiff::civil::Date>>,
    solar_start_event: Option<SolarEvent>,
    solar_end_event: Option<SolarEvent>,
    solar_lat: Option<f64>,
    solar_long: Option<f64>,
    max_run_to_terminate_after: Option<u64>,
    expire_at: Option<String>,
}

impl RuleFields {
    fn given(&self) -> Vec<&'static str> {
        [
            ("start_time", self.start_time.is_some()),
            ("end_time", self.end_time.is_some()),
            ("timezone", self.timezone.is_some()),
            ("allow_days", self.allow_days.is_some()),
            ("allow_months", self.allow_months.is_some()),
            ("allow_weekdays", self.allow_weekdays.is_some()),
            ("exclusion_dates", self.exclusion_dates.is_some()),
            ("solar_start_event", self.solar_start_event.is_some()),
            ("solar_end_event", self.solar_end_event.is_some()),
            ("solar_lat", self.solar_lat.is_some()),
            ("solar_long", self.solar_long.is_some()),
            ("max_run_to_terminate_after", self.max_run_to_terminate_after.is_some()),
            ("expire_at", self.expire_at.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, given)| given.then_some(name))
        .collect()
    }
}

fn load(cx: &Cx, id: Id) -> Result<Schedule, ApiError> {
    cx.app.store.get_schedule(cx.brand.id, ScheduleId(id.0))?.ok_or(ApiError::NotFound("Schedule"))
}

/// Builds a driver of `kind` from the fields given. With `base` (an update), absent fields keep
/// its values; otherwise required fields must be given. `sdk` defaults `is_one_off_task` to
/// false and zones to UTC.
fn build_driver(
    kind: DriverKind,
    d: &DriverFields,
    now: Millis,
    base: Option<&Driver>,
    sdk: bool,
) -> Result<Driver, ApiError> {
    let one_off = |current: bool| -> Result<bool, ApiError> {
        match d.is_one_off_task {
            Some(b) => Ok(b),
            None if base.is_some() || sdk => Ok(current),
            None => Err(ApiError::Missing("is_one_off_task".into())),
        }
    };
    Ok(match kind {
        DriverKind::Interval => {
            let cur = match base {
                Some(Driver::Interval(s)) => Some(*s),
                _ => None,
            };
            if d.interval_seconds.is_some() && (d.interval_value.is_some() || d.interval_period.is_some()) {
                return Err(ApiError::invalid(
                    "interval_seconds",
                    "give either interval_seconds or interval_value and interval_period",
                ));
            }
            let (value, period) = match (d.interval_value, d.interval_seconds) {
                (Some(v), _) => {
                    let p = d
                        .interval_period
                        .or(cur.map(|c| c.period))
                        .ok_or_else(|| ApiError::Missing("interval_period".into()))?;
                    (v, p)
                }
                (None, Some(secs)) => (secs, Period::Second),
                (None, None) => match cur {
                    Some(c) => (c.value, d.interval_period.unwrap_or(c.period)),
                    None => return Err(ApiError::Missing("interval_value".into())),
                },
            };
            if period == Period::Month && i64::from(value) > INTERVAL_MONTHS_MAX {
                return Err(ApiError::invalid("interval_value", format!("at most {INTERVAL_MONTHS_MAX} for months")));
            }
            let start_at = match &d.start_at {
                Some(s) => Some(parse_instant(s, "UTC").map_err(|why| ApiError::invalid("start_at", why))?),
                None => None,
            };
            let same_grid = d.interval_value.is_none() && d.interval_period.is_none() && d.interval_seconds.is_none();
            let (anchor_ms, anchor_fires) = match (start_at, cur) {
                (Some(s), _) => (s, true),
                (None, Some(c)) if same_grid => (c.anchor_ms, c.anchor_fires),
                _ => (now, false),
            };
            let one_off = one_off(cur.is_some_and(|c| c.one_off))?;
            Driver::Interval(IntervalSpec { value, period, anchor_ms, anchor_fires, one_off })
        }
        DriverKind::Cron => {
            let cur = match base {
                Some(Driver::Cron(s)) => Some(s.clone()),
                _ => None,
            };
            let expression = match (&d.cron_expression, &cur) {
                (Some(e), _) => e.clone(),
                (None, Some(c)) => c.expression.clone(),
                (None, None) => return Err(ApiError::Missing("cron_expression".into())),
            };
            let timezone = match (d.cron_timezone.as_ref().or(d.timezone.as_ref()), &cur) {
                (Some(z), _) => z.clone(),
                (None, Some(c)) => c.timezone.clone(),
                (None, None) if sdk => "UTC".into(),
                (None, None) => return Err(ApiError::Missing("cron_timezone".into())),
            };
            let spec = CronSpec::new(expression, timezone, one_off(cur.as_ref().is_some_and(|c| c.one_off))?);
            spec.validate(now).map_err(|e| match e {
                CronError::Expression(why) => ApiError::invalid("cron_expression", why),
                CronError::Zone => ApiError::invalid("cron_timezone", "not an IANA time zone"),
                CronError::NeverFires => ApiError::invalid("cron_expression", "never matches a date"),
            })?;
            Driver::Cron(spec)
        }
        DriverKind::Clocked => {
            let cur = match base {
                Some(Driver::Clocked(s)) => Some(s.clone()),
                _ => None,
            };
            let timezone = match (d.clocked_timezone.as_ref().or(d.timezone.as_ref()), &cur) {
                (Some(z), _) => z.clone(),
                (None, Some(c)) => c.timezone.clone(),
                (None, None) if sdk => "UTC".into(),
                (None, None) => return Err(ApiError::Missing("clocked_timezone".into())),
            };
            let run_at = match (&d.clocked_run_at, &cur) {
                (Some(s), _) => s.clone(),
                (None, Some(c)) => c.run_at.clone(),
                (None, None) => return Err(ApiError::Missing("clocked_run_at".into())),
            };
            let run_at_ms =
                parse_instant(&run_at, &timezone).map_err(|why| ApiError::invalid("clocked_run_at", why))?;
            Driver::Clocked(ClockedSpec { run_at_ms, run_at, timezone })
        }
        DriverKind::Solar => {
            let cur = match base {
                Some(Driver::Solar(s)) => Some(s.clone()),
                _ => None,
            };
            let event = d
                .solar_event
                .or(cur.as_ref().map(|c| c.event))
                .ok_or_else(|| ApiError::Missing("solar_event".into()))?;
            let lat =
                d.solar_lat.or(cur.as_ref().map(|c| c.lat)).ok_or_else(|| ApiError::Missing("solar_lat".into()))?;
            let lon =
                d.solar_long.or(cur.as_ref().map(|c| c.lon)).ok_or_else(|| ApiError::Missing("solar_long".into()))?;
            let offset_seconds = d.solar_offset_seconds.or(cur.as_ref().map(|c| c.offset_seconds)).unwrap_or(0);
            let one_off = one_off(cur.as_ref().is_some_and(|c| c.one_off))?;
            Driver::Solar(SolarSpec { event, lat, lon, offset_seconds, one_off })
        }
        DriverKind::Debounce => {
            let cur = match base {
                Some(Driver::Debounce(s)) => Some(*s),
                _ => None,
            };
            let window = match (d.debounce_seconds, cur) {
                (Some(w), _) => w,
                (None, Some(c)) => c.window_seconds,
                (None, None) => return Err(ApiError::Missing("debounce_seconds".into())),
            };
            let mode = d.debounce_mode.or(cur.map(|c| c.mode)).unwrap_or(Mode::Trailing);
            let max_wait = match d.max_wait_seconds {
                Some(m) if m < window => {
                    return Err(ApiError::invalid("max_wait_seconds", "must be at least debounce_seconds"));
                }
                Some(m) => Some(m),
                None => cur.and_then(|c| c.max_wait_seconds),
            };
            if max_wait.is_some() && mode == Mode::Leading {
                return Err(ApiError::invalid("max_wait_seconds", "only applies to debounce_mode trailing"));
            }
            Driver::Debounce(DebounceSpec { window_seconds: window, mode, max_wait_seconds: max_wait })
        }
    })
}

/// Where a new or changed schedule's cursor starts: its first fire, or why it has none.
struct Cursor {
    next_fire_ms: Option<Millis>,
    /// The reason it is `completed` at once.
    completed: Option<String>,
}

impl Cursor {
    fn apply(self, s: &mut Schedule) {
        s.status = if self.completed.is_some() { ScheduleStatus::Completed } else { ScheduleStatus::Active };
        s.reason = self.completed;
        s.next_fire_ms = self.next_fire_ms;
    }
}

/// The first fire of `driver` from `now` (pure; the cron and solar searches are CPU work).
/// Clocked times in the past are accepted within the misfire grace (they fire at once) and
/// refused beyond it; an interval whose first fire lies past [`INSTANT_MS_MAX`] is refused.
fn first_fire(
    driver: &Driver,
    grace_seconds: u32,
    debounce: &DebounceState,
    now: Millis,
) -> Result<Cursor, StoreError> {
    let next = match driver {
        Driver::Clocked(c) => {
            if now - c.run_at_ms <= i64::from(grace_seconds) * 1000 {
                Some(c.run_at_ms)
            } else {
                return Err(StoreError::rejected(
                    "clocked_run_at",
                    format!("is more than misfire_grace_seconds ({grace_seconds}) in the past"),
                ));
            }
        }
        Driver::Debounce(d) => d.due(debounce),
        Driver::Interval(i) => {
            // A one-off's only fire (even if it already passed), a recurring one's next fire.
            let first = if i.one_off { i.next_after(Millis::MIN) } else { i.next_after(now) };
            if first.is_none_or(|t| t > INSTANT_MS_MAX) {
                return Err(StoreError::rejected(
                    "interval_value",
                    "the first fire would come after 9999-12-30T00:00:00Z, the latest instant a schedule fires at",
                ));
            }
            driver.next_after(now)
        }
        d => d.next_after(now),
    };
    let completed = match driver {
        _ if next.is_some() => None,
        Driver::Debounce(_) => None,
        Driver::Solar(_) => Some("the solar event does not occur within the next 366 days".to_string()),
        _ => Some("no further fire times".to_string()),
    };
    Ok(Cursor { next_fire_ms: next, completed })
}

/// Sets the cursor of a resumed schedule from `now` (no catch-up).
fn initial_cursor(s: &mut Schedule, now: Millis) -> Result<(), StoreError> {
    first_fire(&s.driver, s.misfire_grace_seconds, &s.debounce, now)?.apply(s);
    Ok(())
}

/// A create's target: documented `schedule_to` + `model_to_schedule_uuid`, or the SDK's
/// `webhook_url`.
enum Target {
    Model(TargetKind, Id),
    Url(String),
}

/// Resolves the target: the template or workflow must exist for the brand; for a `webhook_url`
/// a template is found or registered.
async fn resolve_target(cx: &Cx, target: Target) -> Result<(TargetKind, Uuid), ApiError> {
    let (kind, id) = match target {
        Target::Url(url) => {
            let id = super::templates::template_for_url(cx, &url).await?;
            return Ok((TargetKind::Webhook, id.0));
        }
        Target::Model(kind, id) => (kind, id.0),
    };
    if kind == TargetKind::Webhook && cx.app.store.get_template(cx.brand.id, TemplateId(id))?.is_none() {
        return Err(ApiError::NotFound("Webhook"));
    }
    if kind == TargetKind::Workflow && cx.app.store.get_workflow(cx.brand.id, WorkflowId(id))?.is_none() {
        return Err(ApiError::NotFound("Workflow"));
    }
    Ok((kind, id))
}

async fn create(cx: Cx, kind: DriverKind, target: Target, d: DriverFields, settings: Settings, sdk: bool) -> ApiResult {
    let live = cx.app.live();
    let defaults = live.schedule_defaults;
    let grace = settings.grace.unwrap_or(defaults.misfire_grace_seconds);
    let now = cx.now;
    // The driver is checked and its first instant computed before anything is written (the
    // SDK's webhook_url registers a template), off the async workers.
    let (driver, cursor) = cx
        .app
        .compute
        .run(Lane::Change, live.api.compute_budget_ms, move |_| -> Result<(Driver, Cursor), ApiError> {
            let driver = build_driver(kind, &d, now, None, sdk)?;
            let cursor = first_fire(&driver, grace, &DebounceState::default(), now)?;
            Ok((driver, cursor))
        })
        .await??;
    let (target_kind, target_id) = resolve_target(&cx, target).await?;
    let mut s = Schedule {
        id: ScheduleId::new(),
        brand: cx.brand.id,
        name: None,
        target_kind,
        target_id,
        driver,
        initial_context: Map::new(),
        misfire: defaults.misfire_policy,
        misfire_grace_seconds: defaults.misfire_grace_seconds,
        overlap: OverlapPolicy::Allow,
        jitter_seconds: 0,
        status: ScheduleStatus::Active,
        reason: None,
        rules: Vec::new(),
        next_fire_ms: None,
        last_run_ms: None,
        total_triggered: 0,
        debounce: Default::default(),
        buffered_ms: None,
        version: 0,
        created_ms: cx.now,
        updated_ms: cx.now,
    };
    apply_settings(settings, &mut s);
    cursor.apply(&mut s);
    let s = cx.app.store.create_schedule(s).await?;
    cx.app.scheduler.arm(s.brand, s.id).await;
    ok(json!({"success": true, "details": "Schedule added successfully", "schedule_uuid": s.id.to_string()}))
}

pub async fn add_interval(cx: Cx, i: AddInterval) -> ApiResult {
    let d = DriverFields {
        interval_value: Some(i.interval_value.u32()),
        interval_period: Some(i.interval_period.0),
        start_at: i.start_at.map(|s| s.0),
        is_one_off_task: Some(i.is_one_off_task),
        ..Default::default()
    };
    let target = Target::Model(i.schedule_to.0, i.model_to_schedule_uuid);
    create(cx, DriverKind::Interval, target, d, settings_of!(i), false).await
}

pub async fn add_cron(cx: Cx, i: AddCron) -> ApiResult {
    let d = DriverFields {
        cron_expression: Some(i.cron_expression.0),
        cron_timezone: Some(i.cron_timezone.0),
        is_one_off_task: Some(i.is_one_off_task),
        ..Default::default()
    };
    let target = Target::Model(i.schedule_to.0, i.model_to_schedule_uuid);
    create(cx, DriverKind::Cron, target, d, settings_of!(i), false).await
}

pub async fn add_clocked(cx: Cx, i: AddClocked) -> ApiResult {
    let d = DriverFields {
        clocked_run_at: Some(i.clocked_run_at.0),
        clocked_timezone: Some(i.clocked_timezone.0),
        ..Default::default()
    };
    let target = Target::Model(i.schedule_to.0, i.model_to_schedule_uuid);
    create(cx, DriverKind::Clocked, target, d, settings_of!(i), false).await
}

pub async fn add_solar(cx: Cx, i: AddSolar) -> ApiResult {
    let d = DriverFields {
        solar_event: Some(i.solar_event.0),
        solar_lat: Some(i.solar_lat.0),
        solar_long: Some(i.solar_long.0),
        solar_offset_seconds: i.solar_offset_seconds.map(|o| o.get() as i32),
        is_one_off_task: Some(i.is_one_off_task),
        ..Default::default()
    };
    let target = Target::Model(i.schedule_to.0, i.model_to_schedule_uuid);
    create(cx, DriverKind::Solar, target, d, settings_of!(i), false).await
}

pub async fn add_debounce(cx: Cx, i: AddDebounce) -> ApiResult {
    let d = DriverFields {
        debounce_seconds: Some(i.debounce_seconds.u32()),
        debounce_mode: i.debounce_mode.map(|m| m.0),
        max_wait_seconds: i.max_wait_seconds.map(Int::u32),
        ..Default::default()
    };
    let target = Target::Model(i.schedule_to.0, i.model_to_schedule_uuid);
    create(cx, DriverKind::Debounce, target, d, settings_of!(i), false).await
}

/// The SDK's `create_schedule`.
pub async fn add_sdk(cx: Cx, i: AddSchedule) -> ApiResult {
    let kind = i.schedule_type;
    let target = match (i.webhook_url, i.schedule_to, i.model_to_schedule_uuid) {
        (Some(url), None, None) => Target::Url(url.0),
        (Some(_), _, _) => {
            return Err(ApiError::invalid(
                "webhook_url",
                "give either webhook_url or schedule_to and model_to_schedule_uuid, not both",
            ));
        }
        (None, to, model) => Target::Model(
            to.ok_or_else(|| ApiError::Missing("schedule_to".into()))?.0,
            model.ok_or_else(|| ApiError::Missing("model_to_schedule_uuid".into()))?,
        ),
    };
    let d = driver_fields!(i);
    d.check_kind(kind)?;
    create(cx, kind, target, d, settings_of!(i), true).await
}

// ---- reading ----

/// "2 hours 30 minutes": the two largest non-zero units.
pub fn human_duration(ms: i64) -> String {
    if ms < 1000 {
        return "less than a second".into();
    }
    let secs = ms / 1000;
    let units = [(secs / 86_400, "day"), (secs / 3600 % 24, "hour"), (secs / 60 % 60, "minute"), (secs % 60, "second")];
    units
        .iter()
        .filter(|(n, _)| *n > 0)
        .take(2)
        .map(|(n, u)| format!("{n} {u}{}", if *n == 1 { "" } else { "s" }))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The next run shown to clients: only an active schedule has one (a paused or inactive
/// schedule keeps its stored cursor, but it will not fire there; resuming recomputes it).
fn next_run(s: &Schedule) -> Option<Millis> {
    if s.status == ScheduleStatus::Active { s.next_fire_ms } else { None }
}

fn locale_details(s: &Schedule, brand_tz: &str, now: Millis) -> Value {
    json!({
        "preferred_timezone": brand_tz,
        "time_left_to_trigger": next_run(s).map(|n| human_duration(n - now)),
        "last_run_at_by_preferred_timezone": s.last_run_ms.map(|t| tz::format_in_zone(t, brand_tz)),
        "next_run_at_by_preferred_timezone": next_run(s).map(|t| tz::format_in_zone(t, brand_tz)),
    })
}

fn opt_utc(t: Option<Millis>) -> Value {
    t.map(|t| Value::String(format_utc(t))).unwrap_or(Value::Null)
}

fn list_item(s: &Schedule, brand_tz: &str, now: Millis) -> Value {
    json!({
        "reason": s.reason,
        "status": s.status.as_str(),
        "type": s.target_kind.as_str(),
        "model_uuid": s.target_id.to_string(),
        "driver_type": s.driver.kind(),
        "last_run_at": opt_utc(s.last_run_ms),
        "next_run_at": opt_utc(next_run(s)),
        "total_schedule_triggered": s.total_triggered,
        "locale_timezone_converted_details": locale_details(s, brand_tz, now),
        "schedule_uuid": s.id.to_string(),
        "name": s.name,
    })
}

fn driver_view(d: &Driver) -> Value {
    let mut v = json!({
        "type": d.kind(),
        "interval_value": null, "interval_period": null,
        "cron_expression": null, "cron_timezone": null,
        "clocked_run_at": null, "clocked_timezone": null,
        "solar_event": null, "solar_lat": null, "solar_long": null,
        "is_one_off": d.is_one_off(), "solar_offset": null,
        "start_at": null,
        "debounce_seconds": null, "debounce_mode": null, "max_wait_seconds": null,
    });
    let o = v.as_object_mut().expect("object literal");
    match d {
        Driver::Interval(s) => {
            o.insert("interval_value".into(), json!(s.value));
            o.insert("interval_period".into(), json!(s.period.as_str()));
            if s.anchor_fires {
                o.insert("start_at".into(), json!(format_utc(s.anchor_ms)));
            }
        }
        Driver::Cron(s) => {
            o.insert("cron_expression".into(), json!(s.expression));
            o.insert("cron_timezone".into(), json!(s.timezone));
        }
        Driver::Clocked(s) => {
            o.insert("clocked_run_at".into(), json!(s.run_at));
            o.insert("clocked_timezone".into(), json!(s.timezone));
        }
        Driver::Solar(s) => {
            o.insert("solar_event".into(), json!(s.event.as_str()));
            o.insert("solar_lat".into(), json!(s.lat.to_string()));
            o.insert("solar_long".into(), json!(s.lon.to_string()));
            o.insert("solar_offset".into(), json!(s.offset_seconds));
        }
        Driver::Debounce(s) => {
            o.insert("debounce_seconds".into(), json!(s.window_seconds));
            o.insert("debounce_mode".into(), json!(s.mode.as_str()));
            o.insert("max_wait_seconds".into(), json!(s.max_wait_seconds));
        }
    }
    v
}

pub fn rule_view(r: &ScheduleRule, zone_default: &str) -> Value {
    let mut v = json!({
        "rule_uuid": r.id.to_string(),
        "rule_type": r.rule.type_name(),
        "start_time": null, "end_time": null, "timezone": null,
        "allow_days": null, "allow_months": null, "allow_weekdays": null,
        "exclusion_dates": null,
        "solar_start_event": null, "solar_end_event": null, "solar_lat": null, "solar_long": null,
        "max_run_to_terminate_after": null, "expire_at": null,
    });
    let o = v.as_object_mut().expect("object literal");
    match &r.rule {
        Rule::TimeWindow { start_seconds, end_seconds, timezone } => {
            o.insert("start_time".into(), json!(format_time_of_day(*start_seconds)));
            o.insert("end_time".into(), json!(format_time_of_day(*end_seconds)));
            o.insert("timezone".into(), json!(timezone));
        }
        Rule::CalendarWindow { days, months, weekdays, timezone } => {
            o.insert("allow_days".into(), json!(days));
            o.insert("allow_months".into(), json!(months));
            o.insert("allow_weekdays".into(), json!(weekdays));
            o.insert("timezone".into(), json!(timezone));
        }
        Rule::SolarWindow { start, end, lat, lon } => {
            o.insert("solar_start_event".into(), json!(start.as_str()));
            o.insert("solar_end_event".into(), json!(end.as_str()));
            o.insert("solar_lat".into(), json!(lat.to_string()));
            o.insert("solar_long".into(), json!(lon.to_string()));
        }
        Rule::Exclusion { dates, timezone } => {
            o.insert("exclusion_dates".into(), json!(dates.iter().map(|d| d.to_string()).collect::<Vec<_>>()));
            o.insert("timezone".into(), json!(timezone));
        }
        Rule::Termination { max_runs, expire_at_ms } => {
            o.insert("max_run_to_terminate_after".into(), json!(max_runs));
            o.insert("expire_at".into(), opt_utc(*expire_at_ms));
        }
    }
    let _ = zone_default;
    v
}

/// The target's name and description (null when the target is gone); a read error is an error.
fn target_names(cx: &Cx, s: &Schedule) -> Result<(Value, Value), ApiError> {
    Ok(match s.target_kind {
        TargetKind::Webhook => match cx.app.store.get_template(cx.brand.id, TemplateId(s.target_id))? {
            Some(t) => (json!(t.name), json!(t.description)),
            None => (Value::Null, Value::Null),
        },
        TargetKind::Workflow => match cx.app.store.get_workflow(cx.brand.id, WorkflowId(s.target_id))? {
            Some(w) => (json!(w.name), json!(w.description)),
            None => (Value::Null, Value::Null),
        },
        TargetKind::Channel => (Value::Null, Value::Null),
    })
}

fn detail_view(cx: &Cx, s: &Schedule) -> Result<Value, ApiError> {
    let tz = cx.brand.timezone.as_str();
    let (target_name, target_description) = target_names(cx, s)?;
    Ok(json!({
        "driver": driver_view(&s.driver),
        "status": s.status.as_str(),
        "reason": s.reason,
        "type": s.target_kind.as_str(),
        "last_run_at": opt_utc(s.last_run_ms),
        "next_run_at": opt_utc(next_run(s)),
        "locale_timezone_converted_details": locale_details(s, tz, cx.now),
        "schedule_uuid": s.id.to_string(),
        "schedule_applied_model_uuid": s.target_id.to_string(),
        "target_name": target_name,
        "target_description": target_description,
        "total_triggered": s.total_triggered,
        "rules": s.rules.iter().map(|r| rule_view(r, s.display_zone(tz))).collect::<Vec<_>>(),
        "name": s.name,
        "initial_context_template": s.initial_context,
        "misfire_policy": s.misfire.as_str(),
        "misfire_grace_seconds": s.misfire_grace_seconds,
        "overlap_policy": s.overlap.as_str(),
        "jitter_seconds": s.jitter_seconds,
        "inserted_at": tz::format_in_zone(s.created_ms, tz),
    }))
}

pub async fn list(cx: Cx, i: SchedulesQuery) -> ApiResult {
    list_with(cx, Some(i.filter_status.0), page_number(i.page)).await
}

/// The SDK's `get_schedules` (`status` optional).
pub async fn list_sdk(cx: Cx, i: SdkSchedulesQuery) -> ApiResult {
    list_with(cx, i.status.map(|s| s.0), page_number(i.page)).await
}

async fn list_with(cx: Cx, status: Option<ScheduleStatus>, page: u64) -> ApiResult {
    let items = cx.app.store.list_schedules(cx.brand.id, status, page, cx.page_size)?;
    let tz = cx.brand.timezone.clone();
    paginated(items, page, cx.page_size, &tz, |s| list_item(s, &tz, cx.now))
}

pub async fn detail(cx: Cx, i: ScheduleRef) -> ApiResult {
    let s = load(&cx, i.schedule_uuid)?;
    ok(json!({"success": true, "data": detail_view(&cx, &s)?}))
}

// ---- changing ----

fn status_change(cx: &Cx, s: &mut Schedule, to: StatusTo, field: &'static str) -> Result<(), StoreError> {
    if s.status.is_final() {
        return Err(StoreError::rejected(field, format!("a {} schedule cannot change status", s.status.as_str())));
    }
    match to {
        StatusTo::Paused | StatusTo::Stopped => {
            s.status = ScheduleStatus::Paused;
            s.reason = Some("paused through the API".into());
        }
        StatusTo::Active => {
            if s.status == ScheduleStatus::Active {
                return Ok(());
            }
            let gone = match s.target_kind {
                TargetKind::Webhook => cx
                    .app
                    .store
                    .get_template(s.brand, TemplateId(s.target_id))?
                    .is_none()
                    .then_some("the target webhook template no longer exists"),
                TargetKind::Workflow => cx
                    .app
                    .store
                    .get_workflow(s.brand, WorkflowId(s.target_id))?
                    .is_none()
                    .then_some("the target workflow no longer exists"),
                TargetKind::Channel => Some("a schedule cannot target a notification channel"),
            };
            if let Some(why) = gone {
                return Err(StoreError::rejected(field, why));
            }
            // Resume: next fire computed from now, no catch-up.
            let mut fresh = s.clone();
            initial_cursor(&mut fresh, cx.now).map_err(|e| match e {
                StoreError::Rejected { field: f, why } => StoreError::rejected(field, format!("{f} {why}")),
                other => other,
            })?;
            s.status = fresh.status;
            s.reason = fresh.reason;
            s.next_fire_ms = fresh.next_fire_ms;
            s.buffered_ms = None;
        }
    }
    Ok(())
}

async fn change_status_with(cx: Cx, id: Id, to: StatusTo, field: &'static str) -> ApiResult {
    let cx2 = cx.clone();
    let (s, ()) = cx
        .app
        .store
        .update_schedule(cx.brand.id, ScheduleId(id.0), cx.now, move |s| status_change(&cx2, s, to, field))
        .await?;
    cx.app.scheduler.arm(s.brand, s.id).await;
    ok(json!({"success": true, "details": "Schedule status updated", "status": s.status.as_str()}))
}

pub async fn change_status(cx: Cx, i: ChangeStatus) -> ApiResult {
    change_status_with(cx, i.schedule_uuid, i.update_status_to, "update_status_to").await
}

/// The SDK's `update_schedule_status` (`status`; `stopped` means paused).
pub async fn change_status_sdk(cx: Cx, i: SdkChangeStatus) -> ApiResult {
    change_status_with(cx, i.schedule_uuid, i.status, "status").await
}

pub async fn delete(cx: Cx, i: ScheduleRef) -> ApiResult {
    let id = ScheduleId(i.schedule_uuid.0);
    match cx.app.store.delete_schedule(cx.brand.id, id).await {
        Ok(()) => {
            cx.app.scheduler.disarm(id).await;
            // The documented success text really is under "error".
            ok(json!({"success": true, "error": "Schedule deleted successfully", "schedule_uuid": id.to_string()}))
        }
        Err(StoreError::NotFound(_)) => Err(ApiError::NotFound("Schedule")),
        Err(e) => Err(e.into()),
    }
}

pub async fn update(cx: Cx, i: UpdateSchedule) -> ApiResult {
    let current = load(&cx, i.schedule_uuid)?;
    let d = driver_fields!(i);
    let settings = settings_of!(i);
    let kind = DriverKind::of(&current.driver);
    d.check_kind(kind)?;
    let driver_changed = !d.given().is_empty();
    let mut probe = current.clone();
    apply_settings(settings, &mut probe);
    if driver_changed {
        let (base, grace, debounce, now) =
            (current.driver.clone(), probe.misfire_grace_seconds, probe.debounce.clone(), cx.now);
        let active = probe.status == ScheduleStatus::Active;
        let (driver, cursor) = cx
            .app
            .compute
            .run(
                Lane::Change,
                cx.app.live().api.compute_budget_ms,
                move |_| -> Result<(Driver, Option<Cursor>), ApiError> {
                    let driver = build_driver(kind, &d, now, Some(&base), false)?;
                    let cursor = if active { Some(first_fire(&driver, grace, &debounce, now)?) } else { None };
                    Ok((driver, cursor))
                },
            )
            .await??;
        probe.driver = driver;
        if let Some(c) = cursor {
            c.apply(&mut probe);
        }
    }
    let now = cx.now;
    let (s, ()) = cx
        .app
        .store
        .update_schedule(cx.brand.id, current.id, now, move |s| {
            if s.status.is_final() && driver_changed {
                return Err(StoreError::rejected(
                    "schedule_uuid",
                    format!("a {} schedule cannot be changed", s.status.as_str()),
                ));
            }
            s.initial_context = probe.initial_context;
            s.misfire = probe.misfire;
            s.misfire_grace_seconds = probe.misfire_grace_seconds;
            s.overlap = probe.overlap;
            s.jitter_seconds = probe.jitter_seconds;
            s.name = probe.name;
            if driver_changed {
                s.driver = probe.driver;
                if s.status == ScheduleStatus::Active {
                    s.next_fire_ms = probe.next_fire_ms;
                    s.status = probe.status;
                    s.reason = probe.reason;
                }
            }
            Ok(())
        })
        .await?;
    cx.app.scheduler.arm(s.brand, s.id).await;
    ok(
        json!({"success": true, "details": "Schedule updated successfully", "schedule_uuid": s.id.to_string(), "next_run_at": opt_utc(next_run(&s))}),
    )
}

// ---- rules ----

/// Builds a rule from its fields; fields of another rule type are refused.
fn parse_rule(r: RuleFields, default_zone: &str) -> Result<Rule, ApiError> {
    let rule_type = r.rule_type;
    if let Some(f) = r.given().into_iter().find(|f| !rule_type.fields().contains(f)) {
        return Err(ApiError::invalid(f, format!("not a field of rule_type {}", rule_type.as_str())));
    }
    let zone = r.timezone.unwrap_or_else(|| default_zone.to_string());
    let time_of_day = |field: &str, v: Option<String>| -> Result<u32, ApiError> {
        let v = v.ok_or_else(|| ApiError::Missing(field.into()))?;
        parse_time_of_day(&v).ok_or_else(|| ApiError::invalid(field, "expected HH:mm:ss (00:00:00 to 23:59:59)"))
    };
    Ok(match rule_type {
        RuleType::TimeWindow => {
            let start = time_of_day("start_time", r.start_time)?;
            let end = time_of_day("end_time", r.end_time)?;
            if start == end {
                return Err(ApiError::invalid("end_time", "must differ from start_time"));
            }
            Rule::TimeWindow { start_seconds: start, end_seconds: end, timezone: zone }
        }
        RuleType::CalendarWindow => {
            let (days, months, weekdays) = (
                r.allow_days.unwrap_or_default(),
                r.allow_months.unwrap_or_default(),
                r.allow_weekdays.unwrap_or_default(),
            );
            if days.is_empty() && months.is_empty() && weekdays.is_empty() {
                return Err(ApiError::Missing("allow_days".into()));
            }
            Rule::CalendarWindow { days, months, weekdays, timezone: zone }
        }
        RuleType::SolarWindow => Rule::SolarWindow {
            start: r.solar_start_event.ok_or_else(|| ApiError::Missing("solar_start_event".into()))?,
            end: r.solar_end_event.ok_or_else(|| ApiError::Missing("solar_end_event".into()))?,
            lat: r.solar_lat.ok_or_else(|| ApiError::Missing("solar_lat".into()))?,
            lon: r.solar_long.ok_or_else(|| ApiError::Missing("solar_long".into()))?,
        },
        RuleType::Exclusion => match r.exclusion_dates {
            Some(dates) if !dates.is_empty() => Rule::Exclusion { dates, timezone: zone },
            Some(_) => return Err(ApiError::invalid("exclusion_dates", "expected at least one YYYY-MM-DD date")),
            None => return Err(ApiError::Missing("exclusion_dates".into())),
        },
        RuleType::Termination => {
            let expire = match r.expire_at {
                Some(s) => Some(parse_instant(&s, &zone).map_err(|why| ApiError::invalid("expire_at", why))?),
                None => None,
            };
            if r.max_run_to_terminate_after.is_none() && expire.is_none() {
                return Err(ApiError::Missing("max_run_to_terminate_after".into()));
            }
            Rule::Termination { max_runs: r.max_run_to_terminate_after, expire_at_ms: expire }
        }
    })
}

pub async fn add_rule(cx: Cx, i: AddRule) -> ApiResult {
    let current = load(&cx, i.schedule_uuid)?;
    let rule = parse_rule(rule_fields!(i), current.display_zone(&cx.brand.timezone))?;
    let id = RuleId::new();
    let now = cx.now;
    let (s, ()) = cx
        .app
        .store
        .update_schedule(cx.brand.id, current.id, now, move |s| {
            if s.rules.len() >= RULES_PER_SCHEDULE_MAX {
                return Err(StoreError::rejected(
                    "schedule_uuid",
                    format!("a schedule has at most {RULES_PER_SCHEDULE_MAX} rules"),
                ));
            }
            if let Rule::Termination { max_runs, expire_at_ms } = &rule
                && s.status == ScheduleStatus::Active
            {
                if max_runs.is_some_and(|m| s.total_triggered >= m) {
                    s.status = ScheduleStatus::Completed;
                    s.reason = Some("max_run_to_terminate_after reached".into());
                    s.next_fire_ms = None;
                } else if expire_at_ms.is_some_and(|e| e <= now) {
                    s.status = ScheduleStatus::Expired;
                    s.reason = Some("expire_at reached".into());
                    s.next_fire_ms = None;
                }
            }
            s.rules.push(ScheduleRule { id, rule, created_ms: now });
            Ok(())
        })
        .await?;
    cx.app.scheduler.arm(s.brand, s.id).await;
    ok(json!({"success": true, "details": "Schedule rule added successfully", "rule_uuid": id.to_string()}))
}

pub async fn list_rules(cx: Cx, i: ScheduleRef) -> ApiResult {
    let s = load(&cx, i.schedule_uuid)?;
    let zone = s.display_zone(&cx.brand.timezone).to_string();
    ok(json!({"success": true, "data": s.rules.iter().map(|r| rule_view(r, &zone)).collect::<Vec<_>>()}))
}

pub async fn delete_rule(cx: Cx, i: DeleteRule) -> ApiResult {
    let rule_id = RuleId(i.rule_uuid.0);
    let current = load(&cx, i.schedule_uuid)?;
    if !current.rules.iter().any(|r| r.id == rule_id) {
        return Err(ApiError::NotFound("Rule"));
    }
    let (s, ()) = cx
        .app
        .store
        .update_schedule(cx.brand.id, current.id, cx.now, move |s| {
            s.rules.retain(|r| r.id != rule_id);
            Ok(())
        })
        .await?;
    cx.app.scheduler.arm(s.brand, s.id).await;
    ok(json!({"success": true, "details": "Schedule rule deleted successfully", "rule_uuid": rule_id.to_string()}))
}

// ---- preview and triggers ----

pub async fn preview_times(cx: Cx, i: PreviewInput) -> ApiResult {
    let schedule = match i.schedule_uuid {
        Some(id) => Some(load(&cx, id)?),
        None => None,
    };
    let (zone, now) = (cx.brand.timezone.clone(), cx.now);
    let data = cx
        .app
        .compute
        .run(Lane::Preview, cx.app.live().api.compute_budget_ms, move |budget| {
            preview_request(i, schedule.as_ref(), &zone, now, budget)
        })
        .await??;
    ok(json!({"success": true, "data": data}))
}

/// The preview itself, shared by `preview_schedule` and the offline `hookwheel schedule
/// preview`: the next `count` instants of a stored schedule (from its cursor) or of driver
/// fields, with `rules` applied. CPU-bound: the search stops when `budget` is spent and the
/// answer then says `"complete": false` with the instants found so far.
pub fn preview_request(
    i: PreviewInput,
    schedule: Option<&Schedule>,
    brand_zone: &str,
    now: Millis,
    budget: &Budget,
) -> Result<Value, ApiError> {
    let count = i.count.map_or(PREVIEW_COUNT_DEFAULT, |c| c.get() as usize);
    let from = match &i.from {
        Some(f) => Some(parse_instant(&f.0, "UTC").map_err(|why| ApiError::invalid("from", why))?),
        None => None,
    };
    let mut extra_rules = Vec::new();
    for (n, r) in i.rules.map(|l| l.0).unwrap_or_default().into_iter().enumerate() {
        extra_rules.push(parse_rule(rule_fields!(r), brand_zone).map_err(|e| e.within(&format!("rules[{n}]")))?);
    }
    let driver_type = i.driver_type;
    let d = driver_fields!(i);
    let (driver, mut rules, runs_done, start, zone) = match schedule {
        Some(s) => {
            if let Some(f) = d.given().first() {
                return Err(ApiError::invalid(f, "not used with schedule_uuid (the schedule's driver applies)"));
            }
            if driver_type.is_some() {
                return Err(ApiError::invalid("driver_type", "not used with schedule_uuid"));
            }
            let zone = s.display_zone(brand_zone).to_string();
            if s.status != ScheduleStatus::Active {
                return Ok(json!({"fire_times": [], "timezone": zone, "status": s.status.as_str(), "complete": true}));
            }
            let start = match (from, s.next_fire_ms) {
                (Some(f), _) => f,
                // Start at the cursor, so the first instant shown is the next one that fires.
                (None, Some(c)) => c - 1,
                (None, None) => now,
            };
            (
                s.driver.clone(),
                s.rules.iter().map(|r| r.rule.clone()).collect::<Vec<_>>(),
                s.total_triggered,
                start,
                zone,
            )
        }
        None => {
            let kind = driver_type.ok_or_else(|| ApiError::Missing("driver_type".into()))?;
            d.check_kind(kind)?;
            let driver = build_driver(kind, &d, now, None, true)?;
            let zone = driver.zone().unwrap_or(brand_zone).to_string();
            (driver, Vec::new(), 0, from.unwrap_or(now), zone)
        }
    };
    rules.extend(extra_rules);
    let p = preview_until(&driver, &rules, start, count, runs_done, &mut || budget.spent());
    let data: Vec<Value> = p
        .times
        .iter()
        .map(|t| json!({"utc": crate::time::format_utc_seconds(*t), "local": tz::format_in_zone_seconds(*t, &zone)}))
        .collect();
    let mut out = json!({"fire_times": data, "timezone": zone, "complete": p.complete});
    if !p.complete {
        out["stopped_by"] = json!("time_budget");
        out["searched_until"] = json!(crate::time::format_utc_seconds(p.searched_to));
        out["note"] = json!(format!(
            "the time budget of {} ms (api.compute_budget_ms) ran out after {} of {count} instants; \
             ask again with `from` set to `searched_until` for more",
            budget.limit_ms(),
            p.times.len()
        ));
    }
    Ok(out)
}

fn manual_execution(s: &Schedule, now: Millis, context: Map<String, Value>) -> Execution {
    Execution::manual(s.brand, Some(s.id), (s.target_kind, s.target_id), context, now)
}

pub async fn trigger_now(cx: Cx, i: Trigger) -> ApiResult {
    let s = load(&cx, i.schedule_uuid)?;
    let mut context = s.initial_context.clone();
    if let Some(extra) = i.context {
        context.extend(extra.0);
    }
    let e = cx.app.store.create_execution(manual_execution(&s, cx.now, context)).await?;
    let id = e.id;
    cx.app.dispatch(e).await;
    ok(json!({"success": true, "details": "Schedule triggered", "execution_uuid": id.to_string()}))
}

pub async fn trigger_debounce(cx: Cx, i: Trigger) -> ApiResult {
    let current = load(&cx, i.schedule_uuid)?;
    if !matches!(current.driver, Driver::Debounce(_)) {
        return Err(ApiError::invalid("schedule_uuid", "not a debounce schedule"));
    }
    if current.status != ScheduleStatus::Active {
        return Err(ApiError::conflict(format!(
            "Schedule is {}; only active schedules accept triggers",
            current.status.as_str()
        )));
    }
    let context = i.context.map(|c| c.0);
    let now = cx.now;
    let (s, outcome) = cx
        .app
        .store
        .update_schedule(cx.brand.id, current.id, now, move |s| {
            let Driver::Debounce(spec) = s.driver.clone() else {
                return Err(StoreError::rejected("schedule_uuid", "not a debounce schedule"));
            };
            if s.status != ScheduleStatus::Active {
                return Err(StoreError::State(format!(
                    "Schedule is {}; only active schedules accept triggers",
                    s.status.as_str()
                )));
            }
            let out = spec.trigger(&mut s.debounce, now, context);
            if let TriggerOutcome::FireAt(at) = out {
                s.next_fire_ms = Some(at);
            }
            Ok(out)
        })
        .await?;
    cx.app.scheduler.arm(s.brand, s.id).await;
    let (fire_at, absorbed) = match outcome {
        TriggerOutcome::FireAt(at) => (json!(format_utc(at)), false),
        TriggerOutcome::Absorbed => (Value::Null, true),
    };
    ok(json!({"success": true, "details": "Debounce trigger accepted", "fire_at": fire_at, "absorbed": absorbed}))
}
