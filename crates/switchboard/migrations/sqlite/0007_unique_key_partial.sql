-- PostgreSQL replaces the jobs' UNIQUE (unique_key) constraint with a partial index here. SQLite
-- cannot drop a column constraint without rebuilding the table, and its index entry is a local
-- write in the same page-cached B-tree: nothing to gain worth a rebuild. Kept in step.
SELECT 1;
