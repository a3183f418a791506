//! Inbound events: sources (found by the SHA-256 of their ingest token), subscriptions, the
//! event log, dedup windows, and replay / bulk-retry jobs.
//!
//! [`Store::record_event`] is the one write of an arriving event: the dedup check, the event
//! with its routing, the executions it creates (`hw_evt_<event>_<subscription>`) and the
//! debounce schedules it triggers are one operation of the writer, so they commit together or
//! not at all: a crash can never leave an event stored but unrouted, or routed twice.
//! [`Store::job_step`] commits a job's batch (new executions, the routes they add to their
//! events) with the job's advanced cursor, so a restarted job continues after its last commit.

use std::ops::Bound;

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::{get, get_raw, put, put_raw, remove, scan_prefix};
use crate::model::{
    BrandId, Event, EventId, EventStatus, Execution, ExecutionId, ExecutionStatus, Job, JobId, JobStatus, Page, Route,
    RouteOutcome, Schedule, ScheduleId, ScheduleStatus, Source, SourceId, Subscription, SubscriptionId,
};
use crate::schedule::Driver;
use crate::schedule::debounce::TriggerOutcome;
use crate::store::codec;
use crate::store::ops::index::EncodedExecution;
use crate::store::tables::{
    COUNTS, EVENT_DEDUP, EVENTS, EVENTS_BY_SOURCE, EVENTS_BY_STATUS, EXECUTIONS, JOBS, RUNNING_JOBS, SCHEDULES,
    SOURCE_TOKENS, SOURCES, SUBSCRIPTIONS, key,
};
use crate::store::{Store, StoreError};
use crate::time::Millis;

/// The dedup scope of `send_event` (its events have no source).
pub const SEND_EVENT_SCOPE: [u8; 16] = [0; 16];

/// Most event records [`Store::events_before`] looks at for one page (a read of a few
/// megabytes at most, however selective the filter).
pub const EVENTS_PAGE_SCAN_MAX: u64 = 5_000;

/// A dedup check to make with an event: same scope and key within the window → duplicate.
#[derive(Debug, Clone)]
pub struct DedupWrite {
    /// The source id's bytes, or [`SEND_EVENT_SCOPE`].
    pub scope: [u8; 16],
    pub key: String,
    /// How long the key marks repeats, in ms (`i64::MAX`: for as long as the event is kept).
    pub window_ms: i64,
}

/// An arriving event with everything its routing creates.
#[derive(Debug, Clone)]
pub struct EventWrite {
    pub event: Event,
    pub dedup: Option<DedupWrite>,
    pub executions: Vec<Execution>,
    /// Debounce schedules to trigger: (index of the route in `event.routes`, schedule, the
    /// context the fire will carry).
    pub debounce: Vec<(usize, ScheduleId, Map<String, Value>)>,
    pub now: Millis,
}

/// What [`Store::record_event`] stored.
#[derive(Debug, Clone)]
pub enum Recorded {
    /// The event, its executions (to dispatch) and the debounce schedules it triggered (to
    /// re-arm).
    Accepted { event: Event, executions: Vec<Execution>, debounced: Vec<ScheduleId> },
    /// A repeat within the dedup window: stored as `duplicate` of `first`, nothing routed.
    Duplicate { event: Event, first: EventId },
}

/// A job's batch, committed with the job's new state.
#[derive(Debug, Clone)]
pub struct JobStep {
    /// The job as it will be stored (cursor and counts advanced).
    pub job: Job,
    /// The cursor the batch was read from: the step commits only if it is still stored.
    pub expected_cursor: Option<uuid::Uuid>,
    pub executions: Vec<Execution>,
    /// Routes a replay adds to its events.
    pub routes: Vec<(EventId, Route)>,
}

/// Filters of the event log.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    pub source: Option<SourceId>,
    pub event_type: Option<String>,
    pub status: Option<EventStatus>,
    pub from_ms: Option<Millis>,
    pub to_ms: Option<Millis>,
}

impl EventFilter {
    pub fn matches(&self, e: &Event) -> bool {
        self.source.is_none_or(|s| e.source == Some(s))
            && self.event_type.as_ref().is_none_or(|t| crate::events::route::type_matches(t, e.event_type.as_deref()))
            && self.status.is_none_or(|s| e.status == s)
            && self.from_ms.is_none_or(|f| e.received_ms >= f)
            && self.to_ms.is_none_or(|t| e.received_ms < t)
    }
}

/// An index table open for reading.
type IndexTable = redb::ReadOnlyTable<&'static [u8], &'static [u8]>;

fn bkey(brand: BrandId, id: &[u8; 16]) -> Vec<u8> {
    key(&[brand.as_bytes(), id])
}

/// The smallest v7 id of millisecond `ms` (ids of later instants sort after it).
fn v7_floor(ms: Millis) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[..6].copy_from_slice(&(ms.clamp(0, (1 << 48) - 1) as u64).to_be_bytes()[2..]);
    b
}

fn dedup_key(brand: BrandId, d: &DedupWrite) -> Vec<u8> {
    key(&[brand.as_bytes(), &d.scope, &Sha256::digest(d.key.as_bytes())])
}

/// Triggers a debounce schedule inside the event's write; the outcome says why not, if not.
fn trigger_debounce(
    w: &redb::WriteTransaction,
    brand: BrandId,
    id: ScheduleId,
    now: Millis,
    context: Map<String, Value>,
) -> Result<Result<(), String>, StoreError> {
    let mut t = w.open_table(SCHEDULES).map_err(StoreError::from_db)?;
    let k = super::schedules::skey(brand, id);
    let Some(mut s) = get::<Schedule>(&t, "schedules", &k)? else {
        return Ok(Err("schedule not found (deleted?)".into()));
    };
    let Driver::Debounce(spec) = s.driver.clone() else {
        return Ok(Err("not a debounce schedule".into()));
    };
    if s.status != ScheduleStatus::Active {
        return Ok(Err(format!("schedule is {}", s.status.as_str())));
    }
    let old = super::index::ScheduleFacts::of(&s);
    if let TriggerOutcome::FireAt(at) = spec.trigger(&mut s.debounce, now, Some(context)) {
        s.next_fire_ms = Some(at);
    }
    s.version += 1;
    s.updated_ms = now;
    super::schedules::save(w, &mut t, &s, Some(old))?;
    Ok(Ok(()))
}

impl Store {
    // ---- sources ----

    /// Creates a source with its token index entry.
    pub async fn create_source(&self, s: Source) -> Result<Source, StoreError> {
        self.write(move |w| {
            let mut t = w.open_table(SOURCES).map_err(StoreError::from_db)?;
            put(&mut t, &bkey(s.brand, s.id.as_bytes()), &s)?;
            let mut tokens = w.open_table(SOURCE_TOKENS).map_err(StoreError::from_db)?;
            put_raw(&mut tokens, &s.token_hash, &key(&[s.brand.as_bytes(), s.id.as_bytes()]))?;
            Ok(s)
        })
        .await
    }

    pub fn get_source(&self, brand: BrandId, id: SourceId) -> Result<Option<Source>, StoreError> {
        self.read(|r| {
            let t = r.open_table(SOURCES).map_err(StoreError::from_db)?;
            get(&t, "sources", &bkey(brand, id.as_bytes()))
        })
    }

    /// The source whose token has this SHA-256 (any brand: the token is the credential).
    pub fn find_source_by_token(&self, hash: &[u8; 32]) -> Result<Option<Source>, StoreError> {
        self.read(|r| {
            let tokens = r.open_table(SOURCE_TOKENS).map_err(StoreError::from_db)?;
            let Some(k) = get_raw(&tokens, hash)? else { return Ok(None) };
            let t = r.open_table(SOURCES).map_err(StoreError::from_db)?;
            get(&t, "sources", &k)
        })
    }

    pub fn list_sources(&self, brand: BrandId, page: u64, per_page: u64) -> Result<Page<Source>, StoreError> {
        self.read(|r| {
            let t = r.open_table(SOURCES).map_err(StoreError::from_db)?;
            super::page_prefix(&t, "sources", brand.as_bytes(), page, per_page)
        })
    }

    /// Every source of every brand (vault key rotation).
    pub fn all_sources(&self) -> Result<Vec<Source>, StoreError> {
        self.read(|r| {
            let t = r.open_table(SOURCES).map_err(StoreError::from_db)?;
            super::all_prefix(&t, "sources", &[])
        })
    }

    /// Read-modify-write of a source; a changed token moves its index entry.
    pub async fn update_source(
        &self,
        brand: BrandId,
        id: SourceId,
        now: Millis,
        f: impl FnOnce(&mut Source) -> Result<(), StoreError> + Send + 'static,
    ) -> Result<Source, StoreError> {
        self.write(move |w| {
            let mut t = w.open_table(SOURCES).map_err(StoreError::from_db)?;
            let k = bkey(brand, id.as_bytes());
            let mut s: Source = get(&t, "sources", &k)?.ok_or(StoreError::NotFound("Source"))?;
            let old_hash = s.token_hash;
            f(&mut s)?;
            s.updated_ms = now;
            put(&mut t, &k, &s)?;
            if s.token_hash != old_hash {
                let mut tokens = w.open_table(SOURCE_TOKENS).map_err(StoreError::from_db)?;
                remove(&mut tokens, &old_hash)?;
                put_raw(&mut tokens, &s.token_hash, &k)?;
            }
            Ok(s)
        })
        .await
    }

    /// Deletes a source; refused while a subscription names it.
    pub async fn delete_source(&self, brand: BrandId, id: SourceId) -> Result<(), StoreError> {
        self.write(move |w| {
            let subs = w.open_table(SUBSCRIPTIONS).map_err(StoreError::from_db)?;
            let mut users = 0usize;
            scan_prefix(&subs, brand.as_bytes(), |_, v| {
                let s: Subscription = codec::decode("subscriptions", v)?;
                users += usize::from(s.source == Some(id));
                Ok(true)
            })?;
            if users > 0 {
                return Err(StoreError::InUse { what: "Source", by: format!("{users} subscription(s)") });
            }
            let mut t = w.open_table(SOURCES).map_err(StoreError::from_db)?;
            let k = bkey(brand, id.as_bytes());
            let s: Source = get(&t, "sources", &k)?.ok_or(StoreError::NotFound("Source"))?;
            let mut tokens = w.open_table(SOURCE_TOKENS).map_err(StoreError::from_db)?;
            remove(&mut tokens, &s.token_hash)?;
            remove(&mut t, &k)
        })
        .await
    }

    // ---- subscriptions ----

    pub async fn put_subscription(&self, s: Subscription) -> Result<Subscription, StoreError> {
        self.write(move |w| {
            let mut t = w.open_table(SUBSCRIPTIONS).map_err(StoreError::from_db)?;
            put(&mut t, &bkey(s.brand, s.id.as_bytes()), &s)?;
            Ok(s)
        })
        .await
    }

    pub fn get_subscription(&self, brand: BrandId, id: SubscriptionId) -> Result<Option<Subscription>, StoreError> {
        self.read(|r| {
            let t = r.open_table(SUBSCRIPTIONS).map_err(StoreError::from_db)?;
            get(&t, "subscriptions", &bkey(brand, id.as_bytes()))
        })
    }

    pub fn list_subscriptions(
        &self,
        brand: BrandId,
        page: u64,
        per_page: u64,
    ) -> Result<Page<Subscription>, StoreError> {
        self.read(|r| {
            let t = r.open_table(SUBSCRIPTIONS).map_err(StoreError::from_db)?;
            super::page_prefix(&t, "subscriptions", brand.as_bytes(), page, per_page)
        })
    }

    /// Every subscription of a brand (routing).
    pub fn brand_subscriptions(&self, brand: BrandId) -> Result<Vec<Subscription>, StoreError> {
        self.read(|r| {
            let t = r.open_table(SUBSCRIPTIONS).map_err(StoreError::from_db)?;
            super::all_prefix(&t, "subscriptions", brand.as_bytes())
        })
    }

    /// Read-modify-write of a subscription.
    pub async fn update_subscription(
        &self,
        brand: BrandId,
        id: SubscriptionId,
        now: Millis,
        f: impl FnOnce(&mut Subscription) -> Result<(), StoreError> + Send + 'static,
    ) -> Result<Subscription, StoreError> {
        self.write(move |w| {
            let mut t = w.open_table(SUBSCRIPTIONS).map_err(StoreError::from_db)?;
            let k = bkey(brand, id.as_bytes());
            let mut s: Subscription = get(&t, "subscriptions", &k)?.ok_or(StoreError::NotFound("Subscription"))?;
            f(&mut s)?;
            s.updated_ms = now;
            put(&mut t, &k, &s)?;
            Ok(s)
        })
        .await
    }

    pub async fn delete_subscription(&self, brand: BrandId, id: SubscriptionId) -> Result<(), StoreError> {
        self.write(move |w| {
            let mut t = w.open_table(SUBSCRIPTIONS).map_err(StoreError::from_db)?;
            let k = bkey(brand, id.as_bytes());
            if get_raw(&t, &k)?.is_none() {
                return Err(StoreError::NotFound("Subscription"));
            }
            remove(&mut t, &k)
        })
        .await
    }

    // ---- events ----

    /// Stores an arriving event with its routing, in one operation (see the module docs).
    ///
    /// The executions are encoded before the write, and so is the event when no debounce
    /// route can change it inside the write: the writer thread only stores bytes.
    pub async fn record_event(&self, ew: EventWrite) -> Result<Recorded, StoreError> {
        let encoded: Vec<EncodedExecution> = ew.executions.iter().map(EncodedExecution::of).collect();
        let event_bytes = ew.debounce.is_empty().then(|| codec::encode(&ew.event));
        self.write(move |w| {
            let EventWrite { mut event, dedup, executions, debounce, now } = ew;
            let brand = event.brand;
            if let Some(d) = &dedup {
                let mut dt = w.open_table(EVENT_DEDUP).map_err(StoreError::from_db)?;
                let dk = dedup_key(brand, d);
                if let Some(v) = get_raw(&dt, &dk)?
                    && v.len() == 24
                {
                    let first = EventId(codec::decode_id("event_dedup", &v[..16])?);
                    let expires = i64::from_le_bytes(v[16..24].try_into().unwrap_or([0; 8]));
                    if expires > now {
                        event.status = EventStatus::Duplicate;
                        event.duplicate_of = Some(first);
                        event.routes.clear();
                        let mut t = w.open_table(EVENTS).map_err(StoreError::from_db)?;
                        super::index::save_event(w, &mut t, &event)?;
                        return Ok(Recorded::Duplicate { event, first });
                    }
                }
                let mut v = event.id.as_bytes().to_vec();
                v.extend_from_slice(&now.saturating_add(d.window_ms).to_le_bytes());
                put_raw(&mut dt, &dk, &v)?;
            }
            let mut debounced = Vec::new();
            for (route, schedule, context) in debounce {
                match trigger_debounce(w, brand, schedule, now, context)? {
                    Ok(()) => debounced.push(schedule),
                    Err(why) => {
                        if let Some(r) = event.routes.get_mut(route) {
                            r.outcome = RouteOutcome::TargetMissing(why);
                        }
                    }
                }
            }
            super::schedules::upsert_encoded(w, &encoded)?;
            let mut t = w.open_table(EVENTS).map_err(StoreError::from_db)?;
            match &event_bytes {
                // Nothing above changed an accepted event without debounce routes.
                Some(bytes) => super::index::save_event_encoded(w, &mut t, &event, bytes)?,
                None => super::index::save_event(w, &mut t, &event)?,
            }
            Ok(Recorded::Accepted { event, executions, debounced })
        })
        .await
    }

    pub fn get_event(&self, brand: BrandId, id: EventId) -> Result<Option<Event>, StoreError> {
        self.read(|r| {
            let t = r.open_table(EVENTS).map_err(StoreError::from_db)?;
            get(&t, "events", &bkey(brand, id.as_bytes()))
        })
    }

    /// One page of a brand's events, newest first, through the indexes: with no filter or
    /// only a source or a status, the page's records and one counter; with several filters,
    /// the source or status index with the smaller counter drives (the other is checked by a
    /// point lookup), a time range narrows the key range (event ids are UUIDv7 of the
    /// arrival), and only a type filter or a time range decodes the records it examines. The
    /// cost grows with the rows of the driving index inside the time range, never with the
    /// brand's other events.
    pub fn list_events(
        &self,
        brand: BrandId,
        filter: &EventFilter,
        page: u64,
        per_page: u64,
    ) -> Result<Page<Event>, StoreError> {
        use super::index::{self, tag};
        let skip = page.saturating_sub(1).saturating_mul(per_page);
        self.read(|r| {
            let t = r.open_table(EVENTS).map_err(StoreError::from_db)?;
            let counts = r.open_table(COUNTS).map_err(StoreError::from_db)?;
            let b = brand.as_bytes();
            let mut dims: Vec<(crate::store::tables::Bytes, Vec<u8>, u64)> = Vec::new();
            if let Some(source) = filter.source {
                let part = index::event_source_part(Some(source));
                let n = index::read_count(&counts, &index::counter_key(tag::EVENT_SOURCE, &[b, &part]))?;
                dims.push((EVENTS_BY_SOURCE, key(&[b, &part]), n));
            }
            if let Some(status) = filter.status {
                let code = [index::event_status_code(status)];
                let n = index::read_count(&counts, &index::counter_key(tag::EVENT_STATUS, &[b, &code]))?;
                dims.push((EVENTS_BY_STATUS, key(&[b, &code]), n));
            }
            dims.sort_by_key(|d| d.2);
            let exact = filter.event_type.is_none() && filter.from_ms.is_none() && filter.to_ms.is_none();
            let (driver, prefix, counted): (Option<IndexTable>, Vec<u8>, u64) = match dims.first() {
                Some((def, prefix, n)) => (Some(r.open_table(*def).map_err(StoreError::from_db)?), prefix.clone(), *n),
                None => (None, b.to_vec(), index::read_count(&counts, &index::counter_key(tag::EVENTS, &[b]))?),
            };
            let others = dims
                .iter()
                .skip(1)
                .map(|(def, prefix, _)| Ok((r.open_table(*def).map_err(StoreError::from_db)?, prefix.clone())))
                .collect::<Result<Vec<_>, StoreError>>()?;
            let lo = key(&[&prefix, &v7_floor(filter.from_ms.unwrap_or(0))]);
            let hi = match filter.to_ms {
                Some(to) => Some(key(&[&prefix, &v7_floor(to.saturating_add(1))])),
                None => index::prefix_end(&prefix),
            };
            let mut items = Vec::new();
            let mut total = 0u64;
            let mut visit = |k: &[u8], v: &[u8]| -> Result<bool, StoreError> {
                let id = &k[k.len() - 16..];
                for (t2, p2) in &others {
                    if get_raw(t2, &key(&[p2, id]))?.is_none() {
                        return Ok(true);
                    }
                }
                let page_slot = total >= skip && (items.len() as u64) < per_page;
                if exact {
                    if page_slot {
                        match &driver {
                            None => items.push(codec::decode::<Event>("events", v)?),
                            Some(_) => items.extend(get::<Event>(&t, "events", &key(&[b, id]))?),
                        }
                    }
                    total += 1;
                    // With one index and nothing else to check, the counter is the total.
                    return Ok(!(others.is_empty() && items.len() as u64 >= per_page));
                }
                let e: Event = match &driver {
                    None => codec::decode("events", v)?,
                    Some(_) => match get::<Event>(&t, "events", &key(&[b, id]))? {
                        Some(e) => e,
                        None => return Ok(true),
                    },
                };
                if filter.matches(&e) {
                    if page_slot {
                        items.push(e);
                    }
                    total += 1;
                }
                Ok(true)
            };
            let lo = Bound::Included(lo.as_slice());
            let hi = hi.as_deref().map_or(Bound::Unbounded, Bound::Excluded);
            match &driver {
                None => index::scan_range(&t, lo, hi, true, &mut visit)?,
                Some(idx) => index::scan_range(idx, lo, hi, true, &mut visit)?,
            }
            if exact && others.is_empty() {
                total = counted;
            }
            Ok(Page { items, total })
        })
    }

    /// One page of a brand's events matching `filter`, newest first, for a cursor-paged list
    /// (the Hook0 dialect): up to `n` events strictly older than `cursor` (an event id; `None`:
    /// from the newest), and the cursor to continue from (`None`: the range is exhausted).
    /// A reverse range scan from the cursor, never a skip; it looks at no more than
    /// [`EVENTS_PAGE_SCAN_MAX`] records, so a filter that rarely matches gives a short (even
    /// empty) page with a cursor to go on from, never an unbounded read.
    pub fn events_before(
        &self,
        brand: BrandId,
        cursor: Option<uuid::Uuid>,
        n: usize,
        filter: &EventFilter,
    ) -> Result<(Vec<Event>, Option<uuid::Uuid>), StoreError> {
        self.read(|r| {
            let t = r.open_table(EVENTS).map_err(StoreError::from_db)?;
            let lo = bkey(brand, &v7_floor(filter.from_ms.unwrap_or(0)));
            let top = match filter.to_ms {
                Some(to) => bkey(brand, &v7_floor(to.saturating_add(1))),
                None => bkey(brand, &[0xff; 16]),
            };
            let (hi, empty) = match cursor.map(|c| bkey(brand, c.as_bytes())) {
                Some(c) if c <= top => {
                    let empty = c <= lo;
                    (Bound::Excluded(c), empty)
                }
                _ => {
                    let empty = top < lo;
                    (Bound::Included(top), empty)
                }
            };
            if empty {
                return Ok((Vec::new(), None));
            }
            let mut out: Vec<Event> = Vec::new();
            let mut scanned = 0u64;
            for entry in t
                .range::<&[u8]>((Bound::Included(lo.as_slice()), hi.as_ref().map(Vec::as_slice)))
                .map_err(StoreError::from_db)?
                .rev()
            {
                let (k, v) = entry.map_err(StoreError::from_db)?;
                let id = codec::decode_id("events", &k.value()[16..32])?;
                let e: Event = codec::decode("events", v.value())?;
                if filter.matches(&e) {
                    if out.len() >= n {
                        // One more matches: the page is full and there is a next one.
                        let next = out.last().map(|e| e.id.0);
                        return Ok((out, next));
                    }
                    out.push(e);
                }
                scanned += 1;
                if scanned >= EVENTS_PAGE_SCAN_MAX {
                    return Ok((out, Some(id)));
                }
            }
            Ok((out, None))
        })
    }

    /// Up to `n` events of a brand after `cursor` (oldest first) received in `[from, to)`,
    /// with the last id looked at (the next cursor) and how many were looked at.
    pub fn events_after(
        &self,
        brand: BrandId,
        cursor: Option<uuid::Uuid>,
        from_ms: Millis,
        to_ms: Millis,
        n: usize,
    ) -> Result<(Vec<Event>, Option<uuid::Uuid>, u64), StoreError> {
        self.read(|r| {
            let t = r.open_table(EVENTS).map_err(StoreError::from_db)?;
            let lo = match cursor {
                Some(c) => Bound::Excluded(bkey(brand, c.as_bytes())),
                None => Bound::Included(bkey(brand, &v7_floor(from_ms))),
            };
            let hi = Bound::Excluded(bkey(brand, &v7_floor(to_ms.saturating_add(1))));
            let mut out = Vec::new();
            let mut last = cursor;
            let mut scanned = 0u64;
            for entry in t
                .range::<&[u8]>((lo.as_ref().map(Vec::as_slice), hi.as_ref().map(Vec::as_slice)))
                .map_err(StoreError::from_db)?
            {
                let (k, v) = entry.map_err(StoreError::from_db)?;
                last = Some(codec::decode_id("events", &k.value()[16..32])?);
                scanned += 1;
                let e: Event = codec::decode("events", v.value())?;
                if e.received_ms >= from_ms && e.received_ms < to_ms {
                    out.push(e);
                }
                if out.len() >= n || scanned >= 4 * n as u64 {
                    break;
                }
            }
            Ok((out, last, scanned))
        })
    }

    /// Up to `n` failed executions of a brand after `cursor` (oldest first), with the next
    /// cursor and how many records were looked at.
    pub fn failed_executions_after(
        &self,
        brand: BrandId,
        cursor: Option<uuid::Uuid>,
        n: usize,
        keep: impl Fn(&Execution) -> bool,
    ) -> Result<(Vec<Execution>, Option<uuid::Uuid>, u64), StoreError> {
        self.read(|r| {
            let t = r.open_table(EXECUTIONS).map_err(StoreError::from_db)?;
            let lo = match cursor {
                Some(c) => Bound::Excluded(bkey(brand, c.as_bytes())),
                None => Bound::Included(bkey(brand, &[0; 16])),
            };
            let hi = Bound::Included(bkey(brand, &[0xff; 16]));
            let mut out = Vec::new();
            let mut last = cursor;
            let mut scanned = 0u64;
            for entry in t
                .range::<&[u8]>((lo.as_ref().map(Vec::as_slice), hi.as_ref().map(Vec::as_slice)))
                .map_err(StoreError::from_db)?
            {
                let (k, v) = entry.map_err(StoreError::from_db)?;
                last = Some(codec::decode_id("executions", &k.value()[16..32])?);
                scanned += 1;
                let e: Execution = codec::decode("executions", v.value())?;
                if e.status == ExecutionStatus::Failed && e.step.is_none() && keep(&e) {
                    out.push(e);
                }
                if out.len() >= n || scanned >= 4 * n as u64 {
                    break;
                }
            }
            Ok((out, last, scanned))
        })
    }

    // ---- jobs ----

    pub async fn create_job(&self, j: Job) -> Result<Job, StoreError> {
        self.write(move |w| {
            let mut t = w.open_table(JOBS).map_err(StoreError::from_db)?;
            put(&mut t, &bkey(j.brand, j.id.as_bytes()), &j)?;
            if j.status == JobStatus::Running {
                let mut running = w.open_table(RUNNING_JOBS).map_err(StoreError::from_db)?;
                put_raw(&mut running, j.id.as_bytes(), j.brand.as_bytes())?;
            }
            Ok(j)
        })
        .await
    }

    pub fn get_job(&self, brand: BrandId, id: JobId) -> Result<Option<Job>, StoreError> {
        self.read(|r| {
            let t = r.open_table(JOBS).map_err(StoreError::from_db)?;
            get(&t, "jobs", &bkey(brand, id.as_bytes()))
        })
    }

    /// Every running job (resumed on start).
    pub fn running_jobs(&self) -> Result<Vec<Job>, StoreError> {
        self.read(|r| {
            let running = r.open_table(RUNNING_JOBS).map_err(StoreError::from_db)?;
            let t = r.open_table(JOBS).map_err(StoreError::from_db)?;
            let mut out = Vec::new();
            scan_prefix(&running, &[], |k, v| {
                if let Some(j) = get::<Job>(&t, "jobs", &key(&[v, k]))? {
                    out.push(j);
                }
                Ok(true)
            })?;
            Ok(out)
        })
    }

    /// Commits a job's batch with its new state; `Ok(false)` (nothing written) when the job
    /// was cancelled or advanced meanwhile.
    pub async fn job_step(&self, step: JobStep) -> Result<bool, StoreError> {
        self.write(move |w| {
            let JobStep { job, expected_cursor, executions, routes } = step;
            let mut t = w.open_table(JOBS).map_err(StoreError::from_db)?;
            let k = bkey(job.brand, job.id.as_bytes());
            let stored: Job = get(&t, "jobs", &k)?.ok_or(StoreError::NotFound("Job"))?;
            if stored.status != JobStatus::Running || stored.cursor != expected_cursor {
                return Ok(false);
            }
            super::schedules::upsert_executions(w, &executions)?;
            let mut et = w.open_table(EVENTS).map_err(StoreError::from_db)?;
            for (event, route) in routes {
                let ek = bkey(job.brand, event.as_bytes());
                if let Some(mut e) = get::<Event>(&et, "events", &ek)? {
                    e.routes.push(route);
                    put(&mut et, &ek, &e)?;
                }
            }
            put(&mut t, &k, &job)?;
            if job.status != JobStatus::Running {
                let mut running = w.open_table(RUNNING_JOBS).map_err(StoreError::from_db)?;
                remove(&mut running, job.id.as_bytes())?;
            }
            Ok(true)
        })
        .await
    }

    /// Cancels a running job; a finished one is a conflict.
    pub async fn cancel_job(&self, brand: BrandId, id: JobId, now: Millis) -> Result<Job, StoreError> {
        self.write(move |w| {
            let mut t = w.open_table(JOBS).map_err(StoreError::from_db)?;
            let k = bkey(brand, id.as_bytes());
            let mut j: Job = get(&t, "jobs", &k)?.ok_or(StoreError::NotFound("Job"))?;
            if j.status != JobStatus::Running {
                return Err(StoreError::State(format!("The job is already {}", j.status.as_str())));
            }
            j.status = JobStatus::Cancelled;
            j.finished_ms = Some(now);
            j.updated_ms = now;
            put(&mut t, &k, &j)?;
            let mut running = w.open_table(RUNNING_JOBS).map_err(StoreError::from_db)?;
            remove(&mut running, id.as_bytes())?;
            Ok(j)
        })
        .await
    }

    /// The executions of one event, by id (event details).
    pub fn executions_by_id(&self, brand: BrandId, ids: &[ExecutionId]) -> Result<Vec<Option<Execution>>, StoreError> {
        self.read(|r| {
            let t = r.open_table(EXECUTIONS).map_err(StoreError::from_db)?;
            ids.iter().map(|id| get(&t, "executions", &bkey(brand, id.as_bytes()))).collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::BodyEncoding;
    use crate::store::{CACHE_BYTES_DEFAULT, WriterSettings};

    fn open(dir: &tempfile::TempDir) -> Store {
        Store::open(
            &dir.path().join("s.redb"),
            WriterSettings {
                commit_batch_max: 64,
                write_queue_capacity: 64,
                cache_bytes: CACHE_BYTES_DEFAULT,
                ..Default::default()
            },
            crate::metrics::Metrics::new(),
        )
        .expect("open store")
    }

    /// An event received at `ms` whose id sorts like a v7 id of that millisecond (`seq`
    /// orders events of one millisecond).
    fn event(brand: BrandId, ms: Millis, seq: u16, ty: &str, status: EventStatus) -> Event {
        let mut id = v7_floor(ms);
        id[14..16].copy_from_slice(&seq.to_be_bytes());
        Event {
            id: EventId(uuid::Uuid::from_bytes(id)),
            brand,
            source: None,
            status,
            reason: None,
            event_type: Some(ty.into()),
            dedup_key: None,
            duplicate_of: None,
            method: String::new(),
            path: String::new(),
            query: Map::new(),
            headers: Map::new(),
            body: Value::Null,
            body_encoding: BodyEncoding::Json,
            client_ip: None,
            labels: Map::new(),
            received_ms: ms,
            routes: Vec::new(),
        }
    }

    async fn insert(store: &Store, events: Vec<Event>) {
        for chunk in events.chunks(1_000) {
            let chunk = chunk.to_vec();
            store
                .write(move |w| {
                    let mut t = w.open_table(EVENTS).map_err(StoreError::from_db)?;
                    for e in &chunk {
                        crate::store::ops::index::save_event(w, &mut t, e)?;
                    }
                    Ok(())
                })
                .await
                .expect("insert events");
        }
    }

    /// `list_events` answers every filter combination as filtering all records does (newest
    /// first, exact totals), after pruning too; the indexes stay exact.
    #[tokio::test]
    async fn list_events_pages_like_a_full_scan_for_every_filter_combination() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir);
        let brand = BrandId::new();
        let sources = [SourceId::new(), SourceId::new()];
        let statuses = [EventStatus::Accepted, EventStatus::Rejected, EventStatus::Duplicate];
        let types = ["order.paid", "order.refunded", "user.created"];
        let mut events = Vec::new();
        for i in 0..400u16 {
            let ms = 1_000 + i64::from(i) * 7;
            let mut e = event(brand, ms, i, types[usize::from(i % 3)], statuses[usize::from(i * 7 % 3)]);
            e.source = match i % 5 {
                0 => None,
                n => Some(sources[usize::from(n % 2)]),
            };
            events.push(e);
        }
        // Another brand's events never show.
        events.push(event(BrandId::new(), 1_500, 0, "order.paid", EventStatus::Accepted));
        insert(&store, events.clone()).await;
        store.prune_events(1_300).await.unwrap();
        crate::store::ops::index::assert_consistent(&store);
        let kept: Vec<Event> = events.into_iter().filter(|e| e.brand == brand && e.received_ms >= 1_300).collect();
        let mut checked = 0;
        for source in [None, Some(sources[0])] {
            for status in [None, Some(EventStatus::Accepted), Some(EventStatus::Duplicate)] {
                for event_type in [None, Some("order.*".to_string())] {
                    for (from_ms, to_ms) in [(None, None), (Some(1_500), Some(2_500)), (None, Some(2_000))] {
                        let f = EventFilter { source, event_type: event_type.clone(), status, from_ms, to_ms };
                        let mut want: Vec<&Event> = kept.iter().filter(|e| f.matches(e)).collect();
                        want.reverse();
                        for page in 1..=3u64 {
                            let got = store.list_events(brand, &f, page, 9).unwrap();
                            let ids: Vec<EventId> =
                                want.iter().skip(((page - 1) * 9) as usize).take(9).map(|e| e.id).collect();
                            assert_eq!(got.total, want.len() as u64, "total of {f:?}");
                            assert_eq!(got.items.iter().map(|e| e.id).collect::<Vec<_>>(), ids, "page {page} of {f:?}");
                            checked += 1;
                        }
                    }
                }
            }
        }
        assert_eq!(checked, 2 * 3 * 2 * 3 * 3);
    }

    /// Every page of `events_before`, walked by its cursors.
    fn walk(store: &Store, brand: BrandId, n: usize, filter: &EventFilter) -> (Vec<EventId>, usize) {
        let (mut ids, mut pages, mut cursor) = (Vec::new(), 0, None);
        loop {
            let (page, next) = store.events_before(brand, cursor, n, filter).expect("page");
            assert!(page.len() <= n);
            ids.extend(page.iter().map(|e| e.id));
            pages += 1;
            match next {
                Some(c) => cursor = Some(c),
                None => return (ids, pages),
            }
            assert!(pages < 10_000, "the cursor does not advance");
        }
    }

    #[tokio::test]
    async fn events_before_walks_each_matching_event_once_newest_first() {
        let dir = tempfile::tempdir().expect("tmp");
        let store = open(&dir);
        let (brand, other) = (BrandId::new(), BrandId::new());
        let mut all = Vec::new();
        for i in 0..230u16 {
            let ms = 1_000 + i64::from(i / 3) * 10; // three events per millisecond
            let ty = if i % 4 == 0 { "order.created" } else { "user.created" };
            let status = if i % 11 == 0 { EventStatus::Rejected } else { EventStatus::Accepted };
            all.push(event(brand, ms, i, ty, status));
            all.push(event(other, ms, i, ty, EventStatus::Accepted));
        }
        insert(&store, all.clone()).await;
        let filters = [
            EventFilter::default(),
            EventFilter { status: Some(EventStatus::Accepted), ..Default::default() },
            EventFilter { event_type: Some("order.*".into()), ..Default::default() },
            EventFilter { from_ms: Some(1_200), to_ms: Some(1_500), ..Default::default() },
            EventFilter { from_ms: Some(5_000), ..Default::default() },
        ];
        for filter in &filters {
            let mut want: Vec<EventId> =
                all.iter().filter(|e| e.brand == brand && filter.matches(e)).map(|e| e.id).collect();
            want.reverse();
            for n in [1, 7, 20, 500] {
                let (got, pages) = walk(&store, brand, n, filter);
                assert_eq!(got, want, "n = {n}, {filter:?}");
                assert_eq!(pages, want.len().div_ceil(n).max(1), "no empty trailing page: n = {n}, {filter:?}");
            }
        }
        let (page, next) = store.events_before(brand, Some(all[0].id.0), 10, &EventFilter::default()).expect("page");
        assert!(page.is_empty() && next.is_none(), "nothing is older than the oldest");
    }

    #[tokio::test]
    async fn events_before_stops_after_its_scan_limit_and_continues_from_its_cursor() {
        let dir = tempfile::tempdir().expect("tmp");
        let store = open(&dir);
        let brand = BrandId::new();
        let rare = event(brand, 1_000, 0, "rare", EventStatus::Accepted);
        let mut all = vec![rare.clone()];
        for i in 0..EVENTS_PAGE_SCAN_MAX as u16 + 10 {
            all.push(event(brand, 2_000 + i64::from(i), 0, "common", EventStatus::Accepted));
        }
        insert(&store, all).await;
        let filter = EventFilter { event_type: Some("rare".into()), ..Default::default() };
        let (page, next) = store.events_before(brand, None, 20, &filter).expect("page");
        assert!(page.is_empty(), "a bounded read");
        assert!(next.is_some());
        let (page, next) = store.events_before(brand, next, 20, &filter).expect("page");
        assert_eq!(page.iter().map(|e| e.id).collect::<Vec<_>>(), vec![rare.id]);
        assert_eq!(next, None);
    }

    #[test]
    fn v7_floor_orders_like_v7_ids() {
        let id = uuid::Uuid::now_v7();
        let ms = id.get_timestamp().map(|t| t.to_unix()).map(|(s, n)| s as i64 * 1000 + i64::from(n / 1_000_000));
        let ms = ms.expect("v7 has a timestamp");
        assert!(v7_floor(ms).as_slice() <= id.as_bytes().as_slice());
        assert!(v7_floor(ms + 1).as_slice() > id.as_bytes().as_slice());
    }
}
