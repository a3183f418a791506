//! Heartbeat monitors (product.md §11): monitors (configuration with the sealed ping token),
//! their state, the token and slug indexes, ping history and status changes (both bounded per
//! monitor), the deadline index the scheduler re-arms from, and the brand's ping key.
//!
//! A ping is one writer operation: the monitor is found by its token (or ping key + slug)
//! inside the write, `monitor::heartbeat::on_ping` computes the transition from the stored
//! state, and the ping row, the new state, the status change and the deadline index entry
//! commit together. Deadlines work the same way ([`Store::monitor_deadlines`]), so a ping and a
//! timer that race apply in commit order and a stale timer changes nothing.

use std::collections::HashMap;

use redb::ReadableTable;

use super::{get, get_raw, put, put_raw, remove, remove_oldest, scan_prefix};
use crate::model::{
    BrandId, FLIPS_KEPT_MAX, Flip, FlipCause, Monitor, MonitorId, MonitorKind, MonitorState, PINGS_KEPT_MAX, Page,
    Ping, PingId, PingKey,
};
use crate::monitor::alert;
use crate::monitor::heartbeat::{self, PingKind, Status, Transition};
use crate::store::codec;
use crate::store::tables::{
    ARMED_MONITORS, MONITOR_FLIPS, MONITOR_PINGS, MONITOR_SLUGS, MONITOR_STATES, MONITOR_TOKENS, MONITORS,
    PING_KEY_HASH, PING_KEYS, key,
};
use crate::store::{Store, StoreError};
use crate::time::Millis;

/// Why a heartbeat ping (`/ping`, `/hbk`, `/phk`) on a pipeline monitor is refused (409,
/// nothing written).
pub const PIPELINE_REFUSES_PINGS: &str =
    "this monitor is a pipeline (kind: pipeline): send stage pings to /ping/<token>/stage/<stage>";

/// How a ping names its monitor.
#[derive(Debug, Clone)]
pub enum PingTarget {
    /// `/ping/<token>`: the SHA-256 of the token.
    Token([u8; 32]),
    /// `/ping/<ping_key>/<slug>`: the SHA-256 of the brand's ping key, and the slug.
    Slug { key_hash: [u8; 32], slug: String },
}

/// A ping to record (its body already cut to `PING_BODY_BYTES_MAX`).
#[derive(Debug, Clone)]
pub struct PingWrite {
    pub target: PingTarget,
    pub ping: Ping,
}

/// What a recorded ping or deadline did to its monitor.
#[derive(Debug, Clone)]
pub struct MonitorChange {
    pub brand: BrandId,
    pub monitor: MonitorId,
    pub transition: Transition,
    /// The timer to arm next (`None`: none).
    pub deadline: Option<Millis>,
    /// A pipeline monitor's signals (`stalled`, `budget_exceeded`) for the alerting layer;
    /// always empty for a heartbeat.
    pub pipeline_signals: Vec<crate::monitor::pipeline::Signal>,
}

/// The field of a monitor record the dynamic-pipeline cap reads.
#[derive(serde::Deserialize)]
struct PipelineFlag {
    #[serde(default)]
    pipeline: Option<DynamicFlag>,
}

#[derive(serde::Deserialize)]
struct DynamicFlag {
    dynamic: bool,
}

fn mkey(brand: BrandId, id: MonitorId) -> Vec<u8> {
    key(&[brand.as_bytes(), id.as_bytes()])
}

fn slug_key(brand: BrandId, slug: &str) -> Vec<u8> {
    key(&[brand.as_bytes(), slug.as_bytes()])
}

fn decode_ref(table: &'static str, v: &[u8]) -> Result<(BrandId, MonitorId), StoreError> {
    if v.len() != 32 {
        return Err(StoreError::Corrupt { table, detail: "bad monitor reference".into() });
    }
    Ok((BrandId(codec::decode_id(table, &v[..16])?), MonitorId(codec::decode_id(table, &v[16..])?)))
}

/// The (brand, monitor) a ping names, from any readable snapshot.
pub(super) fn resolve(
    tokens: &impl ReadableTable<&'static [u8], &'static [u8]>,
    keys: &impl ReadableTable<&'static [u8], &'static [u8]>,
    slugs: &impl ReadableTable<&'static [u8], &'static [u8]>,
    target: &PingTarget,
) -> Result<Option<(BrandId, MonitorId)>, StoreError> {
    match target {
        PingTarget::Token(hash) => get_raw(tokens, hash)?.map(|v| decode_ref("monitor_tokens", &v)).transpose(),
        PingTarget::Slug { key_hash, slug } => {
            let Some(b) = get_raw(keys, key_hash)? else { return Ok(None) };
            let brand = BrandId(codec::decode_id("ping_key_hash", &b)?);
            match get_raw(slugs, &slug_key(brand, slug))? {
                Some(id) => Ok(Some((brand, MonitorId(codec::decode_id("monitor_slugs", &id)?)))),
                None => Ok(None),
            }
        }
    }
}

/// Appends a status change to the monitor's bounded history (`k`: the monitor's key; `st`'s
/// counters follow; the caller writes `st`).
pub(super) fn put_flip(
    w: &redb::WriteTransaction,
    k: &[u8],
    st: &mut MonitorState,
    flip: &Flip,
) -> Result<(), StoreError> {
    let mut flips = w.open_table(MONITOR_FLIPS).map_err(StoreError::from_db)?;
    put(&mut flips, &key(&[k, &st.flips_total.to_be_bytes()]), flip)?;
    st.flips_total += 1;
    st.flips_kept += 1;
    if st.flips_kept > FLIPS_KEPT_MAX {
        remove_oldest(&mut flips, k)?;
        st.flips_kept -= 1;
    }
    Ok(())
}

/// Writes a transition's effects: the state, a status change record (bounded), the deadline
/// index entry. Returns the deadline to arm.
fn apply(
    w: &redb::WriteTransaction,
    m: &Monitor,
    st: &mut MonitorState,
    t: &Transition,
    cause: FlipCause,
    now: Millis,
) -> Result<Option<Millis>, StoreError> {
    let (brand, id) = (m.brand, m.id);
    let k = mkey(brand, id);
    st.state = t.state.clone();
    if let Some(signal) = t.signal {
        let (monitor, name) = (id.0, m.name.clone());
        let s = match signal {
            heartbeat::Signal::MonitorDown => {
                alert::Signal::MonitorDown { monitor, name, failed: matches!(cause, FlipCause::Ping) }
            }
            heartbeat::Signal::MonitorUp => alert::Signal::MonitorUp { monitor, name },
        };
        super::alerts::enqueue_signal(w, brand, s, now)?;
    }
    if t.changed() {
        let flip = Flip {
            seq: st.flips_total,
            from: t.from,
            to: t.state.status,
            at_ms: now,
            deadline_ms: t.deadline_ms,
            cause,
            signal: t.signal,
        };
        put_flip(w, &k, st, &flip)?;
    }
    let mut states = w.open_table(MONITOR_STATES).map_err(StoreError::from_db)?;
    put(&mut states, &k, st)?;
    let deadline = t.state.next_deadline();
    let mut armed = w.open_table(ARMED_MONITORS).map_err(StoreError::from_db)?;
    match deadline {
        Some(d) => put_raw(&mut armed, &k, &d.to_le_bytes())?,
        None => remove(&mut armed, &k)?,
    }
    Ok(deadline)
}

/// Reads a monitor and its state inside a write.
fn load(w: &redb::WriteTransaction, k: &[u8]) -> Result<Option<(Monitor, MonitorState)>, StoreError> {
    let t = w.open_table(MONITORS).map_err(StoreError::from_db)?;
    let Some(m) = get::<Monitor>(&t, "monitors", k)? else { return Ok(None) };
    let states = w.open_table(MONITOR_STATES).map_err(StoreError::from_db)?;
    let st = get::<MonitorState>(&states, "monitor_states", k)?
        .ok_or(StoreError::Corrupt { table: "monitor_states", detail: "a monitor without its state".into() })?;
    Ok(Some((m, st)))
}

impl Store {
    /// Creates a monitor with its state, token and slug index entries; a brand's slugs are
    /// unique (`Conflict` carries the existing monitor's id).
    pub async fn create_monitor(&self, m: Monitor, st: MonitorState) -> Result<Monitor, StoreError> {
        self.write(move |w| {
            let k = mkey(m.brand, m.id);
            if m.pipeline.as_ref().is_some_and(|p| p.dynamic) {
                // A ping key creates dynamic pipelines (`/dhk … start=yes`): bounded per brand.
                let t = w.open_table(MONITORS).map_err(StoreError::from_db)?;
                let mut n = 0usize;
                // Decodes only the flag it needs: this runs inside the writer.
                scan_prefix(&t, m.brand.as_bytes(), |_, v| {
                    let o: PipelineFlag = codec::decode("monitors", v)?;
                    n += usize::from(o.pipeline.is_some_and(|p| p.dynamic));
                    Ok(true)
                })?;
                let max = crate::monitor::pipeline::DYNAMIC_PIPELINES_PER_BRAND_MAX;
                if n >= max {
                    return Err(StoreError::State(format!(
                        "this brand has {n} dynamic pipeline monitors, the most a ping key may create ({max}); \
                         delete some, or create the pipeline with add_monitor"
                    )));
                }
            }
            let mut slugs = w.open_table(MONITOR_SLUGS).map_err(StoreError::from_db)?;
            let sk = slug_key(m.brand, &m.slug);
            if let Some(existing) = get_raw(&slugs, &sk)? {
                return Err(StoreError::Conflict {
                    what: "Monitor slug",
                    existing: Some(codec::decode_id("monitor_slugs", &existing)?),
                });
            }
            put_raw(&mut slugs, &sk, m.id.as_bytes())?;
            let mut t = w.open_table(MONITORS).map_err(StoreError::from_db)?;
            put(&mut t, &k, &m)?;
            let mut states = w.open_table(MONITOR_STATES).map_err(StoreError::from_db)?;
            put(&mut states, &k, &st)?;
            let mut tokens = w.open_table(MONITOR_TOKENS).map_err(StoreError::from_db)?;
            put_raw(&mut tokens, &m.token_hash, &k)?;
            if let Some(d) = st.state.next_deadline() {
                let mut armed = w.open_table(ARMED_MONITORS).map_err(StoreError::from_db)?;
                put_raw(&mut armed, &k, &d.to_le_bytes())?;
            }
            Ok(m)
        })
        .await
    }

    pub fn get_monitor(&self, brand: BrandId, id: MonitorId) -> Result<Option<(Monitor, MonitorState)>, StoreError> {
        self.read(|r| {
            let k = mkey(brand, id);
            let t = r.open_table(MONITORS).map_err(StoreError::from_db)?;
            let Some(m) = get::<Monitor>(&t, "monitors", &k)? else { return Ok(None) };
            let states = r.open_table(MONITOR_STATES).map_err(StoreError::from_db)?;
            let st = get::<MonitorState>(&states, "monitor_states", &k)?
                .ok_or(StoreError::Corrupt { table: "monitor_states", detail: "a monitor without its state".into() })?;
            Ok(Some((m, st)))
        })
    }

    /// One page (1-based) of a brand's monitors with their states, in creation order.
    pub fn list_monitors(
        &self,
        brand: BrandId,
        page: u64,
        per_page: u64,
    ) -> Result<Page<(Monitor, MonitorState)>, StoreError> {
        self.read(|r| {
            let t = r.open_table(MONITORS).map_err(StoreError::from_db)?;
            let monitors: Page<Monitor> = super::page_prefix(&t, "monitors", brand.as_bytes(), page, per_page)?;
            let states = r.open_table(MONITOR_STATES).map_err(StoreError::from_db)?;
            let mut items = Vec::with_capacity(monitors.items.len());
            for m in monitors.items {
                let st =
                    get::<MonitorState>(&states, "monitor_states", &mkey(brand, m.id))?.ok_or(StoreError::Corrupt {
                        table: "monitor_states",
                        detail: "a monitor without its state".into(),
                    })?;
                items.push((m, st));
            }
            Ok(Page { items, total: monitors.total })
        })
    }

    /// Every monitor of every brand (vault key rotation).
    pub fn all_monitors(&self) -> Result<Vec<Monitor>, StoreError> {
        self.read(|r| {
            let t = r.open_table(MONITORS).map_err(StoreError::from_db)?;
            super::all_prefix(&t, "monitors", &[])
        })
    }

    /// The monitor a ping names, if any (a read: the ping route's rate limit needs it before
    /// the write).
    pub fn find_monitor_for_ping(&self, target: &PingTarget) -> Result<Option<(BrandId, MonitorId)>, StoreError> {
        self.read(|r| {
            let tokens = r.open_table(MONITOR_TOKENS).map_err(StoreError::from_db)?;
            let keys = r.open_table(PING_KEY_HASH).map_err(StoreError::from_db)?;
            let slugs = r.open_table(MONITOR_SLUGS).map_err(StoreError::from_db)?;
            resolve(&tokens, &keys, &slugs, target)
        })
    }

    /// Read-modify-write of a monitor's configuration. `f` may refuse; the deadlines are
    /// computed anew for the changed spec (`heartbeat::reschedule`), a changed slug moves its
    /// index entry (409 when another monitor has it), a changed token moves its index entry.
    pub async fn update_monitor(
        &self,
        brand: BrandId,
        id: MonitorId,
        now: Millis,
        f: impl FnOnce(&mut Monitor) -> Result<(), StoreError> + Send + 'static,
    ) -> Result<(Monitor, MonitorState, Option<Millis>), StoreError> {
        self.write(move |w| {
            let k = mkey(brand, id);
            let (mut m, mut st) = load(w, &k)?.ok_or(StoreError::NotFound("Monitor"))?;
            let (old_slug, old_hash) = (m.slug.clone(), m.token_hash);
            f(&mut m)?;
            m.updated_ms = now;
            if m.slug != old_slug {
                let mut slugs = w.open_table(MONITOR_SLUGS).map_err(StoreError::from_db)?;
                let sk = slug_key(brand, &m.slug);
                if let Some(existing) = get_raw(&slugs, &sk)? {
                    return Err(StoreError::Conflict {
                        what: "Monitor slug",
                        existing: Some(codec::decode_id("monitor_slugs", &existing)?),
                    });
                }
                remove(&mut slugs, &slug_key(brand, &old_slug))?;
                put_raw(&mut slugs, &sk, m.id.as_bytes())?;
            }
            if m.token_hash != old_hash {
                let mut tokens = w.open_table(MONITOR_TOKENS).map_err(StoreError::from_db)?;
                remove(&mut tokens, &old_hash)?;
                put_raw(&mut tokens, &m.token_hash, &k)?;
            }
            let mut t = w.open_table(MONITORS).map_err(StoreError::from_db)?;
            put(&mut t, &k, &m)?;
            drop(t);
            if m.kind == MonitorKind::Pipeline {
                // A pipeline's deadline is its current instance's, unchanged by an update.
                let armed = w.open_table(ARMED_MONITORS).map_err(StoreError::from_db)?;
                let deadline = get_raw(&armed, &k)?.and_then(|v| v.try_into().ok()).map(i64::from_le_bytes);
                return Ok((m, st, deadline));
            }
            let tr = heartbeat::reschedule(&m.spec, &st.state, now);
            let deadline = apply(w, &m, &mut st, &tr, FlipCause::Update, now)?;
            Ok((m, st, deadline))
        })
        .await
    }

    /// `pause_monitor` (`pause: true`) or `resume_monitor`.
    pub async fn set_monitor_paused(
        &self,
        brand: BrandId,
        id: MonitorId,
        pause: bool,
        now: Millis,
    ) -> Result<(Monitor, MonitorState, MonitorChange), StoreError> {
        self.write(move |w| {
            let k = mkey(brand, id);
            let (m, mut st) = load(w, &k)?.ok_or(StoreError::NotFound("Monitor"))?;
            if m.kind == MonitorKind::Pipeline {
                return Err(StoreError::State(
                    "a pipeline monitor cannot be paused or resumed (kind: pipeline)".into(),
                ));
            }
            let (tr, cause) = if pause {
                (heartbeat::pause(&m.spec, &st.state, now), FlipCause::Pause)
            } else {
                (heartbeat::resume(&m.spec, &st.state, now), FlipCause::Resume)
            };
            let deadline = apply(w, &m, &mut st, &tr, cause, now)?;
            Ok((m, st, MonitorChange { brand, monitor: id, transition: tr, deadline, pipeline_signals: Vec::new() }))
        })
        .await
    }

    /// Deletes a monitor with its indexes, history and deadline.
    pub async fn delete_monitor(&self, brand: BrandId, id: MonitorId) -> Result<Monitor, StoreError> {
        self.write(move |w| {
            let k = mkey(brand, id);
            let (m, _) = load(w, &k)?.ok_or(StoreError::NotFound("Monitor"))?;
            if m.kind == MonitorKind::Pipeline {
                super::pipelines::delete_pipeline(w, brand, id)?;
            }
            for table in [MONITOR_PINGS, MONITOR_FLIPS] {
                let mut t = w.open_table(table).map_err(StoreError::from_db)?;
                let mut keys = Vec::new();
                scan_prefix(&t, &k, |key, _| {
                    keys.push(key.to_vec());
                    Ok(true)
                })?;
                for key in keys {
                    remove(&mut t, &key)?;
                }
            }
            let mut slugs = w.open_table(MONITOR_SLUGS).map_err(StoreError::from_db)?;
            remove(&mut slugs, &slug_key(brand, &m.slug))?;
            let mut tokens = w.open_table(MONITOR_TOKENS).map_err(StoreError::from_db)?;
            remove(&mut tokens, &m.token_hash)?;
            let mut armed = w.open_table(ARMED_MONITORS).map_err(StoreError::from_db)?;
            remove(&mut armed, &k)?;
            let mut states = w.open_table(MONITOR_STATES).map_err(StoreError::from_db)?;
            remove(&mut states, &k)?;
            let mut t = w.open_table(MONITORS).map_err(StoreError::from_db)?;
            remove(&mut t, &k)?;
            Ok(m)
        })
        .await
    }

    /// Records a ping and applies it (`heartbeat::on_ping`): one operation. `None` when no
    /// monitor answers to the ping's target (unknown token, key or slug; deleted meanwhile).
    /// The ping's `duration_ms` and `status_after` are filled in here.
    pub async fn record_ping(&self, p: PingWrite) -> Result<Option<MonitorChange>, StoreError> {
        self.write(move |w| {
            let found = {
                let tokens = w.open_table(MONITOR_TOKENS).map_err(StoreError::from_db)?;
                let keys = w.open_table(PING_KEY_HASH).map_err(StoreError::from_db)?;
                let slugs = w.open_table(MONITOR_SLUGS).map_err(StoreError::from_db)?;
                resolve(&tokens, &keys, &slugs, &p.target)?
            };
            let Some((brand, id)) = found else { return Ok(None) };
            let k = mkey(brand, id);
            let Some((m, mut st)) = load(w, &k)? else { return Ok(None) };
            if m.kind == MonitorKind::Pipeline {
                return Err(StoreError::State(PIPELINE_REFUSES_PINGS.into()));
            }
            let mut ping = p.ping;
            let now = ping.received_ms;
            let tr = heartbeat::on_ping(&m.spec, &st.state, ping.kind, ping.rid.as_deref(), now);
            ping.duration_ms = tr.duration_ms;
            ping.status_after = tr.state.status;
            let mut pings = w.open_table(MONITOR_PINGS).map_err(StoreError::from_db)?;
            put(&mut pings, &key(&[&k, ping.id.as_bytes()]), &ping)?;
            st.pings_total += 1;
            st.pings_kept += 1;
            if st.pings_kept > PINGS_KEPT_MAX {
                remove_oldest(&mut pings, &k)?;
                st.pings_kept -= 1;
            }
            drop(pings);
            let deadline = apply(w, &m, &mut st, &tr, FlipCause::Ping, now)?;
            Ok(Some(MonitorChange { brand, monitor: id, transition: tr, deadline, pipeline_signals: Vec::new() }))
        })
        .await
    }

    /// The monitors' timers went off at `now`: `heartbeat::on_deadline` for each, in one
    /// operation. A monitor deleted meanwhile is skipped; one whose deadline moved (a ping
    /// came first) is unchanged and reports its current deadline.
    pub async fn monitor_deadlines(
        &self,
        due: Vec<(BrandId, MonitorId)>,
        now: Millis,
    ) -> Result<Vec<MonitorChange>, StoreError> {
        self.write(move |w| {
            let mut out = Vec::with_capacity(due.len());
            for (brand, id) in due {
                let k = mkey(brand, id);
                let Some((m, mut st)) = load(w, &k)? else { continue };
                if m.kind == MonitorKind::Pipeline {
                    out.push(super::pipelines::pipeline_deadline(w, &m, now)?);
                    continue;
                }
                let tr = heartbeat::on_deadline(&m.spec, &st.state, now);
                let deadline = if tr.changed() {
                    apply(w, &m, &mut st, &tr, FlipCause::Deadline, now)?
                } else {
                    tr.state.next_deadline()
                };
                out.push(MonitorChange { brand, monitor: id, transition: tr, deadline, pipeline_signals: Vec::new() });
            }
            Ok(out)
        })
        .await
    }

    /// Every monitor with a deadline (start-up re-arm).
    pub fn for_each_monitor_deadline(&self, mut f: impl FnMut(BrandId, MonitorId, Millis)) -> Result<(), StoreError> {
        self.read(|r| {
            let t = r.open_table(ARMED_MONITORS).map_err(StoreError::from_db)?;
            scan_prefix(&t, &[], |k, v| {
                let (brand, id) = decode_ref("armed_monitors", k)?;
                let d = i64::from_le_bytes(
                    v.try_into()
                        .map_err(|_| StoreError::Corrupt { table: "armed_monitors", detail: "bad deadline".into() })?,
                );
                f(brand, id, d);
                Ok(true)
            })
        })
    }

    /// How many monitors are in each status (the metrics gauge's starting point).
    pub fn count_monitors_by_status(&self) -> Result<HashMap<Status, u64>, StoreError> {
        self.read(|r| {
            let t = r.open_table(MONITOR_STATES).map_err(StoreError::from_db)?;
            let mut counts = HashMap::new();
            scan_prefix(&t, &[], |_, v| {
                let st: MonitorState = codec::decode("monitor_states", v)?;
                *counts.entry(st.state.status).or_default() += 1;
                Ok(true)
            })?;
            Ok(counts)
        })
    }

    /// One page (1-based) of a monitor's pings, newest first, with the number kept.
    pub fn list_pings(
        &self,
        brand: BrandId,
        id: MonitorId,
        page: u64,
        per_page: u64,
    ) -> Result<Page<Ping>, StoreError> {
        self.read(|r| {
            let t = r.open_table(MONITOR_PINGS).map_err(StoreError::from_db)?;
            newest_first(&t, "monitor_pings", &mkey(brand, id), page, per_page)
        })
    }

    /// A monitor's newest status changes (at most `n`), newest first.
    pub fn recent_flips(&self, brand: BrandId, id: MonitorId, n: u64) -> Result<Vec<Flip>, StoreError> {
        self.read(|r| {
            let t = r.open_table(MONITOR_FLIPS).map_err(StoreError::from_db)?;
            Ok(newest_first(&t, "monitor_flips", &mkey(brand, id), 1, n)?.items)
        })
    }

    // ---- ping key ----

    pub fn get_ping_key(&self, brand: BrandId) -> Result<Option<PingKey>, StoreError> {
        self.read(|r| {
            let t = r.open_table(PING_KEYS).map_err(StoreError::from_db)?;
            get(&t, "ping_keys", brand.as_bytes())
        })
    }

    /// The brand whose ping key has this SHA-256, if any (the PingPulse dialect's `key`).
    pub fn brand_for_ping_key(&self, key_hash: &[u8; 32]) -> Result<Option<BrandId>, StoreError> {
        self.read(|r| {
            let t = r.open_table(PING_KEY_HASH).map_err(StoreError::from_db)?;
            get_raw(&t, key_hash)?.map(|b| Ok(BrandId(codec::decode_id("ping_key_hash", &b)?))).transpose()
        })
    }

    /// Every brand's ping key (vault key rotation).
    pub fn all_ping_keys(&self) -> Result<Vec<PingKey>, StoreError> {
        self.read(|r| {
            let t = r.open_table(PING_KEYS).map_err(StoreError::from_db)?;
            super::all_prefix(&t, "ping_keys", &[])
        })
    }

    /// Stores `new` as the brand's ping key. `replace: false` keeps an existing key (and
    /// returns it: two first reads racing get the same key); `replace: true` rotates (the old
    /// key stops working at once).
    pub async fn put_ping_key(&self, new: PingKey, replace: bool) -> Result<PingKey, StoreError> {
        self.write(move |w| {
            let mut t = w.open_table(PING_KEYS).map_err(StoreError::from_db)?;
            let old: Option<PingKey> = get(&t, "ping_keys", new.brand.as_bytes())?;
            let mut hashes = w.open_table(PING_KEY_HASH).map_err(StoreError::from_db)?;
            if let Some(old) = old {
                if !replace {
                    return Ok(old);
                }
                remove(&mut hashes, &old.hash)?;
            }
            put(&mut t, new.brand.as_bytes(), &new)?;
            put_raw(&mut hashes, &new.hash, new.brand.as_bytes())?;
            Ok(new)
        })
        .await
    }
}

/// A page of the records under `prefix` in reverse key order (newest first for v7 ids and
/// sequence numbers).
pub(super) fn newest_first<T: serde::de::DeserializeOwned>(
    t: &impl ReadableTable<&'static [u8], &'static [u8]>,
    name: &'static str,
    prefix: &[u8],
    page: u64,
    per_page: u64,
) -> Result<Page<T>, StoreError> {
    let mut end = prefix.to_vec();
    end.extend_from_slice(&[0xff; 17]);
    let skip = page.saturating_sub(1).saturating_mul(per_page);
    let mut items = Vec::new();
    let mut total = 0u64;
    for entry in t.range::<&[u8]>(prefix..end.as_slice()).map_err(StoreError::from_db)?.rev() {
        let (_, v) = entry.map_err(StoreError::from_db)?;
        if total >= skip && (items.len() as u64) < per_page {
            items.push(codec::decode(name, v.value())?);
        }
        total += 1;
    }
    Ok(Page { items, total })
}

/// A ping record with what only the store fills in left blank.
pub fn new_ping(id: PingId, kind: PingKind, exit_status: Option<u8>, received_ms: Millis) -> Ping {
    Ping {
        id,
        kind,
        exit_status,
        rid: None,
        method: "GET".into(),
        via: "token".into(),
        client_ip: None,
        user_agent: None,
        body: String::new(),
        body_bytes: 0,
        duration_ms: None,
        received_ms,
        status_after: Status::New,
    }
}
