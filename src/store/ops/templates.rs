//! Webhook templates; each points at a domain of the same brand (indexed for delete checks).

use super::domains::{insert_domain, name_key};
use super::{get, get_raw, page_prefix, put, put_raw, remove};
use crate::model::{BrandId, Domain, Page, TemplateId, WebhookTemplate};
use crate::store::codec::decode_id;
use crate::store::tables::{DOMAIN_NAMES, DOMAINS, TEMPLATE_BY_DOMAIN, TEMPLATES, key};
use crate::store::{Store, StoreError};

fn usage_key(t: &WebhookTemplate) -> Vec<u8> {
    key(&[t.brand.as_bytes(), t.domain.as_bytes(), t.id.as_bytes()])
}

fn require_domain(w: &redb::WriteTransaction, t: &WebhookTemplate) -> Result<(), StoreError> {
    let domains = w.open_table(DOMAINS).map_err(StoreError::from_db)?;
    if get_raw(&domains, &key(&[t.brand.as_bytes(), t.domain.as_bytes()]))?.is_none() {
        return Err(StoreError::NotFound("Domain"));
    }
    Ok(())
}

impl Store {
    /// Creates a template. With `new_domain`, the template's domain is that domain's name:
    /// an existing domain of that name is reused, otherwise it is created in the same commit
    /// (the SDK's `create_webhook_template(url=...)`).
    pub async fn create_template(
        &self,
        mut t: WebhookTemplate,
        new_domain: Option<Domain>,
    ) -> Result<WebhookTemplate, StoreError> {
        self.write(move |w| {
            if let Some(d) = new_domain {
                let names = w.open_table(DOMAIN_NAMES).map_err(StoreError::from_db)?;
                let existing = get_raw(&names, &name_key(d.brand, d.protocol, &d.host))?;
                drop(names);
                match existing {
                    Some(id) => t.domain = crate::model::DomainId(decode_id("domain_names", &id)?),
                    None => {
                        t.domain = d.id;
                        insert_domain(w, &d)?;
                    }
                }
            }
            require_domain(w, &t)?;
            let mut table = w.open_table(TEMPLATES).map_err(StoreError::from_db)?;
            let mut usage = w.open_table(TEMPLATE_BY_DOMAIN).map_err(StoreError::from_db)?;
            put(&mut table, &key(&[t.brand.as_bytes(), t.id.as_bytes()]), &t)?;
            put_raw(&mut usage, &usage_key(&t), &[])?;
            Ok(t)
        })
        .await
    }

    pub fn get_template(&self, brand: BrandId, id: TemplateId) -> Result<Option<WebhookTemplate>, StoreError> {
        self.read(|r| {
            let t = r.open_table(TEMPLATES).map_err(StoreError::from_db)?;
            get(&t, "templates", &key(&[brand.as_bytes(), id.as_bytes()]))
        })
    }

    pub fn list_templates(
        &self,
        brand: BrandId,
        page: u64,
        per_page: u64,
    ) -> Result<Page<WebhookTemplate>, StoreError> {
        self.read(|r| {
            let t = r.open_table(TEMPLATES).map_err(StoreError::from_db)?;
            page_prefix(&t, "templates", brand.as_bytes(), page, per_page)
        })
    }

    /// Replaces a template (same id and brand); the new domain must exist.
    pub async fn update_template(&self, t: WebhookTemplate) -> Result<WebhookTemplate, StoreError> {
        self.write(move |w| {
            let mut table = w.open_table(TEMPLATES).map_err(StoreError::from_db)?;
            let k = key(&[t.brand.as_bytes(), t.id.as_bytes()]);
            let old: WebhookTemplate = get(&table, "templates", &k)?.ok_or(StoreError::NotFound("Webhook"))?;
            require_domain(w, &t)?;
            let mut usage = w.open_table(TEMPLATE_BY_DOMAIN).map_err(StoreError::from_db)?;
            remove(&mut usage, &usage_key(&old))?;
            put_raw(&mut usage, &usage_key(&t), &[])?;
            put(&mut table, &k, &t)?;
            Ok(t)
        })
        .await
    }

    /// Deletes a template; schedules that target it become `inactive` (their ids are returned).
    pub async fn delete_template(
        &self,
        brand: BrandId,
        id: TemplateId,
        now: i64,
    ) -> Result<Vec<crate::model::ScheduleId>, StoreError> {
        self.write(move |w| {
            let mut table = w.open_table(TEMPLATES).map_err(StoreError::from_db)?;
            let k = key(&[brand.as_bytes(), id.as_bytes()]);
            let old: WebhookTemplate = get(&table, "templates", &k)?.ok_or(StoreError::NotFound("Webhook"))?;
            let mut usage = w.open_table(TEMPLATE_BY_DOMAIN).map_err(StoreError::from_db)?;
            remove(&mut usage, &usage_key(&old))?;
            remove(&mut table, &k)?;
            drop((table, usage));
            Store::deactivate_schedules_of(w, brand, id.0, "target webhook template deleted", now)
        })
        .await
    }
}
