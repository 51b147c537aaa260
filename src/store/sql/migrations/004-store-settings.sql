-- Facts of this store that code must never derive again.
--
-- The append lock's key (docs/global-order.md): every writer of the global order must take the same
-- lock, so the key is fixed once, here, and the functions in ../functions/ are rendered with it. It is
-- computed with the formula release 0.1.0 used, so that a database made by that release keeps its lock.
CREATE TABLE {{schema}}.store_settings (
  singleton        boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  append_lock_key1 int NOT NULL,
  append_lock_key2 int NOT NULL
);
INSERT INTO {{schema}}.store_settings (append_lock_key1, append_lock_key2)
VALUES (hashtext('fabula.append'), hashtext('{{schema_name}}'));

-- Which text of each function file is installed (sha256 of the rendered file), so that migrate replaces
-- only what changed and leaves other processes' cached plans alone.
CREATE TABLE {{schema}}.installed_functions (
  name         text PRIMARY KEY,
  checksum     text NOT NULL,
  installed_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
