-- Crypto-shredding (docs/personal-data.md): one data key per subject of personal data, stored wrapped
-- (AES-256-GCM) under a master key the store is given at start-up and never stores. Forgetting a subject
-- deletes its row: the personal values encrypted under the key can never be read again.
CREATE TABLE {{schema}}.personal_data_keys (
  subject_id    text NOT NULL,
  -- Subjects are per tenant, like streams (docs/tenancy.md); migration 010 adds tenants to the other tables.
  tenant_id     text NOT NULL DEFAULT 'default',
  -- Named in every envelope of the key (`$pd:1:<key_id>:...`); never reused, also after a forget.
  key_id        text NOT NULL UNIQUE,
  -- The fingerprint of the master key that wrapped it (several during a rotation).
  master_key_id text NOT NULL,
  wrapped_key   text NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
  rewrapped_at  timestamptz,
  PRIMARY KEY (subject_id, tenant_id)
);
CREATE INDEX personal_data_keys_by_master ON {{schema}}.personal_data_keys (master_key_id);
